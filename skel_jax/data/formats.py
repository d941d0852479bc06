"""Readers of the preprocessed files that the reference repositories publish or produce.

* The SkeletonCLR/AimCLR family (docs/datasets.md): `{split}_position.npy`, float32
  `(N, 3, T, V, M)` after step B, with `{split}_label.pkl`, a pickle of
  `(sample_names, labels)`. The step-A array `{split}_data.npy` (300 frames, raw coordinates)
  is read too and preprocessed here. Splits are named 'train' and 'val' ('test' is accepted
  for 'val').
* The CTR-GCN family `.npz`: `x_train`, `y_train`, `x_test`, `y_test`, with x `[N, T, 150]`
  (150 = 2 persons x 25 joints x 3, person-major) or `[N, C, T, V, M]`, and y one-hot `[N, K]`
  or integer `[N]`. These clips are centred per sequence and zero-padded to 300 frames.

Everything is returned as an ArrayDataset `[N, M, T, V, C]`. Label pickles are read with an
unpickler that only accepts lists, tuples, strings, numbers and numpy arrays.
"""

from __future__ import annotations

import os
import pickle

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.errors import reading
from skel_jax.data.preprocess import DataError, preprocess_clip, resize_time, valid_span
from skel_jax.data.skeletons import LayoutError, get_layout

# Joint count -> built-in layout, for files that do not say which skeleton they hold.
_LAYOUT_BY_JOINTS = {25: "ntu25", 20: "kinect_v1_20"}
# Both formats hold xyz coordinates of at most two persons (as tools/ntu_gendata.py writes).
_COORDS = 3
_MAX_PERSONS = 2
# Labels are stored as int32; a larger value would wrap (2**32 -> 0).
_MAX_LABEL = np.iinfo(np.int32).max - 1
# Samples checked for non-finite values at a time, so a memory-mapped file is not read whole.
_FINITE_CHUNK = 256
# Globals a label pickle may refer to (numpy arrays and scalars across numpy 1.x and 2.x).
_SAFE_GLOBALS = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
}


class _SafeUnpickler(pickle.Unpickler):
  """An unpickler that refuses every class but numpy arrays and scalars."""

  def find_class(self, module, name):
    if (module, name) in _SAFE_GLOBALS:
      return super().find_class(module, name)
    raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a label pickle")


