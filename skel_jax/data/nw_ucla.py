"""Reader of the NW-UCLA (Northwestern-UCLA Multiview Action3D) json release.

The `all_sqe` folder holds one file per clip, `aAA_sSS_eEE_vVV.json` =
`{"file_name": str, "skeletons": [T][20][3], "label": 1..10}` (Kinect v1 joint order, metres,
one person, T from 1 to about 200 frames). See `../shared/data/README.md`.

Preprocessing reuses the reference's step B (`skel_jax.data.preprocess`): centre on the layout's
centre joint (`kinect_v1_20`: hip centre), resize the valid frames to `num_frames`, and
optionally the per-frame y-rotation (off by default: NW-UCLA work does not use it).

Standard cross-view protocol: views 1 and 2 train (1020 clips), view 3 tests (464 clips).
Reading all 1484 files takes about a second, so there is no cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.errors import reading
from skel_jax.data.preprocess import DataError, preprocess_clip
from skel_jax.data.skeletons import get_layout

DATASET = "nwucla"  # its name in skel_jax.data.registry and skel_jax.prepare
LAYOUT = "kinect_v1_20"
NUM_CLASSES = 10
# The action names behind labels 0..9 (json label 1..10, the file names' a01-a06, a08, a09,
# a11, a12: there is no a07 or a10), as the release lists them.
CLASS_NAMES = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around",
               "sit down", "stand up", "donning", "doffing", "throw", "carry")
NUM_JOINTS = 20
# Protocol name -> (train views, test views).
PROTOCOLS = {"cross_view": ((1, 2), (3,))}
_NAME_RE = re.compile(r"^a(\d+)_s(\d+)_e(\d+)_v(\d+)$")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclasses.dataclass(frozen=True)
class NwUclaSample:
  """One clip file and the fields of its name."""

  name: str
  path: str
  action: int
  subject: int
  episode: int
  view: int


def parse_name(name: str) -> tuple[int, int, int, int]:
  """Action, subject, episode and view of a name like `a01_s02_e03_v01` (with or without .json).

  Raises:
    DataError: when the name does not follow the pattern.
  """
  stem = os.path.basename(name)
  stem = stem[:-5] if stem.endswith(".json") else stem
  match = _NAME_RE.match(stem)
  if not match:
    raise DataError(f"{name}: not an NW-UCLA clip name (expected aAA_sSS_eEE_vVV.json)")
  action, subject, episode, view = (int(g) for g in match.groups())
  return action, subject, episode, view


def clip_folder(root: str | os.PathLike) -> str:
  """The folder with the json clips: `root/all_sqe` if it exists, else `root` itself."""
  root = os.fspath(root)
  sub = os.path.join(root, "all_sqe")
  return sub if os.path.isdir(sub) else root


def list_samples(root: str | os.PathLike) -> list[NwUclaSample]:
  """All clips under `root` (the dataset folder or its `all_sqe`), sorted by name.

  Raises:
    DataError: when the folder is missing or holds no json clip.
  """
  folder = clip_folder(root)
  if not os.path.isdir(folder):
    raise DataError(f"{folder}: NW-UCLA folder not found")
  samples = []
  for fname in sorted(os.listdir(folder)):
    if not fname.endswith(".json"):
      continue
    action, subject, episode, view = parse_name(os.path.join(folder, fname))
    samples.append(NwUclaSample(fname[:-5], os.path.join(folder, fname), action, subject,
                                episode, view))
  if not samples:
    raise DataError(f"{folder}: no NW-UCLA .json clips found")
  return samples


def read_clip(path: str | os.PathLike) -> tuple[np.ndarray, int]:
  """Reads one json clip.

  Args:
    path: the `.json` file.

  Returns:
    (float64 `[T, 20, 3]` coordinates, 0-based label).

  Raises:
    DataError: naming the file and the problem (invalid json, no `skeletons`, zero frames,
      a frame without 20 joints of 3 values, non-finite values, a label outside 1..10).
  """
  path = os.fspath(path)
  with reading(path, "json clip"):
    with open(path, "rb") as f:
      record = json.load(f)
  if not isinstance(record, dict) or "skeletons" not in record:
    raise DataError(f"{path}: no 'skeletons' field")
  if "label" not in record:
    raise DataError(f"{path}: no 'label' field")
  frames = record["skeletons"]
  if not isinstance(frames, list) or not frames:
    raise DataError(f"{path}: zero frames in 'skeletons'")
  try:
    skeleton = np.asarray(frames)  # [T, V, 3]
  except (ValueError, TypeError, OverflowError, RecursionError):
    skeleton = None  # ragged or too deep: find the culprit below
  if (skeleton is None or skeleton.dtype.kind not in "iuf"
      or skeleton.shape[1:] != (NUM_JOINTS, 3)):
    _raise_bad_frames(path, frames)
  skeleton = skeleton.astype(np.float64)
  # Preprocessing and the prepared files are float32: a value beyond its range would become
  # inf there, so it is as bad as a NaN here.
  bad = ~np.isfinite(skeleton) | (np.abs(skeleton) > _FLOAT32_MAX)
  if np.any(bad):
    t, v, c = np.argwhere(bad)[0]
    raise DataError(f"{path}: non-finite coordinate at frame {t} joint {v} axis {c} "
                    f"({skeleton[t, v, c].item()!r}; values must be finite and fit float32)")
  label = record["label"]
  if isinstance(label, bool) or not isinstance(label, int) or not 1 <= label <= NUM_CLASSES:
    raise DataError(f"{path}: label {label!r} is not an integer in 1..{NUM_CLASSES}")
  return skeleton, int(label) - 1


def _raise_bad_frames(path: str, frames: list) -> None:
  """Raises a DataError that names the first malformed frame or joint of `frames`."""
  for t, frame in enumerate(frames):
    if not isinstance(frame, list) or len(frame) != NUM_JOINTS:
      count = len(frame) if isinstance(frame, list) else type(frame).__name__
      raise DataError(f"{path}: frame {t} has {count} joints, expected {NUM_JOINTS}")
    for v, joint in enumerate(frame):
      if not isinstance(joint, list) or len(joint) != 3:
        raise DataError(f"{path}: frame {t} joint {v} is {joint!r}, expected 3 coordinates")
      for value in joint:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
          raise DataError(f"{path}: frame {t} joint {v} has a non-numeric value {value!r}")
  raise DataError(f"{path}: 'skeletons' is not a [T][{NUM_JOINTS}][3] array of numbers")


def split_views(protocol: str, split: str) -> tuple[int, ...]:
  """Camera views of `split` ('train' | 'test' | 'all') under `protocol`."""
  if protocol not in PROTOCOLS:
    raise ValueError(f"unknown NW-UCLA protocol {protocol!r}; known: {sorted(PROTOCOLS)}")
  train, test = PROTOCOLS[protocol]
  views = {"train": train, "test": test, "all": train + test}
  if split not in views:
    raise ValueError(f"unknown NW-UCLA split {split!r}; use 'train', 'test' or 'all'")
  return views[split]


def load_nw_ucla(
    root: str | os.PathLike,
    split: str = "train",
    *,
    num_frames: int = 50,
    view_normalize: bool = False,
    protocol: str = "cross_view",
) -> ArrayDataset:
  """Reads and preprocesses one NW-UCLA split.

  Args:
    root: the NW-UCLA folder (with `all_sqe/`) or the `all_sqe` folder itself.
    split: 'train', 'test' or 'all'.
    num_frames: frames after the time resize (T_out).
    view_normalize: apply the per-frame y-rotation of `preprocess.rotate_view` (shoulders 4, 8).
    protocol: 'cross_view' (views 1, 2 train; view 3 test).

  Returns:
    ArrayDataset with x float32 `[N, 1, num_frames, 20, 3]`, labels 0..9, names = file stems,
    layout 'kinect_v1_20', sorted by name.

  Raises:
    DataError: for a missing folder or a bad file (the message names the file).
    ValueError: for an unknown split or protocol.
  """
  views = split_views(protocol, split)
  layout = get_layout(LAYOUT)
  samples = [s for s in list_samples(root) if s.view in views]
  xs = np.zeros((len(samples), 1, num_frames, NUM_JOINTS, 3), np.float32)
  ys = np.zeros((len(samples),), np.int32)
  for i, sample in enumerate(samples):
    skeleton, ys[i] = read_clip(sample.path)
    xs[i] = preprocess_clip(skeleton[None], layout, num_frames, view_normalize=view_normalize,
                            name=sample.path)
  return ArrayDataset(xs, ys, [s.name for s in samples], LAYOUT, NUM_CLASSES)
