"""Skeleton layouts as data: joints, parents, centre, body-part groups and the flip map.

A layout is everything the library needs to know about a skeleton; no code path is specific
to NTU or Kinect v1. Built in (`BUILTIN_LAYOUTS`; pictures in docs/datasets.md):

* ``ntu25``: Kinect v2, 25 joints (NTU RGB+D, PKU-MMD). Parents, body parts and the flip map
  are the reference's: the bone pairs of CrosSCLR processor/pretrain_skeletonclr.py, the flip
  map of AimCLR feeder/tools.py `random_spatial_flip` and the body groups of SkeleMixCLR
  net/skeletonclr_multi_swapv2.py `ske_swap`. Centre joint 21 (idx 20, spine shoulder), the
  graph centre (net/utils/graph.py) and the preprocessing origin (feeder/NTUDatasets.py).
* ``kinect_v1_20``: Kinect v1, 20 joints (NW-UCLA, UTKinect). Parents as in the NW-UCLA
  ``meta.json`` bones (rooted at the hip centre, idx 0).
* ``coco17``: the 17 COCO keypoints of 2D pose estimators, channels (x, y, score).
* ``openpose25``: OpenPose BODY_25, channels (x, y, score).
* ``mediapipe33``: MediaPipe Pose's 33 landmarks, channels (x, y, z, visibility).

A user layout is a small JSON (or YAML if PyYAML is installed) file, for example::

    {"name": "my_skeleton",
     "joint_names": ["pelvis", "chest", "head", "l_hand", "r_hand"],
     "parents": [0, 0, 1, 1, 1],
     "center": 0,
     "parts": {"trunk": [0, 1, 2], "left_arm": [3], "right_arm": [4]},
     "flip": [0, 1, 2, 4, 3],
     "shoulders": [3, 4],
     "channels": ["x", "y", "z"]}

``parents[v]`` is the 0-based parent of joint v, the root is its own parent; ``flip[i]`` is the
old joint that becomes joint i under a left/right flip (identity when absent). ``channels``
names the C axis of the clips (default x, y, z): the coordinates come first (``x, y`` or
``x, y, z``), anything after them (a detector's ``score``, a ``visibility``) is carried along
but never centred, rotated or sheared. ``get_layout``
accepts a built-in name or a path to such a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence

import numpy as np

from skel_jax.data.errors import DataError, reading


@dataclasses.dataclass(frozen=True)
class SkeletonLayout:
  """An immutable skeleton description (all joint indices 0-based).

  Attributes:
    name: layout name.
    joint_names: one name per joint; its length is the joint count V.
    parents: parent of each joint; the root (usually the centre) is its own parent.
    center: the centre joint (graph centre and preprocessing origin).
    parts: ordered mapping of body-part name to joint indices (SkeleMix groups).
    flip: left/right permutation, ``new[i] = old[flip[i]]`` (AimCLR's spatial flip).
    shoulders: (a, b) joints whose difference ``p[b] - p[a]`` defines the view direction of
      the per-frame y-rotation (NTU joints 5 and 9, docs/datasets.md); None disables it.
    channels: names of the clips' C axis; the leading x, y[, z] are the coordinates.
  """

  name: str
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]
  center: int
  parts: tuple[tuple[str, tuple[int, ...]], ...]
  flip: tuple[int, ...]
  shoulders: tuple[int, int] | None = None
  channels: tuple[str, ...] = ("x", "y", "z")

  def __post_init__(self):
    validate_layout(self)

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  @property
  def edges(self) -> tuple[tuple[int, int], ...]:
    """Undirected bones as (child, parent) pairs, self-loops excluded."""
    return tuple((v, p) for v, p in enumerate(self.parents) if v != p)

  @property
  def num_coords(self) -> int:
    """How many leading channels are coordinates (2 or 3)."""
    return sum(1 for c in self.channels if c in COORDINATES)

  @property
  def part_names(self) -> tuple[str, ...]:
    return tuple(name for name, _ in self.parts)

  def part_masks(self) -> np.ndarray:
    """Body-part membership as a float32 `[num_parts, V]` 0/1 matrix."""
    masks = np.zeros((len(self.parts), self.num_joints), np.float32)
    for i, (_, joints) in enumerate(self.parts):
      masks[i, list(joints)] = 1.0
    return masks

  def to_dict(self) -> dict:
    return {
        "name": self.name,
        "joint_names": list(self.joint_names),
        "parents": list(self.parents),
        "center": self.center,
        "parts": {k: list(v) for k, v in self.parts},
        "flip": list(self.flip),
        "shoulders": list(self.shoulders) if self.shoulders else None,
        "channels": list(self.channels),
    }


COORDINATES = ("x", "y", "z")


class LayoutError(DataError):
  """A skeleton layout is malformed or unknown."""


def _cycle_joint(parents: Sequence[int]) -> int | None:
  """A joint on a parent cycle (one that never reaches a self-parented root), else None.

  Linear in the joint count: each joint is walked once, and a walk stops at a joint already
  known to reach a root.
  """
  state = [0] * len(parents)  # 0 unvisited, 1 on the current walk, 2 reaches a root
  for start in range(len(parents)):
    path, j = [], start
    while state[j] == 0:
      state[j] = 1
      path.append(j)
      if parents[j] == j:
        break
      j = parents[j]
    else:
      if state[j] == 1:  # walked back into this walk: a cycle
        return j
    for k in path:
      state[k] = 2
  return None


def validate_layout(layout: SkeletonLayout, source: str = "") -> None:
  """Checks the invariants of a layout; raises LayoutError naming the problem."""
  where = f" ({source})" if source else ""

  def fail(problem: str):
    raise LayoutError(f"layout {layout.name!r}{where}: {problem}")

  v = len(layout.joint_names)
  if v < 2:
    fail(f"needs at least 2 joints, got {v}")
  # Names identify joints (the encoder's data BN is initialised per joint name).
  seen: dict[str, int] = {}
  for j, joint in enumerate(layout.joint_names):
    if joint in seen:
      fail(f"joint name {joint!r} is used twice (joints {seen[joint]} and {j})")
    seen[joint] = j
  if len(layout.parents) != v:
    fail(f"{len(layout.parents)} parents for {v} joints")
  bad = [j for j, p in enumerate(layout.parents) if not 0 <= p < v]
  if bad:
    fail(f"parent index out of range 0..{v - 1}: joint {bad[0]} has parent "
         f"{layout.parents[bad[0]]}")
  if not 0 <= layout.center < v:
    fail(f"centre {layout.center} out of range 0..{v - 1}")
  if sorted(layout.flip) != list(range(v)):
    fail(f"flip must be a permutation of 0..{v - 1}")
  # A left/right flip applied twice must give the skeleton back.
  unpaired = [i for i, j in enumerate(layout.flip) if layout.flip[j] != i]
  if unpaired:
    i = unpaired[0]
    fail(f"flip is not its own inverse: joint {i} goes to {layout.flip[i]}, which goes to "
         f"{layout.flip[layout.flip[i]]}")
  if layout.shoulders is not None:
    if len(layout.shoulders) != 2 or any(not 0 <= j < v for j in layout.shoulders):
      fail(f"shoulders must be two joints in 0..{v - 1}")
    if layout.shoulders[0] == layout.shoulders[1]:
      fail(f"shoulders must be two different joints, got {list(layout.shoulders)}")
  if not layout.parts:
    fail("needs at least one body part")
  coords = tuple(c for c in layout.channels if c in COORDINATES)
  if (len(set(layout.channels)) != len(layout.channels) or coords not in (("x", "y"), COORDINATES)
      or layout.channels[:len(coords)] != coords):
    fail(f"channels {list(layout.channels)} must start with the coordinates x, y or x, y, z, "
         "then other names (e.g. score)")
  for part, joints in layout.parts:
    if not joints:
      fail(f"part {part!r} has no joints")
    if any(not 0 <= j < v for j in joints):
      fail(f"part {part!r} has joints outside 0..{v - 1}")
  # Every joint must reach a root by following parents (no cycles besides self-roots).
  cycle = _cycle_joint(layout.parents)
  if cycle is not None:
    fail(f"parent cycle through joint {cycle}")


def _index(value, field: str) -> int:
  """`value` as a joint index: an integer, not a bool, a float like 1.5 or a string "1"."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
    raise LayoutError(f"{field} must be an integer joint index, got {value!r}")
  return int(value)


def _indices(values, field: str) -> tuple[int, ...]:
  if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
    raise LayoutError(f"{field} must be a list of joint indices, got {_short(values)}")
  return tuple(_index(x, f"{field}[{i}]") for i, x in enumerate(values))


def _names(values, field: str) -> tuple[str, ...]:
  if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or any(
      not isinstance(n, str) for n in values):
    raise LayoutError(f"{field} must be a list of strings, got {_short(values)}")
  return tuple(values)


def _short(value) -> str:
  text = repr(value)
  return text if len(text) <= 60 else text[:57] + "..."


def make_layout(
    name: str,
    joint_names: Sequence[str],
    parents: Sequence[int],
    center: int,
    parts: Mapping[str, Sequence[int]] | Sequence[tuple[str, Sequence[int]]],
    flip: Sequence[int] | None = None,
    shoulders: Sequence[int] | None = None,
    channels: Sequence[str] | None = None,
) -> SkeletonLayout:
  """Builds a validated layout from plain Python values.

  Raises:
    LayoutError: for a value of the wrong type (a joint index that is not an integer, joint
      names that are not strings) or a layout that breaks an invariant (`validate_layout`).
  """
  if not isinstance(name, str):
    raise LayoutError(f"name must be a string, got {_short(name)}")
  if isinstance(joint_names, (str, bytes)) or not isinstance(joint_names, Sequence) or any(
      not isinstance(n, str) for n in joint_names):
    raise LayoutError(f"joint_names must be a list of strings, got {_short(joint_names)}")
  if isinstance(parts, Mapping):
    items = list(parts.items())
  elif isinstance(parts, Sequence) and not isinstance(parts, (str, bytes)) and all(
      isinstance(p, (tuple, list)) and len(p) == 2 for p in parts):
    items = list(parts)
  else:
    raise LayoutError(f"parts must map part names to joint lists, got {_short(parts)}")
  if any(not isinstance(k, str) for k, _ in items):
    raise LayoutError(f"part names must be strings, got {[k for k, _ in items]!r}")
  return SkeletonLayout(
      name=name,
      joint_names=tuple(joint_names),
      parents=_indices(parents, "parents"),
      center=_index(center, "center"),
      parts=tuple((k, _indices(v, f"part {k!r}")) for k, v in items),
      flip=_indices(flip, "flip") if flip is not None else tuple(range(len(joint_names))),
      shoulders=_indices(shoulders, "shoulders") if shoulders is not None else None,
      channels=_names(channels, "channels") if channels is not None else COORDINATES,
  )


def _one_based(pairs):
  return [j - 1 for j in pairs]


# NTU RGB+D (Kinect v2). Parents from the reference's bone pairs (1-based (v, parent(v)),
# CrosSCLR processor/pretrain_skeletonclr.py `SkeletonCLR_Processor.train`).
_NTU_PARENTS_1B = [2, 21, 21, 3, 21, 5, 6, 7, 21, 9, 10, 11, 1, 13, 14, 15, 1, 17, 18, 19, 21,
                   23, 8, 25, 12]
NTU25 = make_layout(
    name="ntu25",
    joint_names=[
        "spine_base", "spine_mid", "neck", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
        "spine_shoulder", "handtip_left", "thumb_left", "handtip_right", "thumb_right",
    ],
    parents=_one_based(_NTU_PARENTS_1B),
    center=20,
    # SkeleMixCLR's `ske_swap`: the five groups in the reference's order and with its
    # (swapped) names kept in the docs only; here each group is named for the NTU side it
    # really covers.
    parts=[
        ("trunk", _one_based([4, 3, 21, 2, 1])),
        ("arm_right", _one_based([9, 10, 11, 12, 24, 25])),
        ("arm_left", _one_based([5, 6, 7, 8, 22, 23])),
        ("leg_right", _one_based([17, 18, 19, 20])),
        ("leg_left", _one_based([13, 14, 15, 16])),
    ],
    flip=[0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22],
    shoulders=(4, 8),
)

# Kinect v1 (NW-UCLA, UTKinect). Bones as in the NW-UCLA meta.json, rooted at the hip centre.
KINECT_V1_20 = make_layout(
    name="kinect_v1_20",
    joint_names=[
        "hip_center", "spine", "shoulder_center", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
    ],
    parents=[0, 0, 1, 2, 2, 4, 5, 6, 2, 8, 9, 10, 0, 12, 13, 14, 0, 16, 17, 18],
    center=0,
    parts=[
        ("trunk", [0, 1, 2, 3]),
        ("arm_right", [8, 9, 10, 11]),
        ("arm_left", [4, 5, 6, 7]),
        ("leg_right", [16, 17, 18, 19]),
        ("leg_left", [12, 13, 14, 15]),
    ],
    flip=[0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15],
    shoulders=(4, 8),
)


def _pairs_flip(v: int, pairs: Sequence[tuple[int, int]]) -> list[int]:
  """The flip permutation that swaps each (left, right) pair and fixes the other joints."""
  flip = list(range(v))
  for a, b in pairs:
    flip[a], flip[b] = b, a
  return flip


# COCO keypoints (17; the order of the COCO person-keypoint annotations and of most 2D pose
# estimators). COCO has no neck or pelvis joint: the tree hangs from the nose, the graph centre
# and the centring origin; the hips hang from the shoulders of their side.
COCO17 = make_layout(
    name="coco17",
    joint_names=[
        "nose", "eye_left", "eye_right", "ear_left", "ear_right",
        "shoulder_left", "shoulder_right", "elbow_left", "elbow_right",
        "wrist_left", "wrist_right", "hip_left", "hip_right",
        "knee_left", "knee_right", "ankle_left", "ankle_right",
    ],
    parents=[0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14],
    center=0,
    parts=[
        ("head", [0, 1, 2, 3, 4]),
        ("arm_right", [6, 8, 10]),
        ("arm_left", [5, 7, 9]),
        ("leg_right", [12, 14, 16]),
        ("leg_left", [11, 13, 15]),
    ],
    flip=_pairs_flip(17, [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14),
                          (15, 16)]),
    shoulders=(5, 6),
    channels=("x", "y", "score"),
)

