"""Procedural demo dataset: animated Kinect v2 skeletons doing 14 kinds of actions.

It is the default data of every config, so ``python -m skel_jax.main`` runs anywhere without a
download, and the tests use it. It is built to be learnable but not trivial: the classes differ
only in *how the limbs move*, never in a constant offset, and every clip varies in body, speed,
viewpoint and noise, so an encoder must learn motion patterns to separate them.

**Body.** A rest pose in metres with Kinect v2 proportions (about 1.65 m tall at scale 1),
y up, facing the camera (-z), the subject's left at -x as in NTU recordings. The pose is
animated by joint rotations and forward kinematics along the layout's bones (the ``ntu25``
tree re-rooted at the spine base), so every bone keeps its length within a clip. Each frame
the body is lowered or raised so that its lowest foot joint stands on the floor (squats and
walking bob the pelvis), jumps add a lift on top.

**Classes** (``class_names``; the first ``num_classes`` are used):

====  ================  ===========================================================
 id   name              motion
====  ================  ===========================================================
 0    wave_right_hand   right arm raised sideways, forearm swings in the frontal plane
 1    wave_both_hands   both arms raised, both forearms swing
 2    raise_both_arms   both straight arms raised forward to overhead and lowered
 3    punch_forward     alternating right/left punches: shoulder flexes, elbow extends
 4    clap_hands        arms forward, hands open and meet at the midline
 5    kick_left_leg     left thigh flexes with a bent then extending knee
 6    walk_in_place     alternating hip and knee flexion, arms swing in opposition
 7    squat             hips and knees bend deeply (pelvis drops), arms forward, trunk lean
 8    jump              crouch, then airborne with straight legs and arms swung up
 9    bow               trunk bends forward from the hips, arms hanging
 10   turn_torso        trunk twists left and right about the vertical, elbows bent
 11   jumping_jacks     arms abduct overhead while the legs spread, small hops
 12   drink_water       right hand brought to the mouth, head tilts back
 13   arm_circles       both arms held sideways and circled
====  ================  ===========================================================

**Per-clip variation** (all drawn from ``np.random.default_rng(seed)``): body scale
U(0.85, 1.15) and separate arm / leg proportions (+-7 %); speed (cycles per clip) x U(0.7, 1.4);
phase U(0, 2 pi); amplitude x U(0.75, 1.15); small idle motions on trunk, head and limbs
(random slow sinusoids, a few degrees); facing (viewpoint) rotation about the vertical
U(-45, 45) degrees; camera pitch U(-8, 8) and roll U(-3, 3) degrees; camera height
U(0.7, 1.1) m, subject at x U(-0.3, 0.3) m, depth z U(2.6, 3.4) m; i.i.d. sensor noise
(std 1 cm by default). With probability ``two_person_prob`` a second person does the same
action with its own body and timing, 0.7-1.1 m to the side; otherwise person 2 is all zeros,
the NTU convention for an absent body (spec 1.1 step A.3). Coordinates are camera space, like
raw NTU data before the reference preprocessing of spec 1.1 step B; all T frames are valid.

Other layouts whose joints are named like ``ntu25`` joints (or the Kinect v1 names
``hip_center``, ``spine``, ``shoulder_center``, e.g. ``kinect_v1_20``) get the same bodies,
sampled at their joints.
"""

from __future__ import annotations

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.skeletons import NTU25, SkeletonLayout, get_layout

CLASS_NAMES = (
    "wave_right_hand", "wave_both_hands", "raise_both_arms", "punch_forward", "clap_hands",
    "kick_left_leg", "walk_in_place", "squat", "jump", "bow", "turn_torso", "jumping_jacks",
    "drink_water", "arm_circles",
)
MAX_CLASSES = len(CLASS_NAMES)

# Kinect v1 joint names for the same body points (NW-UCLA meta.json naming).
_JOINT_ALIASES = {"hip_center": "spine_base", "spine": "spine_mid",
                  "shoulder_center": "spine_shoulder"}

