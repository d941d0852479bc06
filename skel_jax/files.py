"""Small file helpers shared by the package: atomic writes and flat `.npz` variable trees.

A killed run must never leave a half-written `best_knn.npz`, subset record or report file, so
everything is written to a temporary name in the same folder and moved into place with
`os.replace` (atomic on POSIX). Variable trees (`{'params': {...}, 'batch_stats': {...}}`)
are stored flat, one array per leaf under its '/'-joined path ('params/block0/gcn/conv/kernel').
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping

import numpy as np
from flax import traverse_util


def atomic_write(path: str | os.PathLike, data: bytes | str | Callable, *,
                 by_name: bool = False) -> None:
  """Writes `data` to `path` through a temporary file beside it + os.replace.

  Args:
    path: the file to (re)place; its folder is created if missing.
    data: bytes, text (UTF-8 encoded), or `fn(binary_file)` that writes the content itself
      (`np.savez`, `torch.save`).
    by_name: `data` is `fn(temporary_path)` instead, for writers that only take a file name
      (matplotlib's GIF writer); the temporary name ends in `path`'s extension, from which
      such writers pick the format.
  """
  path = os.fspath(path)
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  suffix = os.path.splitext(path)[1] if by_name else ""
  fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=suffix, dir=directory)
  try:
    with os.fdopen(fd, "wb") as f:
      if by_name:
        data(tmp)  # through its own handle; fsync below flushes the file, not just this fd
      elif callable(data):
        data(f)
      else:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
      f.flush()
      os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have given
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _umask() -> int:
  """The process's umask (reading it means setting it; set straight back)."""
  mask = os.umask(0)
  os.umask(mask)
  return mask


def replace_dir(tmp: str, final: str, old: str) -> None:
  """Puts the finished folder `tmp` in place of `final`.

  An existing `final` is first renamed to `old` and removed only once `tmp` is in place, so a
  kill between the two renames leaves the previous folder recoverable under `old` (prepare's
  leftover cleanup restores it).
  """
  moved = os.path.exists(final)
  if moved:
    os.rename(final, old)
  os.rename(tmp, final)
  if moved:
    shutil.rmtree(old)


def flatten(tree: Mapping, leaf: Callable = np.asarray) -> dict:
  """`{'a': {'b': x}}` -> `{'a/b': leaf(x)}` (numpy arrays by default)."""
  return {path: leaf(value)
          for path, value in traverse_util.flatten_dict(tree, sep="/").items()}


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
  """Inverse of `flatten`."""
  return traverse_util.unflatten_dict({path: np.asarray(v) for path, v in flat.items()},
                                      sep="/")


def save_variables(path: str, variables: Mapping) -> None:
  """Saves a variable tree as a flat `.npz` (atomically)."""
  buffer = io.BytesIO()
  np.savez(buffer, **flatten(variables))
  atomic_write(path, buffer.getvalue())


def load_variables(path: str) -> dict:
  """Loads a tree saved by `save_variables`.

  Raises:
    FileNotFoundError: naming the file when it does not exist.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such variables file")
  with np.load(path) as data:
    return unflatten({k: data[k] for k in data.files})
