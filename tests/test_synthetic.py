"""Tests for skel_jax.data.synthetic: the procedural demo dataset."""

import numpy as np
import pytest

from skel_jax.data import synthetic
from skel_jax.data.skeletons import NTU25, get_layout, make_layout

_J = {name: i for i, name in enumerate(NTU25.joint_names)}
_DISTAL = [_J[f"{j}_{s}"] for j in ("hand", "handtip", "thumb", "foot") for s in ("left", "right")]


def _present(x):
  """[N, M] mask of persons with any non-zero coordinate."""
  return np.abs(x).sum(axis=(2, 3, 4)) > 0


def _bone_lengths(x, layout):
  parents = np.array(get_layout(layout).parents)
  return np.linalg.norm(x - x[..., parents, :], axis=-1)  # [N, M, T, V]


def _speed2(x, joint):
  """[N] mean squared frame-to-frame displacement of one joint of person 1."""
  p = x[:, 0, :, joint].astype(np.float64)  # [N, T, 3]
  return (np.diff(p, axis=1) ** 2).sum(-1).mean(-1)


def test_shapes_dtypes_names_and_layout():
  ds = synthetic.make_synthetic(12, num_frames=20, num_classes=4, seed=1)
  assert ds.x.shape == (12, 2, 20, 25, 3) and ds.x.dtype == np.float32
  assert ds.y.shape == (12,) and ds.y.dtype == np.int32
  assert ds.names[0] == "synthetic_000000" and ds.names[11] == "synthetic_000011"
  assert ds.layout == "ntu25" and ds.num_classes == 4
  assert np.isfinite(ds.x).all()


def test_deterministic_by_seed_and_seeds_differ():
  a = synthetic.make_synthetic(20, num_frames=16, seed=7)
  b = synthetic.make_synthetic(20, num_frames=16, seed=7)
  c = synthetic.make_synthetic(20, num_frames=16, seed=8)
  np.testing.assert_array_equal(a.x, b.x)
  np.testing.assert_array_equal(a.y, b.y)
  assert a.names == b.names
  assert not np.array_equal(a.x, c.x)
  assert not np.array_equal(a.y, c.y)


def test_labels_balanced_and_cover_all_classes():
  ds = synthetic.make_synthetic(30, num_frames=8, num_classes=10, seed=2)
  np.testing.assert_array_equal(np.bincount(ds.y, minlength=10), np.full(10, 3))
  ds = synthetic.make_synthetic(synthetic.MAX_CLASSES, num_frames=8,
                                num_classes=synthetic.MAX_CLASSES)
  assert sorted(ds.y) == list(range(synthetic.MAX_CLASSES))


@pytest.mark.parametrize("layout", ["ntu25", "kinect_v1_20"])
def test_bone_lengths_constant_within_each_clip_without_noise(layout):
  ds = synthetic.make_synthetic(2 * synthetic.MAX_CLASSES, num_frames=30, seed=3, noise_std=0.0,
                                num_classes=synthetic.MAX_CLASSES, two_person_prob=0.5,
                                layout=layout)
  assert ds.x.shape[3] == get_layout(layout).num_joints
  lengths = _bone_lengths(ds.x, layout)
  present = _present(ds.x)
  assert present[:, 1].any()  # second persons are checked as well
  spread = lengths.max(axis=2) - lengths.min(axis=2)  # [N, M, V]
  assert spread[present].max() < 1e-5
  # Bones are non-degenerate (the root is its own parent, hence one zero).
  assert np.sort(lengths[present][:, 0], axis=-1)[:, 1].min() > 0.02


