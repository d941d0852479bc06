"""Tests for skel_jax.augment.mixing (SkeleMix, SkeleMixCLR's and SkeAttnCLR's `ske_swap`)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.augment import mixing
from skel_jax.data import skeletons
from skel_jax.models.stgcn import REFERENCE_STRIDES, temporal_out_length

jax.config.update("jax_disable_most_optimizations", True)

NTU = skeletons.get_layout("ntu25")
UCLA = skeletons.get_layout("kinect_v1_20")


def np_skelemix(x, shift, joints, start, length, ratio):
  """The mix as loops in float64: x~[i, :, frames, S] = x[(i + n) mod N, :, frames, S]."""
  x = np.asarray(x, np.float64)
  n, _, t, _, _ = x.shape
  out = x.copy()
  for i in range(n):
    for f in range(ratio * start, min(ratio * (start + length), t)):
      for v in joints:
        out[i, :, f, v, :] = x[(i + shift) % n, :, f, v, :]
  return out


def reference_feature_mask(joints, start, length, grid, num_joints):
  """The reference's mask, built directly at feature resolution (`ske_swap`)."""
  mask = np.zeros((grid, num_joints))
  mask[start:start + length, list(joints)] = 1.0
  return mask


def _batch(n=5, m=2, t=64, v=25, seed=0):
  return np.random.default_rng(seed).normal(size=(n, m, t, v, 3)).astype(np.float32)


def _selected_parts(joints, layout):
  """Indices of the layout's groups fully inside `joints`; fails on a partial group."""
  chosen = []
  for i, (_, group) in enumerate(layout.parts):
    inside = joints[list(group)]
    assert inside.min() == inside.max(), "a body-part group was mixed only partly"
    if inside[0] == 1:
      chosen.append(i)
  return chosen


@pytest.mark.parametrize("shift,joints,start,length,ratio,t", [
    (1, [0, 1, 2, 3, 20], 0, 7, 4, 64),
    (3, [4, 5, 6, 7, 21, 22, 12, 13, 14, 15], 5, 11, 4, 64),
    (2, [8, 9, 10, 11, 23, 24], 2, 11, 4, 50),  # frames 8..51 clipped to 50
    (1, list(range(25)), 0, 16, 4, 64),
    (2, [3], 1, 2, 1, 7),
])
def test_skelemix_with_draws_matches_numpy(shift, joints, start, length, ratio, t):
  x = _batch(t=t)
  mask = np.zeros(25, np.float32)
  mask[joints] = 1
  res = mixing.skelemix_with_draws(jnp.asarray(x), shift, mask, start, length, ratio)
  np.testing.assert_array_equal(np.asarray(res.mixed, np.float64),
                                np_skelemix(x, shift, joints, start, length, ratio))
  np.testing.assert_array_equal(res.partner, (np.arange(5) + shift) % 5)
  expected_region = np.zeros((t, 25))
  expected_region[ratio * start:ratio * (start + length), joints] = 1
  np.testing.assert_array_equal(res.region, expected_region)
  assert res.mixed.dtype == jnp.float32 and res.partner.dtype == jnp.int32


def test_both_persons_are_mixed():
  x = _batch()
  mask = np.zeros(25, np.float32)
  mask[[4, 5, 6]] = 1
  mixed = np.asarray(mixing.skelemix_with_draws(jnp.asarray(x), 2, mask, 3, 8, 4).mixed)
  for person in (0, 1):
    np.testing.assert_array_equal(mixed[0, person, 12:44, 4:7], x[2, person, 12:44, 4:7])
    np.testing.assert_array_equal(mixed[0, person, :12], x[0, person, :12])
    np.testing.assert_array_equal(mixed[0, person, 12:44, 7:], x[0, person, 12:44, 7:])


def test_random_skelemix_is_consistent_with_its_draws():
  x = jnp.asarray(_batch(n=6))
  fn = jax.jit(lambda key: mixing.skelemix(key, x, NTU))
  for seed in range(20):
    res = fn(jax.random.key(seed))
    shift, start, length = int(res.partner[0]), int(res.start), int(res.length)
    assert 1 <= shift <= 4
    assert 7 <= length <= 11 and 0 <= start <= 16 - length
    joints = np.asarray(res.joints)
    assert 2 <= len(_selected_parts(joints, NTU)) <= 3
    np.testing.assert_array_equal(
        res.mixed, np_skelemix(np.asarray(x), shift, np.flatnonzero(joints), start, length, 4))
    np.testing.assert_array_equal(
        res.region, np.outer((np.arange(64) >= 4 * start) & (np.arange(64) < 4 * (start + length)),
                             joints))