def read_label_pickle(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
  """Reads a `{split}_label.pkl` of `(names, labels)`.

  Returns:
    (sample names, int32 labels).

  Raises:
    DataError: when the file is not a pickle of two equally long sequences of names and
      non-negative integer labels.
  """
  path = os.fspath(path)
  with reading(path, "label pickle"):
    with open(path, "rb") as f:
      record = _SafeUnpickler(f).load()
    if not isinstance(record, (tuple, list)) or len(record) != 2:
      raise DataError(f"{path}: expected a pickled (names, labels) pair")
    if not isinstance(record[0], (tuple, list, np.ndarray)):
      raise DataError(f"{path}: the sample names are a {type(record[0]).__name__}, expected a "
                      "list of strings")
    names = [str(n) for n in np.asarray(record[0], dtype=object).reshape(-1)]
    labels = np.asarray(record[1])
  if labels.ndim > 1 and labels.size != len(labels):
    raise DataError(f"{path}: labels of shape {labels.shape}; expected one integer per sample")
  labels = labels.reshape(-1)
  if len(names) != len(labels):
    raise DataError(f"{path}: {len(names)} names but {len(labels)} labels")
  return names, check_labels(labels, path)


def check_labels(labels: np.ndarray, source: str) -> np.ndarray:
  """Integer class labels `[N]` as int32, or a DataError naming `source` and the first bad one.

  Accepts integer dtypes and floats that hold whole numbers (a label pickle may store 3.0);
  rejects NaN, fractions, negative values and values that do not fit int32.
  """
  labels = np.asarray(labels)
  if labels.dtype.kind not in "iuf":
    raise DataError(f"{source}: labels must be integers, got dtype {labels.dtype}")
  if labels.dtype.kind == "f":
    bad = np.flatnonzero(~np.isfinite(labels) | (labels != np.round(labels)))
    if bad.size:
      raise DataError(f"{source}: label {labels[bad[0]].item()!r} of sample {bad[0]} is not an "
                      "integer")
  bad = np.flatnonzero((labels < 0) | (labels > _MAX_LABEL))
  if bad.size:
    raise DataError(f"{source}: label {labels[bad[0]].item()!r} of sample {bad[0]} is outside "
                    f"0..{_MAX_LABEL}")
  return labels.astype(np.int32)


def one_hot_labels(y: np.ndarray, source: str) -> np.ndarray:
  """The class of each row of a one-hot `[N, K]` label matrix; soft or empty rows are errors."""
  if y.dtype.kind not in "iubf":
    raise DataError(f"{source}: one-hot labels must be numbers, got dtype {y.dtype}")
  if y.shape[1] < 1:
    raise DataError(f"{source}: one-hot labels with zero columns")
  with np.errstate(invalid="ignore"):
    binary = (y == 0) | (y == 1)
    ones = np.sum(y == 1, axis=1)
  bad = np.flatnonzero(~np.all(binary, axis=1) | (ones != 1))
  if bad.size:
    row = y[bad[0]]
    shown = np.array2string(row[:10], precision=3) + (" ..." if len(row) > 10 else "")
    raise DataError(f"{source}: label row {bad[0]} is not one-hot (exactly one 1, the rest 0): "
                    f"{shown}")
  return np.argmax(y, axis=1).astype(np.int32)


def check_clips(x: np.ndarray, source: str, layout: str | None) -> str:
  """Checks clips `[N, M, T, V, C]` read from a file; returns the layout to use.

  Raises:
    DataError: naming `source` for a non-numeric dtype, no sample, no frame, more than two
      persons, other than 3 coordinates, a joint count the layout does not have, or a
      non-finite value (also one that only overflows float32, such as 1e300).
  """
  if x.dtype.kind not in "iuf":
    raise DataError(f"{source}: coordinates must be numbers, got dtype {x.dtype}")
  n, m, t, v, c = x.shape
  if n < 1:
    raise DataError(f"{source}: holds no sample")
  if not 1 <= m <= _MAX_PERSONS:
    raise DataError(f"{source}: {m} persons per clip; this format holds 1 or {_MAX_PERSONS}")
  if t < 1:
    raise DataError(f"{source}: clips of 0 frames")
  if c != _COORDS:
    raise DataError(f"{source}: {c} coordinates per joint; expected {_COORDS} (x, y, z)")
  layout = _layout_for(v, layout, source)
  expected = get_layout(layout).num_joints
  if v != expected:
    raise DataError(f"{source}: {v} joints, but layout {layout!r} has {expected}")
  for start in range(0, n, _FINITE_CHUNK):
    with np.errstate(over="ignore", invalid="ignore"):
      part = np.asarray(x[start:start + _FINITE_CHUNK], np.float32)
    finite = np.isfinite(part).reshape(len(part), -1).all(axis=1)
    if not finite.all():
      i = start + int(np.argmin(finite))
      raise DataError(f"{source}: sample {i} has a non-finite coordinate (or one too large "
                      "for float32)")
  return layout


def _layout_for(num_joints: int, layout: str | None, source: str) -> str:
  """The given layout (checked against the data's joint count), else one chosen by the count."""
  if layout is not None:
    try:
      expected = get_layout(layout).num_joints
    except LayoutError as e:
      raise DataError(f"{source}: {e}") from e
    if expected != num_joints:
      raise DataError(f"{source}: the clips have {num_joints} joints but layout {layout!r} has "
                      f"{expected}; name the data's layout (--config.data.layout=NAME_OR_FILE)")
    return layout
  if num_joints not in _LAYOUT_BY_JOINTS:
    raise DataError(f"{source}: {num_joints} joints matches no built-in layout; pass layout=")
  return _LAYOUT_BY_JOINTS[num_joints]


def _num_classes(labels: np.ndarray, num_classes: int | None, source: str) -> int:
  found = int(labels.max()) + 1 if labels.size else 0
  if num_classes is None:
    if found < 1:
      raise DataError(f"{source}: no label to count the classes from; pass num_classes=")
    return found
  if num_classes < 1:
    raise DataError(f"{source}: num_classes={num_classes}; a dataset needs at least one class")
  if found > num_classes:
    raise DataError(f"{source}: label {found - 1} does not fit num_classes={num_classes}")
  return num_classes


def _resize_all(x: np.ndarray, num_frames: int, source: str) -> np.ndarray:
  """Resizes every clip's valid span (`valid_span`: first to last non-zero frame, whichever
  joint is non-zero) to `num_frames`."""
  out = np.zeros(x.shape[:2] + (num_frames,) + x.shape[3:], np.float32)
  for i, clip in enumerate(x):
    first, end = valid_span(clip)
    if not end:
      raise DataError(f"{source}: clip {i} is all zero (no valid frame)")
    out[i] = resize_time(clip[:, first:end], end - first, num_frames)
  return out


def _split_file(folder: str, split: str, kind: str) -> str | None:
  names = {"train": ["train"], "val": ["val", "test"], "test": ["val", "test"]}
  if split not in names:
    raise ValueError(f"unknown split {split!r}; use 'train', 'val' or 'test'")
  for name in names[split]:
    path = os.path.join(folder, f"{name}_{kind}")
    if os.path.exists(path):
      return path
  return None


def load_reference_npy(
    folder: str | os.PathLike,
    split: str,
    *,
    num_frames: int | None = None,
    num_classes: int | None = None,
    layout: str | None = None,
    view_normalize: bool = True,
    mmap: bool = False,
) -> ArrayDataset:
  """Reads `{split}_position.npy` (or step-A `{split}_data.npy`) with `{split}_label.pkl`.

  Args:
    folder: the benchmark folder (e.g. `.../NTU60_frame50/xsub`).
    split: 'train', 'val' or 'test' ('test' and 'val' both find either file name).
    num_frames: for a position file, resize time to this many frames when it differs; for
      a step-A data file, the step-B output length (default 50).
    num_classes: the dataset's class count (default: largest label + 1).
    layout: skeleton layout; default from the joint count (25 -> ntu25, 20 -> kinect_v1_20).
    view_normalize: the y-rotation of step B, for step-A data only.
    mmap: keep a position file memory-mapped (x is then a read-only strided view, read
      lazily); otherwise it is copied into a contiguous array.

  Returns:
    ArrayDataset `[N, M, T, V, C]`.

  Raises:
    DataError: naming the file for missing or unreadable files, a wrong shape, non-finite
      coordinates, labels that are not integers in range, or names/labels that do not match.
  """
  folder = os.fspath(folder)
  position = _split_file(folder, split, "position.npy")
  step_a = _split_file(folder, split, "data.npy")
  label_path = _split_file(folder, split, "label.pkl")
  data_path = position or step_a
  if data_path is None or label_path is None:
    raise DataError(f"{folder}: expected {split}_position.npy (or {split}_data.npy) and "
                    f"{split}_label.pkl ('val' and 'test' are interchangeable)")
  names, labels = read_label_pickle(label_path)
  with reading(data_path, "npy file"):
    data = np.load(data_path, mmap_mode="r")
  if data.ndim != 5:
    raise DataError(f"{data_path}: expected (N, C, T, V, M), got shape {data.shape}")
  if len(data) != len(labels):
    raise DataError(f"{data_path}: {len(data)} samples but {len(labels)} labels in {label_path}")
  with reading(data_path, "npy file"):
    layout = check_clips(data.transpose(0, 4, 2, 3, 1), data_path, layout)
  x = data.transpose(0, 4, 2, 3, 1)  # (N, C, T, V, M) -> [N, M, T, V, C]
  if position is None:
    t_out = num_frames or 50
    out = np.zeros(x.shape[:2] + (t_out,) + x.shape[3:], np.float32)
    for i in range(len(x)):
      out[i] = preprocess_clip(x[i], layout, t_out, view_normalize=view_normalize,
                               name=f"{data_path} sample {i} ({names[i]})")
    x = out
  elif num_frames is not None and num_frames != x.shape[2]:
    x = np.stack([resize_time(clip, clip.shape[1], num_frames) for clip in x])
  elif not mmap:
    with reading(data_path, "npy file"):
      x = np.ascontiguousarray(x, np.float32)
  return ArrayDataset(x, labels, names, layout, _num_classes(labels, num_classes, label_path))


def _npz_x(x: np.ndarray, source: str) -> np.ndarray:
  """CTR-GCN clips as `[N, M, T, V, C]`."""
  if x.ndim == 3:
    n, t, f = x.shape
    if f not in (75, 150):
      raise DataError(f"{source}: last axis {f} is not persons x 25 joints x 3 (75 for one "
                      "person or 150 for two)")
    return x.reshape(n, t, f // 75, 25, 3).transpose(0, 2, 1, 3, 4)  # [N, M, T, V, C]
  if x.ndim == 5:
    return x.transpose(0, 4, 2, 3, 1)  # (N, C, T, V, M) -> [N, M, T, V, C]
  raise DataError(f"{source}: expected x of shape [N, T, 150] or [N, C, T, V, M], got {x.shape}")


def load_ctrgcn_npz(
    path: str | os.PathLike,
    split: str,
    *,
    num_frames: int | None = None,
    preprocess: bool = False,
    num_classes: int | None = None,
    layout: str | None = None,
    view_normalize: bool = True,
) -> ArrayDataset:
  """Reads one split of a CTR-GCN style `.npz`.

  Args:
    path: the `.npz` file.
    split: 'train' or 'test' ('val' is accepted for 'test').
    num_frames: when given, resize each clip's valid frames (first to last non-zero frame)
      to this many frames; None keeps the stored (padded) frames.
    preprocess: run the whole step B (`preprocess.preprocess_clip`) instead (centring, resize to
      `num_frames` or 50, y-rotation when `view_normalize`).
    num_classes: class count; default the one-hot width, or largest label + 1.
    layout: skeleton layout; default from the joint count.
    view_normalize: the y-rotation, with `preprocess` only.

  Returns:
    ArrayDataset `[N, M, T, V, C]` with names `{split}_{index:06d}`.

  Raises:
    DataError: naming the file for an unreadable archive, missing keys, unexpected shapes,
      non-finite coordinates, or labels that are not integers in range or one-hot rows.
  """
  path = os.fspath(path)
  key = {"train": "train", "test": "test", "val": "test"}.get(split)
  if key is None:
    raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
  with reading(path, "npz file"):
    archive = np.load(path)
    if not isinstance(archive, np.lib.npyio.NpzFile):
      raise DataError(f"{path}: not an npz archive (a single .npy array?)")
    with archive:
      missing = [k for k in (f"x_{key}", f"y_{key}") if k not in archive.files]
      if missing:
        raise DataError(f"{path}: missing array(s) {missing}; found {archive.files}")
      x = _npz_x(archive[f"x_{key}"], f"{path} x_{key}")
      y = archive[f"y_{key}"]
  if y.ndim == 2:  # one-hot
    num_classes = num_classes or y.shape[1]
    y = one_hot_labels(y, f"{path} y_{key}")
  elif y.ndim == 1:
    y = check_labels(y, f"{path} y_{key}")
  else:
    raise DataError(f"{path} y_{key}: labels of shape {y.shape}; expected [N] or one-hot [N, K]")
  if len(y) != len(x):
    raise DataError(f"{path}: {len(x)} clips but {len(y)} labels in split {key!r}")
  layout = check_clips(x, f"{path} x_{key}", layout)
  if preprocess:
    t_out = num_frames or 50
    out = np.zeros(x.shape[:2] + (t_out,) + x.shape[3:], np.float32)
    for i in range(len(x)):
      out[i] = preprocess_clip(x[i], layout, t_out, view_normalize=view_normalize,
                               name=f"{path} x_{key}[{i}]")
    x = out
  elif num_frames is not None:
    x = _resize_all(x, num_frames, f"{path} x_{key}")
  names = [f"{key}_{i:06d}" for i in range(len(x))]
  return ArrayDataset(x, y, names, layout, _num_classes(y, num_classes, path))