def test_noise_is_proportional_larger_on_hands_and_feet_and_keeps_absent_zero():
  clean = synthetic.make_synthetic(40, num_frames=10, seed=4, noise_std=0.0)
  noisy = synthetic.make_synthetic(40, num_frames=10, seed=4, noise_std=0.01)
  double = synthetic.make_synthetic(40, num_frames=10, seed=4, noise_std=0.02)
  present = _present(clean.x)
  np.testing.assert_array_equal(present, _present(noisy.x))
  diff = noisy.x.astype(np.float64) - clean.x
  # Every part of the noise (jitter and glitches) scales with noise_std.
  np.testing.assert_allclose(double.x - clean.x, 2 * diff, atol=1e-5)
  body = np.delete(diff, _DISTAL, axis=3)[present]  # [P, T, V - 8, 3]
  distal = diff[:, :, :, _DISTAL][present]
  assert 0.009 < body.std() < 0.011 and abs(body.mean()) < 1e-3
  assert np.abs(body).max() < 0.07  # Gaussian: no outliers beyond ~7 std
  # Hands and feet jitter more (sqrt(2) x) and sometimes jump by many noise stds (glitches).
  assert 1.3 * 0.01 < np.median(np.abs(distal)) / 0.6745 < 1.6 * 0.01
  assert np.abs(distal).max() > 0.1
  np.testing.assert_array_equal(noisy.x[~present], 0.0)  # an absent person stays zero


def test_second_person_absent_is_zero_and_present_is_complete():
  one = synthetic.make_synthetic(25, num_frames=12, two_person_prob=0.0, seed=5)
  np.testing.assert_array_equal(one.x[:, 1], 0.0)
  two = synthetic.make_synthetic(25, num_frames=12, two_person_prob=1.0, seed=5)
  # NTU convention: a valid frame has a non-zero spine base (joint 1); all T frames are valid.
  assert np.all(np.abs(two.x[:, :, :, 0]).sum(-1) > 0)
  # The two persons stand apart.
  gap = np.linalg.norm(two.x[:, 0, :, 0] - two.x[:, 1, :, 0], axis=-1)
  assert gap.min() > 0.4


def test_plausible_camera_space_bodies():
  ds = synthetic.make_synthetic(60, num_frames=20, seed=6, noise_std=0.0, two_person_prob=0.0)
  p = ds.x[:, 0]  # [N, T, V, 3]
  depth = p[..., 2]
  # The pelvis 2-4 m in front of the camera (a tilted camera mixes in its height); hands and
  # feet reach up to ~0.8 m closer.
  assert 1.9 < depth[:, :, 0].min() and depth[:, :, 0].max() < 3.8
  assert 1.2 < depth.min() and depth.max() < 4.6
  # Spine-base-to-head distance of a standing adult (about 0.6-0.8 m at scale 0.88-1.12).
  trunk = np.linalg.norm(p[:, 0, 3] - p[:, 0, 0], axis=-1)
  assert 0.5 < trunk.min() and trunk.max() < 0.85
  # Head above the spine base (y up; camera tilt and posture lean it by tens of degrees).
  assert np.mean(p[:, :, 3, 1] > p[:, :, 0, 1]) > 0.95


def _log_velocity_energy(x):
  """[N, V] log mean squared per-joint speed of person 1, a rotation-invariant motion feature."""
  velocity = np.diff(x[:, 0].astype(np.float64), axis=1)  # [N, T-1, V, 3]
  return np.log((velocity ** 2).sum(-1).mean(1) + 1e-6)


def _mean_pose(x):
  """[N, 3V] time-averaged pose of person 1 relative to its spine-shoulder joint."""
  p = x[:, 0].astype(np.float64)
  return (p - p[:, :, _J["spine_shoulder"]:_J["spine_shoulder"] + 1]).mean(1).reshape(len(p), -1)


def _nearest_class_mean(feature, train, test, num_classes):
  """Predictions of a nearest-class-mean classifier on `feature(x)`."""
  f_train, f_test = feature(train.x), feature(test.x)
  means = np.stack([f_train[train.y == c].mean(0) for c in range(num_classes)])
  return ((f_test[:, None] - means[None]) ** 2).sum(-1).argmin(1)


