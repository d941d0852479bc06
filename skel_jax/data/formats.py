"""Readers of the preprocessed files that the reference repositories publish or produce.

* The SkeletonCLR/AimCLR family (reference-spec 1.1): `{split}_position.npy`, float32
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
from skel_jax.data.preprocess import DataError, preprocess_clip, resize_time, valid_span
from skel_jax.data.skeletons import LayoutError, get_layout

# Joint count -> built-in layout, for files that do not say which skeleton they hold.
_LAYOUT_BY_JOINTS = {25: "ntu25", 20: "kinect_v1_20"}
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
  try:
    with open(path, "rb") as f:
      record = _SafeUnpickler(f).load()
  except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
    raise DataError(f"{path}: cannot read label pickle: {e}") from e
  if not isinstance(record, (tuple, list)) or len(record) != 2:
    raise DataError(f"{path}: expected a pickled (names, labels) pair")
  names = [str(n) for n in record[0]]
  labels = np.asarray(record[1]).reshape(-1)
  if len(names) != len(labels):
    raise DataError(f"{path}: {len(names)} names but {len(labels)} labels")
  if labels.dtype.kind not in "iuf" or (
      labels.dtype.kind == "f" and not np.all(labels == np.round(labels))):
    raise DataError(f"{path}: labels are not integers")
  labels = labels.astype(np.int32)
  if labels.size and labels.min() < 0:
    raise DataError(f"{path}: negative label {labels.min()}")
  return names, labels


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
    return found
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
    DataError: for missing files, a wrong array rank, or names/labels that do not match.
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
  data = np.load(data_path, mmap_mode="r")
  if data.ndim != 5:
    raise DataError(f"{data_path}: expected (N, C, T, V, M), got shape {data.shape}")
  if len(data) != len(labels):
    raise DataError(f"{data_path}: {len(data)} samples but {len(labels)} labels in {label_path}")
  layout = _layout_for(data.shape[3], layout, data_path)
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
    x = np.ascontiguousarray(x, np.float32)
  return ArrayDataset(x, labels, names, layout, _num_classes(labels, num_classes, label_path))


def _npz_x(x: np.ndarray, source: str) -> np.ndarray:
  """CTR-GCN clips as `[N, M, T, V, C]`."""
  if x.ndim == 3:
    n, t, f = x.shape
    if f % 75:
      raise DataError(f"{source}: last axis {f} is not persons x 25 joints x 3")
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
    preprocess: run the whole step B of spec 1.1 instead (per-frame centring, resize to
      `num_frames` or 50, y-rotation when `view_normalize`).
    num_classes: class count; default the one-hot width, or largest label + 1.
    layout: skeleton layout; default from the joint count.
    view_normalize: the y-rotation, with `preprocess` only.

  Returns:
    ArrayDataset `[N, M, T, V, C]` with names `{split}_{index:06d}`.

  Raises:
    DataError: for missing keys or unexpected shapes.
  """
  path = os.fspath(path)
  key = {"train": "train", "test": "test", "val": "test"}.get(split)
  if key is None:
    raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
  try:
    archive = np.load(path)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: cannot read npz: {e}") from e
  with archive:
    missing = [k for k in (f"x_{key}", f"y_{key}") if k not in archive.files]
    if missing:
      raise DataError(f"{path}: missing array(s) {missing}; found {archive.files}")
    x = _npz_x(archive[f"x_{key}"], path)
    y = archive[f"y_{key}"]
  if y.ndim == 2:  # one-hot
    num_classes = num_classes or y.shape[1]
    y = np.argmax(y, axis=1)
  y = np.asarray(y).reshape(-1).astype(np.int32)
  if len(y) != len(x):
    raise DataError(f"{path}: {len(x)} clips but {len(y)} labels in split {key!r}")
  layout = _layout_for(x.shape[3], layout, path)
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