# OpenPose BODY_25 (the order of OpenPose's body_25 model output), rooted at the neck like
# OpenPose's own limb list; the small toe hangs from the big toe.
OPENPOSE25 = make_layout(
    name="openpose25",
    joint_names=[
        "nose", "neck", "shoulder_right", "elbow_right", "wrist_right",
        "shoulder_left", "elbow_left", "wrist_left", "hip_mid",
        "hip_right", "knee_right", "ankle_right", "hip_left", "knee_left", "ankle_left",
        "eye_right", "eye_left", "ear_right", "ear_left",
        "bigtoe_left", "smalltoe_left", "heel_left", "bigtoe_right", "smalltoe_right",
        "heel_right",
    ],
    parents=[1, 1, 1, 2, 3, 1, 5, 6, 1, 8, 9, 10, 8, 12, 13, 0, 0, 15, 16, 14, 19, 14, 11, 22,
             11],
    center=1,
    parts=[
        ("trunk", [0, 1, 8, 15, 16, 17, 18]),
        ("arm_right", [2, 3, 4]),
        ("arm_left", [5, 6, 7]),
        ("leg_right", [9, 10, 11, 22, 23, 24]),
        ("leg_left", [12, 13, 14, 19, 20, 21]),
    ],
    flip=_pairs_flip(25, [(2, 5), (3, 6), (4, 7), (9, 12), (10, 13), (11, 14), (15, 16),
                          (17, 18), (19, 22), (20, 23), (21, 24)]),
    shoulders=(5, 2),
    channels=("x", "y", "score"),
)

