"""Input streams: joint, motion and bone.

Official code: CrosSCLR (LinguoLi/CrosSCLR) processor/pretrain_skeletonclr.py
`SkeletonCLR_Processor.train` (the `view` branches), copied in the other repositories.

The reference trains one model per stream and converts each augmented view to its stream on
the device, after the augmentations (SkeleMixCLR before its mixing, SkeAttnCLR after).
So the conversion here is a pure function that works on numpy arrays on the host and on jax
arrays (also traced, inside `jax.jit`) on the device, for any leading batch dimensions:

* joint:  ``j = x`` (identity);
* motion: ``m[t] = x[t+1] - x[t]`` for ``t < T-1`` and ``m[T-1] = 0``;
* bone:   ``b[v] = x[v] - x[parent(v)]``; a root (its own parent, e.g. NTU joint 21) gets 0.

Arrays are ``[..., T, V, C]``: time at axis -3, joints at axis -2, coordinates last.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.data.skeletons import SkeletonLayout, get_layout

STREAMS = ("joint", "motion", "bone")


def _array_module(x):
  """`jnp` for jax arrays (tracers included, they are `jax.Array`s), `np` otherwise."""
  return jnp if isinstance(x, jax.Array) else np


def motion(x):
  """Forward frame difference along axis -3 with a zero last frame.

  Args:
    x: `[..., T, V, C]` numpy or jax array.

  Returns:
    An array of the same shape, type and dtype.
  """
  xp = _array_module(x)
  diff = x[..., 1:, :, :] - x[..., :-1, :, :]  # [..., T-1, V, C]
  return xp.concatenate([diff, xp.zeros_like(x[..., :1, :, :])], axis=-3)


def bone(x, layout: SkeletonLayout | str):
  """Joint minus its parent joint along axis -2; roots give zero.

  Args:
    x: `[..., T, V, C]` numpy or jax array.
    layout: a SkeletonLayout or a layout name / file accepted by `get_layout`.

  Returns:
    An array of the same shape, type and dtype.
  """
  parents = np.asarray(get_layout(layout).parents, np.int32)
  return x - x[..., parents, :]


def to_stream(x, stream: str, layout: SkeletonLayout | str):
  """Converts joint coordinates to one input stream.

  Args:
    x: `[..., T, V, C]` numpy or jax array of joint coordinates (any leading batch dims, e.g.
      `[N, M, T, V, C]` or `[T, V, C]`); traced arrays inside `jax.jit` work too.
    stream: one of `STREAMS` ('joint', 'motion', 'bone').
    layout: the skeleton layout of `x` (a SkeletonLayout or a name / path for `get_layout`).

  Returns:
    The stream, with the shape, array type and dtype of `x`.

  Raises:
    ValueError: for an unknown stream, or when `x` is not `[..., T, V, C]` with the
      layout's joint count V.
  """
  if stream not in STREAMS:
    raise ValueError(f"unknown input stream {stream!r}; known streams: {list(STREAMS)}")
  layout = get_layout(layout)
  if not isinstance(x, (np.ndarray, jax.Array)):
    x = np.asarray(x)
  if x.ndim < 3 or x.shape[-2] != layout.num_joints:
    raise ValueError(
        f"to_stream({stream!r}): expected [..., T, V, C] with V = {layout.num_joints} joints of "
        f"layout {layout.name!r}, got shape {tuple(x.shape)}")
  if stream == "joint":
    return x
  if stream == "motion":
    return motion(x)
  return bone(x, layout)
