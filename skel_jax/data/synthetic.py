"""Procedural demo dataset: animated Kinect v2 skeletons doing 18 kinds of actions.

It is the default data of every config, so ``python -m skel_jax.main`` runs anywhere without a
download, and the tests use it. It is meant as a small testbed for self-supervised
pretraining (spec 1.5-1.6): the class is defined only by *how the limbs move*, while every
clip carries strong nuisance (posture, viewpoint, style, timing, distractor gestures), so
the pooled features of a randomly initialised encoder separate the classes poorly (with the
``demo`` preset, spec 1.1 B preprocessing and 10 classes, a cosine 10-NN on them scores about
50-58 % depending on the init seed, while a 10-NN on hand-made per-joint motion energies
reaches about 75 %). The nuisance is mostly of the kinds the pretraining augmentations
perturb (spec 1.3: a shear of the whole clip and a temporal shift): posture, camera tilt and
timing. What the two views of a clip always share is its action; body size, speed and range
of motion, which they also share, vary only a little.

**Body.** A rest pose in metres with Kinect v2 proportions (about 1.65 m tall at scale 1),
y up, facing the camera (-z), the subject's left at -x as in NTU recordings. The pose is
animated by joint rotations and forward kinematics along the layout's bones (the ``ntu25``
tree re-rooted at the spine base), so every bone keeps its length within a clip. Each frame
the body is lowered or raised so that its lowest foot joint stands on the floor (squats and
walking bob the pelvis), jumps add a lift on top.

**Classes** (``class_names``; the first ``num_classes`` are used). The first ten form
confusable pairs and groups: the same limbs moving mirrored (0-1, 5-6), faster or slower
(2-3), repeated or once (7-8) or in reverse order (8-9).

====  ================  ===========================================================
 id   name              motion
====  ================  ===========================================================
 0    wave_right_hand   right arm raised (sideways to forwards), forearm swings sideways
 1    wave_left_hand    the same with the left arm
 2    punch_forward     one arm (either) punches quickly from a guard, the other guards
 3    reach_forward     one arm (either) slowly reaches forward from hanging and returns
 4    clap_hands        arms forward, hands open and meet at the midline
 5    kick_right_leg    right thigh flexes with a bent then extending knee
 6    kick_left_leg     the same with the left leg
 7    squat             hips and knees bend and straighten repeatedly (pelvis drops)
 8    sit_down          hips and knees bend once into a sitting pose that is held
 9    stand_up          the reverse: seated at first, rises once and stays standing
 10   walk_in_place     alternating hip and knee flexion, arms swing in opposition
 11   jump              crouch, then airborne with straight legs and arms swung up
 12   bow               trunk bends forward from the hips, arms hanging
 13   raise_both_arms   both straight arms raised forward to overhead and lowered
 14   jumping_jacks     arms abduct overhead while the legs spread, small hops
 15   drink_water       one hand (either) brought to the mouth, head tilts back
 16   arm_circles       both arms held sideways and circled
 17   turn_torso        trunk twists left and right about the vertical, elbows bent
====  ================  ===========================================================

**Within-class style and timing** (per person): range of motion (amplitude x U(0.85, 1.15),
drifting up to +-10 % within the clip); four style knobs per action (e.g. how high and in
which direction the waving arm is raised, guard height, how deep the seat is, arm swing
while walking, arms forward or on the hips in a squat); the acting side of one-armed
actions; tempo (cycles per clip x U(0.85, 1.2)) that speeds up and slows down within the
clip (a smooth time warp); random phase; and a random active window: a repeated action fades
in and out (onset up to 35 % into the clip, offset from 65 % on), a once-only action
(sit_down, stand_up) makes its transition between 15 % and 75 % of the clip. While an action
drives a limb, that limb's resting posture fades out.

**Nuisance** (per person): body scale U(0.93, 1.07) and arm / leg proportions (+-5 %); a
resting posture (trunk bend, twist and lean; head tilt and turn; per arm flexion,
abduction, elbow bend and inward turn, from hanging to hands on the hips, crossed or
clasped; stance width and knee bend); slow idle sway of trunk, head and limbs; up to two
distractor gestures (scratch head, gesture with a hand, look around, nod, weight shift,
shuffle a foot, twist, lean), each with probability 0.5 at a random time and 40-90 % of full
size; facing rotation about the vertical U(-max_yaw_deg, max_yaw_deg); camera pitch
U(-12, 12) and roll U(-6, 6) degrees; camera height U(0.7, 1.1) m, subject at x
U(-0.3, 0.3) m, depth z U(2.6, 3.4) m. Sensor noise: i.i.d. Gaussian of std ``noise_std`` on
every joint, sqrt(2) times that on the hands and feet (Kinect jitters most there), and on
those distal joints occasional tracking glitches (probability 0.03 per joint and person:
1-4 frames displaced by N(0, (6 noise_std)^2) per axis); all of it scales with
``noise_std``. With probability ``two_person_prob`` a second person does the same action
with its own body, style, timing and distractors, 0.7-1.1 m to the side; otherwise person 2
is all zeros, the NTU convention for an absent body (spec 1.1 step A.3). Coordinates are
camera space, like raw NTU data before the reference preprocessing of spec 1.1 step B; all
T frames are valid.

Other layouts whose joints are named like ``ntu25`` joints (or the Kinect v1 names
``hip_center``, ``spine``, ``shoulder_center``, e.g. ``kinect_v1_20``) get the same bodies,
sampled at their joints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.skeletons import NTU25, SkeletonLayout, get_layout

# Kinect v1 joint names for the same body points (NW-UCLA meta.json naming).
_JOINT_ALIASES = {"hip_center": "spine_base", "spine": "spine_mid",
                  "shoulder_center": "spine_shoulder"}

_IDX = {name: i for i, name in enumerate(NTU25.joint_names)}
_FK_ROOT = _IDX["spine_base"]
_X, _Y, _Z = 0, 1, 2
_CHUNK = 1024  # persons animated at once: bounds the memory of the [n, T, V, ...] temporaries
_FOOT_JOINTS = [_IDX[j] for j in ("ankle_left", "foot_left", "ankle_right", "foot_right")]
# Hands and feet: the joints a Kinect tracks worst (extra jitter and glitches).
_DISTAL = [_IDX[f"{j}_{s}"] for j in ("hand", "handtip", "thumb", "foot")
           for s in ("left", "right")]
_DISTAL_NOISE = 1.0  # extra i.i.d. std on distal joints, in units of noise_std
_GLITCH_PROB = 0.03  # per person and distal joint: probability of one tracking glitch
_GLITCH_SIZE = 6.0  # std of a glitch's displacement per axis, in units of noise_std
_PITCH_DEG, _ROLL_DEG = 12.0, 6.0  # camera tilt ranges


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


# Each action: function(pose, phase [n, T], amp [n, T], style [n, 4] in [0, 1)). Angles are
# offsets from the person's posture and are faded in and out by the action's window. One-sided
# actions are written for the right side; `_ACTIONS` says how often they are mirrored.
def _wave_right_hand(p, w, a, st):
  raise_, forward = 50 + 80 * st[:, 0:1], st[:, 3:4]  # arm raised sideways ... forwards
  p.arm("right", flex=raise_ * forward + 20 * st[:, 1:2], abduct=raise_ * (1 - forward),
        elbow=80 * forward, elbow_roll=45 + 25 * st[:, 2:3] + 30 * a * np.sin(w))


def _punch_forward(p, w, a, st):
  guard = 80 + 50 * st[:, 0:1]  # elbow flexion of the guard
  height = 20 + 40 * st[:, 1:2]  # shoulder flexion of the guard
  e = _up(w) ** 3  # a quick extension, a longer guard
  p.arm("right", flex=height + (90 - height) * a * e, inward=15 * e, elbow=guard * (1 - e))
  p.arm("left", flex=height, inward=15, elbow=guard)
  p.trunk(twist=-12 * a * e)


def _reach_forward(p, w, a, st):
  e = _up(w)  # slow and smooth, from a hanging arm
  p.arm("right", flex=(50 + 60 * st[:, 0:1]) * a * e, inward=10 * e,
        elbow=(20 + 40 * st[:, 1:2]) * 4 * e * (1 - e))  # bent on the way, straight at the end
  p.trunk(bend=(5 + 10 * st[:, 2:3]) * e)


def _clap_hands(p, w, a, st):
  for side in ("left", "right"):
    p.arm(side, flex=40 + 55 * st[:, 0:1], inward=20 - 40 * a * _up(w), elbow=15 + 45 * st[:, 1:2])


def _kick_right_leg(p, w, a, st):
  k = _pos(np.sin(w))
  p.leg("right", flex=(45 + 50 * st[:, 0:1]) * a * k,
        knee=(2 + 2 * st[:, 1:2]) * 60 * a * k * (1 - k))  # bent midway, straight at the top
  for side in ("left", "right"):
    p.arm(side, abduct=(10 + 20 * st[:, 2:3]) * k)
  p.trunk(bend=-8 * k)


def _squat(p, w, a, st):
  d = a * _up(w)
  hips = st[:, 0:1] < 0.4  # hands on the hips, else arms forward
  for side in ("left", "right"):
    p.leg(side, flex=100 * d, knee=130 * d)
    p.arm(side, flex=np.where(hips, 20.0, 75 * d), abduct=np.where(hips, 35.0, 0.0),
          elbow=np.where(hips, 100.0, 0.0))
  p.trunk(bend=(25 + 15 * st[:, 1:2]) * d)


def _sit_down(p, w, a, st):
  fidget = 0.08 * np.sin(w)  # small shifts while seated
  for side in ("left", "right"):
    p.leg(side, flex=(60 + 40 * st[:, 0:1]) * a, knee=(60 + 40 * st[:, 0:1]) * a)
    p.arm(side, flex=(30 + 20 * st[:, 1:2]) * a, elbow=(20 + 30 * st[:, 2:3]) * a)
  p.trunk(bend=(10 + 10 * st[:, 2:3]) * (1 + fidget))


def _walk_in_place(p, w, a, st):
  s = np.sin(w)
  lift = (30 + 25 * st[:, 0:1]) * a
  p.leg("left", flex=lift * _pos(s), knee=1.4 * lift * _pos(s))
  p.leg("right", flex=lift * _pos(-s), knee=1.4 * lift * _pos(-s))
  swing = (5 + 30 * st[:, 1:2]) * a
  p.arm("right", flex=swing * s, elbow=15)
  p.arm("left", flex=-swing * s, elbow=15)


def _jump(p, w, a, st):
  s = np.sin(w)
  crouch, air = _pos(-s), _pos(s)
  for side in ("left", "right"):
    p.leg(side, flex=50 * a * crouch, knee=85 * a * crouch)
    p.arm(side, flex=-20 * crouch + (80 + 60 * st[:, 0:1]) * a * air)
  p.trunk(bend=25 * crouch)
  p.lift += 0.25 * a * air


def _bow(p, w, a, st):
  bend = (55 + 30 * st[:, 0:1]) * a * _up(w)
  p.trunk(bend=bend)
  for side in ("left", "right"):
    p.arm(side, flex=0.8 * bend)  # arms keep hanging while the trunk tilts


def _raise_both_arms(p, w, a, st):
  for side in ("left", "right"):
    p.arm(side, flex=(130 + 40 * st[:, 0:1]) * a * _up(w), elbow=5 + 10 * st[:, 1:2])


def _jumping_jacks(p, w, a, st):
  o = a * _up(w)
  for side in ("left", "right"):
    p.arm(side, abduct=(120 + 40 * st[:, 0:1]) * o)
    p.leg(side, abduct=(12 + 10 * st[:, 1:2]) * o)
  p.lift += 0.05 * a * np.abs(np.sin(w))


def _drink_water(p, w, a, st):
  o = a * _up(w)
  p.arm("right", flex=10 + 35 * o, inward=20 * o, elbow=20 + 110 * o)
  p.add("neck", _X, (6 + 12 * st[:, 0:1]) * o)  # the head tilts back (+x on an upward bone)


def _arm_circles(p, w, a, st):
  for side in ("left", "right"):
    p.arm(side, abduct=80 + 20 * st[:, 0:1] + 30 * a * np.cos(w), flex=30 * a * np.sin(w))


def _turn_torso(p, w, a, st):
  p.trunk(twist=(30 + 25 * st[:, 0:1]) * a * np.sin(w))
  for side in ("left", "right"):
    p.arm(side, abduct=15 + 20 * st[:, 1:2], elbow=60 + 40 * st[:, 2:3])


@dataclasses.dataclass(frozen=True)
class _Action:
  """One class: its animation, cycles per clip at speed 1, the limbs it drives (their resting
  posture fades out while it acts; keys of `_LIMB_BONES`, written for the unmirrored action),
  how often it is mirrored, and `once`: '' for an action repeated inside a fade-in / fade-out
  window, 'enter' for one entered once and then held, 'leave' for one held from the start and
  left once (the time reverse of 'enter')."""
  name: str
  fn: Callable
  cycles: float
  limbs: tuple[str, ...]
  mirror: float = 0.0
  once: str = ""


_ARMS, _LEGS = ("arm_right", "arm_left"), ("leg_right", "leg_left")


_ACTIONS = (
    _Action("wave_right_hand", _wave_right_hand, 3.0, ("arm_right",)),
    _Action("wave_left_hand", _wave_right_hand, 3.0, ("arm_right",), mirror=1.0),
    _Action("punch_forward", _punch_forward, 2.5, (*_ARMS, "trunk"), mirror=0.5),
    _Action("reach_forward", _reach_forward, 1.0, ("arm_right", "trunk"), mirror=0.5),
    _Action("clap_hands", _clap_hands, 3.0, _ARMS),
    _Action("kick_right_leg", _kick_right_leg, 1.5, ("leg_right", "trunk")),
    _Action("kick_left_leg", _kick_right_leg, 1.5, ("leg_right", "trunk"), mirror=1.0),
    _Action("squat", _squat, 1.5, (*_ARMS, *_LEGS, "trunk")),
    _Action("sit_down", _sit_down, 1.0, (*_ARMS, *_LEGS, "trunk"), once="enter"),
    _Action("stand_up", _sit_down, 1.0, (*_ARMS, *_LEGS, "trunk"), once="leave"),
    _Action("walk_in_place", _walk_in_place, 2.0, (*_ARMS, *_LEGS)),
    _Action("jump", _jump, 2.0, (*_ARMS, *_LEGS, "trunk")),
    _Action("bow", _bow, 1.0, (*_ARMS, "trunk")),
    _Action("raise_both_arms", _raise_both_arms, 1.0, _ARMS),
    _Action("jumping_jacks", _jumping_jacks, 2.0, (*_ARMS, *_LEGS)),
    _Action("drink_water", _drink_water, 1.5, ("arm_right", "neck"), mirror=0.3),
    _Action("arm_circles", _arm_circles, 3.0, _ARMS),
    _Action("turn_torso", _turn_torso, 1.5, (*_ARMS, "trunk")),
)
CLASS_NAMES = tuple(a.name for a in _ACTIONS)
MAX_CLASSES = len(CLASS_NAMES)
# The bones (by end joint) whose angles each limb group sets.
_LIMB_BONES = {
    **{f"arm_{s}": [_IDX[f"elbow_{s}"], _IDX[f"wrist_{s}"]] for s in ("right", "left")},
    **{f"leg_{s}": [_IDX[f"{j}_{s}"] for j in ("knee", "ankle", "foot")]
       for s in ("right", "left")},
    "trunk": [_IDX["spine_mid"], _IDX["spine_shoulder"]], "neck": [_IDX["neck"]],
}
_MIRROR_LIMB = {"arm_right": "arm_left", "arm_left": "arm_right", "leg_right": "leg_left",
                "leg_left": "leg_right"}


# Distractor gestures: function(pose, bump [n, T]) with bump in [-1, 1] (signed for the
# symmetric ones). They are as large as actions, so the limbs that move are not the class alone.
def _scratch_head(side):
  def fn(p, b):
    p.arm(side, flex=50 * b, abduct=45 * b, elbow=115 * b)
    p.add(f"wrist_{side}", _X, 10 * b * np.sin(np.linspace(0, 12 * np.pi, b.shape[-1])))
  return fn


def _hand_gesture(side):
  return lambda p, b: p.arm(side, flex=45 * b, inward=15 * b, elbow=60 * b)


def _shuffle_foot(side):
  return lambda p, b: p.leg(side, flex=25 * b, knee=45 * b)


def _weight_shift(p, b):
  for side in ("left", "right"):
    p.leg(side, abduct=(8 if side == "right" else -8) * b)
  p.trunk(lean=-8 * b)


_DISTRACTORS = (  # (function, signed)
    (_scratch_head("right"), False), (_scratch_head("left"), False),
    (_hand_gesture("right"), False), (_hand_gesture("left"), False),
    (lambda p, b: p.add("neck", _Y, 40 * b), True),  # look around
    (lambda p, b: p.add("neck", _X, 20 * b), True),  # nod / look up
    (_weight_shift, True),
    (_shuffle_foot("right"), False), (_shuffle_foot("left"), False),
    (lambda p, b: p.trunk(twist=25 * b), True),
    (lambda p, b: p.trunk(bend=20 * b), False),
)
_NUM_DISTRACTOR_SLOTS, _DISTRACTOR_PROB = 2, 0.5

# Idle motion on every clip: (bone's end joint, axis, largest amplitude in degrees).
_IDLE = (
    ("spine_mid", _X, 4), ("spine_mid", _Y, 5), ("spine_mid", _Z, 3), ("neck", _X, 8),
    ("neck", _Z, 6), ("elbow_left", _X, 8), ("elbow_left", _Z, 5), ("elbow_right", _X, 8),
    ("elbow_right", _Z, 5), ("wrist_left", _X, 10), ("wrist_right", _X, 10),
    ("knee_left", _X, 4), ("knee_right", _X, 4),
)
# Bones that any action, posture, idle or distractor channel turns; the others follow their
# parent rigidly.
_ANIMATED = sorted({_IDX["spine_mid"], _IDX["spine_shoulder"], _IDX["neck"]}
                   | {_IDX[f"{j}_{s}"] for j in ("elbow", "wrist", "knee", "ankle", "foot")
                      for s in ("left", "right")})


def class_names(num_classes: int = 10, classes: Sequence[int] | None = None) -> list[str]:
  """Names of the synthetic actions behind labels 0, 1, ...: `classes` (action ids) when given,
  else the first `num_classes` (see the module docstring).

  Raises:
    ValueError: if `num_classes` is not in 1..MAX_CLASSES, or `classes` is invalid.
  """
  return [CLASS_NAMES[i] for i in _resolve_classes(num_classes, classes)]


def _resolve_classes(num_classes: int, classes: Sequence[int] | None) -> tuple[int, ...]:
  """The action id of each label: `classes`, or `range(num_classes)` when it is None."""
  if classes is None:
    _check_num_classes(num_classes)
    return tuple(range(num_classes))
  classes = tuple(int(c) for c in classes)
  bad = [c for c in classes if not 0 <= c < MAX_CLASSES]
  if not classes or bad or len(set(classes)) != len(classes):
    raise ValueError(f"synthetic classes must be distinct action ids in 0..{MAX_CLASSES - 1} "
                     f"({', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))}); got "
                     f"{list(classes)}")
  return classes


def _check_num_classes(num_classes: int) -> None:
  if not 1 <= num_classes <= MAX_CLASSES:
    raise ValueError(
        f"synthetic data supports 1..{MAX_CLASSES} classes ({', '.join(CLASS_NAMES)}), "
        f"got num_classes={num_classes}")


def _draw_persons(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
  """Per-person body, posture, style, timing and distractor variation for n persons.

  Everything is drawn whatever the class, so the draws do not depend on the labels.
  """
  k, s = len(_IDLE), _NUM_DISTRACTOR_SLOTS
  return {
      "scale": rng.uniform(0.93, 1.07, n),
      "arm_scale": rng.uniform(0.95, 1.05, n),
      "leg_scale": rng.uniform(0.95, 1.05, n),
      # Posture: trunk bend / twist / lean, head tilt, arm carriage, stance (degrees).
      "trunk": rng.uniform((-8, -25, -10), (25, 25, 10), (n, 3)),
      "neck": rng.uniform((-20, -12, -30), (20, 12, 30), (n, 3)),  # tilt, side tilt, turn
      "arms": rng.uniform((-20, 0, 0, -15), (60, 50, 130, 45), (n, 2, 4)),  # flex, abduct,
      # elbow, inward: from hanging to hands on the hips, crossed or clasped in front
      "legs": rng.uniform((-10, 0, 0), (20, 15, 25), (n, 2, 3)),  # flex, abduct, knee
      # Timing and style of the action.
      "speed": rng.uniform(0.85, 1.2, n),
      "phase": rng.uniform(0.0, 2 * np.pi, n),
      "warp": rng.uniform((0.0, 0.5, 0.0), (0.5, 1.5, 2 * np.pi), (n, 3)),  # amp, cycles, phase
      "amp": rng.uniform(0.85, 1.15, n),
      "amp_drift": rng.uniform((0.0, 0.3, 0.0), (0.1, 1.2, 2 * np.pi), (n, 3)),
      "style": rng.uniform(0.0, 1.0, (n, 4)),
      "mirror": rng.uniform(0.0, 1.0, n),
      "window": rng.uniform(0.0, 1.0, (n, 3)),  # onset, offset, ramp, mapped per action kind
      # Idle sway.
      "idle_amp": rng.uniform(0.0, 1.0, (n, k)),
      "idle_cycles": rng.uniform(0.3, 1.5, (n, k)),
      "idle_phase": rng.uniform(0.0, 2 * np.pi, (n, k)),
      # Distractors: present, kind, size (signed), centre and width (clip fractions).
      "dis_on": rng.random((n, s)) < _DISTRACTOR_PROB,
      "dis_kind": rng.integers(0, len(_DISTRACTORS), (n, s)),
      "dis_amp": rng.uniform(0.4, 0.9, (n, s)) * rng.choice([-1.0, 1.0], (n, s)),
      "dis_centre": rng.uniform(0.0, 1.0, (n, s)),
      "dis_width": rng.uniform(0.2, 0.6, (n, s)),
  }


# Posture draws scaled by `nuisance`: each moves toward its neutral value (upright, arms
# hanging, feet together), the value nearest 0 inside the draw's range.
_POSTURE_KEYS = ("trunk", "neck", "arms", "legs")


def _scale_nuisance(persons: dict[str, np.ndarray], nuisance: float) -> dict[str, np.ndarray]:
  """Shrinks (or grows) the clip-constant nuisance of `_draw_persons` by `nuisance`.

  Posture angles become `neutral + nuisance * (draw - neutral)`; idle sway and distractor
  sizes are multiplied by `nuisance`. Applied after the draws, so the random stream, and with
  it everything else about the clips (actions, style, timing, bodies, camera), is the same
  for every value; 1 leaves the draws unchanged.
  """
  if nuisance == 1.0:
    return persons
  out = dict(persons)
  for key in _POSTURE_KEYS:
    out[key] = nuisance * persons[key]  # neutral = 0 lies inside every posture range
  out["idle_amp"] = nuisance * persons["idle_amp"]
  out["dis_amp"] = nuisance * persons["dis_amp"]
  return out


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


def _posture(persons: dict[str, np.ndarray], num_frames: int) -> _Pose:
  """Each person's resting posture (constant joint angles)."""
  pose = _Pose(len(persons["scale"]), num_frames)
  col = lambda a, i: a[:, i, None]  # noqa: E731  [n, 1], broadcasts over time
  pose.trunk(bend=col(persons["trunk"], 0), twist=col(persons["trunk"], 1),
             lean=col(persons["trunk"], 2))
  pose.add("neck", _X, col(persons["neck"], 0))
  pose.add("neck", _Z, col(persons["neck"], 1))
  pose.add("neck", _Y, col(persons["neck"], 2))
  for i, side in enumerate(("left", "right")):
    arm, leg = persons["arms"][:, i], persons["legs"][:, i]
    pose.arm(side, flex=col(arm, 0), abduct=col(arm, 1), elbow=col(arm, 2), inward=col(arm, 3))
    pose.leg(side, flex=col(leg, 0), abduct=col(leg, 1), knee=col(leg, 2))
  return pose