def _knn(feature, train, test, num_classes, k=10):
  """Predictions of a k-NN (Euclidean, standardised features, majority vote) on `feature(x)`."""
  f_train, f_test = feature(train.x), feature(test.x)
  mean, std = f_train.mean(0), f_train.std(0)
  f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
  distance = ((f_test[:, None] - f_train[None]) ** 2).sum(-1)  # [N_test, N_train]
  nearest = train.y[np.argsort(distance, axis=1)[:, :k]]
  votes = np.stack([(nearest == c).sum(1) for c in range(num_classes)], 1)
  return votes.argmax(1)


def test_classes_differ_in_motion_more_than_in_static_pose():
  # Also a loose size check: 1000 clips of 50 frames are generated quickly.
  train, test = synthetic.make_synthetic_splits(700, 300, num_classes=10, seed=0)
  pred = _nearest_class_mean(_log_velocity_energy, train, test, 10)
  accuracy = np.mean(pred == test.y)
  assert accuracy > 0.5, accuracy  # chance is 0.1
  # Every class is recognised at least sometimes, so none is a copy of another. A k-NN,
  # because the classes done with either arm have two modes that a class mean blurs. (The
  # energies cannot tell sit_down from stand_up, which differ only in the order of the same
  # poses; see test_sit_down_and_stand_up_are_time_reversed.)
  pred = _knn(_log_velocity_energy, train, test, 10)
  assert np.mean(pred == test.y) > 0.6
  assert all(np.mean(pred[test.y == c] == c) > 0.2 for c in range(10))
  # Posture, view and style vary within a class, so the average pose is a weaker cue than
  # how the joints move: the class is defined by motion.
  static = np.mean(_nearest_class_mean(_mean_pose, train, test, 10) == test.y)
  assert static < accuracy - 0.1, (static, accuracy)


@pytest.mark.parametrize("right, left, joint", [
    ("wave_right_hand", "wave_left_hand", "hand"), ("kick_right_leg", "kick_left_leg", "ankle")])
def test_mirrored_classes_move_the_named_side(right, left, joint):
  names = synthetic.class_names(synthetic.MAX_CLASSES)
  ds = synthetic.make_synthetic(20 * synthetic.MAX_CLASSES, num_frames=40, seed=9,
                                num_classes=synthetic.MAX_CLASSES, noise_std=0.0,
                                two_person_prob=0.0)
  ratio = _speed2(ds.x, _J[f"{joint}_right"]) / _speed2(ds.x, _J[f"{joint}_left"])
  # Distractor gestures can move the other side too, but the action dominates.
  assert np.mean(ratio[ds.y == names.index(right)] > 1) > 0.85
  assert np.mean(ratio[ds.y == names.index(left)] < 1) > 0.85


def test_one_armed_actions_use_either_arm():
  names = synthetic.class_names(synthetic.MAX_CLASSES)
  ds = synthetic.make_synthetic(30 * synthetic.MAX_CLASSES, num_frames=40, seed=10,
                                num_classes=synthetic.MAX_CLASSES, noise_std=0.0,
                                two_person_prob=0.0)
  ratio = _speed2(ds.x, _J["hand_right"]) / _speed2(ds.x, _J["hand_left"])
  reach = ratio[ds.y == names.index("reach_forward")]
  assert 0.25 < np.mean(reach > 1) < 0.75  # mirrored half of the time


def test_sit_down_and_stand_up_are_time_reversed():
  names = synthetic.class_names(synthetic.MAX_CLASSES)
  ds = synthetic.make_synthetic(10 * synthetic.MAX_CLASSES, num_frames=40, seed=11,
                                num_classes=synthetic.MAX_CLASSES, noise_std=0.0,
                                two_person_prob=0.0)
  p = ds.x[:, 0]  # [N, T, V, 3]
  ankles = 0.5 * (p[:, :, _J["ankle_left"]] + p[:, :, _J["ankle_right"]])
  height = np.linalg.norm(p[:, :, _J["spine_base"]] - ankles, axis=-1)  # [N, T] pelvis height
  sit, stand = height[ds.y == names.index("sit_down")], height[ds.y == names.index("stand_up")]
  # One transition, over by 75 % of the clip: standing -> seated, or seated -> standing.
  assert np.all(sit[:, -1] < 0.9 * sit[:, 0])
  assert np.all(stand[:, 0] < 0.9 * stand[:, -1])
  # Then held (the seat shifts a little with style drift and distractors, hence the median).
  late = int(0.8 * 40)
  assert np.median(np.abs(sit[:, -1] - sit[:, late])) < 0.03
  assert np.median(np.abs(stand[:, -1] - stand[:, late])) < 0.03