# MediaPipe Pose (BlazePose) landmarks, 33, in the order of its PoseLandmark enum; x, y, z and
# the landmark's visibility. No mid joint either: rooted at the nose, as coco17.
MEDIAPIPE33 = make_layout(
    name="mediapipe33",
    joint_names=[
        "nose", "eye_inner_left", "eye_left", "eye_outer_left",
        "eye_inner_right", "eye_right", "eye_outer_right", "ear_left", "ear_right",
        "mouth_left", "mouth_right", "shoulder_left", "shoulder_right",
        "elbow_left", "elbow_right", "wrist_left", "wrist_right",
        "pinky_left", "pinky_right", "index_left", "index_right", "thumb_left", "thumb_right",
        "hip_left", "hip_right", "knee_left", "knee_right", "ankle_left", "ankle_right",
        "heel_left", "heel_right", "foot_index_left", "foot_index_right",
    ],
    parents=[0, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16,
             11, 12, 23, 24, 25, 26, 27, 28, 27, 28],
    center=0,
    parts=[
        ("head", list(range(11))),
        ("arm_right", [12, 14, 16, 18, 20, 22]),
        ("arm_left", [11, 13, 15, 17, 19, 21]),
        ("leg_right", [24, 26, 28, 30, 32]),
        ("leg_left", [23, 25, 27, 29, 31]),
    ],
    flip=_pairs_flip(33, [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10)]
                     + [(a, a + 1) for a in range(11, 33, 2)]),
    shoulders=(11, 12),
    channels=("x", "y", "z", "visibility"),
)

