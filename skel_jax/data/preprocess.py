"""The reference preprocessing of one clip (its "step B"; docs/datasets.md).

Every function takes one clip `[M, T, V, C]` (persons, frames, joints, xyz) as a numpy array
and returns float32. Computation runs in float64 and is cast once at the end, so composing the
public functions through `preprocess_clip` rounds only once.

Step B is CrosSCLR (LinguoLi/CrosSCLR) feeder/preprocess_ntu.py, which runs
feeder/NTUDatasets.py `NTUMotionProcessor.__getitem__` (`parallel_skeleton` for the
rotation) on the step-A arrays; in order:

1. `valid_length`: L = number of frames where person 0's first joint is non-zero (a count,
   not the index of the last valid frame; a zero frame in the middle therefore shortens the
   clip from the end, as in the reference). `preprocess_clip` counts the frames where any
   joint of person 0 is non-zero, which does not depend on the joint order and equals the
   reference's count on sensor data (a body's joints are all present or all absent).
2. `center_clip`: subtract the centre joint per frame and person.
3. `resize_time`: bilinear resize of frames `[0, L)` to `t_out` frames (OpenCV INTER_LINEAR
   half-pixel rule, no anti-aliasing).
4. `rotate_view`: per-frame, per-person rotation about y that turns the shoulder line to +x.
"""

from __future__ import annotations

import numpy as np

from skel_jax.data.errors import DataError
from skel_jax.data.skeletons import SkeletonLayout, get_layout

__all__ = ["DataError", "center_clip", "preprocess_clip", "resize_source_positions",
           "resize_time", "rotate_view", "valid_length", "view_angles"]

# Added to the norm of the shoulder vector before the arccos (`parallel_skeleton`).
_ROTATION_EPS = 1e-4


def _where(name: str) -> str:
  return f"{name}: " if name else ""


def _check_clip(clip: np.ndarray, name: str = "") -> np.ndarray:
  clip = np.asarray(clip)
  if clip.ndim != 4:
    raise DataError(f"{_where(name)}a clip must be [M, T, V, C], got shape {clip.shape}")
  return clip


def valid_length(clip: np.ndarray, joint: int | None = 0) -> int:
  """Number of frames where person 0's first joint is non-zero (`NTUMotionProcessor.get_length`).

  A joint counts as non-zero when any of its coordinates is non-zero. This is a count of
  frames, not the index of the last valid frame.

  Args:
    clip: `[M, T, V, C]` array.
    joint: the joint checked (the reference: 0); None counts the frames where any joint of
      person 0 is non-zero (independent of the joint order).

  Returns:
    The count L (0 when the checked joint(s) of person 0 are zero in every frame).
  """
  clip = _check_clip(clip)
  person = clip[0] if joint is None else clip[0, :, joint:joint + 1]  # [T, V or 1, C]
  return int(np.count_nonzero(np.any(person != 0, axis=(-2, -1))))


def _center(x: np.ndarray, center: int) -> np.ndarray:
  # [M, T, V, C] - [M, T, 1, C]. A zero person-frame has a zero centre, so it stays zero.
  return x - x[:, :, center:center + 1, :]


def center_clip(clip: np.ndarray, center: int) -> np.ndarray:
  """Subtracts the centre joint from every joint, per frame and person (step B item 2).

  Absent persons and padded frames (all zero) stay zero, since their centre is zero too.

  Args:
    clip: `[M, T, V, C]` array.
    center: 0-based index of the centre joint.

  Returns:
    float32 `[M, T, V, C]`.
  """
  clip = _check_clip(clip)
  if not 0 <= center < clip.shape[2]:
    raise DataError(f"centre joint {center} out of range for {clip.shape[2]} joints")
  return _center(clip.astype(np.float64), center).astype(np.float32)


def resize_source_positions(length: int, t_out: int) -> np.ndarray:
  """Source positions of OpenCV's INTER_LINEAR half-pixel rule along time.

  `src = (dst + 0.5) * length / t_out - 0.5`, clamped to `[0, length - 1]`.

  Args:
    length: number of input frames (>= 1).
    t_out: number of output frames (>= 1).

  Returns:
    float64 `[t_out]` fractional source frame indices.
  """
  dst = np.arange(t_out, dtype=np.float64)
  src = (dst + 0.5) * (length / t_out) - 0.5
  return np.clip(src, 0.0, length - 1)


def _resize(x: np.ndarray, length: int, t_out: int) -> np.ndarray:
  src = resize_source_positions(length, t_out)
  lo = np.floor(src).astype(np.int64)
  hi = np.minimum(lo + 1, length - 1)
  w = (src - lo)[None, :, None, None]  # [1, T_out, 1, 1]
  return x[:, lo] * (1.0 - w) + x[:, hi] * w


