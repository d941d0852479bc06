"""Tests for skel_jax.data.synthetic: the procedural demo dataset."""

import numpy as np
import pytest

from skel_jax.data import synthetic
from skel_jax.data.skeletons import get_layout, make_layout


def _present(x):
  """[N, M] mask of persons with any non-zero coordinate."""
  return np.abs(x).sum(axis=(2, 3, 4)) > 0


def _bone_lengths(x, layout):
  parents = np.array(get_layout(layout).parents)
  return np.linalg.norm(x - x[..., parents, :], axis=-1)  # [N, M, T, V]


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


def test_noise_level_and_bodies_are_the_same_under_noise():
  clean = synthetic.make_synthetic(40, num_frames=10, seed=4, noise_std=0.0)
  noisy = synthetic.make_synthetic(40, num_frames=10, seed=4, noise_std=0.01)
  present = _present(clean.x)
  np.testing.assert_array_equal(present, _present(noisy.x))
  diff = (noisy.x - clean.x)[present]
  assert 0.009 < diff.std() < 0.011 and abs(diff.mean()) < 1e-3
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
  # The pelvis ~3 m in front of the camera; hands and feet reach up to ~0.8 m closer.
  assert 2.4 < depth[:, :, 0].min() and depth[:, :, 0].max() < 3.6
  assert 1.5 < depth.min() and depth.max() < 4.5
  # Spine-base-to-head distance of a standing adult (about 0.6-0.8 m at scale 0.85-1.15).
  trunk = np.linalg.norm(p[:, 0, 3] - p[:, 0, 0], axis=-1)
  assert 0.5 < trunk.min() and trunk.max() < 0.85
  # Head above the spine base (y up, tilt at most a few degrees).
  assert np.mean(p[:, :, 3, 1] > p[:, :, 0, 1]) > 0.95


def _log_velocity_energy(x):
  """[N, V] log mean squared per-joint speed of person 1, a rotation-invariant motion feature."""
  velocity = np.diff(x[:, 0].astype(np.float64), axis=1)  # [N, T-1, V, 3]
  return np.log((velocity ** 2).sum(-1).mean(1) + 1e-6)


def test_classes_differ_in_motion_not_only_noise():
  # Also a loose size check: 1000 clips of 50 frames are generated quickly.
  train, test = synthetic.make_synthetic_splits(700, 300, num_classes=10, seed=0)
  f_train, f_test = _log_velocity_energy(train.x), _log_velocity_energy(test.x)
  means = np.stack([f_train[train.y == c].mean(0) for c in range(10)])
  pred = ((f_test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
  accuracy = np.mean(pred == test.y)
  assert accuracy > 0.5, accuracy  # chance is 0.1
  # Every class is recognised at least sometimes, so none is a copy of another.
  assert all(np.mean(pred[test.y == c] == c) > 0.2 for c in range(10))


def test_splits_use_different_seeds_and_names():
  train, test = synthetic.make_synthetic_splits(10, 10, num_frames=8, seed=0)
  assert train.names[0] == "synthetic_train_000000" and test.names[0] == "synthetic_test_000000"
  assert not np.array_equal(train.x, test.x)
  same = synthetic.make_synthetic(10, num_frames=8, seed=0)
  np.testing.assert_array_equal(train.x, same.x)  # the train set is the plain seed


def test_class_names():
  names = synthetic.class_names(10)
  assert len(names) == 10 and len(set(names)) == 10
  assert names[0] == "wave_right_hand"
  assert synthetic.class_names(synthetic.MAX_CLASSES) == list(synthetic.CLASS_NAMES)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="supports 1..14 classes"):
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
