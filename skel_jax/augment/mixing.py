"""SkeleMix: spatio-temporal body-part mixing of a batch, and its feature-resolution mask.

Official code: SkeleMixCLR (czhaneva/SkeleMixCLR) net/skeletonclr_multi_swapv2.py
`SkeletonCLR.ske_swap` and SkeAttnCLR (GitHubOfHyl97/SkeAttnCLR) net/SkeAttnCLR.py
`SkeAttnMask.ske_swap`. One call mixes a whole batch `x` `[N, M, T, V, C]` with one set of
draws:

1. Partner: `n ~ U{1, ..., N-2}` and `pi(i) = (i + n) mod N` (a batch roll, never 0 and never
   N-1).
2. Joints S: `Cs ~ U{parts_range}` distinct body-part groups of the layout (`layout.parts`;
   semantic mode), or `Cj ~ U{random_joints_range}` distinct random joints (random mode).
3. Segment: `Ct ~ U{segments_range}` segments of `ratio` frames and a start
   `a ~ U{0, ..., G - Ct}` with the grid length `G = T // ratio` (start_rule 'floor',
   SkeleMixCLR) or `G = ceil(T / ratio)` ('ceil', SkeAttnCLR). Frames
   `[ratio * a, ratio * (a + Ct))`, clipped to `[0, T)`, are mixed.
4. Mix: `x~[i, :, frames, S, :] = x[pi(i), :, frames, S, :]`, both persons, the same S, a and
   Ct for the whole batch.

The donor region is returned at input resolution (`MixResult.region`, `[T, V]`);
`feature_mask` maps it to the encoder's feature grid through the encoder's total temporal
stride (the method passes it: augmentations do not know the network), which is
what the reference builds directly at `T/4` and which therefore needs `T` divisible by 4
(docs/fidelity.md). The rule used here (the centre rule, see `feature_mask`) equals the
reference's mask whenever the reference's is defined and works for any `T` (50 -> 13 rows).

Every draw is on the device from an explicit key; shapes never depend on the draws, so the
whole operation jit-compiles and vmaps over keys (`skelemix_repeats`: R independent mixes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.data import skeletons

# Feature-grid length of the reference input (64 frames / 4): the grid its segment ranges
# were written for (SkeleMixCLR's `ske_swap`).
REFERENCE_GRID = 16
SPATIAL_MODES = ("semantic", "random")
START_RULES = ("floor", "ceil")


class MixResult(NamedTuple):
  """The output of one SkeleMix call (a leading R axis on every field after vmap).

  Attributes:
    mixed: `[N, M, T, V, C]` the mixed batch (dtype of the input).
    partner: int32 `[N]` donor index `pi(i) = (i + n) mod N` of each row.
    region: float32 `[T, V]` 0/1 input-level mask of the pasted (donor) region.
    joints: float32 `[V]` 0/1 mask of the mixed joints S.
    start: int32 scalar, segment start `a` in units of `ratio` frames.
    length: int32 scalar, segment count `Ct` in units of `ratio` frames.
  """

  mixed: jax.Array
  partner: jax.Array
  region: jax.Array
  joints: jax.Array
  start: jax.Array
  length: jax.Array


def segment_grid(num_frames: int, ratio: int = 4, start_rule: str = "floor") -> int:
  """Number of `ratio`-frame segments a start may use: `T // ratio` or `ceil(T / ratio)`.

  Raises:
    ValueError: for an unknown start rule or a non-positive ratio.
  """
  if start_rule not in START_RULES:
    raise ValueError(f"unknown SkeleMix start_rule {start_rule!r}; known: {START_RULES}")
  if ratio < 1:
    raise ValueError(f"SkeleMix ratio must be >= 1, got {ratio}")
  return num_frames // ratio if start_rule == "floor" else -(-num_frames // ratio)


def fit_segments(segments_range: Sequence[int], num_frames: int, ratio: int = 4,
                 start_rule: str = "floor") -> tuple[int, int]:
  """A segment range that fits `T` frames: unchanged when it fits, else scaled to the grid.

  When `hi > G` (the grid of `segment_grid`), both ends are scaled by `G / 16` (16 = the grid
  of the reference's 64 frames): `lo' = max(1, floor(lo G / 16))`, `hi' = min(G, ceil(hi G /
  16))` (`scale_segments`). On grids of 12, 8 and 4 this maps (7, 11) to exactly the ranges
  the reference used for 48, 32 and 16 frames in its multi-resolution commits (5-9, 3-6, 1-3;
  SkeleMixCLR's history before commit e06bb79); at 48 or 50 frames (7, 11) fits and is kept.

  Args:
    segments_range: (lo, hi), both ends included.
    num_frames: T.
    ratio: frames per segment.
    start_rule: 'floor' or 'ceil' (see `segment_grid`).

  Returns:
    (lo, hi) with `1 <= lo <= hi <= G`.

  Raises:
    ValueError: for a malformed range or a clip shorter than one segment.
  """
  lo, hi = (int(s) for s in segments_range)
  if not 1 <= lo <= hi:
    raise ValueError(f"SkeleMix segments_range must satisfy 1 <= lo <= hi, got {segments_range}")
  grid = segment_grid(num_frames, ratio, start_rule)
  if grid < 1:
    raise ValueError(f"SkeleMix needs at least {ratio} frames per clip, got T = {num_frames}")
  if hi <= grid:
    return lo, hi
  return scale_segments((lo, hi), grid)


def scale_segments(segments_range: Sequence[int], grid: int) -> tuple[int, int]:
  """`(max(1, floor(lo G / 16)), min(G, ceil(hi G / 16)))`: a 16-segment range on a G grid."""
  lo, hi = (int(s) for s in segments_range)
  lo = max(1, math.floor(lo * grid / REFERENCE_GRID))
  hi = min(grid, max(lo, math.ceil(hi * grid / REFERENCE_GRID)))
  return lo, hi


def _randint(rng: jax.Array, lo, hi) -> jax.Array:
  """One int32 draw from `U{lo, ..., hi}` (both ends included)."""
  return jax.random.randint(rng, (), lo, hi + 1, dtype=jnp.int32)


def _random_subset(rng: jax.Array, size: int, count: jax.Array) -> jax.Array:
  """float32 `[size]` 0/1 indicator of a uniformly random subset of `count` elements."""
  rank = jnp.argsort(jnp.argsort(jax.random.uniform(rng, (size,))))  # a random permutation
  return (rank < count).astype(jnp.float32)


def draw_partner_shift(rng: jax.Array, batch: int) -> jax.Array:
  """`n ~ U{1, ..., N-2}` (the batch roll of `ske_swap`).

  Raises:
    ValueError: for a batch of fewer than 3 clips (the reference's draw is empty then).
  """
  if batch < 3:
    raise ValueError(f"SkeleMix needs a batch of at least 3 clips (partner shift n ~ U{{1..N-2}}),"
                     f" got N = {batch}")
  return _randint(rng, 1, batch - 2)


def draw_semantic_joints(rng: jax.Array, part_masks: np.ndarray,
                         parts_range: Sequence[int]) -> jax.Array:
  """Union of `Cs ~ U{parts_range}` distinct body-part groups, float32 `[V]` (semantic mode).

  The upper end is clipped to the number of groups P (at most every group).

  Raises:
    ValueError: when the lower end is below 1 or above P.
  """
  num_parts = part_masks.shape[0]
  lo, hi = int(parts_range[0]), min(int(parts_range[1]), num_parts)
  if not 1 <= lo <= hi:
    raise ValueError(f"SkeleMix parts_range {tuple(parts_range)} does not fit a layout with "
                     f"{num_parts} body-part groups")
  r_count, r_choice = jax.random.split(rng)
  chosen = _random_subset(r_choice, num_parts, _randint(r_count, lo, hi))  # [P]
  return jnp.minimum(chosen @ jnp.asarray(part_masks, jnp.float32), 1.0)  # [V]


def draw_random_joints(rng: jax.Array, num_joints: int,
                       joints_range: Sequence[int]) -> jax.Array:
  """`Cj ~ U{joints_range}` distinct random joints, float32 `[V]` (`ske_swap`'s 'random' mode).

  The upper end is clipped to V.

  Raises:
    ValueError: when the lower end is below 1 or above V.
  """
  lo, hi = int(joints_range[0]), min(int(joints_range[1]), num_joints)
  if not 1 <= lo <= hi:
    raise ValueError(f"SkeleMix random_joints_range {tuple(joints_range)} does not fit "
                     f"{num_joints} joints")
  r_count, r_choice = jax.random.split(rng)
  return _random_subset(r_choice, num_joints, _randint(r_count, lo, hi))


def draw_segment(rng: jax.Array, grid: int, segments_range: Sequence[int]):
  """`Ct ~ U{segments_range}`, `a ~ U{0, ..., grid - Ct}` (the segment draw); int32 scalars.

  Raises:
    ValueError: when the range does not fit the grid (use `fit_segments`).
  """
  lo, hi = int(segments_range[0]), int(segments_range[1])
  if not 1 <= lo <= hi <= grid:
    raise ValueError(f"SkeleMix segments_range {tuple(segments_range)} does not fit a grid of "
                     f"{grid} segments (need 1 <= lo <= hi <= {grid}); "
                     "skel_jax.augment.mixing.fit_segments scales it to the clip length")
  r_len, r_start = jax.random.split(rng)
  length = _randint(r_len, lo, hi)
  start = _randint(r_start, 0, grid - length)
  return start, length


def temporal_region(start, length, num_frames: int, ratio: int) -> jax.Array:
  """float32 `[T]` indicator of frames `[ratio * start, ratio * (start + length)) ∩ [0, T)`."""
  t = jnp.arange(num_frames)
  return ((t >= ratio * start) & (t < ratio * (start + length))).astype(jnp.float32)


def skelemix_with_draws(x: jax.Array, partner_shift, joints_mask, start, length,
                        ratio: int = 4) -> MixResult:
  """SkeleMix with given draws (steps 4-5 above); the deterministic core of `skelemix`.

  Args:
    x: `[N, M, T, V, C]` batch.
    partner_shift: the roll n (int scalar): row i receives from row `(i + n) mod N`.
    joints_mask: `[V]` 0/1 mask of the mixed joints.
    start: segment start a, in units of `ratio` frames.
    length: segment count Ct, in units of `ratio` frames.
    ratio: frames per segment (the encoder's total temporal stride).

  Returns:
    A MixResult.
  """
  n, _, t, _, _ = x.shape
  partner = (jnp.arange(n, dtype=jnp.int32) + jnp.asarray(partner_shift, jnp.int32)) % n  # [N]
  joints = jnp.asarray(joints_mask, jnp.float32)  # [V]
  region = temporal_region(start, length, t, ratio)[:, None] * joints[None, :]  # [T, V]
  donor = jnp.take(x, partner, axis=0)  # [N, M, T, V, C]
  mixed = jnp.where(region[None, None, :, :, None] > 0, donor, x)  # both persons
  return MixResult(mixed=mixed, partner=partner, region=region, joints=joints,
                   start=jnp.asarray(start, jnp.int32), length=jnp.asarray(length, jnp.int32))


def skelemix(rng: jax.Array, x: jax.Array, layout: skeletons.SkeletonLayout | str, *,
             parts_range: Sequence[int] = (2, 3), segments_range: Sequence[int] = (7, 11),
             ratio: int = 4, spatial_mode: str = "semantic",
             random_joints_range: Sequence[int] = (10, 15),
             start_rule: str = "floor") -> MixResult:
  """One SkeleMix of a whole batch (SkeleMixCLR's `ske_swap`; SkeAttnCLR's variant of it).

  Args:
    rng: JAX key for all draws.
    x: `[N, M, T, V, C]` batch (already in its input stream for SkeleMixCLR), N >= 3.
    layout: the skeleton layout; its `parts` are the body-part groups of the semantic mode.
    parts_range: (lo, hi) number of body-part groups, both included (SkeleMixCLR+ (2, 3),
      original SkeleMixCLR (1, 4), SkeAttnCLR (3, 4)); hi is clipped to the group count.
    segments_range: (lo, hi) number of `ratio`-frame segments, both included (SkeleMixCLR+
      (7, 11), original (1, 15), SkeAttnCLR (4, 7)); must fit the grid (`fit_segments`).
    ratio: frames per segment, the encoder's total temporal stride (4).
    spatial_mode: 'semantic' (body-part groups) or 'random' (random joints).
    random_joints_range: (lo, hi) joint count of the random mode (10, 15).
    start_rule: 'floor': `a ~ U{0..T//ratio - Ct}` (SkeleMixCLR); 'ceil':
      `a ~ U{0..ceil(T/ratio) - Ct}` (SkeAttnCLR). The region is clipped to T frames.

  Returns:
    A MixResult (mixed batch, partner indices, input-level region, joints, start, length).

  Raises:
    ValueError: for N < 3, an unknown mode or rule, or ranges that do not fit the layout or T.
  """
  layout = skeletons.get_layout(layout)
  n, _, t, v, _ = x.shape
  if v != layout.num_joints:
    raise ValueError(f"skelemix: clips have {v} joints but layout {layout.name!r} has "
                     f"{layout.num_joints}")
  if spatial_mode not in SPATIAL_MODES:
    raise ValueError(f"unknown SkeleMix spatial_mode {spatial_mode!r}; known: {SPATIAL_MODES}")
  grid = segment_grid(t, ratio, start_rule)
  r_shift, r_joints, r_segment = jax.random.split(rng, 3)
  shift = draw_partner_shift(r_shift, n)
  if spatial_mode == "semantic":
    joints = draw_semantic_joints(r_joints, layout.part_masks(), parts_range)
  else:
    joints = draw_random_joints(r_joints, v, random_joints_range)
  start, length = draw_segment(r_segment, grid, segments_range)
  return skelemix_with_draws(x, shift, joints, start, length, ratio)


def skelemix_repeats(rng: jax.Array, x: jax.Array, layout: skeletons.SkeletonLayout | str,
                     repeats: int, **kwargs) -> MixResult:
  """`repeats` independent SkeleMix calls on the same batch, vectorised (SkeleMixCLR+: 3).

  Args:
    rng: JAX key; split into one key per repeat.
    x: `[N, M, T, V, C]` batch.
    layout: the skeleton layout.
    repeats: R >= 1.
    **kwargs: the keyword arguments of `skelemix`.

  Returns:
    A MixResult whose fields have a leading `[R]` axis (mixed `[R, N, M, T, V, C]`).
  """
  if repeats < 1:
    raise ValueError(f"SkeleMix repeats must be >= 1, got {repeats}")
  layout = skeletons.get_layout(layout)
  keys = jax.random.split(rng, repeats)
  return jax.vmap(lambda key: skelemix(key, x, layout, **kwargs))(keys)


def skelemix_repeats_with_draws(x: jax.Array, shift, joints, start, length,
                                ratio: int = 4) -> MixResult:
  """R SkeleMix batches of `x` with given draws, each a leading `[R]` axis.

  The deterministic core of `skelemix_repeats`: shift, start and length are int `[R]`,
  joints `[R, V]` 0/1 (see `skelemix_with_draws`).
  """
  return jax.vmap(lambda s, j, a, c: skelemix_with_draws(x, s, j, a, c, ratio))(
      jnp.asarray(shift), jnp.asarray(joints), jnp.asarray(start), jnp.asarray(length))


def feature_mask(region: jax.Array, ratio: int = 4) -> jax.Array:
  """The feature-resolution mask `[..., T', V]` of an input-level region `[..., T, V]`.

  Rule (centre rule): with the encoder's total temporal stride `r = ratio`, feature frame t' is
  in the mask exactly when input frame `r * t'` is in the region. Every temporal convolution
  of the encoder has an odd kernel with `k // 2` zero padding (net/st_gcn.py), so output frame j
  of a stride-s layer is centred on its input frame `s * j`, and after the whole stack feature
  frame t' is centred on input frame `r * t'`: its receptive field is symmetric about that
  frame. Equivalently, t' covers input frames `[r t', r (t' + 1))` and is in the mask when the
  first of them is. Hence:

  * For a region on the r-frame grid, `[r a, r (a + Ct))`, the mask rows are exactly
    `[a, a + Ct)`, which is the reference's mask (built in `ske_swap`), for any T.
  * T' = `ceil(T / r)`, the encoder's feature length, so T = 50 gives 13 rows (the last
    covers input frames 48-49) where the reference's `T // 4 = 12` fails.
  * The receptive-field spill-over at the region edges is ignored, as in the reference.

  Args:
    region: `[..., T, V]` 0/1 input-level mask (leading axes, e.g. repeats, are kept).
    ratio: the encoder's total temporal stride, the product of its blocks' strides (the
      method passes its encoder's; 4 for the reference's ten blocks).

  Returns:
    `[..., T', V]` 0/1 mask, dtype of `region`.
  """
  r = int(ratio)
  # Nested floors compose, so the encoder's T' is ceil(T / r) for any stride sequence.
  return region[..., ::r, :]  # [..., ceil(T / r), V]
