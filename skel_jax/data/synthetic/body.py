"""The synthetic body: a Kinect v2 rest pose, its bone tree and the joint-angle kinematics.

Angles are accumulated in a `_Pose` (`[25, n, T, 3]` degrees, R = Ry(y) @ Rz(z) @ Rx(x) per
bone about its parent joint); `_rotations` / `_apply` turn them into positions along the
`ntu25` tree re-rooted at the spine base (skel_jax/data/synthetic/generator.py). The joint
tables here also map other layouts' joints onto the body (`_layout_joints`).
"""

from __future__ import annotations

import numpy as np

from skel_jax.data.skeletons import NTU25, SkeletonLayout

# Kinect v1 joint names for the same body points (NW-UCLA meta.json naming).
_JOINT_ALIASES = {"hip_center": "spine_base", "spine": "spine_mid",
                  "shoulder_center": "spine_shoulder"}

_IDX = {name: i for i, name in enumerate(NTU25.joint_names)}
_FK_ROOT = _IDX["spine_base"]
_X, _Y, _Z = 0, 1, 2
_FOOT_JOINTS = [_IDX[j] for j in ("ankle_left", "foot_left", "ankle_right", "foot_right")]
# Hands and feet: the joints a Kinect tracks worst (extra jitter and glitches).
_DISTAL = [_IDX[f"{j}_{s}"] for j in ("hand", "handtip", "thumb", "foot")
           for s in ("left", "right")]


def _rest_pose() -> np.ndarray:
  """The ntu25 rest pose `[25, 3]` in metres; origin at the spine base, facing -z."""
  centre = {
      "spine_base": (0.0, 0.0, 0.0), "spine_mid": (0.0, 0.27, 0.01),
      "spine_shoulder": (0.0, 0.48, 0.0), "neck": (0.0, 0.55, 0.0), "head": (0.0, 0.69, 0.0),
  }
  # One side, at +x (the subject's right); the left side mirrors x.
  side = {
      "shoulder": (0.17, 0.45, 0.0), "elbow": (0.19, 0.19, 0.01), "wrist": (0.20, -0.05, 0.0),
      "hand": (0.20, -0.12, 0.0), "thumb": (0.19, -0.14, -0.03), "handtip": (0.20, -0.19, 0.0),
      "hip": (0.08, -0.02, 0.0), "knee": (0.09, -0.42, -0.01), "ankle": (0.09, -0.80, 0.02),
      "foot": (0.09, -0.84, -0.09),
  }
  pose = np.zeros((NTU25.num_joints, 3))
  for name, p in centre.items():
    pose[_IDX[name]] = p
  for name, p in side.items():
    pose[_IDX[f"{name}_right"]] = p
    pose[_IDX[f"{name}_left"]] = (-p[0], p[1], p[2])
  return pose


def _rerooted_tree(parents, root: int) -> tuple[np.ndarray, list[int]]:
  """The same bones as `parents`, as a tree rooted at `root`: (new parents, BFS order)."""
  v = len(parents)
  neighbours = [[] for _ in range(v)]
  for child, parent in enumerate(parents):
    if child != parent:
      neighbours[child].append(parent)
      neighbours[parent].append(child)
  new_parents = np.full(v, -1)
  new_parents[root] = root
  order = [root]
  for j in order:  # the list grows while it is walked: a breadth-first search
    for k in neighbours[j]:
      if new_parents[k] < 0:
        new_parents[k] = j
        order.append(k)
  if len(order) != v:
    raise ValueError("the skeleton layout's bones do not connect all joints")
  return new_parents, order


_REST = _rest_pose()
_FK_PARENTS, _FK_ORDER = _rerooted_tree(NTU25.parents, _FK_ROOT)
_REST_OFFSETS = _REST - _REST[_FK_PARENTS]  # [25, 3] bone vectors in the FK tree
_ARM_JOINTS = [_IDX[f"{j}_{s}"] for j in ("elbow", "wrist", "hand", "thumb", "handtip")
               for s in ("left", "right")]
_LEG_JOINTS = [_IDX[f"{j}_{s}"] for j in ("knee", "ankle", "foot") for s in ("left", "right")]
_FLIP = np.array(NTU25.flip)  # new[i] = old[flip[i]]: the left/right joint swap
# Mirroring a rotation about the x = 0 plane, M R M with M = diag(-1, 1, 1), keeps the x angle
# and negates the y and z angles of R = Ry(y) @ Rz(z) @ Rx(x); the rest pose is symmetric.
_MIRROR_SIGN = np.array([1.0, -1.0, -1.0], np.float32)


# ----------------------------------------------------------------------------------------------
# Joint angles. `ang[v, n, t]` holds (x, y, z) angles in degrees of the bone that ends at joint v,
# turning about its parent joint in the parent's frame with R = Ry(y) @ Rz(z) @ Rx(x). With the
# body facing -z: +x swings a hanging limb forward (flexion), and for a side s (+1 right, -1
# left) +s*z raises it sideways (abduction) and +s*y turns a forward-pointing arm inwards.
# ----------------------------------------------------------------------------------------------