def _add_idle(pose: _Pose, persons: dict[str, np.ndarray], u: np.ndarray) -> None:
  """Slow idle sway: a sinusoid of a few degrees on each channel of `_IDLE`."""
  idle = persons["idle_amp"][:, None, :] * np.sin(
      2 * np.pi * persons["idle_cycles"][:, None, :] * u[..., None]
      + persons["idle_phase"][:, None, :])  # [n, T, K]
  for i, (joint, axis, deg) in enumerate(_IDLE):
    pose.add(joint, axis, deg * idle[..., i])


def _add_distractors(pose: _Pose, persons: dict[str, np.ndarray], u: np.ndarray) -> None:
  """Brief gestures (Hann-window bumps in time) of random kinds, centres and widths."""
  for slot in range(_NUM_DISTRACTOR_SLOTS):
    for kind, (fn, signed) in enumerate(_DISTRACTORS):
      rows = np.flatnonzero(persons["dis_on"][:, slot] & (persons["dis_kind"][:, slot] == kind))
      if not len(rows):
        continue
      amp = persons["dis_amp"][rows, slot, None]
      if not signed:
        amp = np.abs(amp)
      offset = (u - persons["dis_centre"][rows, slot, None]) / persons["dis_width"][rows, slot,
                                                                                       None]
      bump = amp * np.where(np.abs(offset) < 0.5, 0.5 * (1 + np.cos(2 * np.pi * offset)), 0.0)
      sub = _Pose(len(rows), u.shape[-1])
      fn(sub, bump.astype(np.float32))
      pose.ang[:, rows] += sub.ang


