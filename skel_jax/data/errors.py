"""The one exception type of bad input data, and a guard that turns a reader's stray errors
(from numpy, zipfile, pickle, json, yaml) into it.

A user who points the library at a corrupt or foreign file should get one `DataError` whose
message names the file and the problem, never a BadZipFile, an mmap error without a file
name, a RecursionError or a 400-line traceback. Readers check the values they accept
themselves; `reading` is the net beneath those checks for what the parsers below them raise.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import zipfile
import zlib


class DataError(ValueError):
  """Bad input data: a malformed file, a wrong shape, NaN values or an empty clip."""


# What numpy, zipfile, pickle and the json/yaml parsers raise for malformed input. yaml's
# YAMLError derives from Exception only, so it is matched by name in `reading`.
_PARSER_ERRORS = (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError,
                  OverflowError, RecursionError, MemoryError, UnicodeError, zipfile.BadZipFile,
                  zlib.error, pickle.UnpicklingError)


def _is_yaml_error(e: BaseException) -> bool:
  return any(cls.__name__ == "YAMLError" for cls in type(e).__mro__)


@contextlib.contextmanager
def reading(path: str | os.PathLike, what: str):
  """Re-raises a parser's error inside the block as a DataError naming `path`.

  DataErrors pass unchanged (they already name the file).

  Args:
    path: the file being read.
    what: what it should be, for the message ("npz file", "label pickle", ...).
  """
  try:
    yield
  except DataError:
    raise
  except _PARSER_ERRORS as e:
    raise DataError(f"{os.fspath(path)}: cannot read {what}: {_describe(e)}") from e
  except Exception as e:  # pylint: disable=broad-except
    if not _is_yaml_error(e):
      raise
    raise DataError(f"{os.fspath(path)}: cannot read {what}: {_describe(e)}") from e


def _describe(e: BaseException) -> str:
  """One line: the exception's type and the first line of its message."""
  text = str(e).strip().splitlines()
  first = text[0] if text else ""
  if len(first) > 200:
    first = first[:197] + "..."
  return f"{type(e).__name__}: {first}" if first else type(e).__name__
