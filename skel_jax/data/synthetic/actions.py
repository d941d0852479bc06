"""The synthetic actions (the classes), distractor gestures and idle motion.

Each action is a function `(pose, phase, amp, style)` adding joint angles to a
skel_jax.data.synthetic.body `_Pose`; `CLASS_NAMES` lists them in label order (the table is
in the package docstring).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from skel_jax.data.synthetic.body import _IDX, _X, _Y, _Z, _pos, _up


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

