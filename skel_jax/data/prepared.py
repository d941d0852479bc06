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
from typing import BinaryIO

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.errors import DataError, reading
from skel_jax.data.formats import check_labels
from skel_jax.data.skeletons import get_layout

SPLITS = ("train", "test")


def split_path(root: str | os.PathLike, dataset: str, split: str) -> str:
  """`{root}/{dataset}/{split}.npz`."""
  return os.path.join(os.fspath(root), dataset, f"{split}.npz")


def save_split(target: str | os.PathLike | BinaryIO, ds: ArrayDataset) -> None:
  """Writes one split to `target`: exactly that path, or an open binary file.

  The caller handles temporary names (a file object lets `files.atomic_write` supply one).
  A path is opened here rather than passed to `np.savez`, which would append '.npz' to it.
  """
  if isinstance(target, (str, os.PathLike)):
    with open(target, "wb") as f:
      save_split(f, ds)
    return
  np.savez(target, x=np.asarray(ds.x, np.float32), y=np.asarray(ds.y, np.int32),
           names=np.asarray(ds.names, dtype=str).reshape(-1), layout=np.asarray(ds.layout),
           num_classes=np.asarray(ds.num_classes, np.int64))


def read_split(path: str | os.PathLike, layout: str | None = None) -> ArrayDataset:
  """Reads a split file written by `save_split`.

  `layout` (a name or layout file) replaces the layout name stored in the file, e.g. the
  layout.json of a prepared custom dataset, whose stored name is not a built-in one.

  Raises:
    DataError: naming the file when it is not an npz, a field is missing or malformed, a
      coordinate is not finite, or a label is outside 0..num_classes-1.
  """
  path = os.fspath(path)
  layout_override = layout
  with reading(path, "prepared split"):
    archive = np.load(path, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
      raise DataError(f"{path}: not a prepared split (a single .npy array, not an npz)")
    with archive:
      missing = [k for k in ("x", "y", "names", "layout", "num_classes")
                 if k not in archive.files]
      if missing:
        raise DataError(f"{path}: not a prepared split, missing {missing}")
      x, y, names = archive["x"], archive["y"], archive["names"]
      layout, num_classes = archive["layout"], archive["num_classes"]
  return _checked_split(path, x, y, names, layout, num_classes, override=layout_override)


def _checked_split(path, x, y, names, layout, num_classes, override=None) -> ArrayDataset:
  """The fields of a split file as an ArrayDataset, each checked (errors name `path`)."""
  if x.ndim != 5 or x.dtype.kind != "f":
    raise DataError(f"{path}: x must be float [N, M, T, V, C], got {x.dtype} {x.shape}")
  _, m, t, v, c = x.shape
  if m < 1 or t < 1:
    raise DataError(f"{path}: x of shape {x.shape}: needs a person and a frame")
  if layout.ndim != 0 or layout.dtype.kind != "U":
    raise DataError(f"{path}: layout must be a string")
  layout = str(layout) if override is None else str(override)
  try:
    spec = get_layout(layout)
  except DataError as e:
    raise DataError(f"{path}: {e}") from e
  if v != spec.num_joints:
    raise DataError(f"{path}: {v} joints, but layout {layout!r} has {spec.num_joints}")
  # The channels the layout names: x, y[, z] and e.g. a confidence score.
  if c != len(spec.channels):
    raise DataError(f"{path}: {c} channels, but layout {layout!r} names "
                    f"{len(spec.channels)}: {list(spec.channels)}")
  if num_classes.ndim != 0 or num_classes.dtype.kind not in "iu" or num_classes < 1:
    raise DataError(f"{path}: num_classes must be a positive integer, got {num_classes!r}")
  if y.ndim != 1 or names.ndim != 1 or names.dtype.kind != "U":
    raise DataError(f"{path}: y and names must be 1-D (int, str), got {y.dtype} {y.shape} "
                    f"and {names.dtype} {names.shape}")
  if not len(x) == len(y) == len(names):
    raise DataError(f"{path}: {len(x)} clips, {len(y)} labels and {len(names)} names")
  y = check_labels(y, path)
  if y.size and y.max() >= num_classes:
    i = int(np.argmax(y))
    raise DataError(f"{path}: label {y[i]} of sample {i} ({names[i]}) is not below "
                    f"num_classes={int(num_classes)}")
  finite = np.isfinite(x).reshape(len(x), int(np.prod(x.shape[1:]))).all(axis=1)
  if not finite.all():
    i = int(np.argmin(finite))
    raise DataError(f"{path}: sample {i} ({names[i]}) has a non-finite coordinate")
  return ArrayDataset(x, y, [str(n) for n in names], layout, int(num_classes))


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