def _action_window(window: np.ndarray, once: str, u: np.ndarray) -> np.ndarray:
  """`[n, T]` envelope in [0, 1] of an action (see `_Action.once`) from uniform draws `window`
  `[n, 3]`."""
  if once:
    # One transition that starts at 15-45 % of the clip and takes 15-30 % of it: sitting down
    # and standing up spend about as long in each pose, so only the order tells them apart.
    onset, ramp = 0.15 + 0.3 * window[:, 0:1], 0.15 + 0.15 * window[:, 2:3]
    entered = _smoothstep((u - onset) / ramp)
    return entered if once == "enter" else 1.0 - entered
  # A negative onset or an offset past 1 means the action is already / still going.
  onset = -0.15 + 0.5 * window[:, 0:1]
  offset = 0.65 + 0.5 * window[:, 1:2]
  ramp = 0.05 + 0.1 * window[:, 2:3]
  return _smoothstep((u - onset) / ramp) * (1.0 - _smoothstep((u - offset) / ramp))


def _add_actions(pose: _Pose, labels: np.ndarray, persons: dict[str, np.ndarray],
                 u: np.ndarray) -> np.ndarray:
  """Adds each person's action, with its style, time warp, window and side.

  Returns:
    `[25, n, T]` weights in [0, 1] of the resting posture: 1 - window on the bones of the
    limbs that the action drives, 1 elsewhere.
  """
  keep = np.ones(pose.ang.shape[:3], np.float32)
  for label in np.unique(labels):
    rows = np.flatnonzero(labels == label)
    action = _ACTIONS[label]
    get = lambda key: persons[key][rows]  # noqa: E731
    warp_amp, warp_cycles, warp_phase = (get("warp")[:, i, None] for i in range(3))
    # A smooth monotonic time warp: d(tau)/du = 1 + warp_amp cos(...) stays >= 0.5.
    tau = u + warp_amp * (np.sin(2 * np.pi * warp_cycles * u + warp_phase)
                          - np.sin(warp_phase)) / (2 * np.pi * warp_cycles)
    phase = 2 * np.pi * action.cycles * get("speed")[:, None] * tau + get("phase")[:, None]
    drift, drift_cycles, drift_phase = (get("amp_drift")[:, i, None] for i in range(3))
    amp = get("amp")[:, None] * (1 + drift * np.sin(2 * np.pi * drift_cycles * u + drift_phase))
    sub = _Pose(len(rows), u.shape[-1])
    action.fn(sub, phase, amp, get("style"))
    window = _action_window(get("window"), action.once, u).astype(np.float32)
    sub.ang *= window[None, :, :, None]
    sub.lift *= window
    flip = get("mirror") < action.mirror
    mirrored = np.flatnonzero(flip)
    if len(mirrored):
      sub.ang[:, mirrored] = sub.ang[_FLIP][:, mirrored] * _MIRROR_SIGN
    pose.ang[:, rows] += sub.ang
    pose.lift[rows] += sub.lift
    for limb in action.limbs:
      for these, name in ((~flip, limb), (flip, _MIRROR_LIMB.get(limb, limb))):
        bones = np.array(_LIMB_BONES[name])[:, None]
        keep[bones, rows[these]] = 1.0 - window[these]
  return keep


