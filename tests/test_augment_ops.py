"""Tests for skel_jax.augment.ops against float64 numpy references.

The numpy helpers below are written from the official code (CrosSCLR feeder/tools.py
`temperal_crop`, `shear`; AimCLR feeder/tools.py `random_rotate`, `GaussianBlurConv`),
independently of the JAX code: the mirror-padded temporal window, the shear matrix, the
rotation matrices with the reference's sign conventions and the zero-padded temporal blur.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.augment import ops
from skel_jax.data import skeletons

# Small programs, many of them: compile fast rather than run fast.

NTU = skeletons.NTU25


def _clip(seed=0, m=2, t=20, v=25, c=3, zero_second=False):
  x = np.random.default_rng(seed).normal(size=(m, t, v, c)).astype(np.float32)
  if zero_second:
    x[1] = 0.0
  return x


def _keys(n, seed=0):
  return jax.random.split(jax.random.key(seed), n)


def _run_batched(op, key, batch, **kwargs):
  """`ops.batched(op)` under jit (one compile instead of many eager vmapped primitives)."""
  return np.asarray(jax.jit(functools.partial(ops.batched(op), **kwargs))(key, batch))


# ----------------------------------------------------------------------------------------------
# float64 numpy references, from the official code.


def np_mirror_window(x, s, pad):
  """Prepend first `pad` frames reversed, append last `pad` reversed, keep [s, s+T)."""
  x = np.asarray(x, np.float64)
  t = x.shape[1]
  padded = np.concatenate([x[:, :pad][:, ::-1], x, x[:, t - pad:][:, ::-1]], axis=1)
  return padded[:, s:s + t]


def np_shear_matrix(a, b, c, d, e, f):
  return np.array([[1, a, b], [c, 1, d], [e, f, 1]], np.float64)


def np_rotation(ax, ay, az):
  """`random_rotate`: R_x, then R_y, then R_z, each p' = R p."""
  cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
  r_x = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
  r_y = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
  r_z = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
  return r_z @ r_y @ r_x


def np_points_map(x, matrix):
  """p' = matrix @ p for every point of x [..., 3] (float64)."""
  return np.einsum("ij,...j->...i", matrix, np.asarray(x, np.float64))


def np_blur(x, sigma, kernel_size=15, normalize=False):
  """`GaussianBlurConv`: depthwise conv along time, zero padding K//2 per end, same length."""
  x = np.asarray(x, np.float64)
  half = kernel_size // 2
  k = np.arange(-half, half + 1)
  g = np.exp(-k**2 / (2.0 * sigma**2))
  if normalize:
    g = g / g.sum()
  t_len = x.shape[1]
  out = np.zeros_like(x)
  for t in range(t_len):
    for i, kk in enumerate(k):
      if 0 <= t + kk < t_len:
        out[:, t] += g[i] * x[:, t + kk]
  return out


def lstsq_matrix(x, y):
  """The M with y = M x for points x, y [..., 3] (least squares over all points)."""
  p = np.asarray(x, np.float64).reshape(-1, 3)
  q = np.asarray(y, np.float64).reshape(-1, 3)
  m_t, *_ = np.linalg.lstsq(p, q, rcond=None)
  return m_t.T


# ----------------------------------------------------------------------------------------------
# Generic properties of every op.

