"""Augmentation and mixing parity with the official code, draws fixed.

The fixture (tests/fixtures/parity/augment/, made by experiments/parity_augment.py from the
official repositories; its README names the commits and the command) holds each official op's
input, its recorded random draws and its output. Every op here is skel_jax's deterministic
companion fed with those draws; outputs must agree to 1e-6 (relative to the output's scale).
"""

import math
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.augment import mixing, ops
from skel_jax.data import skeletons

FIXTURE = pathlib.Path(__file__).resolve().parent / "fixtures" / "parity" / "augment"
TOL = 1e-6
FLIP = skeletons.get_layout("ntu25").flip


@pytest.fixture(scope="module")
def fixture():
  with np.load(FIXTURE / "fixture.npz") as f:
    return {k: f[k] for k in f.files}


def cases(data, op):
  return sorted({int(k.split("/")[1]) for k in data if k.startswith(f"{op}/")})


def ours_clip(clip_ctvm):
  return jnp.asarray(np.asarray(clip_ctvm, np.float32).transpose(3, 1, 2, 0))  # [M, T, V, C]


def assert_equal_clip(ours, expected_ctvm):
  expected = np.asarray(expected_ctvm, np.float64).transpose(3, 1, 2, 0)
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(np.asarray(ours, np.float64), expected, rtol=0, atol=TOL * scale)


def shear_values(d):
  """The reference's two lists s1, s2 -> our (a, b, c, d, e, f) of [[1,a,b],[c,1,d],[e,f,1]]."""
  s1, s2 = d[0:3], d[3:6]
  return jnp.asarray([s1[0], s2[0], s1[1], s2[1], s1[2], s2[2]], jnp.float32)


def rotate_angles(d):
  """(main axis, three angles in degrees for x, y, z) -> radians."""
  return jnp.asarray([math.radians(a) for a in d[1:4]], jnp.float32)


class Draws:
  """Reads a case's scalar draws in call order."""

  def __init__(self, values):
    self.values, self.i = list(values), 0

  def take(self, n=1):
    out = self.values[self.i:self.i + n]
    self.i += n
    return out if n > 1 else out[0]