BUILTIN_LAYOUTS = {layout.name: layout
                   for layout in (NTU25, KINECT_V1_20, COCO17, OPENPOSE25, MEDIAPIPE33)}


def load_layout(path: str | os.PathLike) -> SkeletonLayout:
  """Reads a user layout from a JSON (or YAML) file.

  Raises:
    LayoutError: naming the file and the problem (unreadable or malformed file, a missing
      field, a value of the wrong type, a broken invariant).
  """
  path = os.fspath(path)
  if path.endswith((".yaml", ".yml")):
    try:
      import yaml  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise LayoutError(f"{path}: reading YAML layouts needs PyYAML (pip install pyyaml)") from e
  try:
    with reading(path, "layout file"):
      with open(path, "rb") as f:
        spec = yaml.safe_load(f) if path.endswith((".yaml", ".yml")) else json.load(f)
  except DataError as e:
    raise LayoutError(str(e)) from e.__cause__
  if not isinstance(spec, dict):
    raise LayoutError(f"{path}: a layout file must hold a mapping, got {type(spec).__name__}")
  missing = [k for k in ("joint_names", "parents", "center") if k not in spec]
  if missing:
    raise LayoutError(f"{path}: layout misses the field(s) {missing}")
  names = spec["joint_names"]
  default_parts = {"all": list(range(len(names)))} if isinstance(names, list) else None
  try:
    layout = make_layout(
        name=spec.get("name", os.path.splitext(os.path.basename(path))[0]),
        joint_names=names,
        parents=spec["parents"],
        center=spec["center"],
        parts=spec.get("parts", default_parts),
        flip=spec.get("flip"),
        shoulders=spec.get("shoulders"),
        channels=spec.get("channels"),
    )
  except LayoutError as e:
    raise LayoutError(f"{path}: {e}") from e
  return layout


def get_layout(name_or_path: str | SkeletonLayout) -> SkeletonLayout:
  """Returns a built-in layout by name, or reads a user layout file.

  Raises:
    LayoutError: for an unknown name (listing the known ones) or a bad file.
  """
  if isinstance(name_or_path, SkeletonLayout):
    return name_or_path
  if not isinstance(name_or_path, (str, os.PathLike)):
    raise LayoutError(f"a layout is a name or a file path, got {_short(name_or_path)}")
  name_or_path = os.fspath(name_or_path)
  if name_or_path in BUILTIN_LAYOUTS:
    return BUILTIN_LAYOUTS[name_or_path]
  if name_or_path.endswith((".json", ".yaml", ".yml")) or os.path.sep in name_or_path:
    return load_layout(name_or_path)
  raise LayoutError(
      f"unknown skeleton layout {name_or_path!r}; known: {sorted(BUILTIN_LAYOUTS)} "
      "or a path to a .json/.yaml layout file")