_IDX = {name: i for i, name in enumerate(NTU25.joint_names)}
_FK_ROOT = _IDX["spine_base"]
_X, _Y, _Z = 0, 1, 2
_CHUNK = 1024  # persons animated at once: bounds the memory of the [n, T, V, ...] temporaries
_FOOT_JOINTS = [_IDX[j] for j in ("ankle_left", "foot_left", "ankle_right", "foot_right")]


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


def class_names(num_classes: int = 10) -> list[str]:
  """Names of the first `num_classes` synthetic actions (see the module docstring).

  Raises:
    ValueError: if `num_classes` is not in 1..MAX_CLASSES.
  """
  _check_num_classes(num_classes)
  return list(CLASS_NAMES[:num_classes])


def _check_num_classes(num_classes: int) -> None:
  if not 1 <= num_classes <= MAX_CLASSES:
    raise ValueError(
        f"synthetic data supports 1..{MAX_CLASSES} classes ({', '.join(CLASS_NAMES)}), "
        f"got num_classes={num_classes}")


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

  def trunk(self, bend=0.0, twist=0.0):
    """Forward bend and twist of the spine, split over its two upper bones."""
    self.add("spine_mid", _X, -0.6 * bend)  # an upward bone tilts forward for -x
    self.add("spine_shoulder", _X, -0.4 * bend)
    self.add("spine_mid", _Y, 0.6 * twist)
    self.add("spine_shoulder", _Y, 0.4 * twist)


def _up(phase):
  """0 -> 1 -> 0 over one cycle: (1 - cos) / 2."""
  return 0.5 * (1.0 - np.cos(phase))


def _pos(v):
  return np.maximum(v, 0.0)


# Each action: (cycles per clip at speed 1, function(pose, phase [n, T], amp [n, 1])).
def _wave_right_hand(p, w, a):
  p.arm("right", flex=10, abduct=85 * a, elbow_roll=70 + 30 * a * np.sin(w))


def _wave_both_hands(p, w, a):
  for side in ("left", "right"):
    p.arm(side, flex=10, abduct=85 * a, elbow_roll=70 + 30 * a * np.sin(w))


def _raise_both_arms(p, w, a):
  for side in ("left", "right"):
    p.arm(side, flex=160 * a * _up(w), elbow=5)


def _punch_forward(p, w, a):
  for side, shift in (("right", 0.0), ("left", np.pi)):
    e = _up(w + shift) ** 2  # a quick extension, a longer guard
    p.arm(side, flex=25 + 65 * a * e, inward=15 * e, elbow=110 * (1 - e))
  p.trunk(twist=12 * a * (_up(w) ** 2 - _up(w + np.pi) ** 2))


def _clap_hands(p, w, a):
  for side in ("left", "right"):
    p.arm(side, flex=70, inward=20 - 40 * a * _up(w), elbow=35)


def _kick_left_leg(p, w, a):
  k = _pos(np.sin(w))
  p.leg("left", flex=75 * a * k, knee=4 * 60 * a * k * (1 - k))  # bent midway, straight at top
  for side in ("left", "right"):
    p.arm(side, abduct=20 * k)


def _walk_in_place(p, w, a):
  s = np.sin(w)
  p.leg("left", flex=45 * a * _pos(s), knee=65 * a * _pos(s))
  p.leg("right", flex=45 * a * _pos(-s), knee=65 * a * _pos(-s))
  p.arm("right", flex=25 * a * s, elbow=15)
  p.arm("left", flex=-25 * a * s, elbow=15)


def _squat(p, w, a):
  d = a * _up(w)
  for side in ("left", "right"):
    p.leg(side, flex=100 * d, knee=130 * d)
    p.arm(side, flex=75 * d)
  p.trunk(bend=35 * d)


def _jump(p, w, a):
  s = np.sin(w)
  crouch, air = _pos(-s), _pos(s)
  for side in ("left", "right"):
    p.leg(side, flex=50 * a * crouch, knee=85 * a * crouch)
    p.arm(side, flex=-20 * crouch + 130 * a * air)
  p.trunk(bend=25 * crouch)
  p.lift += 0.25 * a * air


def _bow(p, w, a):
  bend = 75 * a * _up(w)
  p.trunk(bend=bend)
  for side in ("left", "right"):
    p.arm(side, flex=0.8 * bend)  # arms keep hanging while the trunk tilts