def test_draws_cover_their_ranges_and_the_roll_is_never_zero_nor_minus_one():
  n = 5
  x = jnp.zeros((n, 1, 64, 25, 1))
  keys = jax.random.split(jax.random.key(0), 400)
  res = jax.jit(jax.vmap(lambda k: mixing.skelemix(k, x, NTU)))(keys)
  shifts = np.asarray(res.partner[:, 0])
  assert set(shifts.tolist()) == {1, 2, 3}  # U{1..N-2}: all of them, never 0 or N-1 = 4
  np.testing.assert_array_equal(res.partner, (np.arange(n)[None] + shifts[:, None]) % n)
  assert set(np.asarray(res.length).tolist()) == set(range(7, 12))
  assert set(np.asarray(res.start).tolist()) == set(range(0, 10))  # 0..16-7
  assert np.all(np.asarray(res.start + res.length) <= 16)
  counts = [len(_selected_parts(j, NTU)) for j in np.asarray(res.joints)]
  assert set(counts) == {2, 3}


def test_ceil_start_rule_clips_the_region_to_t():
  x = jnp.asarray(_batch(n=4, t=50))
  keys = jax.random.split(jax.random.key(2), 300)
  res = jax.jit(jax.vmap(lambda k: mixing.skelemix(
      k, x, NTU, parts_range=(3, 4), segments_range=(4, 7), start_rule="ceil")))(keys)
  start, length = np.asarray(res.start), np.asarray(res.length)
  assert np.all(start + length <= 13) and np.any(start + length == 13)  # ceil(50 / 4) = 13
  for i in np.flatnonzero(start + length == 13)[:3]:
    rows = np.asarray(res.region[i]).max(axis=1)
    np.testing.assert_array_equal(rows, np.arange(50) >= 4 * start[i])  # frames 48, 49 kept
  floor = jax.jit(jax.vmap(lambda k: mixing.skelemix(k, x, NTU)))(keys)
  assert np.all(np.asarray(floor.start + floor.length) <= 12)  # 50 // 4


def test_random_joint_mode():
  x = jnp.asarray(_batch(n=3, t=16))
  keys = jax.random.split(jax.random.key(3), 100)
  res = jax.jit(jax.vmap(lambda k: mixing.skelemix(k, x, NTU, segments_range=(1, 3),
                                                   spatial_mode="random")))(keys)
  counts = np.asarray(res.joints).sum(axis=1)
  assert counts.min() >= 10 and counts.max() <= 15 and len(set(counts.tolist())) == 6


def test_kinect_v1_20_and_a_user_layout():
  x = jnp.asarray(_batch(n=4, t=50, v=20))
  res = jax.jit(lambda k: mixing.skelemix(k, x, UCLA))(jax.random.key(4))
  assert res.mixed.shape == x.shape and res.region.shape == (50, 20)
  assert 2 <= len(_selected_parts(np.asarray(res.joints), UCLA)) <= 3
  small = skeletons.make_layout("tiny", ["a", "b", "c", "d"], [0, 0, 1, 1], 0,
                                {"trunk": [0, 1], "left": [2], "right": [3]})
  xs = jnp.asarray(_batch(n=3, t=8, v=4))
  # (1, 4) asks for up to four groups; the tiny layout has three, so the top is clipped.
  keys = jax.random.split(jax.random.key(5), 50)
  out = jax.jit(jax.vmap(lambda k: mixing.skelemix(k, xs, small, parts_range=(1, 4),
                                                   segments_range=(1, 2))))(keys)
  counts = {len(_selected_parts(j, small)) for j in np.asarray(out.joints)}
  assert counts == {1, 2, 3}


def test_repeats_are_independent_draws():
  x = jnp.asarray(_batch(n=8, t=16))
  rng = jax.random.key(6)
  res = jax.jit(lambda k: mixing.skelemix_repeats(k, x, NTU, 3, segments_range=(1, 3)))(rng)
  assert res.mixed.shape == (3, *x.shape) and res.partner.shape == (3, 8)
  single_fn = jax.jit(lambda k: mixing.skelemix(k, x, NTU, segments_range=(1, 3)))
  for r, key in enumerate(jax.random.split(rng, 3)):
    single = single_fn(key)
    for a, b in zip(jax.tree.leaves(single), jax.tree.leaves(res)):
      np.testing.assert_array_equal(a, b[r])
  draws = {(int(res.partner[r, 0]), int(res.start[r]), int(res.length[r]),
            tuple(np.asarray(res.joints[r]).tolist())) for r in range(3)}
  assert len(draws) == 3