def test_splits_use_different_seeds_and_names():
  train, test = synthetic.make_synthetic_splits(10, 10, num_frames=8, seed=0)
  assert train.names[0] == "synthetic_train_000000" and test.names[0] == "synthetic_test_000000"
  assert not np.array_equal(train.x, test.x)
  same = synthetic.make_synthetic(10, num_frames=8, seed=0)
  np.testing.assert_array_equal(train.x, same.x)  # the train set is the plain seed


def test_class_names():
  names = synthetic.class_names(10)
  assert len(names) == 10 and len(set(names)) == 10
  assert names[:2] == ["wave_right_hand", "wave_left_hand"]
  assert synthetic.class_names(synthetic.MAX_CLASSES) == list(synthetic.CLASS_NAMES)
  assert len(set(synthetic.CLASS_NAMES)) == synthetic.MAX_CLASSES


def test_explicit_classes_relabel_the_chosen_actions():
  chosen = (13, 2, 7)  # raise_both_arms, punch_forward, squat -> labels 0, 1, 2
  assert synthetic.class_names(classes=chosen) == [synthetic.CLASS_NAMES[c] for c in chosen]
  ds = synthetic.make_synthetic(30, num_frames=12, seed=4, classes=chosen, noise_std=0.0)
  assert ds.num_classes == 3 and sorted(set(ds.y.tolist())) == [0, 1, 2]
  # Label i animates action chosen[i]: the squat (label 2) bobs the pelvis up and down, raising
  # the arms (label 0) leaves it where it is.
  pelvis = _J["spine_base"]
  squat_mine = ds.x[ds.y == 2, 0, :, pelvis, 1].std(axis=1).mean()
  raise_mine = ds.x[ds.y == 0, 0, :, pelvis, 1].std(axis=1).mean()
  assert squat_mine > 3 * raise_mine
  splits = synthetic.make_synthetic_splits(8, 8, num_frames=8, classes=chosen)
  assert all(d.num_classes == 3 for d in splits)
  for bad in [(), (0, 0), (synthetic.MAX_CLASSES,), (-1, 2)]:
    with pytest.raises(ValueError, match="distinct action ids"):
      synthetic.make_synthetic(4, classes=bad)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match=f"supports 1..{synthetic.MAX_CLASSES} classes"):
    synthetic.make_synthetic(4, num_classes=synthetic.MAX_CLASSES + 1)
  with pytest.raises(ValueError, match="supports"):
    synthetic.class_names(0)
  with pytest.raises(ValueError, match="two_person_prob"):
    synthetic.make_synthetic(4, two_person_prob=1.5)
  with pytest.raises(ValueError, match="noise_std"):
    synthetic.make_synthetic(4, noise_std=-0.1)
  odd = make_layout("odd", ["spine_base", "tail"], [0, 0], 0, {"all": [0, 1]})
  with pytest.raises(ValueError, match=r"layout 'odd'.*\['tail'\]"):
    synthetic.make_synthetic(4, layout=odd)


def test_empty_and_short_clips():
  empty = synthetic.make_synthetic(0, num_frames=5)
  assert empty.x.shape == (0, 2, 5, 25, 3) and len(empty.names) == 0
  single = synthetic.make_synthetic(3, num_frames=1)
  assert single.x.shape == (3, 2, 1, 25, 3)


