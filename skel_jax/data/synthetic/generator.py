"""The synthetic clips: per-person draws, animation, camera, sensor noise and the splits.

`make_synthetic` draws persons (body, posture, style, timing, distractors), animates the
actions of skel_jax.data.synthetic.actions on the body of skel_jax.data.synthetic.body, places
them in front of a tilted camera and adds Kinect-like noise; `make_synthetic_splits` makes
the train and test sets of the `demo` preset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.skeletons import NTU25, SkeletonLayout, get_layout
from skel_jax.data.synthetic.actions import (
    _ACTIONS,
    _ANIMATED,
    _DISTRACTOR_PROB,
    _DISTRACTORS,
    _IDLE,
    _LIMB_BONES,
    _MIRROR_LIMB,
    _NUM_DISTRACTOR_SLOTS,
    _resolve_classes,
)
from skel_jax.data.synthetic.body import (
    _ARM_JOINTS,
    _DISTAL,
    _FK_ORDER,
    _FK_PARENTS,
    _FLIP,
    _FOOT_JOINTS,
    _LEG_JOINTS,
    _MIRROR_SIGN,
    _REST_OFFSETS,
    _X,
    _Y,
    _Z,
    _apply,
    _camera_rotations,
    _layout_joints,
    _Pose,
    _rotations,
    _smoothstep,
)

_CHUNK = 1024  # persons animated at once: bounds the memory of the [n, T, V, ...] temporaries
_DISTAL_NOISE = 1.0  # extra i.i.d. std on distal joints, in units of noise_std
_GLITCH_PROB = 0.03  # per person and distal joint: probability of one tracking glitch
_GLITCH_SIZE = 6.0  # std of a glitch's displacement per axis, in units of noise_std
_PITCH_DEG, _ROLL_DEG = 12.0, 6.0  # camera tilt ranges


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

  The per-clip distortion has the form of the pretraining's shear augmentation (SkeletonCLR's
  `feeder/tools.py` shear), so it is nuisance that augmentation teaches the encoder to ignore,
  while it moves a random encoder's features: the demo's handle on how much pretraining can
  gain over random features. Applied after preprocessing; both persons of a clip share the map.
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


def demo_splits(num_train: int, num_test: int, *, num_frames: int, num_classes: int = 10,
                seed: int = 0, nuisance: float = 1.0, two_person_prob: float = 0.3,
                classes: Sequence[int] | None = None, shear: float = 0.0,
                ) -> tuple[ArrayDataset, ArrayDataset]:
  """The `demo` dataset as every run trains on it: generated, preprocessed, sheared.

  The generator writes raw camera-space clips, as a Kinect would, so they are prepared like the
  NTU release (the reference's `feeder/preprocess_ntu.py`: centre, per-frame view
  normalisation; skel_jax/data/preprocess.py); then, with `shear > 0`, each clip gets its own
  shear of the augmentation's form (`shear_clips`).

  Args:
    num_train, num_test: clips per split.
    num_frames: frames per clip.
    num_classes: classes; with `classes`, its length.
    seed: the data's own seed (not the run's: the seeds of a multi-seed run train on the
      same data).
    nuisance, two_person_prob: as `make_synthetic`.
    classes: the actions to draw (ids of `CLASS_NAMES`), or None for the first `num_classes`.
    shear: amplitude of the per-clip shear (0: none).

  Returns:
    (train, test) ArrayDatasets `[N, M, num_frames, V, 3]`.

  Raises:
    ValueError: `classes` and `num_classes` disagree.
  """
  from skel_jax.data import preprocess  # pylint: disable=g-import-not-at-top

  classes = tuple(classes) if classes else None
  if classes is not None and len(classes) != num_classes:
    raise ValueError(f"data.demo_classes lists {len(classes)} actions but data.num_classes is "
                     f"{num_classes}")
  splits = make_synthetic_splits(num_train, num_test, num_frames=num_frames,
                                 num_classes=num_classes, seed=seed, nuisance=nuisance,
                                 two_person_prob=two_person_prob, classes=classes)
  out = []
  for i, ds in enumerate(splits):
    x = np.stack([preprocess.preprocess_clip(clip, ds.layout, num_frames, name=name)
                  for clip, name in zip(ds.x, ds.names)])
    if shear > 0:
      x = shear_clips(x, shear, seed + 17 * i)
    out.append(ArrayDataset(x, ds.y, ds.names, ds.layout, ds.num_classes))
  return out[0], out[1]