PERM = NTU.flip
# Probabilistic ops are forced on (p=1) so a different key must change the output.
ALL_OPS = {
    "temporal_shift": functools.partial(ops.temporal_shift, ratio=6),
    "shear": functools.partial(ops.shear, amplitude=0.5),
    "spatial_flip": functools.partial(ops.spatial_flip, perm=PERM, p=1.0),
    "rotate": ops.rotate,
    "gaussian_noise": functools.partial(ops.gaussian_noise, p=1.0),
    "gaussian_blur": functools.partial(ops.gaussian_blur, p=1.0),
    "gaussian_blur_normalized": functools.partial(ops.gaussian_blur, p=1.0,
                                                  normalize_kernel=True),
    "axis_mask": functools.partial(ops.axis_mask, p=1.0),
    "temporal_flip": functools.partial(ops.temporal_flip, p=1.0),
    "view_rotate": ops.view_rotate,
    "random_scale": ops.random_scale,
    "crop_resize": functools.partial(ops.crop_resize, min_ratio=0.5),
}
# Module-level jitted versions, so each op compiles once for the whole file.
JIT_OPS = {name: jax.jit(op) for name, op in ALL_OPS.items()}
# Ops whose output does not depend on the key once p=1 (the flips are deterministic then).
DETERMINISTIC_AT_P1 = {"spatial_flip", "temporal_flip"}


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_jit_matches_eager_and_keeps_shape(name):
  op = ALL_OPS[name]
  x = jnp.asarray(_clip(1))
  key = jax.random.key(3)
  eager = op(key, x)
  jitted = JIT_OPS[name](key, x)
  assert eager.shape == x.shape and eager.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_same_key_same_output_different_key_different_output(name):
  op = JIT_OPS[name]
  x = jnp.asarray(_clip(1))
  k1, k2 = _keys(2, seed=5)
  a, a_again, b = op(k1, x), op(k1, x), op(k2, x)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(a_again))
  if name in DETERMINISTIC_AT_P1:
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  else:
    assert not np.array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(a), np.asarray(x)), "the op changed nothing"


@pytest.mark.parametrize("name,op", [
    ("spatial_flip", functools.partial(ops.spatial_flip, perm=PERM, p=0.0)),
    ("gaussian_noise", functools.partial(ops.gaussian_noise, p=0.0)),
    ("gaussian_blur", functools.partial(ops.gaussian_blur, p=0.0)),
    ("axis_mask", functools.partial(ops.axis_mask, p=0.0)),
    ("temporal_flip", functools.partial(ops.temporal_flip, p=0.0)),
])
def test_probability_zero_is_identity(name, op):
  x = _clip(4)
  for key in _keys(5, seed=1):
    np.testing.assert_array_equal(np.asarray(op(key, jnp.asarray(x))), x, err_msg=name)


def test_coin_frequency_follows_p():
  x = jnp.asarray(_clip(5, m=1, t=6, v=3))
  batch = jnp.broadcast_to(x, (400,) + x.shape)
  out = _run_batched(ops.temporal_flip, jax.random.key(0), batch, p=0.3)
  flipped = np.mean([not np.array_equal(o, np.asarray(x)) for o in out])
  assert 0.22 < flipped < 0.38  # binomial sd 0.023 at n=400


def test_batched_uses_one_split_key_per_example():
  batch = jnp.asarray(np.stack([_clip(i, t=12) for i in range(3)]))
  key = jax.random.key(9)
  out = _run_batched(ops.shear, key, batch, amplitude=0.3)
  shear = jax.jit(ops.shear, static_argnums=2)
  for i, k in enumerate(jax.random.split(key, 3)):
    np.testing.assert_allclose(out[i], np.asarray(shear(k, batch[i], 0.3)), rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="N, M, T, V, C"):
    ops.batched(ops.shear)(key, batch[0])


def test_one_clip_shape_is_checked():
  with pytest.raises(ValueError, match="shear"):
    ops.shear(jax.random.key(0), jnp.zeros((2, 5, 25, 2)))
  with pytest.raises(ValueError, match="rotate"):
    ops.rotate(jax.random.key(0), jnp.zeros((5, 25, 3)))


# ----------------------------------------------------------------------------------------------
# Temporal shift (`temperal_crop`).


@pytest.mark.parametrize("t_len,pad", [(50, 8), (64, 10), (20, 3)])
def test_temporal_shift_with_offset_is_the_mirror_padded_window(t_len, pad):
  x = _clip(6, m=2, t=t_len, v=2)
  assert t_len // 6 == pad
  for s in range(2 * pad + 1):
    got = ops.temporal_shift_with_offset(jnp.asarray(x), s, pad)
    np.testing.assert_array_equal(np.asarray(got, np.float64), np_mirror_window(x, s, pad))


