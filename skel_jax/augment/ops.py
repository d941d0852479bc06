"""Per-example skeleton augmentations that run on the device inside jit.

Every op is a pure function ``op(rng, x, **kw) -> x`` of one clip ``x`` float32
``[M, T, V, C]`` (persons, frames, joints, xyz). The same transform is applied to every person
of the clip, as in the reference feeders. Keyword arguments are static Python values; all
randomness comes from ``rng`` and random choices never change an output shape. A coin
``uniform(key) < p`` picks between the transformed and the unchanged clip with ``jnp.where``
(never a Python ``if`` on a traced value), so ``p=0`` is the identity and ``p=1`` always applies.

The ops follow CrosSCLR (LinguoLi/CrosSCLR) feeder/tools.py (``temperal_crop``, ``shear``: the
"normal" augmentations) and AimCLR (Levigty/AimCLR) feeder/tools.py (the "extreme" ones:
``random_spatial_flip``, ``random_rotate``, ``gaus_noise``, ``gaus_filter``, ``axis_mask``,
``random_time_flip``).
Every random op has a deterministic companion that takes its draws (coins included) as
arguments (``temporal_shift_with_offset``, ``shear_with_values``, ``spatial_flip_with_draw``,
``rotate_with_angles``, ``gaussian_noise_with_draws``, ``gaussian_blur_with_draws``,
``axis_mask_with_draws``, ``temporal_flip_with_draw``): the random op draws and calls it, and
tests/test_augment_parity.py feeds it the official code's draws.

``batched(op)`` turns a per-example op into a batch op: it splits ``rng`` into one key per
example and vmaps over ``[N, M, T, V, C]``. The string registry (``registry.py``) composes
batched ops into a pipeline.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

# The 3x3 rotation product is a tiny matmul; full precision keeps TPU/GPU results equal to the
# float32 maths (the default there may use bf16 / TF32 passes).
_PRECISION = lax.Precision.HIGHEST


def _check_clip(name: str, x: Array, channels: int | None = None) -> None:
  """Raises a ValueError naming the op when `x` is not one `[M, T, V, C]` clip."""
  if x.ndim != 4:
    raise ValueError(f"{name}: expected one clip [M, T, V, C], got shape {tuple(x.shape)} "
                     "(use batched(op) or registry.build for [N, M, T, V, C] batches)")
  if channels is not None and x.shape[-1] != channels:
    raise ValueError(f"{name}: needs {channels} coordinate channels (x, y, z), got shape "
                     f"{tuple(x.shape)}")


def _check_coords(name: str, x: Array, coords: int) -> None:
  """Raises a ValueError naming the op when the clip has fewer than `coords` channels."""
  _check_clip(name, x)
  if coords not in (2, 3) or x.shape[-1] < coords:
    raise ValueError(f"{name}: needs 2 or 3 leading coordinate channels (the layout's "
                     f"x, y[, z]), got coords={coords} for shape {tuple(x.shape)}")


def apply_to_coords(x: Array, matrix: Array, coords: int) -> Array:
  """Maps the first `coords` channels by the top-left `[coords, coords]` block of `matrix`.

  Channels after the coordinates (a detector's confidence, a visibility) pass unchanged. For
  2D skeletons the block is the image-plane part of the 3D map: what an orthographic camera
  sees of a skeleton in the z = 0 plane after the 3D shear or rotation.
  """
  out = apply_linear(x[..., :coords], matrix[:coords, :coords])
  if x.shape[-1] == coords:
    return out
  return jnp.concatenate([out, x[..., coords:]], axis=-1)


def _check_prob(name: str, p) -> None:
  """Validates a static probability (traced values are left to the caller)."""
  if isinstance(p, (int, float)) and not 0.0 <= p <= 1.0:
    raise ValueError(f"{name}: probability p must be in [0, 1], got {p}")


def apply_linear(x: Array, matrix: Array) -> Array:
  """Maps every point by ``p' = matrix @ p`` (p a column vector of the last axis).

  Args:
    x: array `[..., C]`.
    matrix: `[C, C]`.

  Returns:
    `[..., C]` with the dtype of `x`.
  """
  matrix = jnp.asarray(matrix, x.dtype)
  # Unrolled multiply-adds over the C input channels instead of an einsum: a [..., 3] x [3, 3]
  # contraction is a degenerate matmul (about 20x slower on XLA:CPU) and may run at reduced
  # precision on TPU/GPU; elementwise float32 maths is exact and fuses with its neighbours.
  out = x[..., 0:1] * matrix[:, 0]
  for j in range(1, x.shape[-1]):
    out = out + x[..., j:j + 1] * matrix[:, j]
  return out


# ----------------------------------------------------------------------------------------------
# Normal augmentations (CrosSCLR feeder/tools.py).


def temporal_shift_with_offset(x: Array, offset, pad: int) -> Array:
  """Mirror-pads `pad` frames at each end and keeps frames ``[offset, offset + T)``.

  The padding prepends the first `pad` frames reversed and appends the last `pad` frames
  reversed (symmetric padding: the edge frame appears twice).

  Args:
    x: one clip `[M, T, V, C]`; `pad <= T`.
    offset: integer (may be traced) in ``0..2*pad``.
    pad: static number of frames padded at each end.

  Returns:
    `[M, T, V, C]`, the shifted clip.
  """
  num_frames = x.shape[1]
  if pad == 0:
    return x
  if not 0 < pad <= num_frames:
    raise ValueError(f"temporal_shift: pad must be in 0..T={num_frames}, got {pad}")
  head = x[:, :pad][:, ::-1]  # [M, pad, V, C]
  tail = x[:, num_frames - pad:][:, ::-1]  # [M, pad, V, C]
  padded = jnp.concatenate([head, x, tail], axis=1)  # [M, T + 2 pad, V, C]
  return lax.dynamic_slice_in_dim(padded, offset, num_frames, axis=1)


def temporal_shift(rng: Array, x: Array, ratio: int = 6) -> Array:
  """Random temporal shift with mirror padding, the reference's ``temperal_crop``.

  ``pad = floor(T / ratio)`` (8 for T=50, 10 for T=64); the offset ``s ~ U{0, ..., 2 pad}``
  (both ends included) picks the window ``[s, s + T)`` of the padded clip, so ``s = pad`` is
  the identity. Not a crop-and-resize: the length stays T.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    ratio: padding ratio; ``ratio <= 0`` disables the op (the reference's ``-1`` switch), and
      so does ``T < ratio`` (pad 0).

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("temporal_shift", x)
  if ratio <= 0:
    return x
  pad = x.shape[1] // int(ratio)
  if pad == 0:
    return x
  offset = jax.random.randint(rng, (), 0, 2 * pad + 1)
  return temporal_shift_with_offset(x, offset, pad)


def shear_matrix(values: Array) -> Array:
  """``S = [[1, a, b], [c, 1, d], [e, f, 1]]`` from ``values = (a, b, c, d, e, f)`` (``shear``)."""
  values = jnp.asarray(values)
  a, b, c, d, e, f = (values[i] for i in range(6))
  one = jnp.ones((), values.dtype)
  return jnp.stack([one, a, b, c, one, d, e, f, one]).reshape(3, 3)


def shear_with_values(x: Array, values: Array) -> Array:
  """Applies ``p' = S p`` with ``S = shear_matrix(values)`` to every point of `x` `[..., 3]`."""
  return apply_linear(x, shear_matrix(values))


def shear(rng: Array, x: Array, amplitude: float = 0.5, coords: int = 3) -> Array:
  """Random shear of the xyz coordinates (CrosSCLR feeder/tools.py ``shear``).

  The six off-diagonal entries of ``S = [[1, a, b], [c, 1, d], [e, f, 1]]`` are independent
  ``U(-r, r)``; every point is mapped by ``p' = S p``.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, 3]`.
    amplitude: r; ``amplitude <= 0`` disables the op (the reference's ``-1`` switch).
    coords: leading coordinate channels (the layout's, 3 for xyz, 2 for image x, y); only
      they are sheared (`apply_to_coords`).

  Returns:
    `[M, T, V, C]`.
  """
  _check_coords("shear", x, coords)
  if amplitude <= 0:
    return x
  values = jax.random.uniform(rng, (6,), jnp.float32, -amplitude, amplitude)
  return apply_to_coords(x, shear_matrix(values), coords)


# ----------------------------------------------------------------------------------------------
# Extreme augmentations (AimCLR feeder/tools.py).


def spatial_flip(rng: Array, x: Array, perm: Sequence[int], p: float = 0.5) -> Array:
  """Left/right joint relabelling with probability p (``random_spatial_flip``).

  ``new[:, :, i] = old[:, :, perm[i]]``. As in the reference the coordinates are **not**
  mirrored: only the joint labels of the left and right sides swap.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    perm: the layout's flip map (``SkeletonLayout.flip``), a permutation of ``0..V-1``.
    p: probability of flipping.

  Returns:
    `[M, T, V, C]`.

  Raises:
    ValueError: if `perm` is not a permutation of the V joints, or p is outside [0, 1].
  """
  _check_clip("spatial_flip", x)
  _check_prob("spatial_flip", p)
  perm = tuple(int(i) for i in perm)
  num_joints = x.shape[2]
  if sorted(perm) != list(range(num_joints)):
    raise ValueError(f"spatial_flip: perm must be a permutation of 0..{num_joints - 1} "
                     f"(V={num_joints}), got {perm}")
  return spatial_flip_with_draw(x, perm, jax.random.uniform(rng) < p)


def spatial_flip_with_draw(x: Array, perm: Sequence[int], flip) -> Array:
  """`spatial_flip` with its coin given: relabels the joints by `perm` where `flip` is true."""
  flipped = jnp.take(x, jnp.asarray(tuple(int(i) for i in perm)), axis=2)
  return jnp.where(flip, flipped, x)


def rotation_matrix(angles: Array) -> Array:
  """``R = R_z R_y R_x`` with the sign conventions of AimCLR's ``random_rotate``.

  ``R_x = [[1,0,0],[0,c,s],[0,-s,c]]``, ``R_y = [[c,0,-s],[0,1,0],[s,0,c]]``,
  ``R_z = [[c,s,0],[-s,c,0],[0,0,1]]``; applying ``p' = R p`` is the reference's rotation about
  x, then y, then z.

  Args:
    angles: `[3]` angles in radians about x, y, z.

  Returns:
    `[3, 3]`.
  """
  angles = jnp.asarray(angles)
  c, s = jnp.cos(angles), jnp.sin(angles)  # [3] each
  zero, one = jnp.zeros_like(c[0]), jnp.ones_like(c[0])
  r_x = jnp.stack([one, zero, zero, zero, c[0], s[0], zero, -s[0], c[0]]).reshape(3, 3)
  r_y = jnp.stack([c[1], zero, -s[1], zero, one, zero, s[1], zero, c[1]]).reshape(3, 3)
  r_z = jnp.stack([c[2], s[2], zero, -s[2], c[2], zero, zero, zero, one]).reshape(3, 3)
  return jnp.matmul(r_z, jnp.matmul(r_y, r_x, precision=_PRECISION), precision=_PRECISION)


def rotate_with_angles(x: Array, angles: Array) -> Array:
  """Rotates every point of `x` `[..., 3]` by ``rotation_matrix(angles)`` (radians, x/y/z)."""
  return apply_linear(x, rotation_matrix(angles))


def rotate(rng: Array, x: Array, main_max_deg: float = 30.0, other_max_deg: float = 1.0,
           coords: int = 3) -> Array:
  """Random rotation, always applied (``random_rotate``).

  The main axis is uniform over {x, y, z}; its angle is ``U(0, main_max_deg)`` degrees and the
  two other angles are ``U(0, other_max_deg)``. Angles are never negative, as in the reference.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, 3]`.
    main_max_deg: upper bound of the main-axis angle, in degrees.
    other_max_deg: upper bound of the two other angles, in degrees.
    coords: leading coordinate channels (3 or 2); only they are rotated (`apply_to_coords`).

  Returns:
    `[M, T, V, C]`.
  """
  _check_coords("rotate", x, coords)
  key_axis, key_angle = jax.random.split(rng)
  main = jax.random.randint(key_axis, (), 0, 3)
  max_deg = jnp.where(jnp.arange(3) == main, main_max_deg, other_max_deg)  # [3]
  angles = jnp.deg2rad(jax.random.uniform(key_angle, (3,), jnp.float32) * max_deg)
  return apply_to_coords(x, rotation_matrix(angles), coords)


def gaussian_noise(rng: Array, x: Array, std: float = 0.01, p: float = 0.5) -> Array:
  """Adds i.i.d. ``N(0, std^2)`` to every entry with probability p (``gaus_noise``).

  All-zero (absent) persons get noise too, as in the reference.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    std: noise standard deviation.
    p: probability of adding noise.

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("gaussian_noise", x)
  _check_prob("gaussian_noise", p)
  key_coin, key_noise = jax.random.split(rng)
  noise = std * jax.random.normal(key_noise, x.shape, x.dtype)
  return gaussian_noise_with_draws(x, noise, jax.random.uniform(key_coin) < p)


def gaussian_noise_with_draws(x: Array, noise: Array, apply) -> Array:
  """`gaussian_noise` with its draws given: `x + noise` where `apply` is true."""
  return jnp.where(apply, x + noise.astype(x.dtype), x)


def blur_kernel(sigma, kernel_size: int = 15, normalize_kernel: bool = False) -> Array:
  """``g_k = exp(-k^2 / (2 sigma^2))`` for ``k = -(K//2) .. K//2`` (``GaussianBlurConv``).

  Args:
    sigma: standard deviation in frames (may be traced).
    kernel_size: odd kernel length K.
    normalize_kernel: divide by ``sum(g)`` (gain 1); the reference does not.

  Returns:
    `[K]` float32 kernel.
  """
  half = _blur_half_width(kernel_size)
  k = jnp.arange(-half, half + 1, dtype=jnp.float32)
  g = jnp.exp(-(k**2) / (2.0 * jnp.square(jnp.asarray(sigma, jnp.float32))))
  return g / jnp.sum(g) if normalize_kernel else g


def _blur_half_width(kernel_size: int) -> int:
  if kernel_size < 1 or kernel_size % 2 != 1:
    raise ValueError(f"gaussian_blur: kernel_size must be a positive odd integer, "
                     f"got {kernel_size}")
  return kernel_size // 2


def gaussian_blur_with_sigma(x: Array, sigma, kernel_size: int = 15,
                             normalize_kernel: bool = False) -> Array:
  """Blurs `x` `[M, T, V, C]` along time with a fixed sigma (``GaussianBlurConv``).

  ``out[t] = sum_k g_k x[t + k]`` with frames outside ``0..T-1`` read as zeros: the
  reference's depthwise 1-D convolution with ``K // 2`` frames of zero padding per end (the
  kernel is symmetric, so correlation and convolution agree). Written as K shifted
  multiply-adds, which XLA fuses into one loop; on XLA:CPU this was about 3x faster than the
  equivalent `[T, T]` banded matmul (and avoids the slow ``lax.conv`` path).

  Args:
    x: one clip `[M, T, V, C]`.
    sigma: standard deviation in frames (may be traced).
    kernel_size: odd kernel length K.
    normalize_kernel: divide the kernel by its sum (see `blur_kernel`).

  Returns:
    `[M, T, V, C]`.
  """
  half = _blur_half_width(kernel_size)
  g = blur_kernel(sigma, kernel_size, normalize_kernel).astype(x.dtype)  # [K]
  num_frames = x.shape[1]
  padded = jnp.pad(x, ((0, 0), (half, half), (0, 0), (0, 0)))  # [M, T + 2 half, V, C]
  out = g[0] * padded[:, :num_frames]
  for k in range(1, kernel_size):
    out = out + g[k] * padded[:, k:k + num_frames]
  return out


def gaussian_blur(rng: Array, x: Array, sigma_min: float = 0.1, sigma_max: float = 2.0,
                  kernel_size: int = 15, p: float = 0.5, normalize_kernel: bool = False) -> Array:
  """Random temporal Gaussian blur with probability p (``gaus_filter``).

  ``sigma ~ U(sigma_min, sigma_max)`` is drawn every call; each coordinate of each joint and
  person is convolved along time with ``g_k = exp(-k^2 / (2 sigma^2))``, ``k = -7..7`` for the
  default K=15, zero padding ``K // 2`` frames per end, same length out.

  Signal scale: by default the kernel is **not** normalised, as in the reference, so away from
  the ends the blur multiplies a slowly varying signal by ``sum(g)``: 1.0 at sigma=0.1, about
  5.01 at sigma=2, on average about 2.7 over ``U(0.1, 2)``. The first and last ``K // 2``
  frames get less gain because of the zero padding. ``normalize_kernel=True`` divides by
  ``sum(g)`` (interior gain 1).

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    sigma_min: lower bound of sigma, in frames.
    sigma_max: upper bound of sigma, in frames.
    kernel_size: odd kernel length K.
    p: probability of blurring.
    normalize_kernel: a fidelity switch, docs/fidelity.md (False = reference).

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("gaussian_blur", x)
  _check_prob("gaussian_blur", p)
  _blur_half_width(kernel_size)
  if not 0 < sigma_min <= sigma_max:
    raise ValueError(f"gaussian_blur: need 0 < sigma_min <= sigma_max, got {sigma_min}, "
                     f"{sigma_max}")
  key_coin, key_sigma = jax.random.split(rng)
  sigma = jax.random.uniform(key_sigma, (), jnp.float32, sigma_min, sigma_max)
  return gaussian_blur_with_draws(x, sigma, jax.random.uniform(key_coin) < p, kernel_size,
                                  normalize_kernel)


def gaussian_blur_with_draws(x: Array, sigma, apply, kernel_size: int = 15,
                             normalize_kernel: bool = False) -> Array:
  """`gaussian_blur` with its draws given: blurred with `sigma` where `apply` is true."""
  blurred = gaussian_blur_with_sigma(x, sigma, kernel_size, normalize_kernel)
  return jnp.where(apply, blurred, x)


def axis_mask(rng: Array, x: Array, p: float = 0.5, coords: int | None = None) -> Array:
  """Zeroes one coordinate axis (uniform over the C axes) with probability p (``axis_mask``).

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    p: probability of masking.
    coords: draw the axis among the first `coords` channels only (the layout's coordinates,
      so a confidence channel is never the one masked); None: all C channels.

  Returns:
    `[M, T, V, C]`, the chosen coordinate set to 0 for all frames, joints and persons.
  """
  _check_clip("axis_mask", x)
  _check_prob("axis_mask", p)
  key_coin, key_axis = jax.random.split(rng)
  axis = jax.random.randint(key_axis, (), 0, x.shape[-1] if coords is None else coords)
  return axis_mask_with_draws(x, axis, jax.random.uniform(key_coin) < p)


def axis_mask_with_draws(x: Array, axis, apply) -> Array:
  """`axis_mask` with its draws given: coordinate `axis` set to 0 where `apply` is true."""
  masked = jnp.where(jnp.arange(x.shape[-1]) == axis, jnp.zeros((), x.dtype), x)
  return jnp.where(apply, masked, x)


def temporal_flip(rng: Array, x: Array, p: float = 0.5) -> Array:
  """Reverses the time axis with probability p (``random_time_flip``; off in the default chain).

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    p: probability of reversing.

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("temporal_flip", x)
  _check_prob("temporal_flip", p)
  return temporal_flip_with_draw(x, jax.random.uniform(rng) < p)


def temporal_flip_with_draw(x: Array, flip) -> Array:
  """`temporal_flip` with its coin given: time reversed where `flip` is true."""
  return jnp.where(flip, x[:, ::-1], x)


# ----------------------------------------------------------------------------------------------
# Nuisance-randomising augmentations for small datasets (not in the reference chains).
#
# On a small dataset two views that share the clip's camera azimuth, body proportions and speed
# can be told apart from every other clip by those alone, so instance discrimination learns the
# nuisance instead of the motion (docs/small_data.md). These ops randomise exactly that
# nuisance; the small presets add them to the normal chain.


def view_rotation_matrix(angles: Array) -> Array:
  """``R_y(b) R_x(a) R_z(c)`` `[3, 3]` for ``angles = (a, b, c)`` in radians (x, y, z axes;
  y is the vertical axis of Kinect camera space)."""
  a, b, c = (angles[i] for i in range(3))
  ca, sa, cb, sb, cc, sc = jnp.cos(a), jnp.sin(a), jnp.cos(b), jnp.sin(b), jnp.cos(c), jnp.sin(c)
  zero, one = jnp.zeros_like(ca), jnp.ones_like(ca)
  r_x = jnp.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca]).reshape(3, 3)
  r_y = jnp.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb]).reshape(3, 3)
  r_z = jnp.stack([cc, -sc, zero, sc, cc, zero, zero, zero, one]).reshape(3, 3)
  return jnp.matmul(r_y, jnp.matmul(r_x, r_z, precision=_PRECISION), precision=_PRECISION)


def view_rotate_with_angles(x: Array, angles: Array, coords: int = 3) -> Array:
  """Maps the coordinates of `x` `[..., C]` by `view_rotation_matrix(angles)`; for 2D image
  coordinates (`coords=2`) by its top-left block, the orthographic image of the rotated
  skeleton's x, y (a change of azimuth foreshortens x)."""
  return apply_to_coords(x, view_rotation_matrix(angles), coords)


def view_rotate(rng: Array, x: Array, max_deg_y: float = 60.0,
                max_deg_xz: float = 10.0, coords: int = 3) -> Array:
  """Random change of camera azimuth: a rotation about the vertical (y) axis by
  ``U(-max_deg_y, max_deg_y)`` degrees and small tilts about x and z by ``U(-max_deg_xz,
  max_deg_xz)``, always applied (unlike the reference's `rotate`, angles take both signs).

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    max_deg_y: largest azimuth change in degrees.
    max_deg_xz: largest tilt in degrees.
    coords: leading coordinate channels (the layout's: 3, or 2 for image x, y); other
      channels (a confidence score) are carried unchanged.

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("view_rotate", x)
  _check_coords("view_rotate", x, coords)
  limits = jnp.asarray([max_deg_xz, max_deg_y, max_deg_xz], jnp.float32)
  angles = jnp.deg2rad(jax.random.uniform(rng, (3,), jnp.float32, -1.0, 1.0) * limits)
  return view_rotate_with_angles(x, angles, coords)


def scale_with_factors(x: Array, factors: Array, coords: int = 3) -> Array:
  """Multiplies the first `coords` channels of `x` `[..., C]` by `factors` `[coords]`."""
  return apply_to_coords(x, jnp.diag(factors), coords)


def random_scale(rng: Array, x: Array, low: float = 0.8, high: float = 1.2,
                 coords: int = 3) -> Array:
  """Random body size and proportions: each coordinate axis scaled by its own ``U(low, high)``.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    low: smallest factor (> 0).
    high: largest factor.
    coords: leading coordinate channels (3, or 2); a confidence channel is not scaled.

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("random_scale", x)
  _check_coords("random_scale", x, coords)
  if not 0.0 < low <= high:
    raise ValueError(f"random_scale: need 0 < low <= high, got low={low}, high={high}")
  factors = jax.random.uniform(rng, (coords,), jnp.float32, low, high)
  return scale_with_factors(x, factors, coords)


def crop_resize_with_window(x: Array, start, length) -> Array:
  """Resamples the window ``[start, start + length)`` of `x` `[M, T, V, C]` to T frames by linear
  interpolation (frame ``i`` of the output reads time ``start + i (length - 1) / (T - 1)``)."""
  num_frames = x.shape[1]
  denom = max(num_frames - 1, 1)
  t = start + jnp.arange(num_frames, dtype=jnp.float32) * (length - 1.0) / denom  # [T]
  t = jnp.clip(t, 0.0, num_frames - 1.0)
  lo = jnp.floor(t).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, num_frames - 1)
  w = (t - lo)[None, :, None, None]  # [1, T, 1, 1]
  return jnp.take(x, lo, axis=1) * (1.0 - w) + jnp.take(x, hi, axis=1) * w


def crop_resize(rng: Array, x: Array, min_ratio: float = 0.6) -> Array:
  """Random temporal crop resized back to T frames (speed and phase change).

  The window length is ``U(min_ratio, 1) * T`` frames (fractional), its start uniform over the
  positions that keep it inside the clip.

  Args:
    rng: PRNG key.
    x: one clip `[M, T, V, C]`.
    min_ratio: shortest window as a fraction of T, in (0, 1].

  Returns:
    `[M, T, V, C]`.
  """
  _check_clip("crop_resize", x)
  if not 0.0 < min_ratio <= 1.0:
    raise ValueError(f"crop_resize: min_ratio must be in (0, 1], got {min_ratio}")
  num_frames = x.shape[1]
  k_len, k_start = jax.random.split(rng)
  length = jax.random.uniform(k_len, (), jnp.float32, min_ratio, 1.0) * num_frames
  length = jnp.maximum(length, 1.0)
  start = jax.random.uniform(k_start, (), jnp.float32) * (num_frames - length)
  return crop_resize_with_window(x, start, length)


def identity(rng: Array, x: Array) -> Array:
  """Returns `x` unchanged (the empty pipeline)."""
  del rng
  return x


# ----------------------------------------------------------------------------------------------
# Batching.


def batched(op: Callable[..., Array]) -> Callable[..., Array]:
  """Lifts a per-example op to a batch op ``fn(rng, batch, **kw)``, batch `[N, M, T, V, C]`.

  `rng` is split into N keys, one per example, and `op` is vmapped over the batch; the
  keyword arguments are static and shared by all examples.

  Args:
    op: ``op(rng, x, **kw) -> x`` on one clip `[M, T, V, C]`.

  Returns:
    The batched function.
  """

  @functools.wraps(op)
  def apply(rng: Array, batch: Array, **kwargs) -> Array:
    if batch.ndim != 5:
      raise ValueError(f"{getattr(op, '__name__', 'op')}: expected a batch [N, M, T, V, C], "
                       f"got shape {tuple(batch.shape)}")
    keys = jax.random.split(rng, batch.shape[0])
    return jax.vmap(lambda key, x: op(key, x, **kwargs))(keys, batch)

  return apply