class _Pose:
  """Accumulates joint angles `[25, n, T, 3]` (degrees) and a vertical lift `[n, T]` (m)."""

  def __init__(self, n: int, num_frames: int):
    # Joints first, so that the per-bone slices used by the kinematics are contiguous.
    self.ang = np.zeros((NTU25.num_joints, n, num_frames, 3), np.float32)
    self.lift = np.zeros((n, num_frames), np.float32)

  def add(self, joint: str, axis: int, value) -> None:
    self.ang[_IDX[joint], :, :, axis] += value

  def arm(self, side: str, flex=0.0, abduct=0.0, inward=0.0, elbow=0.0, elbow_roll=0.0):
    """Shoulder flexion / abduction / inward turn, elbow flexion (x) and frontal roll (z)."""
    s = 1.0 if side == "right" else -1.0
    self.add(f"elbow_{side}", _X, flex)  # the bone ending at the elbow is the upper arm
    self.add(f"elbow_{side}", _Z, s * abduct)
    self.add(f"elbow_{side}", _Y, s * inward)
    self.add(f"wrist_{side}", _X, elbow)  # the forearm
    self.add(f"wrist_{side}", _Z, s * elbow_roll)

  def leg(self, side: str, flex=0.0, knee=0.0, abduct=0.0):
    """Hip flexion / abduction and knee flexion; the foot is kept level with the floor."""
    s = 1.0 if side == "right" else -1.0
    self.add(f"knee_{side}", _X, flex)  # the thigh
    self.add(f"knee_{side}", _Z, s * abduct)
    self.add(f"ankle_{side}", _X, -knee)  # the shin: a bending knee moves the foot back
    self.add(f"foot_{side}", _X, knee - flex)  # cancels the shin's pitch

  def trunk(self, bend=0.0, twist=0.0, lean=0.0):
    """Forward bend, twist and sideways lean (to the right) of the spine's two upper bones."""
    self.add("spine_mid", _X, -0.6 * bend)  # an upward bone tilts forward for -x
    self.add("spine_shoulder", _X, -0.4 * bend)
    self.add("spine_mid", _Y, 0.6 * twist)
    self.add("spine_shoulder", _Y, 0.4 * twist)
    self.add("spine_mid", _Z, -0.6 * lean)  # an upward bone tilts to +x for -z
    self.add("spine_shoulder", _Z, -0.4 * lean)


def _up(phase):
  """0 -> 1 -> 0 over one cycle: (1 - cos) / 2."""
  return 0.5 * (1.0 - np.cos(phase))


def _pos(v):
  return np.maximum(v, 0.0)


def _smoothstep(v):
  """0 below 0, 1 above 1, a C1 cubic in between."""
  v = np.clip(v, 0.0, 1.0)
  return v * v * (3.0 - 2.0 * v)


def _rotations(ang_deg: np.ndarray) -> np.ndarray:
  """`[..., 3]` (x, y, z) angles in degrees -> `[..., 3, 3]` matrices Ry @ Rz @ Rx."""
  a = np.deg2rad(ang_deg)
  c, s = np.cos(a), np.sin(a)
  cx, cy, cz = c[..., 0], c[..., 1], c[..., 2]
  sx, sy, sz = s[..., 0], s[..., 1], s[..., 2]
  # Ry @ Rz @ Rx multiplied out, with Rx = [[1,0,0],[0,cx,-sx],[0,sx,cx]],
  # Ry = [[cy,0,sy],[0,1,0],[-sy,0,cy]], Rz = [[cz,-sz,0],[sz,cz,0],[0,0,1]].
  r = np.empty(a.shape + (3,), a.dtype)
  r[..., 0, 0] = cy * cz
  r[..., 0, 1] = sy * sx - cy * sz * cx
  r[..., 0, 2] = cy * sz * sx + sy * cx
  r[..., 1, 0] = sz
  r[..., 1, 1] = cz * cx
  r[..., 1, 2] = -cz * sx
  r[..., 2, 0] = -sy * cz
  r[..., 2, 1] = sy * sz * cx + cy * sx
  r[..., 2, 2] = cy * cx - sy * sz * sx
  return r


def _camera_rotations(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
  """`[n, 3, 3]` rotations: facing `yaw` about the vertical, then camera pitch (x), roll (z)."""
  cy, sy = np.cos(yaw), np.sin(yaw)
  cp, sp = np.cos(pitch), np.sin(pitch)
  cr, sr = np.cos(roll), np.sin(roll)
  one, zero = np.ones_like(yaw), np.zeros_like(yaw)
  r_yaw = np.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
  r_pitch = np.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
  r_roll = np.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
  return r_roll @ r_pitch @ r_yaw


def _apply(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
  """`matrices[..., i, j] * vectors[..., j]` summed over j (broadcasting leading dims).

  Written out because numpy's matmul and einsum are slow on stacks of 3x3 matrices.
  """
  return (matrices[..., 0] * vectors[..., 0:1] + matrices[..., 1] * vectors[..., 1:2]
          + matrices[..., 2] * vectors[..., 2:3])


def _layout_joints(layout: SkeletonLayout) -> np.ndarray:
  """Indices of the ntu25 body points that make up `layout`'s joints (by joint name)."""
  names = [_JOINT_ALIASES.get(name, name) for name in layout.joint_names]
  unknown = [n for n, m in zip(layout.joint_names, names) if m not in _IDX]
  if unknown:
    raise ValueError(
        f"synthetic data cannot draw layout {layout.name!r}: joints {unknown} are neither ntu25 "
        f"joint names nor aliases {sorted(_JOINT_ALIASES)}")
  return np.array([_IDX[m] for m in names])