def resize_time(clip: np.ndarray, length: int, t_out: int) -> np.ndarray:
  """Bilinear resize of frames `[0, length)` to `t_out` frames (`real_resize`).

  Only the time axis changes. Uses OpenCV's half-pixel mapping and no anti-aliasing, so a
  downsampled frame interpolates between the two nearest source frames. A clip of one frame
  is repeated.

  Args:
    clip: `[M, T, V, C]` array.
    length: number of leading frames to use, `1 <= length <= T`.
    t_out: number of output frames.

  Returns:
    float32 `[M, t_out, V, C]`.

  Raises:
    DataError: when `length` or `t_out` is out of range.
  """
  clip = _check_clip(clip)
  if not 1 <= length <= clip.shape[1]:
    raise DataError(f"resize length {length} out of range 1..{clip.shape[1]}")
  if t_out < 1:
    raise DataError(f"t_out must be >= 1, got {t_out}")
  return _resize(clip.astype(np.float64), int(length), int(t_out)).astype(np.float32)


def view_angles(clip: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
  """Per-frame, per-person rotation angles of the view normalisation (`parallel_skeleton`).

  `u = p[b] - p[a]` with its y component zeroed, `theta = arccos(u_x / (|u| + 1e-4))`, and
  every theta of a person negated when that person's `sum_t u_z >= 0` (one sign per person
  and sequence; the reference loops over persons).

  Args:
    clip: `[M, T, V, 3]` array.
    shoulders: joints (a, b).

  Returns:
    float64 `[M, T]` angles in radians.
  """
  a, b = shoulders
  u = clip[:, :, b, :].astype(np.float64) - clip[:, :, a, :]  # [M, T, 3]
  u[..., 1] = 0.0
  norm = np.sqrt(np.sum(u * u, axis=-1))  # [M, T]
  theta = np.arccos(u[..., 0] / (norm + _ROTATION_EPS))
  sign = np.where(np.sum(u[..., 2], axis=1) >= 0, -1.0, 1.0)  # [M]
  return theta * sign[:, None]


def _rotate(x: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
  theta = view_angles(x, shoulders)[:, :, None]  # [M, T, 1]
  c, s = np.cos(theta), np.sin(theta)
  px, py, pz = x[..., 0], x[..., 1], x[..., 2]  # [M, T, V] each
  # R_y(theta) = [[c, 0, -s], [0, 1, 0], [s, 0, c]] applied to column vectors.
  return np.stack([c * px - s * pz, py, s * px + c * pz], axis=-1)


def rotate_view(clip: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
  """Rotates every frame of every person about y so the shoulder line points to +x.

  As `parallel_skeleton`; see `view_angles` for the angle and its per-sequence sign. An all-zero
  person (or frame) stays zero. Frames whose shoulder vector has a z component of the other
  sign than the sequence sum end up mirrored about x, as in the reference.

  Args:
    clip: `[M, T, V, 3]` array.
    shoulders: joints (a, b) whose difference `p[b] - p[a]` is turned to +x.

  Returns:
    float32 `[M, T, V, 3]`.
  """
  clip = _check_clip(clip)
  if clip.shape[-1] != 3:
    raise DataError(f"view rotation needs xyz coordinates, got {clip.shape[-1]} channels")
  return _rotate(clip.astype(np.float64), tuple(shoulders)).astype(np.float32)


def preprocess_clip(
    clip: np.ndarray,
    layout: SkeletonLayout | str,
    t_out: int,
    *,
    view_normalize: bool = True,
    name: str = "",
) -> np.ndarray:
  """Step B on one clip: valid length, centre, resize to `t_out`, y-rotation.

  Args:
    clip: `[M, T, V, 3]` raw coordinates, zero-padded (absent persons and frames are zero).
    layout: skeleton layout (or its name); gives the centre joint and the shoulders.
    t_out: number of output frames.
    view_normalize: apply the per-frame rotation (`rotate_view`). Skipped when the layout has no
      shoulders.
    name: sample name for error messages.

  Returns:
    float32 `[M, t_out, V, 3]`; every frame is valid (no padding).

  Raises:
    DataError: wrong shape or joint count, non-finite values, or no valid frame.
  """
  layout = get_layout(layout)
  clip = _check_clip(clip, name)
  _, t, v, c = clip.shape
  if v != layout.num_joints:
    raise DataError(
        f"{_where(name)}{v} joints, but layout {layout.name!r} has {layout.num_joints}")
  if c != 3:
    raise DataError(f"{_where(name)}expected 3 coordinates per joint, got {c}")
  if clip.dtype.kind not in "iuf":
    raise DataError(f"{_where(name)}coordinates must be numbers, got dtype {clip.dtype}")
  if not np.all(np.isfinite(clip)):
    bad = np.argwhere(~np.isfinite(clip))[0]
    raise DataError(f"{_where(name)}non-finite coordinate at (person, frame, joint, axis) "
                    f"{tuple(int(i) for i in bad)}")
  length = valid_length(clip, joint=None)  # the layout's joint order does not matter
  if length == 0:
    raise DataError(f"{_where(name)}no valid frame: person 0 is all zero in all "
                    f"{t} frames")
  # Only frames [0, L) enter the resize, so the rest need not be centred. A coordinate that is
  # finite in float64 can still overflow here or in the float32 cast (1e300 -> inf); such
  # clips are rejected below rather than warned about.
  with np.errstate(over="ignore", invalid="ignore"):
    x = _center(clip[:, :length].astype(np.float64), layout.center)
    x = _resize(x, length, int(t_out))
    if view_normalize and layout.shoulders is not None:
      x = _rotate(x, layout.shoulders)
    out = x.astype(np.float32)
  if not np.all(np.isfinite(out)):
    raise DataError(f"{_where(name)}coordinates too large: the preprocessed clip does not fit "
                    f"float32 (largest input magnitude {float(np.max(np.abs(clip))):.3g})")
  return out


# ---------------------------------------------------------------------------------------------
# Any skeleton: the preprocessing of `python -m skel_jax.prepare custom` (skel_jax/data/custom.py).


def valid_span(clip: np.ndarray) -> tuple[int, int]:
  """`(first, end)`: the frames from the first to the last one where any value is non-zero.

  Unlike `valid_length` (the reference's rule: a count of the frames where person 0's first
  joint is non-zero) this does not depend on the joint order, keeps all-zero frames inside the
  clip (a dropped detection) in place, and accepts clips already centred on a joint.

  Args:
    clip: `[M, T, V, C]` array.

  Returns:
    `(first, end)` with `end` exclusive; `(0, 0)` for an all-zero clip.
  """
  clip = _check_clip(clip)
  frames = np.flatnonzero(np.any(clip != 0, axis=(0, 2, 3)))
  if not frames.size:
    return 0, 0
  return int(frames[0]), int(frames[-1]) + 1


def prepare_clip(
    clip: np.ndarray,
    layout: SkeletonLayout | str,
    t_out: int,
    *,
    center: bool = True,
    view_normalize: bool = False,
    name: str = "",
) -> np.ndarray:
  """Preprocesses one clip of any layout: valid span, centre, resize to `t_out`, view rotation.

  Every step reads the layout: the channels it names (only the leading x, y[, z] are moved;
  a score or visibility channel is carried), its centre joint, its shoulder pair. Nothing
  depends on the joint order, so permuting the joints of a clip and of its layout permutes
  the output.

  Args:
    clip: `[M, T, V, C]` coordinates with C = the layout's channels; absent persons and
      frames are all zero.
    layout: skeleton layout (or its name / file).
    t_out: frames of the output.
    center: subtract the centre joint's coordinates per frame and person.
    view_normalize: the per-frame rotation about y that turns the shoulder line to +x (3D
      layouts with shoulders only; an error otherwise).
    name: clip name for error messages.

  Returns:
    float32 `[M, t_out, V, C]`.

  Raises:
    DataError: wrong shape, joint or channel count, non-finite values, an all-zero clip, or a
      view rotation the layout cannot do.
  """
  layout = get_layout(layout)
  clip = _check_clip(clip, name)
  _, _, v, c = clip.shape
  if v != layout.num_joints:
    raise DataError(
        f"{_where(name)}{v} joints, but layout {layout.name!r} has {layout.num_joints}")
  if c != len(layout.channels):
    raise DataError(f"{_where(name)}{c} channels, but layout {layout.name!r} names "
                    f"{len(layout.channels)}: {list(layout.channels)}")
  if not np.all(np.isfinite(clip)):
    bad = np.argwhere(~np.isfinite(clip))[0]
    raise DataError(f"{_where(name)}non-finite value at (person, frame, joint, channel) "
                    f"{tuple(int(i) for i in bad)}")
  first, end = valid_span(clip)
  if end == 0:
    raise DataError(f"{_where(name)}all values are zero: no valid frame")
  d = layout.num_coords
  x = clip[:, first:end].astype(np.float64)
  if center:
    x[..., :d] = _center(x[..., :d], layout.center)
  if view_normalize and (d != 3 or layout.shoulders is None):
    raise DataError(f"{_where(name)}view normalisation needs 3D coordinates and a shoulder "
                    f"pair; layout {layout.name!r} has channels {list(layout.channels)} "
                    f"and shoulders {layout.shoulders}")
  with np.errstate(over="ignore", invalid="ignore"):
    x = _resize(x, end - first, int(t_out))
    if view_normalize:
      x[..., :3] = _rotate(x[..., :3], layout.shoulders)
    out = x.astype(np.float32)
  if not np.all(np.isfinite(out)):
    raise DataError(f"{_where(name)}values too large: the preprocessed clip does not fit "
                    f"float32 (largest input magnitude {float(np.max(np.abs(clip))):.3g})")
  return out