def _animate(actions: np.ndarray, persons: dict[str, np.ndarray], num_frames: int) -> np.ndarray:
  """Body-frame joint positions `[25, n, T, 3]` of action ids `[n]`, feet on the floor at
  y = 0, facing -z."""
  labels = actions
  n = len(labels)
  u = np.linspace(0.0, 1.0, num_frames)[None, :]  # [1, T] normalised time
  pose = _Pose(n, num_frames)
  keep = _add_actions(pose, labels, persons, u)
  pose.ang += _posture(persons, num_frames).ang * keep[..., None]
  _add_idle(pose, persons, u)
  _add_distractors(pose, persons, u)

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


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...], distal: np.ndarray,
                  noise_std: float) -> np.ndarray:
  """Kinect-like noise `[V, n, T, 3]`: i.i.d. everywhere, more jitter and glitches on `distal`.

  Args:
    rng: the generator.
    shape: (V, n, T, 3).
    distal: `[V]` bool, the hand and foot joints.
    noise_std: base std in metres.

  Returns:
    float32 noise; zero when noise_std is 0.
  """
  noise = rng.standard_normal(shape, dtype=np.float32)
  noise[distal] *= np.float32(np.sqrt(1.0 + _DISTAL_NOISE ** 2))
  v, n, t, _ = shape
  d = int(distal.sum())
  # One glitch per (distal joint, person) with probability _GLITCH_PROB: 1-4 frames where the
  # tracker jumps to a wrong spot (a fixed displacement), then recovers.
  hit = rng.random((d, n)) < _GLITCH_PROB
  start = rng.integers(0, t, (d, n))
  length = rng.integers(1, 5, (d, n))
  jump = _GLITCH_SIZE * rng.standard_normal((d, n, 3)).astype(np.float32)
  frame = np.arange(t)
  inside = hit[..., None] & (frame >= start[..., None]) & (frame < (start + length)[..., None])
  noise[distal] += inside[..., None] * jump[:, :, None, :]  # [d, n, T, 3]
  return np.float32(noise_std) * noise


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
    nuisance: float = 1.0,
    name_prefix: str = "synthetic",
    classes: Sequence[int] | None = None,
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
    noise_std: std in metres of the i.i.d. Gaussian sensor noise on the body joints; hands
      and feet get more, plus glitches, all in proportion (0 for exact bodies).
    max_yaw_deg: largest facing rotation about the vertical axis, in degrees.
    nuisance: scale of the clip-constant nuisance the pretraining augmentations do not
      perturb (resting posture, idle sway, distractor gestures); 1 is the documented ranges,
      0 removes them (upright, arms hanging, no distractors). Nothing else changes with it.
    name_prefix: sample names are f'{name_prefix}_{index:06d}'.
    classes: optional action ids (indices into `CLASS_NAMES`) of labels 0, 1, ...; they replace
      the first `num_classes` actions (e.g. a set without mirrored left / right pairs).

  Returns:
    An ArrayDataset with x float32 `[N, 2, T, V, 3]` in camera coordinates (metres), y int32,
    names and the layout (its name when a SkeletonLayout is given).

  Raises:
    ValueError: for num_classes outside 1..MAX_CLASSES, a negative count, fewer than one
      frame, a probability outside [0, 1], negative noise, or a layout with unknown joints.
  """
  actions = np.asarray(_resolve_classes(num_classes, classes))
  num_classes = len(actions)
  if num_clips < 0 or num_frames < 1:
    raise ValueError(f"need num_clips >= 0 and num_frames >= 1, got {num_clips}, {num_frames}")
  if not 0.0 <= two_person_prob <= 1.0:
    raise ValueError(f"two_person_prob must be in [0, 1], got {two_person_prob}")
  if noise_std < 0:
    raise ValueError(f"noise_std must be >= 0, got {noise_std}")
  if nuisance < 0:
    raise ValueError(f"nuisance must be >= 0, got {nuisance}")
  skeleton = get_layout(layout)
  joints = _layout_joints(skeleton)
  distal = np.isin(joints, _DISTAL)

  rng = np.random.default_rng(seed)
  n, t = num_clips, num_frames
  labels = rng.permutation(np.arange(n) % num_classes)
  first = _scale_nuisance(_draw_persons(rng, n), nuisance)
  second = _scale_nuisance(_draw_persons(rng, n), nuisance)
  two = rng.random(n) < two_person_prob
  yaw = np.deg2rad(rng.uniform(-max_yaw_deg, max_yaw_deg, n))
  yaw2 = yaw + np.deg2rad(rng.uniform(-20.0, 20.0, n))
  pitch = np.deg2rad(rng.uniform(-_PITCH_DEG, _PITCH_DEG, n))
  roll = np.deg2rad(rng.uniform(-_ROLL_DEG, _ROLL_DEG, n))
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
    body = _animate(actions[labels[who]], persons, t)[joints]  # [V, n_p, T, 3]
    # Face the yaw direction, step to the place on the floor, then tilt the camera.
    turn = _camera_rotations(np.concatenate([yaw[rows], yaw2[pair]]), pitch[who], roll[who])
    tilt = _camera_rotations(np.zeros(len(who)), pitch[who], roll[who])
    shift = _apply(tilt, np.concatenate([place[rows], place2[pair]]))  # [n_p, 3]
    body = _apply(turn[:, None].astype(np.float32), body) + shift[:, None].astype(np.float32)
    if noise_std > 0:
      body += _sensor_noise(rng, body.shape, distal, noise_std)
    body = body.transpose(1, 2, 0, 3)  # [n_p, T, V, 3]
    x[rows, 0] = body[:len(rows)]
    x[pair, 1] = body[len(rows):]
  names = [f"{name_prefix}_{i:06d}" for i in range(n)]
  layout_name = layout if isinstance(layout, str) else skeleton.name
  return ArrayDataset(x, labels.astype(np.int32), names, layout_name, num_classes)


def shear_clips(x: np.ndarray, amplitude: float, seed: int) -> np.ndarray:
  """Each clip of `x` `[N, M, T, V, 3]` mapped by its own shear `S = I + offdiag U(-a, a)`.

  The per-clip distortion has the form of the pretraining's shear augmentation (spec 1.3), so
  it is nuisance that augmentation teaches the encoder to ignore, while it moves a random
  encoder's features: the demo's handle on how much pretraining can gain over random
  features. Applied after preprocessing; both persons of a clip share the map.
  """
  if amplitude < 0:
    raise ValueError(f"shear amplitude must be >= 0, got {amplitude}")
  if amplitude == 0:
    return x
  rng = np.random.default_rng(seed)
  s = np.tile(np.eye(3), (len(x), 1, 1))
  off = ~np.eye(3, dtype=bool)
  s[:, off] = rng.uniform(-amplitude, amplitude, (len(x), 6))
  return np.einsum("nij,nmtvj->nmtvi", s, x).astype(np.float32)


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
    num_classes: number of classes (both sets cover the same classes); with `classes` in
      kwargs, the length of that list.
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