def _turn_torso(p, w, a):
  p.trunk(twist=45 * a * np.sin(w))
  for side in ("left", "right"):
    p.arm(side, abduct=25, elbow=80)


def _jumping_jacks(p, w, a):
  o = a * _up(w)
  for side in ("left", "right"):
    p.arm(side, abduct=150 * o)
    p.leg(side, abduct=18 * o)
  p.lift += 0.05 * a * np.abs(np.sin(w))


def _drink_water(p, w, a):
  o = a * _up(w)
  p.arm("right", flex=10 + 35 * o, inward=20 * o, elbow=20 + 110 * o)
  p.add("neck", _X, 12 * o)  # the head tilts back (+x on an upward bone)


def _arm_circles(p, w, a):
  for side in ("left", "right"):
    p.arm(side, abduct=85 + 30 * a * np.cos(w), flex=30 * a * np.sin(w))


_ACTIONS = (
    (3.0, _wave_right_hand), (3.0, _wave_both_hands), (1.0, _raise_both_arms),
    (2.0, _punch_forward), (3.0, _clap_hands), (1.5, _kick_left_leg), (2.0, _walk_in_place),
    (1.2, _squat), (2.0, _jump), (1.0, _bow), (1.5, _turn_torso), (2.0, _jumping_jacks),
    (1.5, _drink_water), (3.0, _arm_circles),
)
assert len(_ACTIONS) == MAX_CLASSES

# Idle motion on every clip: (bone's end joint, axis, largest amplitude in degrees).
_IDLE = (
    ("spine_mid", _X, 3), ("spine_mid", _Y, 4), ("spine_mid", _Z, 2), ("neck", _X, 6),
    ("neck", _Z, 5), ("elbow_left", _X, 6), ("elbow_left", _Z, 4), ("elbow_right", _X, 6),
    ("elbow_right", _Z, 4), ("wrist_left", _X, 8), ("wrist_right", _X, 8), ("knee_left", _X, 3),
    ("knee_right", _X, 3),
)
# Bones that any action or idle channel turns; the others follow their parent rigidly.
_ANIMATED = sorted({_IDX["spine_mid"], _IDX["spine_shoulder"], _IDX["neck"]}
                   | {_IDX[f"{j}_{s}"] for j in ("elbow", "wrist", "knee", "ankle", "foot")
                      for s in ("left", "right")})