def test_jit_equals_eager_and_same_key_same_result():
  x = jnp.asarray(_batch(n=4, m=1, t=8))
  key = jax.random.key(7)
  kw = dict(segments_range=(1, 2))
  eager = mixing.skelemix_repeats(key, x, NTU, 2, **kw)
  jitted = jax.jit(lambda k, y: mixing.skelemix_repeats(k, y, NTU, 2, **kw))(key, x)
  for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
    np.testing.assert_array_equal(a, b)
  other = jax.jit(lambda k: mixing.skelemix_repeats(k, x, NTU, 2, **kw))(jax.random.key(8))
  assert not np.array_equal(eager.mixed, other.mixed)


def test_feature_mask_equals_reference_at_64_frames():
  ratio = int(np.prod(REFERENCE_STRIDES))
  rng = np.random.default_rng(0)
  for length in range(1, 17):
    for start in range(0, 17 - length):
      joints = np.flatnonzero(rng.random(25) < 0.4)
      jmask = np.zeros(25, np.float32)
      jmask[joints] = 1
      region = mixing.skelemix_with_draws(jnp.zeros((3, 1, 64, 25, 1)), 1, jmask, start,
                                          length, 4).region
      np.testing.assert_array_equal(mixing.feature_mask(region, ratio),
                                    reference_feature_mask(joints, start, length, 16, 25))


@pytest.mark.parametrize("t", [50, 64, 16, 32, 13, 1])
def test_feature_mask_shapes_follow_the_encoder(t):
  region = jnp.ones((2, t, 25))
  out = mixing.feature_mask(region)
  assert out.shape == (2, temporal_out_length(t), 25)
  assert mixing.feature_mask(jnp.ones((t, 25))).shape == (temporal_out_length(t), 25)


def test_feature_mask_at_50_frames():
  # T = 50 -> 13 feature frames; feature frame t' is centred on input frame 4 t'.
  for start, length in itertools.product(range(13), range(1, 14)):
    if start + length > 13:
      continue
    region = mixing.temporal_region(start, length, 50, 4)[:, None] * jnp.ones((1, 25))
    rows = np.asarray(mixing.feature_mask(region))[:, 0]
    np.testing.assert_array_equal(rows, (np.arange(13) >= start) & (np.arange(13) < start + length))
  # Other strides: total stride 8 over 20 frames -> 3 rows centred on frames 0, 8, 16.
  region = (jnp.arange(20) >= 8)[:, None].astype(jnp.float32)
  np.testing.assert_array_equal(np.asarray(mixing.feature_mask(region, 2 * 1 * 4))[:, 0],
                                [0, 1, 1])


@pytest.mark.parametrize("t,expected", [(64, (7, 11)), (50, (7, 11)), (48, (7, 11)),
                                        (32, (3, 6)), (16, (1, 3))])
def test_fit_segments_keeps_fitting_ranges_and_scales_the_rest(t, expected):
  assert mixing.fit_segments((7, 11), t) == expected


@pytest.mark.parametrize("grid,expected", [(16, (7, 11)), (12, (5, 9)), (8, (3, 6)), (4, (1, 3))])
def test_scale_segments_gives_the_reference_multi_resolution_ranges(grid, expected):
  assert mixing.scale_segments((7, 11), grid) == expected


def test_fit_segments_original_variant_and_ceil():
  assert mixing.fit_segments((1, 15), 64) == (1, 15)
  assert mixing.fit_segments((1, 15), 50) == (1, 12)
  assert mixing.fit_segments((4, 7), 50, start_rule="ceil") == (4, 7)
  assert mixing.fit_segments((4, 7), 16, start_rule="ceil") == (1, 2)
  with pytest.raises(ValueError, match="at least 4 frames"):
    mixing.fit_segments((1, 2), 3)


def test_bad_arguments_raise_clear_errors():
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="at least 3 clips"):
    mixing.skelemix(key, jnp.zeros((2, 1, 64, 25, 3)), NTU)
  with pytest.raises(ValueError, match="does not fit a grid of 10"):
    mixing.skelemix(key, jnp.zeros((3, 1, 40, 25, 3)), NTU)
  with pytest.raises(ValueError, match="spatial_mode"):
    mixing.skelemix(key, jnp.zeros((3, 1, 64, 25, 3)), NTU, spatial_mode="gauss")
  with pytest.raises(ValueError, match="start_rule"):
    mixing.skelemix(key, jnp.zeros((3, 1, 64, 25, 3)), NTU, start_rule="round")
  with pytest.raises(ValueError, match="clips have 25 joints"):
    mixing.skelemix(key, jnp.zeros((3, 1, 64, 25, 3)), UCLA)
  with pytest.raises(ValueError, match="5 body-part groups"):
    mixing.skelemix(key, jnp.zeros((3, 1, 64, 25, 3)), NTU, parts_range=(6, 7))