def test_temporal_shift_offsets_cover_0_to_2p_exactly():
  t_len, pad = 50, 8
  # Distinct frames so every window is distinguishable.
  x = np.arange(t_len, dtype=np.float32)[None, :, None, None] + np.zeros((2, t_len, 2, 3),
                                                                        np.float32)
  batch = jnp.broadcast_to(jnp.asarray(x), (160,) + x.shape)
  out = _run_batched(ops.temporal_shift, jax.random.key(1), batch, ratio=6).astype(np.float64)
  windows = [np_mirror_window(x, s, pad) for s in range(2 * pad + 1)]
  seen = set()
  for o in out:
    matches = [s for s, w in enumerate(windows) if np.array_equal(o, w)]
    assert len(matches) == 1, "output is not a mirror-padded window"
    seen.add(matches[0])
  assert seen == set(range(2 * pad + 1))


def test_temporal_shift_disabled_cases_are_identity():
  x = jnp.asarray(_clip(7, t=5))
  key = jax.random.key(0)
  np.testing.assert_array_equal(ops.temporal_shift(key, x, ratio=-1), x)  # reference off switch
  np.testing.assert_array_equal(ops.temporal_shift(key, x, ratio=6), x)  # floor(5/6) = 0


# ----------------------------------------------------------------------------------------------
# Shear (`shear`).


def test_shear_with_values_exact():
  values = (0.1, -0.2, 0.3, -0.4, 0.45, -0.05)
  x = _clip(8)
  got = ops.shear_with_values(jnp.asarray(x), jnp.asarray(values, jnp.float32))
  want = np_points_map(x, np_shear_matrix(*values))
  np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5, atol=1e-5)


def test_shear_recovered_matrix_is_unit_diagonal_with_entries_within_amplitude():
  r = 0.5
  x = _clip(9)
  offdiag = []
  for key in _keys(12, seed=2):
    y = np.asarray(ops.shear(key, jnp.asarray(x), r), np.float64)
    s = lstsq_matrix(x, y)
    np.testing.assert_allclose(np.diag(s), 1.0, atol=1e-5)
    np.testing.assert_allclose(y, np_points_map(x, s), atol=1e-4)  # a linear map of the points
    off = s[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off) <= r + 1e-5)
    offdiag.append(off)
  offdiag = np.concatenate(offdiag)
  assert offdiag.min() < -0.3 and offdiag.max() > 0.3  # both signs, the whole range used


# ----------------------------------------------------------------------------------------------
# Rotation (`random_rotate`).


def _angles_from_matrix(r):
  """Inverts R = R_z(g) R_y(b) R_x(a) with the reference's conventions (checked by rebuilding R)."""
  b = np.arcsin(np.clip(r[2, 0], -1, 1))
  a = np.arctan2(-r[2, 1], r[2, 2])
  g = np.arctan2(-r[1, 0], r[0, 0])
  np.testing.assert_allclose(np_rotation(a, b, g), r, atol=1e-5)
  return np.array([a, b, g])


