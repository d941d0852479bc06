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


class DataError(ValueError):
  """Bad input data: a malformed file, a wrong shape, NaN values or an empty clip."""


@contextlib.contextmanager
def reading(path: str | os.PathLike, what: str):
  """Re-raises any error of the parsing inside the block as a DataError naming `path`.

  Keep the block to the parsing of one file: numpy's header parser alone raises ValueError,
  SyntaxError, tokenize.TokenError and MemoryError for corrupt headers, zipfile BadZipFile,
  json RecursionError, yaml its own YAMLError, so no list of types is complete. DataErrors
  pass unchanged (they already name the file); KeyboardInterrupt and SystemExit are not
  caught.

  Args:
    path: the file being read.
    what: what it should be, for the message ("npz file", "label pickle", ...).
  """
  try:
    yield
  except DataError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f"{os.fspath(path)}: cannot read {what}: {_describe(e)}") from e


def _describe(e: BaseException) -> str:
  """One line: the exception's type and the first line of its message."""
  text = str(e).strip().splitlines()
  first = text[0] if text else ""
  if len(first) > 200:
    first = first[:197] + "..."
  return f"{type(e).__name__}: {first}" if first else type(e).__name__
