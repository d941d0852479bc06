"""Tests of skel_jax.data.preprocess against hand values and loop-based float64 references.

The references below are written directly from the reference's step B (CrosSCLR
feeder/NTUDatasets.py), frame by frame and joint by joint, independently of the vectorised
implementation.
"""

import math

import numpy as np
import pytest

from skel_jax.data import preprocess
from skel_jax.data.preprocess import DataError
from skel_jax.data.skeletons import get_layout

NTU = get_layout("ntu25")


def _ref_resize(seq, length, t_out):
  """Loop reference of OpenCV INTER_LINEAR along time; seq is [T, ...]."""
  out = []
  for d in range(t_out):
    src = (d + 0.5) * length / t_out - 0.5
    src = min(max(src, 0.0), length - 1)
    i0 = math.floor(src)
    i1 = min(i0 + 1, length - 1)
    w = src - i0
    out.append((1 - w) * seq[i0].astype(np.float64) + w * seq[i1].astype(np.float64))
  return np.stack(out)


def _ref_rotate_person(seq, a, b):
  """Loop reference of `parallel_skeleton` for one person; seq is [T, V, 3]."""
  thetas = []
  sum_z = 0.0
  for t in range(seq.shape[0]):
    u = seq[t, b].astype(np.float64) - seq[t, a]
    u[1] = 0.0
    sum_z += u[2]
    thetas.append(math.acos(u[0] / (math.sqrt(u[0] ** 2 + u[2] ** 2) + 1e-4)))
  if sum_z >= 0:
    thetas = [-th for th in thetas]
  out = np.zeros(seq.shape, np.float64)
  for t, th in enumerate(thetas):
    rot = np.array([[math.cos(th), 0, -math.sin(th)], [0, 1, 0], [math.sin(th), 0, math.cos(th)]])
    for v in range(seq.shape[1]):
      out[t, v] = rot @ seq[t, v].astype(np.float64)
  return out


def _random_clip(rng, m=2, t=12, v=25, valid=(12, 12)):
  clip = rng.normal(size=(m, t, v, 3)).astype(np.float32)
  for p, n in enumerate(valid):
    clip[p, n:] = 0.0
  return clip


def test_valid_length_counts_frames_with_nonzero_first_joint():
  clip = np.zeros((2, 6, 4, 3), np.float32)
  clip[0, 0, 0] = [1, 2, 3]
  clip[0, 1, 0] = [0, 0, 5]  # only z non-zero still counts
  clip[0, 3, 0] = [1, 0, 0]  # frame 2 is a gap: the result is a count, not a last index
  clip[0, 4, 1] = [7, 7, 7]  # another joint does not count
  clip[1, :, 0] = 1.0  # person 1 does not count
  assert preprocess.valid_length(clip) == 3
  assert preprocess.valid_length(np.zeros((1, 5, 4, 3))) == 0


def test_center_clip_subtracts_centre_and_keeps_zeros():
  rng = np.random.default_rng(0)
  clip = _random_clip(rng, t=5, valid=(4, 0))  # frame 4 padded, person 1 absent
  out = preprocess.center_clip(clip, 20)
  assert out.dtype == np.float32
  np.testing.assert_allclose(out[0, :4], clip[0, :4] - clip[0, :4, 20:21], atol=1e-6)
  np.testing.assert_array_equal(out[0, :4, 20], 0.0)
  np.testing.assert_array_equal(out[0, 4], 0.0)
  np.testing.assert_array_equal(out[1], 0.0)


def test_resize_hand_values():
  seq = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)
  np.testing.assert_allclose(preprocess.resize_time(seq, 4, 2)[0, :, 0, 0], [0.5, 2.5])
  # Upsampling 2 -> 4: src = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1].
  seq2 = np.array([0.0, 1.0], np.float32).reshape(1, 2, 1, 1)
  np.testing.assert_allclose(preprocess.resize_time(seq2, 2, 4)[0, :, 0, 0],
                             [0.0, 0.25, 0.75, 1.0])
  # Identity when the length equals t_out; trailing padded frames are ignored.
  seq3 = np.array([3.0, 1.0, 4.0, 0.0, 0.0], np.float32).reshape(1, 5, 1, 1)
  np.testing.assert_allclose(preprocess.resize_time(seq3, 3, 3)[0, :, 0, 0], [3.0, 1.0, 4.0])


def test_resize_single_frame_is_repeated():
  clip = np.zeros((1, 3, 2, 3), np.float32)
  clip[0, 0] = [[1, 2, 3], [4, 5, 6]]
  out = preprocess.resize_time(clip, 1, 7)
  assert out.shape == (1, 7, 2, 3)
  np.testing.assert_array_equal(out, np.broadcast_to(clip[:, :1], (1, 7, 2, 3)))