def test_rotate_with_angles_exact():
  angles = (0.3, -0.2, 0.5)
  x = _clip(10)
  got = ops.rotate_with_angles(jnp.asarray(x), jnp.asarray(angles, jnp.float32))
  np.testing.assert_allclose(np.asarray(got, np.float64), np_points_map(x, np_rotation(*angles)),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(np.asarray(ops.rotation_matrix(jnp.asarray(angles))),
                             np_rotation(*angles), atol=1e-6)


def test_rotate_single_axis_sign_convention():
  # R_z with angle 90 deg maps (1, 0, 0) to (c, -s, 0) = (0, -1, 0) (ref.: R_z = [[c,s,0],...]).
  x = jnp.zeros((1, 1, 1, 3)).at[..., 0].set(1.0)
  got = ops.rotate_with_angles(x, jnp.asarray([0.0, 0.0, np.pi / 2]))
  np.testing.assert_allclose(np.asarray(got).ravel(), [0.0, -1.0, 0.0], atol=1e-6)


def test_rotate_angles_within_spec_ranges():
  x = _clip(11, m=1, t=4, v=5)
  batch = jnp.broadcast_to(jnp.asarray(x), (48,) + x.shape)
  out = _run_batched(ops.rotate, jax.random.key(4), batch).astype(np.float64)
  main_axes = set()
  for y in out:
    r = lstsq_matrix(x, y)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)
    assert np.linalg.det(r) > 0
    deg = np.rad2deg(_angles_from_matrix(r))
    assert np.all(deg >= -1e-3) and np.all(deg <= 30 + 1e-3), deg
    assert np.sum(deg > 1 + 1e-3) <= 1, deg  # only the main axis may exceed 1 degree
    if deg.max() > 1.01:
      main_axes.add(int(np.argmax(deg)))
  assert main_axes == {0, 1, 2}


def test_rotate_keeps_bone_lengths():
  x = _clip(12, zero_second=False)
  child, parent = np.array(NTU.edges).T
  for key in _keys(3, seed=3):
    y = np.asarray(ops.rotate(key, jnp.asarray(x)), np.float64)
    before = np.linalg.norm(x[:, :, child] - x[:, :, parent], axis=-1)
    after = np.linalg.norm(y[:, :, child] - y[:, :, parent], axis=-1)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# Spatial flip (`random_spatial_flip`).


def test_spatial_flip_permutes_joints_without_mirroring():
  x = _clip(13)
  got = np.asarray(ops.spatial_flip(jax.random.key(0), jnp.asarray(x), PERM, p=1.0))
  np.testing.assert_array_equal(got, x[:, :, list(PERM)])
  # Joint 4 (left shoulder) takes the old right shoulder (8) with unchanged coordinates.
  np.testing.assert_array_equal(got[:, :, 4], x[:, :, 8])


def test_spatial_flip_twice_is_identity():
  x = jnp.asarray(_clip(14))
  k1, k2 = _keys(2)
  twice = ops.spatial_flip(k2, ops.spatial_flip(k1, x, PERM, p=1.0), PERM, p=1.0)
  np.testing.assert_array_equal(np.asarray(twice), np.asarray(x))


def test_spatial_flip_rejects_bad_perm():
  x = jnp.asarray(_clip(15))
  with pytest.raises(ValueError, match="spatial_flip"):
    ops.spatial_flip(jax.random.key(0), x, skeletons.KINECT_V1_20.flip, p=1.0)
  with pytest.raises(ValueError, match="probability"):
    ops.spatial_flip(jax.random.key(0), x, PERM, p=1.5)


# ----------------------------------------------------------------------------------------------
# Gaussian noise (`gaus_noise`).


def test_gaussian_noise_statistics_and_absent_person():
  x = _clip(16, t=50, zero_second=True)
  y = np.asarray(ops.gaussian_noise(jax.random.key(0), jnp.asarray(x), std=0.01, p=1.0))
  noise = y.astype(np.float64) - x
  assert abs(noise.std() - 0.01) < 0.0005  # 7500 entries: sd of the estimate ~ 0.8e-4
  assert abs(noise.mean()) < 0.0005
  assert np.all(y[1] != 0.0), "the all-zero person must get noise too"