def _draw_persons(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
  """Per-person body and timing variation for n persons."""
  k = len(_IDLE)
  return {
      "scale": rng.uniform(0.85, 1.15, n),
      "arm_scale": rng.uniform(0.93, 1.07, n),
      "leg_scale": rng.uniform(0.93, 1.07, n),
      "speed": rng.uniform(0.7, 1.4, n),
      "phase": rng.uniform(0.0, 2 * np.pi, n),
      "amp": rng.uniform(0.75, 1.15, n),
      "idle_amp": rng.uniform(0.0, 1.0, (n, k)),
      "idle_cycles": rng.uniform(0.3, 1.5, (n, k)),
      "idle_phase": rng.uniform(0.0, 2 * np.pi, (n, k)),
  }


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


def _animate(labels: np.ndarray, persons: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
  """Body-frame joint positions `[25, n, T, 3]`, feet on the floor at y = 0, facing -z."""
  n = len(labels)
  u = np.linspace(0.0, 1.0, num_frames)[None, :]  # [1, T] normalised time
  pose = _Pose(n, num_frames)
  # Idle motion: a slow sinusoid per channel, [n, T] each.
  idle = persons["idle_amp"][:, None, :] * np.sin(
      2 * np.pi * persons["idle_cycles"][:, None, :] * u[..., None]
      + persons["idle_phase"][:, None, :])  # [n, T, K]
  for i, (joint, axis, deg) in enumerate(_IDLE):
    pose.add(joint, axis, deg * idle[..., i])
  for side in ("left", "right"):  # relaxed arms
    pose.arm(side, abduct=8.0, elbow=12.0)
  for label in np.unique(labels):
    rows = np.flatnonzero(labels == label)
    cycles, action = _ACTIONS[label]
    phase = (2 * np.pi * cycles * persons["speed"][rows, None] * u
             + persons["phase"][rows, None])  # [n_label, T]
    sub = _Pose(len(rows), num_frames)
    action(sub, phase, persons["amp"][rows, None])
    pose.ang[:, rows] += sub.ang
    pose.lift[rows] += sub.lift

  # Bone vectors of this body: [n, 25, 3].
  limb = np.ones((n, NTU25.num_joints))
  limb[:, _ARM_JOINTS] = persons["arm_scale"][:, None]
  limb[:, _LEG_JOINTS] = persons["leg_scale"][:, None]
  offsets = _REST_OFFSETS[None] * (persons["scale"][:, None] * limb)[..., None]
  offsets = offsets.astype(np.float32)[:, None]  # [n, 1, 25, 3]

  # Forward kinematics: g[v] = g[parent] @ R[v], p[v] = p[parent] + g[v] @ offset[v].
  # Single precision keeps bone lengths to about 1e-6 m and halves the memory traffic.
  # Joints lead `pos` so that each joint's [n, T, 3] slab is contiguous.
  frames = [np.broadcast_to(np.eye(3, dtype=np.float32), (n, num_frames, 3, 3))] * NTU25.num_joints
  pos = np.zeros((NTU25.num_joints, n, num_frames, 3), np.float32)
  animated = set(_ANIMATED)
  for v in _FK_ORDER[1:]:
    parent = _FK_PARENTS[v]
    frames[v] = frames[parent]
    if v in animated:
      frames[v] = frames[v] @ _rotations(pose.ang[v])  # [n, T, 3, 3]
    pos[v] = pos[parent] + _apply(frames[v], offsets[:, :, v])
  # Stand on the floor (y = 0) with the lowest foot joint, then add jumps and hops.
  floor = pos[_FOOT_JOINTS, :, :, 1].min(axis=0)  # [n, T]
  pos[..., 1] += pose.lift - floor
  return pos


def _layout_joints(layout: SkeletonLayout) -> np.ndarray:
  """Indices of the ntu25 body points that make up `layout`'s joints (by joint name)."""
  names = [_JOINT_ALIASES.get(name, name) for name in layout.joint_names]
  unknown = [n for n, m in zip(layout.joint_names, names) if m not in _IDX]
  if unknown:
    raise ValueError(
        f"synthetic data cannot draw layout {layout.name!r}: joints {unknown} are neither ntu25 "
        f"joint names nor aliases {sorted(_JOINT_ALIASES)}")
  return np.array([_IDX[m] for m in names])


def make_synthetic(
    num_clips: int,
    *,
    num_frames: int = 50,
    num_classes: int = 10,
    seed: int = 0,
    two_person_prob: float = 0.3,
    layout: str | SkeletonLayout = "ntu25",
    noise_std: float = 0.01,
    max_yaw_deg: float = 45.0,
    name_prefix: str = "synthetic",
) -> ArrayDataset:
  """Generates a balanced synthetic action dataset (see the module docstring).

  Args:
    num_clips: number of clips N; labels cycle through the classes and are then shuffled,
      so every class appears once N >= num_classes.
    num_frames: frames per clip T (all valid).
    num_classes: number of action classes, the first ones of `CLASS_NAMES` (1..MAX_CLASSES).
    seed: seed of `np.random.default_rng`; the output is a function of all arguments.
    two_person_prob: probability that a clip has a second person (otherwise zeros).
    layout: 'ntu25' or another layout whose joints carry ntu25 (or Kinect v1) joint names.
    noise_std: std in metres of the i.i.d. Gaussian sensor noise (0 for exact bodies).
    max_yaw_deg: largest facing rotation about the vertical axis, in degrees.
    name_prefix: sample names are f'{name_prefix}_{index:06d}'.

  Returns:
    An ArrayDataset with x float32 `[N, 2, T, V, 3]` in camera coordinates (metres), y int32,
    names and the layout (its name when a SkeletonLayout is given).

  Raises:
    ValueError: for num_classes outside 1..MAX_CLASSES, a negative count, fewer than one
      frame, a probability outside [0, 1], negative noise, or a layout with unknown joints.
  """
  _check_num_classes(num_classes)
  if num_clips < 0 or num_frames < 1:
    raise ValueError(f"need num_clips >= 0 and num_frames >= 1, got {num_clips}, {num_frames}")
  if not 0.0 <= two_person_prob <= 1.0:
    raise ValueError(f"two_person_prob must be in [0, 1], got {two_person_prob}")
  if noise_std < 0:
    raise ValueError(f"noise_std must be >= 0, got {noise_std}")
  skeleton = get_layout(layout)
  joints = _layout_joints(skeleton)

  rng = np.random.default_rng(seed)
  n, t = num_clips, num_frames
  labels = rng.permutation(np.arange(n) % num_classes)
  first = _draw_persons(rng, n)
  second = _draw_persons(rng, n)
  two = rng.random(n) < two_person_prob
  yaw = np.deg2rad(rng.uniform(-max_yaw_deg, max_yaw_deg, n))
  yaw2 = yaw + np.deg2rad(rng.uniform(-20.0, 20.0, n))
  pitch = np.deg2rad(rng.uniform(-8.0, 8.0, n))
  roll = np.deg2rad(rng.uniform(-3.0, 3.0, n))
  cam_height = rng.uniform(0.7, 1.1, n)
  place = np.stack([rng.uniform(-0.3, 0.3, n), -cam_height, rng.uniform(2.6, 3.4, n)], -1)
  side_step = rng.choice([-1.0, 1.0], n) * rng.uniform(0.7, 1.1, n)
  place2 = place + np.stack([side_step, np.zeros(n), rng.uniform(-0.4, 0.4, n)], -1)

  x = np.zeros((n, 2, t, len(joints), 3), np.float32)
  for start in range(0, n, _CHUNK):
    rows = np.arange(start, min(start + _CHUNK, n))
    pair = rows[two[rows]]
    # Animate first persons and present second persons together.
    who = np.concatenate([rows, pair])
    persons = {k: np.concatenate([first[k][rows], second[k][pair]]) for k in first}
    body = _animate(labels[who], persons, t)[joints]  # [V, n_p, T, 3]
    # Face the yaw direction, step to the place on the floor, then tilt the camera.
    turn = _camera_rotations(np.concatenate([yaw[rows], yaw2[pair]]), pitch[who], roll[who])
    tilt = _camera_rotations(np.zeros(len(who)), pitch[who], roll[who])
    shift = _apply(tilt, np.concatenate([place[rows], place2[pair]]))  # [n_p, 3]
    body = _apply(turn[:, None].astype(np.float32), body) + shift[:, None].astype(np.float32)
    if noise_std > 0:
      body += np.float32(noise_std) * rng.standard_normal(body.shape, dtype=np.float32)
    body = body.transpose(1, 2, 0, 3)  # [n_p, T, V, 3]
    x[rows, 0] = body[:len(rows)]
    x[pair, 1] = body[len(rows):]
  names = [f"{name_prefix}_{i:06d}" for i in range(n)]
  layout_name = layout if isinstance(layout, str) else skeleton.name
  return ArrayDataset(x, labels.astype(np.int32), names, layout_name, num_classes)


def make_synthetic_splits(
    num_train: int,
    num_test: int,
    *,
    num_frames: int = 50,
    num_classes: int = 10,
    seed: int = 0,
    **kwargs,
) -> tuple[ArrayDataset, ArrayDataset]:
  """A train and a test set drawn from different seeds (different bodies and variation).

  Args:
    num_train: clips in the training set.
    num_test: clips in the test set.
    num_frames: frames per clip.
    num_classes: number of classes (both sets cover the same classes).
    seed: the train set uses `seed`; the test set a seed derived from it.
    **kwargs: further keywords of `make_synthetic` (two_person_prob, layout, noise_std, ...).

  Returns:
    (train, test) ArrayDatasets, named 'synthetic_train_*' and 'synthetic_test_*'.
  """
  test_seed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
  train = make_synthetic(num_train, num_frames=num_frames, num_classes=num_classes, seed=seed,
                         name_prefix="synthetic_train", **kwargs)
  test = make_synthetic(num_test, num_frames=num_frames, num_classes=num_classes, seed=test_seed,
                        name_prefix="synthetic_test", **kwargs)
  return train, test