def test_scale_nuisance_moves_posture_toward_neutral_and_shrinks_gestures():
  persons = {"trunk": np.array([[10.0, -20.0, 4.0]]), "neck": np.array([[-6.0, 2.0, 30.0]]),
             "arms": np.full((1, 2, 4), 40.0), "legs": np.array([[[-10.0, 5.0, 25.0]] * 2]),
             "idle_amp": np.array([[0.5, 1.0]]), "dis_amp": np.array([[-0.8, 0.4]]),
             "speed": np.array([1.1])}
  half = synthetic.generator._scale_nuisance(persons, 0.5)
  np.testing.assert_array_equal(half["trunk"], [[5.0, -10.0, 2.0]])
  np.testing.assert_array_equal(half["arms"], np.full((1, 2, 4), 20.0))
  np.testing.assert_array_equal(half["dis_amp"], [[-0.4, 0.2]])
  np.testing.assert_array_equal(half["idle_amp"], [[0.25, 0.5]])
  assert half["speed"] is persons["speed"]  # timing and style are not nuisance
  assert synthetic.generator._scale_nuisance(persons, 1.0) is persons


def test_nuisance_zero_keeps_actions_and_removes_posture():
  kw = dict(num_frames=24, seed=12, noise_std=0.0, two_person_prob=0.0)
  full = synthetic.make_synthetic(60, **kw)
  np.testing.assert_array_equal(full.x, synthetic.make_synthetic(60, nuisance=1.0, **kw).x)
  calm = synthetic.make_synthetic(60, nuisance=0.0, **kw)
  np.testing.assert_array_equal(full.y, calm.y)  # same draws: same labels, same order
  # Kicks leave the arms at their resting posture: with no nuisance, hanging at the sides,
  # so the hands sit at about the same height below the shoulders in every kick clip.
  names = synthetic.class_names(10)
  kicks = np.isin(calm.y, [names.index("kick_right_leg"), names.index("kick_left_leg")])

  def hand_drop(ds):  # [n] shoulder-to-hand distance of the left arm, frame 0
    p = ds.x[kicks, 0, 0]
    return np.linalg.norm(p[:, _J["shoulder_left"]] - p[:, _J["hand_left"]], axis=-1)

  assert np.std(hand_drop(calm)) < 0.3 * np.std(hand_drop(full))
  with pytest.raises(ValueError, match="nuisance"):
    synthetic.make_synthetic(4, nuisance=-1.0)


def test_shear_clips_applies_one_shear_per_clip_to_both_persons():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 2, 4, 3, 3)).astype(np.float32)
  np.testing.assert_array_equal(synthetic.shear_clips(x, 0.0, seed=1), x)
  y = synthetic.shear_clips(x, 0.4, seed=1)
  np.testing.assert_array_equal(y, synthetic.shear_clips(x, 0.4, seed=1))
  for n in range(5):
    # Recover the clip's map from its points: least squares over all persons / frames / joints.
    pts, out = x[n].reshape(-1, 3).astype(np.float64), y[n].reshape(-1, 3).astype(np.float64)
    s = np.linalg.lstsq(pts, out, rcond=None)[0].T  # out = pts @ S^T
    np.testing.assert_allclose(np.diag(s), 1.0, atol=1e-5)
    off = s[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off) <= 0.4 + 1e-5) and np.abs(off).max() > 0.01
    np.testing.assert_allclose(out, pts @ s.T, atol=1e-5)
  with pytest.raises(ValueError, match="shear amplitude must be >= 0"):
    synthetic.shear_clips(x, -0.1, seed=0)


def test_demo_preset_classes_have_no_mirrored_pair_and_must_match_num_classes():
  from conftest import REPO_ROOT

  from skel_jax.config_lib import load_config
  from skel_jax.data import registry
  config = load_config(str(REPO_ROOT / "configs" / "aimclr.py"), "demo")
  names = synthetic.class_names(classes=config.data.demo_classes)
  assert len(names) == config.data.num_classes == 10
  # AimCLR's spatial flip maps a left/right action onto its mirror image.
  for side, other in (("right", "left"), ("left", "right")):
    assert not any(n.replace(side, other) in names for n in names if side in n), names
  config.data.num_classes = 9
  with pytest.raises(ValueError, match="demo_classes lists 10 actions but data.num_classes is 9"):
    registry.load_splits(config)