# ----------------------------------------------------------------------------------------------
# Gaussian blur (`gaus_filter`).


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("sigma", [0.1, 0.7, 2.0])
def test_blur_with_sigma_matches_numpy(sigma, normalize):
  x = _clip(17, t=24, v=4)
  got = ops.gaussian_blur_with_sigma(jnp.asarray(x), sigma, 15, normalize)
  np.testing.assert_allclose(np.asarray(got, np.float64), np_blur(x, sigma, 15, normalize),
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("normalize", [False, True])
def test_blur_gain_on_constant_signal(normalize):
  sigma, t_len, half = 2.0, 30, 7
  x = np.full((2, t_len, 3, 3), 0.5, np.float32)
  got = np.asarray(ops.gaussian_blur_with_sigma(jnp.asarray(x), sigma, 15, normalize))
  gain = np.exp(-np.arange(-half, half + 1) ** 2 / (2 * sigma**2)).sum()
  assert abs(gain - 5.0125) < 1e-3  # un-normalised kernel: sum(g) ~ 5.01 at sigma = 2
  want = 0.5 if normalize else 0.5 * gain
  np.testing.assert_allclose(got[:, half:t_len - half], want, rtol=1e-6)
  assert np.all(got[:, 0] < want - 1e-3)  # the zero padding loses mass at the ends


def test_blur_sigma_drawn_within_range():
  t_len = 31
  x = np.zeros((1, t_len, 1, 1), np.float32)
  x[0, t_len // 2] = 1.0  # an impulse: the output is the kernel itself
  batch = jnp.broadcast_to(jnp.asarray(x), (24,) + x.shape)
  out = _run_batched(ops.gaussian_blur, jax.random.key(2), batch, p=1.0)
  out = out.astype(np.float64)[:, 0, :, 0, 0]
  k = np.arange(t_len) - t_len // 2
  sigmas = []
  for row in out:
    assert row[t_len // 2] == pytest.approx(1.0)  # g_0 = 1: the kernel is not normalised
    sigma = np.sqrt(-1.0 / (2.0 * np.log(row[t_len // 2 + 1])))
    assert 0.1 - 1e-4 <= sigma <= 2.0 + 1e-4
    want = np.where(np.abs(k) <= 7, np.exp(-k**2 / (2 * sigma**2)), 0.0)
    np.testing.assert_allclose(row, want, rtol=1e-4, atol=1e-6)
    sigmas.append(sigma)
  assert min(sigmas) < 0.6 and max(sigmas) > 1.5


def test_blur_rejects_even_kernel():
  with pytest.raises(ValueError, match="odd"):
    ops.gaussian_blur(jax.random.key(0), jnp.zeros((1, 8, 2, 3)), kernel_size=14)


# ----------------------------------------------------------------------------------------------
# Axis mask and temporal flip (`axis_mask`, `random_time_flip`).


def test_axis_mask_zeroes_exactly_one_axis_everywhere():
  x = _clip(18)
  axes = set()
  for key in _keys(20, seed=6):
    y = np.asarray(ops.axis_mask(key, jnp.asarray(x), p=1.0))
    zeroed = [c for c in range(3) if np.all(y[..., c] == 0.0)]
    assert len(zeroed) == 1
    kept = [c for c in range(3) if c != zeroed[0]]
    np.testing.assert_array_equal(y[..., kept], x[..., kept])
    axes.add(zeroed[0])
  assert axes == {0, 1, 2}


def test_temporal_flip_exact_and_twice_identity():
  x = jnp.asarray(_clip(19))
  k1, k2 = _keys(2)
  once = ops.temporal_flip(k1, x, p=1.0)
  np.testing.assert_array_equal(np.asarray(once), np.asarray(x)[:, ::-1])
  np.testing.assert_array_equal(np.asarray(ops.temporal_flip(k2, once, p=1.0)), np.asarray(x))


# --- Nuisance-randomising ops of the small presets.


def test_view_rotate_with_angles_exact_and_orthogonal():
  x = jnp.asarray([[[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]]])  # [1, 1, 3, 3]
  # A quarter turn about the vertical axis: x -> -z, z -> x, y unchanged.
  out = np.asarray(ops.view_rotate_with_angles(x, jnp.asarray([0.0, np.pi / 2, 0.0])))
  np.testing.assert_allclose(out[0, 0], [[0, 0, -1], [0, 1, 0], [1, 0, 0]], atol=1e-7)
  # About x by a quarter turn: y -> z.
  out = np.asarray(ops.view_rotate_with_angles(x, jnp.asarray([np.pi / 2, 0.0, 0.0])))
  np.testing.assert_allclose(out[0, 0, 1], [0, 0, 1], atol=1e-7)


def test_view_rotate_keeps_bone_lengths_and_bounds_the_azimuth():
  layout = skeletons.get_layout("ntu25")
  x = jnp.asarray(_clip(2))
  parents = np.asarray(layout.parents)
  child = np.flatnonzero(parents >= 0)
  def bones(c):
    return np.linalg.norm(np.asarray(c)[..., child, :] - np.asarray(c)[..., parents[child], :], axis=-1)
  for seed in range(5):
    out = ops.view_rotate(jax.random.key(seed), x, max_deg_y=60.0, max_deg_xz=0.0)
    np.testing.assert_allclose(bones(out), bones(x), rtol=1e-5, atol=1e-6)
    # With no tilt the vertical coordinate is untouched and the azimuth change is <= 60 deg.
    np.testing.assert_allclose(np.asarray(out)[..., 1], np.asarray(x)[..., 1], atol=1e-6)
    a, b = np.asarray(x)[0, 0, 3, [0, 2]], np.asarray(out)[0, 0, 3, [0, 2]]
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))) <= 60.0 + 1e-3


def test_random_scale_scales_each_axis_within_bounds():
  x = jnp.ones((1, 4, 3, 3), jnp.float32)
  out = np.asarray(ops.random_scale(jax.random.key(0), x, low=0.8, high=1.2))
  factors = out[0, 0, 0]
  np.testing.assert_allclose(out, np.broadcast_to(factors, out.shape))
  assert np.all((factors >= 0.8) & (factors <= 1.2)) and len(set(factors.tolist())) == 3
  with pytest.raises(ValueError, match="0 < low <= high"):
    ops.random_scale(jax.random.key(0), x, low=0.0, high=1.0)


def test_crop_resize_with_window_interpolates_linearly():
  t = np.arange(5, dtype=np.float32)
  x = jnp.asarray(np.broadcast_to(t[None, :, None, None] ** 2, (1, 5, 2, 3)))
  # The full window is the identity.
  np.testing.assert_allclose(np.asarray(ops.crop_resize_with_window(x, 0.0, 5.0)),
                             np.asarray(x), atol=1e-6)
  # Window [1, 3): output frame i reads time 1 + i * 1 / 4, interpolated between squares.
  out = np.asarray(ops.crop_resize_with_window(x, 1.0, 2.0))[0, :, 0, 0]
  times = 1.0 + np.arange(5) * 0.25
  lo = np.floor(times)
  expected = lo ** 2 * (1 - (times - lo)) + np.minimum(lo + 1, 4) ** 2 * (times - lo)
  np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_crop_resize_stays_inside_the_clip():
  x = jnp.asarray(np.broadcast_to(np.arange(32, dtype=np.float32)[None, :, None, None],
                                  (1, 32, 1, 1)))
  for seed in range(10):
    out = np.asarray(ops.crop_resize(jax.random.key(seed), x, min_ratio=0.5))[0, :, 0, 0]
    assert out.min() >= 0 and out.max() <= 31 and np.all(np.diff(out) >= 0)
    assert out[-1] - out[0] >= 0.5 * 32 - 1 - 1e-4  # at least the shortest window


def test_view_rotate_and_random_scale_carry_a_score_channel():
  x = jnp.asarray(np.random.default_rng(0).normal(size=(1, 4, 17, 3)), jnp.float32)
  for out in (ops.view_rotate(jax.random.key(1), x, coords=2),
              ops.random_scale(jax.random.key(1), x, coords=2)):
    np.testing.assert_array_equal(np.asarray(out)[..., 2], np.asarray(x)[..., 2])
    assert not np.allclose(np.asarray(out)[..., :2], np.asarray(x)[..., :2])
