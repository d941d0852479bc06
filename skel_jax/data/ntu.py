"""NTU RGB+D 60/120: a strict reader of the raw `.skeleton` files, names, skip lists, splits.

Format of a `.skeleton` file (text, CRLF line endings; see ../shared/data/README.md):

    <frame count>
    per frame:  <body count>
                per body:  one line of 10 values (bodyID clippedEdges handLeftConfidence
                           handLeftState handRightConfidence handRightState isRestricted
                           leanX leanY trackingState)
                           <joint count>   (25)
                           25 lines of 12 values (x y z depthX depthY colorX colorY
                           orientationW orientationX orientationY orientationZ trackingState)

Step A as CrosSCLR (LinguoLi/CrosSCLR) tools/ntu_gendata.py `gendata` with
tools/utils/ntu_read_skeleton.py `read_xyz`: bodies are kept in file order (no selection by motion
energy), x, y, z camera coordinates of the first two bodies, zero padding to 300 frames. Step B is
`skel_jax.data.preprocess.preprocess_clip` with the `ntu25` layout.

Splits (`training_subjects` in tools/ntu_gendata.py; docs/datasets.md): NTU-60 cross-subject (20
training performers) and cross-view (cameras 2 and 3 train); NTU-120 cross-subject (53 training
performers, SkeAttnCLR's copy of the script) and cross-setup (even setup ids train, the NTU-120
paper's protocol: no reference repository has a script). NTU-60 is actions 1-60 of setups 1-17, so
an NTU-60 build ignores the NTU-120 files of a merged folder.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np

from skel_jax.data.errors import reading
from skel_jax.data.preprocess import DataError, preprocess_clip

LAYOUT = "ntu25"
NUM_JOINTS = 25
MAX_BODIES = 2
MAX_FRAMES = 300
_BODY_VALUES = 10
_JOINT_VALUES = 12
_FLOAT32_MAX = float(np.finfo(np.float32).max)

NTU60_XSUB_TRAIN_PERFORMERS = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38))
NTU120_XSUB_TRAIN_PERFORMERS = NTU60_XSUB_TRAIN_PERFORMERS | frozenset(
    (45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
     89, 91, 92, 93, 94, 95, 97, 98, 100, 103))
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))

# Dataset name -> (number of classes, highest setup id, benchmark).
DATASETS = {
    "ntu60_xsub": (60, 17, "xsub"),
    "ntu60_xview": (60, 17, "xview"),
    "ntu120_xsub": (120, 32, "xsub"),
    "ntu120_xset": (120, 32, "xset"),
}
SKIP_LIST_NAMES = {60: "ntu60_samples_with_missing_skeletons.txt",
                   120: "ntu120_samples_with_missing_skeletons.txt"}

_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclasses.dataclass(frozen=True)
class NtuName:
  """The fields of an NTU sample name `SsssCcccPpppRrrrAaaa` (all 1-based)."""

  setup: int
  camera: int
  performer: int
  replication: int
  action: int

  @property
  def label(self) -> int:
    """0-based class (action - 1)."""
    return self.action - 1


def parse_name(name: str) -> NtuName:
  """Parses `S001C002P003R002A013` (a path or a `.skeleton` suffix is fine).

  Raises:
    DataError: when the name holds no NTU sample id.
  """
  match = _NAME_RE.search(os.path.basename(name))
  if not match:
    raise DataError(f"{name}: not an NTU sample name (expected SsssCcccPpppRrrrAaaa)")
  return NtuName(*(int(g) for g in match.groups()))


def split_of(name: str | NtuName, dataset: str) -> str:
  """'train' or 'test' for a sample under `dataset` (see DATASETS and the module docstring)."""
  info = name if isinstance(name, NtuName) else parse_name(name)
  _, _, benchmark = dataset_info(dataset)
  if benchmark == "xsub":
    performers = (NTU60_XSUB_TRAIN_PERFORMERS if dataset.startswith("ntu60")
                  else NTU120_XSUB_TRAIN_PERFORMERS)
    train = info.performer in performers
  elif benchmark == "xview":
    train = info.camera in XVIEW_TRAIN_CAMERAS
  else:  # xset: even setup ids train
    train = info.setup % 2 == 0
  return "train" if train else "test"


def dataset_info(dataset: str) -> tuple[int, int, str]:
  """(num_classes, highest setup id, benchmark) of an NTU dataset name."""
  if dataset not in DATASETS:
    raise ValueError(f"unknown NTU dataset {dataset!r}; known: {sorted(DATASETS)}")
  return DATASETS[dataset]


def read_skip_list(path: str | os.PathLike) -> frozenset[str]:
  """Sample names (one per line, blank lines ignored) of a missing-skeletons list."""
  with reading(path, "skip list"):
    with open(path, encoding="utf-8") as f:
      return frozenset(line.strip() for line in f if line.strip())


def list_samples(
    raw_dir: str | os.PathLike,
    dataset: str,
    split: str,
    skip: frozenset[str] | set[str] = frozenset(),
) -> list[tuple[str, str, int]]:
  """The `.skeleton` files of one split, sorted by name, without the skipped samples.

  Args:
    raw_dir: folder with the `.skeleton` files, directly or in subfolders (NTU-120 comes as
      two archives, s001-s017 and s018-s032; their folders may sit side by side).
    dataset: one of DATASETS.
    split: 'train', 'test' or 'all'.
    skip: names (without suffix) to leave out (the missing-skeletons list).

  Returns:
    (name, path, 0-based label) per sample.

  Raises:
    DataError: for a missing folder, a file name that is not an NTU name, or the same sample
      in two subfolders.
  """
  num_classes, max_setup, _ = dataset_info(dataset)
  if split not in ("train", "test", "all"):
    raise ValueError(f"unknown split {split!r}; use 'train', 'test' or 'all'")
  raw_dir = os.fspath(raw_dir)
  if not os.path.isdir(raw_dir):
    raise DataError(f"{raw_dir}: NTU raw folder not found")
  paths: dict[str, str] = {}
  for folder, _, files in os.walk(raw_dir, followlinks=True):
    for fname in files:
      if not fname.endswith(".skeleton"):
        continue
      name, path = fname[:-len(".skeleton")], os.path.join(folder, fname)
      if name in paths:
        raise DataError(f"{path}: sample {name} also found at {paths[name]}")
      paths[name] = path
  out = []
  for name in sorted(paths):
    if name in skip:
      continue
    info = parse_name(paths[name])
    if info.action > num_classes or info.setup > max_setup:
      continue  # an NTU-120 file in a folder used for NTU-60
    if split != "all" and split_of(info, dataset) != split:
      continue
    out.append((name, paths[name], info.label))
  return out


class _Cursor:
  """Walks the lines of one file and raises errors that name the file and the line."""

  def __init__(self, path: str, lines: list[bytes]):
    self.path = path
    self.lines = lines
    self.pos = 0

  def error(self, message: str, line_index: int | None = None) -> DataError:
    line = (self.pos if line_index is None else line_index) + 1
    return DataError(f"{self.path}, line {line}: {message}")

  def need(self, count: int, what: str):
    if self.pos + count > len(self.lines):
      raise self.error(f"file ends early (truncated?) after {len(self.lines)} lines: expected "
                       f"{what}", min(self.pos, len(self.lines)))

  def integer(self, what: str) -> int:
    self.need(1, what)
    line = self.lines[self.pos]
    try:
      value = int(line)
    except ValueError:
      raise self.error(f"expected {what} (one integer), got {_show(line)}") from None
    if value < 0:
      raise self.error(f"negative {what}: {value}")
    self.pos += 1
    return value

  def body_info(self, frame: int):
    self.need(1, f"the body info line of frame {frame}")
    tokens = self.lines[self.pos].split()
    if len(tokens) != _BODY_VALUES:
      raise self.error(f"expected a body info line of {_BODY_VALUES} values in frame {frame}, "
                       f"got {len(tokens)} values {_show(self.lines[self.pos])} "
                       "(body count wrong?)")
    try:
      [float(t) for t in tokens]
    except ValueError:
      raise self.error(
          f"non-numeric value in body info line {_show(self.lines[self.pos])}") from None
    self.pos += 1


def _show(line: bytes) -> str:
  text = line.decode("utf-8", "replace").strip()
  return repr(text if len(text) <= 60 else text[:57] + "...")


def _parse_joint_lines(cursor: _Cursor, starts: list[int], num_joints: int) -> np.ndarray:
  """Parses the joint lines of all bodies into float64 `[num_bodies, V, 12]`."""
  lines = cursor.lines
  flat = [lines[s + j] for s in starts for j in range(num_joints)]
  values = None
  if flat:
    try:
      # numpy's C parser; comments=None so that no character is special.
      values = np.loadtxt(flat, dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
      values = None
  if values is None or values.shape != (len(flat), _JOINT_VALUES):
    if not flat:
      return np.zeros((0, num_joints, _JOINT_VALUES))
    _raise_bad_joint_line(cursor, starts, num_joints)
  return values.reshape(len(starts), num_joints, _JOINT_VALUES)  # [B, V, 12]


def _raise_bad_joint_line(cursor: _Cursor, starts: list[int], num_joints: int):
  """Finds the first malformed joint line (slow path, only on error) and raises."""
  for s in starts:
    for i in range(s, s + num_joints):
      tokens = cursor.lines[i].split()
      if len(tokens) != _JOINT_VALUES:
        raise cursor.error(f"expected a joint line of {_JOINT_VALUES} values, got "
                           f"{len(tokens)} values {_show(cursor.lines[i])}", i)
      for token in tokens:
        try:
          float(token)
        except ValueError:
          raise cursor.error(f"non-numeric value {_show(token)} in joint line", i) from None
  raise cursor.error("malformed joint lines", starts[0])


def read_skeleton(
    path: str | os.PathLike,
    max_bodies: int = MAX_BODIES,
    num_joints: int = NUM_JOINTS,
) -> np.ndarray:
  """Reads the x, y, z joint coordinates of an NTU `.skeleton` file.

  The file is checked strictly: every count must match the lines that follow, every body
  line has 10 values, every joint line 12 numeric values, and nothing but blank lines may
  follow the last frame. Bodies beyond `max_bodies` are parsed (and checked) but dropped.

  Args:
    path: the `.skeleton` file.
    max_bodies: bodies kept per frame, in file order.
    num_joints: expected joint count of every body.

  Returns:
    float32 `[max_bodies, T, num_joints, 3]` (T = the frame count of the file); frames or
    bodies that are absent are zero.

  Raises:
    DataError: naming the file and the 1-based line number of the problem (truncated file,
      wrong joint count, a body count that does not match the body lines, non-numeric or
      non-finite values).
  """
  path = os.fspath(path)
  with reading(path, "NTU .skeleton file"):
    return _read_skeleton(path, max_bodies, num_joints)


def _read_skeleton(path: str, max_bodies: int, num_joints: int) -> np.ndarray:
  with open(path, "rb") as f:
    data = f.read()
  # Split on \n only: the \r of CRLF is whitespace to int() and the float parser.
  lines = data.split(b"\n")
  if lines and not lines[-1].strip():
    lines.pop()  # the empty string after the final newline
  cursor = _Cursor(path, lines)
  num_frames = cursor.integer("the frame count")
  starts, slots = [], []  # first joint line of every body; (body, frame) of every body
  for t in range(num_frames):
    num_bodies = cursor.integer(f"the body count of frame {t}")
    for b in range(num_bodies):
      cursor.body_info(t)
      joints = cursor.integer(f"the joint count of frame {t} body {b}")
      if joints != num_joints:
        raise cursor.error(f"frame {t} body {b} has {joints} joints, expected {num_joints}",
                           cursor.pos - 1)
      cursor.need(joints, f"{joints} joint lines of frame {t} body {b}")
      starts.append(cursor.pos)
      slots.append((b, t))
      cursor.pos += joints
  for i in range(cursor.pos, len(lines)):
    if lines[i].strip():
      raise cursor.error(f"unexpected content after the last of {num_frames} frames: "
                         f"{_show(lines[i])} (a frame or body count too small?)", i)
  values = _parse_joint_lines(cursor, starts, num_joints)  # [B, V, 12]
  xyz = values[:, :, :3]
  # The output is float32: a value beyond its range would become inf, as bad as a NaN.
  bad = ~np.isfinite(xyz) | (np.abs(xyz) > _FLOAT32_MAX)
  if np.any(bad):
    body, joint = np.argwhere(np.any(bad, axis=-1))[0]
    raise cursor.error("non-finite coordinate (or one beyond the float32 range)", starts[body] + joint)
  out = np.zeros((max_bodies, num_frames, num_joints, 3), np.float32)
  keep = [i for i, (b, _) in enumerate(slots) if b < max_bodies]
  if keep:
    bodies = np.array([slots[i][0] for i in keep])
    frames = np.array([slots[i][1] for i in keep])
    out[bodies, frames] = xyz[keep]
  return out


def pad_frames(skeleton: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
  """Zero-pads (or cuts) `[M, T, V, C]` to `max_frames` frames (as step A's 300-frame array).

  The reference assumes at most 300 frames; longer sequences keep their first `max_frames`.
  """
  m, t, v, c = skeleton.shape
  out = np.zeros((m, max_frames, v, c), np.float32)
  n = min(t, max_frames)
  out[:, :n] = skeleton[:, :n]
  return out


def load_step_a(path: str | os.PathLike, max_frames: int = MAX_FRAMES) -> np.ndarray:
  """Step A (module docstring) for one file: float32 `[2, max_frames, 25, 3]`."""
  return pad_frames(read_skeleton(path), max_frames)


def process_file(
    path: str | os.PathLike,
    num_frames: int = 50,
    *,
    view_normalize: bool = True,
) -> np.ndarray:
  """Steps A and B (docs/datasets.md) for one file: float32 `[2, num_frames, 25, 3]`.

  Raises:
    DataError: for a malformed file or a file without any valid frame.
  """
  return preprocess_clip(load_step_a(path), LAYOUT, num_frames, view_normalize=view_normalize,
                         name=os.fspath(path))
