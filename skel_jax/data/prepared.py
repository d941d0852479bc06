"""The on-disk format of a prepared dataset: `{root}/{dataset}/{train,test}.npz` + `info.json`.

Each split file is a plain (uncompressed) `.npz` with

* `x`: float32 `[N, M, T, V, C]` preprocessed clips,
* `y`: int32 `[N]` 0-based labels,
* `names`: `[N]` unicode sample names,
* `layout`: 0-d unicode, the skeleton layout name,
* `num_classes`: 0-d int.

`python -m skel_jax.prepare` writes it (skel_jax/prepare.py); `load_prepared` reads it with
numpy alone (no pickle).
"""

from __future__ import annotations

import os

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.preprocess import DataError

SPLITS = ("train", "test")


def split_path(root: str | os.PathLike, dataset: str, split: str) -> str:
  """`{root}/{dataset}/{split}.npz`."""
  return os.path.join(os.fspath(root), dataset, f"{split}.npz")


def save_split(path: str | os.PathLike, ds: ArrayDataset) -> None:
  """Writes one split (to exactly `path`; the caller handles temporary names)."""
  with open(path, "wb") as f:
    np.savez(f, x=np.asarray(ds.x, np.float32), y=np.asarray(ds.y, np.int32),
             names=np.asarray(ds.names, dtype=str).reshape(-1), layout=np.asarray(ds.layout),
             num_classes=np.asarray(ds.num_classes, np.int64))


def read_split(path: str | os.PathLike) -> ArrayDataset:
  """Reads a split file written by `save_split`.

  Raises:
    DataError: when a field is missing or the file is not an npz.
  """
  path = os.fspath(path)
  try:
    archive = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: cannot read prepared split: {e}") from e
  with archive:
    missing = [k for k in ("x", "y", "names", "layout", "num_classes") if k not in archive.files]
    if missing:
      raise DataError(f"{path}: not a prepared split, missing {missing}")
    return ArrayDataset(archive["x"], archive["y"], [str(n) for n in archive["names"]],
                        str(archive["layout"]), int(archive["num_classes"]))


def load_prepared(root: str | os.PathLike, dataset: str, split: str) -> ArrayDataset:
  """Reads `{root}/{dataset}/{split}.npz` ('val' is accepted for 'test').

  Raises:
    DataError: when the file does not exist (the message gives the prepare command).
  """
  split = "test" if split == "val" else split
  if split not in SPLITS:
    raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
  path = split_path(root, dataset, split)
  if not os.path.isfile(path):
    raise DataError(f"{path}: prepared dataset not found; create it with\n"
                    f"  python -m skel_jax.prepare {dataset} --raw=RAW_DIR "
                    f"--out={os.fspath(root)}")
  return read_split(path)
