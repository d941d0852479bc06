"""Tests for skel_jax.data.streams: joint / motion / bone against the reference formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.data import streams
from skel_jax.data.skeletons import get_layout

# The reference's 25 (v, parent(v)) of NTU, 1-based, written out independently of skeletons.py.
NTU_PAIRS_1B = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
                (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
                (18, 17), (19, 18), (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12)]
# Kinect v1 (NW-UCLA meta.json bones), 0-based (child, parent), rooted at the hip centre.
KINECT_V1_PAIRS = [(0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 4), (6, 5), (7, 6), (8, 2), (9, 8),
                   (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16),
                   (18, 17), (19, 18)]
LAYOUT_PAIRS = {
    "ntu25": [(v - 1, p - 1) for v, p in NTU_PAIRS_1B],
    "kinect_v1_20": KINECT_V1_PAIRS,
}


def _clip(shape, seed=0):
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _motion_reference(x):
  """m[t] = x[t+1] - x[t] for t < T-1, m[T-1] = 0 (time axis -3), in float64."""
  x = np.asarray(x, np.float64)
  out = np.zeros_like(x)
  for t in range(x.shape[-3] - 1):
    out[..., t, :, :] = x[..., t + 1, :, :] - x[..., t, :, :]
  return out


def _bone_reference(x, pairs):
  """b[v] = x[v] - x[parent(v)] for the listed pairs (joint axis -2), in float64."""
  x = np.asarray(x, np.float64)
  out = np.zeros_like(x)
  for v, p in pairs:
    out[..., v, :] = x[..., v, :] - x[..., p, :]
  return out


@pytest.mark.parametrize("layout", ["ntu25", "kinect_v1_20"])
def test_motion_and_bone_match_spec_formulas(layout):
  v = get_layout(layout).num_joints
  x = _clip((3, 2, 7, v, 3))  # [N, M, T, V, C]
  np.testing.assert_allclose(streams.to_stream(x, "motion", layout), _motion_reference(x),
                             atol=1e-6)
  np.testing.assert_allclose(streams.to_stream(x, "bone", layout),
                             _bone_reference(x, LAYOUT_PAIRS[layout]), atol=1e-6)
  np.testing.assert_array_equal(streams.to_stream(x, "joint", layout), x)


def test_ntu_root_bone_and_last_motion_frame_are_zero():
  x = _clip((2, 5, 25, 3)) + 1.0
  b = streams.to_stream(x, "bone", "ntu25")
  m = streams.to_stream(x, "motion", "ntu25")
  np.testing.assert_array_equal(b[..., 20, :], 0.0)  # joint 21 is its own parent
  assert np.all(b[..., :20, :] != 0.0)
  np.testing.assert_array_equal(m[..., -1, :, :], 0.0)


def test_hand_computed_values():
  # Two frames, kinect_v1_20 zeros except joints 0 and 1: bone of 1 is x1 - x0.
  x = np.zeros((2, 20, 3), np.float32)
  x[0, 0], x[0, 1] = (1.0, 2.0, 3.0), (1.5, 2.5, 2.0)
  x[1, 0], x[1, 1] = (1.0, 2.0, 4.0), (2.0, 2.0, 2.0)
  b = streams.to_stream(x, "bone", "kinect_v1_20")
  np.testing.assert_allclose(b[0, 1], [0.5, 0.5, -1.0])
  np.testing.assert_allclose(b[1, 1], [1.0, 0.0, -2.0])
  np.testing.assert_allclose(b[:, 2], -x[:, 1])  # joint 2's parent is 1
  m = streams.to_stream(x, "motion", "kinect_v1_20")
  np.testing.assert_allclose(m[0, 0], [0.0, 0.0, 1.0])
  np.testing.assert_allclose(m[0, 1], [0.5, -0.5, 0.0])
  np.testing.assert_array_equal(m[1], 0.0)


@pytest.mark.parametrize("shape", [(6, 25, 3), (2, 2, 6, 25, 3), (3, 2, 2, 6, 25, 3)])
@pytest.mark.parametrize("stream", streams.STREAMS)
def test_any_leading_dims_numpy_and_jax(shape, stream):
  x = _clip(shape, seed=1)
  expected = {"joint": np.asarray(x, np.float64), "motion": _motion_reference(x),
              "bone": _bone_reference(x, LAYOUT_PAIRS["ntu25"])}[stream]
  out_np = streams.to_stream(x, stream, "ntu25")
  assert isinstance(out_np, np.ndarray) and out_np.shape == shape and out_np.dtype == np.float32
  np.testing.assert_allclose(out_np, expected, atol=1e-6)
  out_jax = streams.to_stream(jnp.asarray(x), stream, get_layout("ntu25"))
  assert isinstance(out_jax, jax.Array) and out_jax.shape == shape
  assert out_jax.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(out_jax), expected, atol=1e-6)


@pytest.mark.parametrize("stream", streams.STREAMS)
def test_jit_equals_eager(stream):
  x = jnp.asarray(_clip((2, 2, 8, 25, 3), seed=2))
  jitted = jax.jit(lambda a: streams.to_stream(a, stream, "ntu25"))
  np.testing.assert_allclose(np.asarray(jitted(x)),
                             np.asarray(streams.to_stream(x, stream, "ntu25")), atol=1e-6)


def test_bone_is_translation_invariant_and_motion_ignores_constant_offsets():
  x = _clip((4, 25, 3), seed=3)
  shift = np.array([0.3, -1.0, 2.5], np.float32)
  np.testing.assert_allclose(streams.to_stream(x + shift, "bone", "ntu25"),
                             streams.to_stream(x, "bone", "ntu25"), atol=1e-5)
  np.testing.assert_allclose(streams.to_stream(x + shift, "motion", "ntu25"),
                             streams.to_stream(x, "motion", "ntu25"), atol=1e-5)


def test_single_frame_motion_is_zero():
  x = _clip((1, 25, 3))
  np.testing.assert_array_equal(streams.to_stream(x, "motion", "ntu25"), 0.0)


def test_unknown_stream_lists_known_ones():
  with pytest.raises(ValueError, match=r"unknown input stream 'velocity'.*joint.*motion.*bone"):
    streams.to_stream(_clip((4, 25, 3)), "velocity", "ntu25")


def test_wrong_joint_count_is_reported():
  with pytest.raises(ValueError, match=r"V = 20 joints of layout 'kinect_v1_20'.*\(4, 25, 3\)"):
    streams.to_stream(_clip((4, 25, 3)), "bone", "kinect_v1_20")
  with pytest.raises(ValueError, match=r"\[\.\.\., T, V, C\]"):
    streams.to_stream(_clip((25, 3)), "joint", "ntu25")