@pytest.mark.parametrize("length,t_out", [(7, 50), (50, 50), (103, 50), (300, 64), (2, 3), (9, 4)])
def test_resize_matches_loop_reference(length, t_out):
  rng = np.random.default_rng(length * 1000 + t_out)
  clip = _random_clip(rng, t=max(length, 5) + 3, valid=(length, length))
  out = preprocess.resize_time(clip, length, t_out)
  for p in range(2):
    np.testing.assert_allclose(out[p], _ref_resize(clip[p], length, t_out), atol=1e-6)


def test_resize_rejects_bad_length():
  clip = np.ones((1, 4, 2, 3), np.float32)
  for length in (0, 5):
    with pytest.raises(DataError, match="length"):
      preprocess.resize_time(clip, length, 3)


def test_rotation_matches_loop_reference_including_mixed_signs():
  rng = np.random.default_rng(1)
  clip = _random_clip(rng, t=9, valid=(9, 0))  # shoulder z signs differ between frames
  out = preprocess.rotate_view(clip, NTU.shoulders)
  a, b = NTU.shoulders
  np.testing.assert_allclose(out[0], _ref_rotate_person(clip[0], a, b), atol=1e-5)
  np.testing.assert_array_equal(out[1], 0.0)  # absent person stays zero


def _walking_person(num_frames, rng):
  """A person whose shoulder line turns about y but keeps one z sign."""
  base = rng.normal(size=(25, 3))
  frames = []
  for t in range(num_frames):
    yaw = 0.2 + 0.1 * t  # shoulder vector (cos, 0, -sin) rotated: z stays negative
    rot = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0,
                                                                   math.cos(yaw)]])
    pose = base.copy()
    pose[4] = [-0.2, 0.5, 0.0]
    pose[8] = [0.2, 0.5, 0.0]
    frames.append(pose @ rot.T + rng.normal(size=3))
  return np.stack(frames)


@pytest.mark.parametrize("flip_z", [False, True])
def test_rotation_aligns_shoulders_with_plus_x_and_keeps_bones(flip_z):
  rng = np.random.default_rng(2)
  person = _walking_person(10, rng)
  if flip_z:
    person[..., 2] *= -1  # the other sign of sum_t u_z
  clip = person[None].astype(np.float32)
  out = preprocess.rotate_view(clip, NTU.shoulders).astype(np.float64)
  u = out[0, :, 8] - out[0, :, 4]  # [T, 3]
  norm_xz = np.hypot(u[:, 0], u[:, 2])
  assert np.all(u[:, 0] > 0)
  # The 1e-4 added to |u| leaves a residual angle of about cot(angle) * 1e-4 / |u| (< 2e-3
  # rad here); without it the shoulder line would be exactly on +x.
  np.testing.assert_array_less(np.abs(np.arctan2(u[:, 2], u[:, 0])), 2e-3)
  np.testing.assert_allclose(u[:, 0], norm_xz, rtol=1e-5)
  parents = np.array(NTU.parents)
  bones_in = np.linalg.norm(clip[0] - clip[0][:, parents], axis=-1)
  bones_out = np.linalg.norm(out[0] - out[0][:, parents], axis=-1)
  np.testing.assert_allclose(bones_out, bones_in, atol=1e-5)
  np.testing.assert_allclose(out[0, ..., 1], clip[0, ..., 1], atol=1e-6)  # y untouched


def test_preprocess_clip_matches_composed_references():
  rng = np.random.default_rng(3)
  clip = _random_clip(rng, t=40, valid=(31, 20))
  out = preprocess.preprocess_clip(clip, "ntu25", 50, name="s")
  assert out.shape == (2, 50, 25, 3) and out.dtype == np.float32
  a, b = NTU.shoulders
  for p in range(2):
    centred = clip[p].astype(np.float64) - clip[p][:, 20:21]
    resized = _ref_resize(centred, 31, 50)  # L comes from person 0 for both persons
    np.testing.assert_allclose(out[p], _ref_rotate_person(resized, a, b), atol=1e-5)
  no_rot = preprocess.preprocess_clip(clip, NTU, 50, view_normalize=False)
  ref0 = _ref_resize(clip[0].astype(np.float64) - clip[0][:, 20:21], 31, 50)
  np.testing.assert_allclose(no_rot[0], ref0, atol=1e-5)


def test_preprocess_clip_errors_name_the_sample():
  ok = np.ones((1, 4, 25, 3), np.float32)
  with pytest.raises(DataError, match="clipA: no valid frame"):
    preprocess.preprocess_clip(np.zeros_like(ok), "ntu25", 8, name="clipA")
  bad = ok.copy()
  bad[0, 2, 3, 1] = np.nan
  with pytest.raises(DataError, match=r"clipB: non-finite.*\(0, 2, 3, 1\)"):
    preprocess.preprocess_clip(bad, "ntu25", 8, name="clipB")
  with pytest.raises(DataError, match="clipC: 20 joints"):
    preprocess.preprocess_clip(np.ones((1, 4, 20, 3)), "ntu25", 8, name="clipC")
  with pytest.raises(DataError, match=r"\[M, T, V, C\]"):
    preprocess.preprocess_clip(np.ones((4, 25, 3)), "ntu25", 8)