def extreme_chain(x, d: Draws, noise):
  """The AimCLR extreme view: crop, shear, flip, rotate, noise, blur, axis mask."""
  x = ops.temporal_shift_with_offset(x, int(d.take()), x.shape[1] // 6)
  x = ops.shear_with_values(x, shear_values(d.take(6)))
  x = ops.spatial_flip_with_draw(x, FLIP, d.take() < 0.5)
  x = ops.rotate_with_angles(x, rotate_angles(d.take(4)))
  apply_noise = d.take() < 0.5
  if apply_noise:
    x = ops.gaussian_noise_with_draws(x, jnp.asarray(noise.transpose(3, 1, 2, 0)), True)
  sigma, coin = d.take(2)
  x = ops.gaussian_blur_with_draws(x, sigma, coin < 0.5)
  if d.take() < 0.5:
    x = ops.axis_mask_with_draws(x, int(d.take()), True)
  assert d.i == len(d.values)
  return x


def test_parity_augment_fixture_covers_both_coin_outcomes(fixture):
  for op in ("spatial_flip", "gaussian_noise", "axis_mask", "temporal_flip"):
    coins = [fixture[f"{op}/{i}/draws"][0] < 0.5 for i in cases(fixture, op)]
    assert any(coins) and not all(coins), op
  blur = [fixture[f"gaussian_blur/{i}/draws"][1] < 0.5 for i in cases(fixture, "gaussian_blur")]
  assert any(blur) and not all(blur)


def test_parity_shear(fixture):
  for i in cases(fixture, "shear"):
    out = ops.shear_with_values(ours_clip(fixture["clip"]),
                                shear_values(fixture[f"shear/{i}/draws"]))
    assert_equal_clip(out, fixture[f"shear/{i}/out"])


def test_parity_temporal_crop_with_mirror_padding(fixture):
  x = ours_clip(fixture["clip"])
  offsets = set()
  for i in cases(fixture, "temporal_crop"):
    offset = int(fixture[f"temporal_crop/{i}/draws"][0])
    offsets.add(offset)
    out = ops.temporal_shift_with_offset(x, offset, x.shape[1] // 6)
    assert_equal_clip(out, fixture[f"temporal_crop/{i}/out"])
  assert len(offsets) > 1


def test_parity_spatial_flip(fixture):
  for i in cases(fixture, "spatial_flip"):
    flip = fixture[f"spatial_flip/{i}/draws"][0] < 0.5
    out = ops.spatial_flip_with_draw(ours_clip(fixture["clip"]), FLIP, flip)
    assert_equal_clip(out, fixture[f"spatial_flip/{i}/out"])


def test_parity_temporal_flip(fixture):
  for i in cases(fixture, "temporal_flip"):
    flip = fixture[f"temporal_flip/{i}/draws"][0] < 0.5
    out = ops.temporal_flip_with_draw(ours_clip(fixture["clip"]), flip)
    assert_equal_clip(out, fixture[f"temporal_flip/{i}/out"])


def test_parity_rotate(fixture):
  for i in cases(fixture, "rotate"):
    d = fixture[f"rotate/{i}/draws"]
    out = ops.rotate_with_angles(ours_clip(fixture["clip"]), rotate_angles(d))
    assert_equal_clip(out, fixture[f"rotate/{i}/out"])


def test_parity_gaussian_noise(fixture):
  for i in cases(fixture, "gaussian_noise"):
    apply = fixture[f"gaussian_noise/{i}/draws"][0] < 0.5
    noise = fixture.get(f"gaussian_noise/{i}/noise")
    assert (noise is not None) == apply
    noise = np.zeros_like(fixture["clip"]) if noise is None else noise
    out = ops.gaussian_noise_with_draws(ours_clip(fixture["clip"]),
                                        jnp.asarray(noise.transpose(3, 1, 2, 0)), apply)
    assert_equal_clip(out, fixture[f"gaussian_noise/{i}/out"])


def test_parity_gaussian_blur_unnormalised_kernel(fixture):
  for i in cases(fixture, "gaussian_blur"):
    sigma, coin = fixture[f"gaussian_blur/{i}/draws"]
    out = ops.gaussian_blur_with_draws(ours_clip(fixture["clip"]), sigma, coin < 0.5)
    assert_equal_clip(out, fixture[f"gaussian_blur/{i}/out"])


def test_parity_axis_mask(fixture):
  for i in cases(fixture, "axis_mask"):
    d = fixture[f"axis_mask/{i}/draws"]
    apply = d[0] < 0.5
    out = ops.axis_mask_with_draws(ours_clip(fixture["clip"]), int(d[1]) if apply else 0, apply)
    assert_equal_clip(out, fixture[f"axis_mask/{i}/out"])


def test_parity_extreme_chain(fixture):
  for i in cases(fixture, "extreme"):
    out = extreme_chain(ours_clip(fixture["clip"]), Draws(fixture[f"extreme/{i}/draws"]),
                        fixture.get(f"extreme/{i}/noise"))
    assert_equal_clip(out, fixture[f"extreme/{i}/out"])


@pytest.mark.parametrize("op,frames,start_rule", [("skelemix", 16, "floor"),
                                                  ("skeattn_mix", 18, "ceil")])
def test_parity_skelemix_trimming_and_feature_mask(fixture, op, frames, start_rule):
  batch = fixture["batch"][:, :, :frames]  # [N, C, T, V, M]
  x = jnp.asarray(batch.transpose(0, 4, 2, 3, 1))  # [N, M, T, V, C]
  past_end = []
  for i in cases(fixture, op):
    shift, _, length, start = (int(v) for v in fixture[f"{op}/{i}/draws"])
    past_end.append(4 * (start + length) > frames)
    joints = np.zeros(25, np.float32)
    joints[fixture[f"{op}/{i}/joints"]] = 1.0
    # The segment start's range follows the repository's rule (floor or ceil of T / 4).
    assert start <= mixing.segment_grid(frames, 4, start_rule) - length
    mix = mixing.skelemix_with_draws(x, shift, joints, start, length)
    np.testing.assert_array_equal(mix.partner, fixture[f"{op}/{i}/partner"])
    expected = fixture[f"{op}/{i}/out"].transpose(0, 4, 2, 3, 1)
    np.testing.assert_allclose(mix.mixed, expected, rtol=0, atol=TOL)
    np.testing.assert_array_equal(mixing.feature_mask(mix.region), fixture[f"{op}/{i}/mask"])
  # SkeAttnCLR's ceil rule lets a segment run past the last frame: one case is cut there.
  assert any(past_end) == (start_rule == "ceil")
