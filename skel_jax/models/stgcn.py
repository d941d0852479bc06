"""ST-GCN encoder in Flax linen, channels-last (CrosSCLR net/st_gcn.py `Model`, `st_gcn`).

Input clips are `[N, M, T, V, C]`; persons are folded into the batch (`[N*M, T, V, C]`) and
averaged after pooling, as in the reference (`Model.forward`). The layer maths equals the
PyTorch reference exactly (checked against its outputs in tests/test_stgcn.py), but the
convolutions are written for speed on XLA:CPU (docs/benchmarks.md): the weight gradient of
`lax.conv_general_dilated` is 30-40x slower than its forward pass there, so with
``conv_impl='matmul'`` (the default)

* 1x1 convolutions are matmuls on the channel axis,
* the (9, 1) temporal convolution is an unfold of the 9 (strided) shifted frames along the
  channel axis followed by one matmul with a `[9 * C_in, C_out]` kernel,
* the graph aggregation is an einsum with the adjacency.

``conv_impl='conv'`` runs the same parameters through `lax.conv_general_dilated` (what
`nn.Conv` does), for GPU/TPU runs where cuDNN-style convolutions may win, and for the
benchmark in experiments/benchmark_encoder.py. Both share one parameter tree.

``dtype`` is the matmul operand dtype: None (float32, the reference's arithmetic) by default;
``jnp.bfloat16`` for mixed precision, where every convolution and graph aggregation takes
bfloat16 operands and accumulates and returns float32, while parameters, BatchNorm, ReLU,
dropout and residuals stay float32. On CPUs with AVX512-BF16 such a matmul runs at about
twice the float32 rate; on TPUs bfloat16 is the native matmul type.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.data.skeletons import get_layout
from skel_jax.models import batchnorm
from skel_jax.models.graph import build_adjacency

CONV_IMPLS = ("matmul", "conv")
COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype(name: str | None):
  """Config name -> the `dtype` attribute: None for float32 (no casts), else the jnp dtype."""
  if name in (None, "", "float32"):
    return None
  if name not in COMPUTE_DTYPES:
    raise ValueError(f"unknown model dtype {name!r}; known: {COMPUTE_DTYPES}")
  return jnp.dtype(name)


def backbone_kwargs(model_config, *, no_grad: bool = False) -> dict:
  """`STGCN` keyword arguments from a config's `model` section: the one encoder factory behind
  the contrastive encoders, the SkeAttnCLR encoder and feature extraction.

  Args:
    model_config: `config.model` (graph, hidden, out_dim, dropout, conv_impl and the optional
      dtype, gcn_impl, bn_sums, winograd, strided_xla_conv; `nograd_conv_impl` /
      `nograd_gcn_impl` only where a benchmark sets them).
    no_grad: for passes that take no gradient (the key encoder, feature extraction): the
      faster forward-only formulations with the same parameter tree (docs/benchmarks.md),
      XLA's convolution ('conv') for the temporal convolutions and the dense graph convolution
      for the narrow layers ('dense_narrow'), unless the config names another
      `nograd_conv_impl` / `nograd_gcn_impl`.
  """
  m = model_config
  if no_grad:
    conv_impl = m.get("nograd_conv_impl", "conv")
    gcn_impl = m.get("nograd_gcn_impl", "dense_narrow")
  else:
    conv_impl, gcn_impl = m.conv_impl, m.get("gcn_impl", "aggregate_first")
  return dict(graph=m.graph, hidden=m.hidden, out_dim=m.out_dim, dropout=m.dropout,
              conv_impl=conv_impl, dtype=compute_dtype(m.get("dtype", "float32")),
              gcn_impl=gcn_impl, bn_sums=m.get("bn_sums", "float32"),
              winograd=m.get("winograd", True),
              strided_xla_conv=m.get("strided_xla_conv", True))


def weight_init(key, shape, dtype=jnp.float32):
  """`weights_init` (processor/pretrain.py): every conv / linear weight ~ N(0, 0.02^2)."""
  return 0.02 * jax.random.normal(key, shape, dtype)


def bn_scale_init(key, shape, dtype=jnp.float32):
  """`weights_init`: every BatchNorm weight ~ N(1, 0.02^2)."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def joint_keyed_bn_scale_init(joint_names: Sequence[str]):
  """`bn_scale_init` for the data BN, drawn per joint from a key folded with the joint's name.

  The data BN has one scale per (joint, channel). Drawn from one key over the flat `V*C`
  vector, the value a joint gets depends on its index, so the same seed gives a differently
  initialised model for the same skeleton listed in another joint order; keyed by the name
  (a stable CRC-32, not Python's salted `hash`), a joint gets the same values wherever the
  layout puts it. The distribution stays N(1, 0.02^2) per entry.
  """
  ids = [zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF for name in joint_names]

  def init(key, shape, dtype=jnp.float32):
    v = len(ids)
    if len(shape) != 1 or shape[0] % v:
      raise ValueError(f"data BN scale of shape {shape} does not fit {v} joints")
    c = shape[0] // v
    rows = [jax.random.normal(jax.random.fold_in(key, i), (c,), dtype) for i in ids]
    return 1.0 + 0.02 * jnp.concatenate(rows)  # index v*C + c, as the data BN's channels

  return init


# PyTorch BatchNorm defaults: eps 1e-5, running-stat momentum 0.1 (flax 0.9),
# with PyTorch's unbiased running variance and a two-pass batch variance (models/batchnorm.py).
BatchNorm = functools.partial(batchnorm.BatchNorm, momentum=0.9, epsilon=1e-5,
                              scale_init=bn_scale_init)


def _concat_unfold(x: jnp.ndarray, k: int, stride: int, t_out: int) -> jnp.ndarray:
  """The unfold as a concatenation of k shifted slices (its transpose is a cheap overlap-add)."""
  pad = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (pad, pad), (0, 0), (0, 0)))  # [B, T + 2 pad, V, C]
  last = stride * (t_out - 1) + 1
  taps = [xp[:, i:i + last:stride] for i in range(k)]  # k x [B, T', V, C]
  return jnp.concatenate(taps, axis=-1)


def _gather_unfold(x: jnp.ndarray, k: int, stride: int, t_out: int) -> jnp.ndarray:
  """The same unfold as one gather: XLA:CPU fuses it, with the producer of `x`, into a single
  pass over the output, where the concatenation costs a pass per slice and one more."""
  pad = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (pad, pad), (0, 0), (0, 0)))  # [B, T + 2 pad, V, C]
  frames = stride * np.arange(t_out)[:, None] + np.arange(k)[None, :]  # [T', k] source frames
  taps = jnp.swapaxes(xp[:, frames], 2, 3)  # [B, T', k, V, C] -> [B, T', V, k, C]
  return taps.reshape(*taps.shape[:3], k * x.shape[-1])  # [B, T', V, k*C], tap-major


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _unfold_time(x: jnp.ndarray, k: int, stride: int, t_out: int) -> jnp.ndarray:
  """`[B, T, V, C]` -> `[B, T', V, k * C]`: the k (strided) shifted frames side by side.

  Zero padding (k - 1) // 2 on both ends of time, tap-major on the last axis, so that
  `unfold @ kernel.reshape(k * C, C_out)` is the reference's (k, 1) convolution. Forward
  as a gather, backward as the transpose of the concatenation (autodiff of the gather would
  be a scatter-add, several times slower on XLA:CPU); experiments/benchmark_encoder.py.
  """
  return _gather_unfold(x, k, stride, t_out)


def _unfold_time_fwd(x, k, stride, t_out):
  # A zero-size array carries the input's shape and dtype (residuals must be arrays).
  return _gather_unfold(x, k, stride, t_out), jnp.zeros((0, *x.shape[1:]), x.dtype)


def _unfold_time_bwd(k, stride, t_out, like_x, g):
  n = g.shape[0]
  primal = jax.ShapeDtypeStruct((n, *like_x.shape[1:]), like_x.dtype)
  transpose = jax.linear_transpose(lambda x: _concat_unfold(x, k, stride, t_out), primal)
  return transpose(g)


_unfold_time.defvjp(_unfold_time_fwd, _unfold_time_bwd)


def _low_precision_temporal_conv(x, kernel, stride, dtype):
  """The (k, 1) temporal convolution with `dtype` operands and a float32 result.

  A custom VJP keeps every matmul of the backward pass in the fast low-precision form: the
  input gradient is the same unfold-and-matmul applied to the (zero-dilated for stride > 1)
  output gradient with the flipped, transposed kernel, instead of autodiff's
  `g @ kernel^T` into a `[B, T', V, k * C]` buffer followed by the overlap-add of its k
  slices. On a 2-core AVX512-BF16 CPU this makes block 10's temporal conv (256 channels)
  train 1.5x faster in bfloat16; in float32 autodiff's version is the faster one, so float32
  keeps it (experiments/benchmark_encoder.py).
  """
  return _lp_conv(x, kernel, stride, dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _lp_conv(x, kernel, stride, dtype):
  return _lp_conv_fwd(x, kernel, stride, dtype)[0]


def _lp_conv_fwd(x, kernel, stride, dtype):
  k, c_in, c_out = kernel.shape
  t_out = (x.shape[1] - 1) // stride + 1
  unfolded = _unfold_time(x.astype(dtype), k, stride, t_out)  # [B, T', V, k * C_in]
  y = jnp.dot(unfolded, kernel.reshape(k * c_in, c_out).astype(dtype),
              preferred_element_type=jnp.float32)
  # A zero-size array carries the input's length and dtype (residuals must be arrays).
  return y, (unfolded, kernel, jnp.zeros((0, x.shape[1]), x.dtype))


def _lp_conv_bwd(stride, dtype, residuals, g):
  unfolded, kernel, like_x = residuals
  k, c_in, c_out = kernel.shape
  b, _, v, _ = unfolded.shape
  t_in = like_x.shape[1]
  g = g.astype(dtype)
  # dK[(i, c), d] = sum over (b, t', v) of unfolded * g.
  d_kernel = jax.lax.dot_general(unfolded, g, (((0, 1, 2), (0, 1, 2)), ((), ())),
                                 preferred_element_type=jnp.float32)
  if stride > 1:  # output frame t' came from input frame stride * t'
    g = jnp.zeros((b, t_in, v, c_out), g.dtype).at[:, ::stride].set(g)
  # dx[s] = sum_i g[s - i + pad] kernel_i^T = unfold(g) @ [kernel_{k-1-j}^T]_j.
  flipped = jnp.swapaxes(kernel[::-1], 1, 2).reshape(k * c_out, c_in).astype(dtype)
  dx = jnp.dot(_unfold_time(g, k, 1, t_in), flipped, preferred_element_type=jnp.float32)
  return dx.astype(like_x.dtype), d_kernel.reshape(k, c_in, c_out).astype(kernel.dtype)


_lp_conv.defvjp(_lp_conv_fwd, _lp_conv_bwd)


# Memory: autodiff of `unfold(x) @ W` keeps the k-times larger unfold of every layer alive
# from the forward to the backward pass; with several encoder passes per step that made the
# mixing methods' train steps run out of memory at the official shapes (docs/benchmarks.md,
# Memory). Rematerialising it does not help on XLA:CPU: `jax.checkpoint`'s optimisation
# barrier is dropped, and the recomputed unfold is merged with the forward one (or, written
# as per-tap slices of x, scheduled right after the forward pass). So the backward pass is
# written from the cotangent's side: both gradients come from one unfold of g, which cannot
# exist before g does. The temporal convolution then keeps only its input.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _unfold_matmul(x, kernel_2d, k: int, stride: int, t_out: int):
  """`unfold(x) @ kernel_2d`: `[B, T, V, C_in]`, `[k C_in, C_out]` -> `[B, T', V, C_out]`."""
  return _unfold_time(x, k, stride, t_out) @ kernel_2d  # [B, T', V, k * C] @ [k * C, C_out]


def _unfold_matmul_fwd(x, kernel_2d, k, stride, t_out):
  return _unfold_matmul(x, kernel_2d, k, stride, t_out), (x, kernel_2d)


def _unfold_matmul_bwd(k, stride, t_out, residuals, g):
  x, kernel_2d = residuals
  b, t_in, v, c_in = x.shape
  c_out = g.shape[-1]
  if stride > 1:  # output frame t' came from input frame stride * t'
    g = jnp.zeros((b, t_in, v, c_out), g.dtype).at[:, ::stride].set(g)
  # With the cotangent on the input's frames, tap i pairs input frame s with g[s + pad - i]:
  # the unfold of g holds those pairs for every tap, in reverse tap order.
  g_taps = _unfold_time(g, k, 1, t_in)  # [B, T, V, k * C_out], tap k - 1 - i at slot i
  d_kernel = jnp.einsum("btvc,btvj->cj", x, g_taps).reshape(c_in, k, c_out)[:, ::-1]
  d_kernel = d_kernel.transpose(1, 0, 2).reshape(k * c_in, c_out)  # tap-major rows
  # dx[s] = sum_i g[s + pad - i] W_i^T: the same unfold against the flipped kernel.
  flipped = jnp.swapaxes(kernel_2d.reshape(k, c_in, c_out)[::-1], 1, 2).reshape(k * c_out, c_in)
  return g_taps @ flipped, d_kernel


_unfold_matmul.defvjp(_unfold_matmul_fwd, _unfold_matmul_bwd)


def _rows(a: jnp.ndarray) -> jnp.ndarray:
  """`[..., C]` -> `[rows, C]`: the matmuls below are plain 2-D GEMMs (XLA:CPU's fastest)."""
  return a.reshape(-1, a.shape[-1])


def _xla_temporal_conv(x: jnp.ndarray, kernel: jnp.ndarray, stride: int, *,
                       lhs_dilation: int = 1, padding: tuple[int, int] | None = None,
                       preferred_element_type=None):
  """XLA's (k, 1) convolution along time: `[B, T, V, C_in]`, `[k, C_in, C_out]`; zero
  padding (k - 1) // 2 on both ends unless `padding` gives (low, high)."""
  k = kernel.shape[0]
  pad = (k - 1) // 2
  return jax.lax.conv_general_dilated(
      x, kernel[:, None], window_strides=(stride, 1),
      padding=(padding or (pad, pad), (0, 0)), lhs_dilation=(lhs_dilation, 1),
      dimension_numbers=("NHWC", "HWIO", "NHWC"), preferred_element_type=preferred_element_type)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def strided_temporal_conv(x: jnp.ndarray, kernel: jnp.ndarray, stride: int) -> jnp.ndarray:
  """The strided (k, 1) convolution for passes with a gradient, from three fast pieces.

  Forward and input gradient are XLA convolutions (the input gradient: the cotangent
  zero-dilated by the stride, correlated with the flipped, transposed kernel); the weight
  gradient, where XLA:CPU's convolution is 30-40x slower than its forward, is one 2-D GEMM
  `unfold(x)^T @ g` of the strided unfold of the input. At stride 2 on the 2-core CPU this is
  1.2-1.6x faster forward + backward than the unfold and matmul, the wider the faster
  (experiments/benchmark_layers.py, docs/benchmarks.md). Keeps only x and the kernel, as `_unfold_matmul` does.
  """
  return _xla_temporal_conv(x, kernel, stride)


def _strided_fwd(x, kernel, stride):
  return _xla_temporal_conv(x, kernel, stride), (x, kernel)


def _strided_bwd(stride, residuals, g):
  x, kernel = residuals
  k, c_in, c_out = kernel.shape
  t_in, t_out = x.shape[1], g.shape[1]
  pad = (k - 1) // 2
  # dx[s] = sum_i g[t] kernel_i^T over s = stride t + i - pad: a stride-1 correlation of the
  # zero-dilated g with the flipped kernel; the high padding gives back all t_in frames.
  flipped = jnp.swapaxes(kernel[::-1], 1, 2)  # [k, C_out, C_in]
  high = t_in - 1 + pad - stride * (t_out - 1)
  dx = _xla_temporal_conv(g, flipped, 1, lhs_dilation=stride, padding=(k - 1 - pad, high))
  unfolded = _unfold_time(x, k, stride, t_out)  # [B, T', V, k * C_in]
  d_kernel = _rows(unfolded).T @ _rows(g)  # [k * C_in, C_out], tap-major rows
  return dx, d_kernel.reshape(k, c_in, c_out)


strided_temporal_conv.defvjp(_strided_fwd, _strided_bwd)


# Winograd minimal filtering F(3, 3) for the stride-1, 9-tap temporal convolution
# (docs/benchmarks.md, "Winograd temporal convolution"). The 9 taps are three groups of three
# consecutive taps, 3 frames apart. With output tiles of 3 frames, group j of output tile s
# reads exactly input tile s + j (5 frames), so one transform of the input tiles serves all
# three groups: per output tile, 5 products of [C_in]-vectors with [C_in, C_out] matrices per
# group instead of 9, i.e. 5/9 of the direct convolution's multiply-adds, as plain matmuls.
# Interpolation points 0, 1, -1, 2 and infinity; the 1-D correlation of a 5-frame tile d with
# a 3-tap filter g is `WINOGRAD_AT @ ((WINOGRAD_G @ g) * (WINOGRAD_BT @ d))`
# (tests/test_stgcn.py checks it exactly in float64).
WINOGRAD_AT = np.array([[1, 1, 1, 1, 0],
                        [0, 1, -1, 2, 0],
                        [0, 1, 1, 4, 1]], np.float64)  # [3 outputs, 5 points]
WINOGRAD_G = np.array([[1, 0, 0],
                       [1, 1, 1],
                       [1, -1, 1],
                       [1, 2, 4],
                       [0, 0, 1]], np.float64)  # [5 points, 3 taps]
WINOGRAD_BT = np.array([[1, -1 / 2, -1, 1 / 2, 0],
                        [0, 1, 1 / 2, -1 / 2, 0],
                        [0, -1 / 3, 1 / 2, -1 / 6, 0],
                        [0, -1 / 6, 0, 1 / 6, 0],
                        [0, 2, -1, -2, 1]], np.float64)  # [5 points, 5 frames]
# Which layers take the Winograd form (`use_winograd`; the nested form below since the sixth
# session of 2026-12-07), from experiments/benchmark_layers.py (docs/benchmarks.md). Passes with
# a gradient (the matmul formulation): every stride-1 9-tap layer, since with the hand-written
# backward passes both Winograd forms beat the unfold and matmul forward + backward at every
# width of the encoders (16 to 256 channels), the nested one ahead of F(3, 3) everywhere
# (batch 256: 79 against 91 ms at 16 channels, T 50; 1,040 against 1,428 at 256, T 13).
# Passes without one (the 'conv' formulation) compare against XLA's convolution: with the
# allocator's settings in force the F(3, 3) forward won from 32 channels up (19.6 against 21.6
# ms at 32, 279 against 450 at 256) and lost at 16 (16.9 against 14.3), and the whole eval
# forward ran 1-8 % (h 16) and 3-12 % (h 64) faster with this threshold than with the old 2^15
# (experiments/ab_nograd_rules.py, two runs); the nested forward is within 7 % of F(3, 3) at 32
# channels and 16-32 % faster from 64 up (35 against 26 ms for XLA's convolution at 16).
WINOGRAD_MIN_CHANNELS_PRODUCT = 2 ** 10


def _combine(coeffs: np.ndarray, terms: Sequence[jnp.ndarray]) -> jnp.ndarray:
  """`sum_i coeffs[i] * terms[i]`, skipping zero coefficients and multiplications by one."""
  out = None
  for c, term in zip(coeffs, terms):
    if c == 0:
      continue
    term = term if c == 1 else term * float(c)
    out = term if out is None else out + term
  return out


def use_winograd(kernel_size: int, stride: int, c_in: int, c_out: int,
                 conv_impl: str = "matmul") -> bool:
  """Whether the Winograd form (`nested_winograd_temporal_conv`) serves this convolution in
  a pass that runs `conv_impl` ('matmul': passes with a gradient; 'conv': without one)."""
  if kernel_size != 9 or stride != 1:
    return False
  return conv_impl != "conv" or c_in * c_out >= WINOGRAD_MIN_CHANNELS_PRODUCT


def _winograd_inputs(x: jnp.ndarray, n_out: int) -> list[jnp.ndarray]:
  """`[B, T, V, C]` -> per point p, `[B, n_out, V, 3 C]`: the transformed input tiles that
  output tile s multiplies, tiles s, s + 1, s + 2 (the three tap groups) side by side.

  Linear in x; the backward pass takes its transpose with `jax.vjp`.
  """
  t = x.shape[1]
  n_in = n_out + 2  # output tile s reads input tiles s, s + 1, s + 2
  # xp[q] = x[q - 4]; input tile s is xp[3 s .. 3 s + 4], so xp needs 3 n_in + 2 frames.
  xp = jnp.pad(x, ((0, 0), (4, 3 * n_in - 2 - t), (0, 0), (0, 0)))  # [B, 3 n_in + 2, V, C]
  frames = [jax.lax.slice_in_dim(xp, q, q + 3 * (n_in - 1) + 1, stride=3, axis=1)
            for q in range(5)]  # 5 x [B, n_in, V, C]: frame q of every input tile
  tiles = [_combine(row, frames) for row in WINOGRAD_BT]  # 5 x [B, n_in, V, C]
  # One [3 C]-wide operand per point: a single matmul then sums over the three groups.
  return [jnp.concatenate([tile[:, j:j + n_out] for j in range(3)], axis=-1)
          for tile in tiles]  # 5 x [B, n_out, V, 3 C]


def _winograd_filters(kernel: jnp.ndarray) -> jnp.ndarray:
  """`[9, C_in, C_out]` -> `[5, 3 C_in, C_out]`: each point's filters, group-major rows."""
  _, c_in, c_out = kernel.shape
  groups = kernel.reshape(3, 3, c_in, c_out)  # [group j, tap r, C_in, C_out]
  filters = jnp.einsum("pr,jrco->pjco", WINOGRAD_G.astype(np.float32), groups)  # [5, 3, C, O]
  return filters.reshape(5, 3 * c_in, c_out)


def _winograd_outputs(products: Sequence[jnp.ndarray], t: int) -> jnp.ndarray:
  """5 x `[B, n_out, V, C_out]` point products -> `[B, t, V, C_out]` (frame 3 s + i)."""
  b, n_out, v, c_out = products[0].shape
  outputs = [_combine(row, products) for row in WINOGRAD_AT]  # 3 x [B, n_out, V, C_out]
  y = jnp.stack(outputs, axis=2)  # [B, n_out, 3, V, C_out]
  return y.reshape(b, 3 * n_out, v, c_out)[:, :t]


@jax.custom_vjp
def winograd_temporal_conv(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """The (9, 1) convolution, stride 1, zero padding 4, by Winograd F(3, 3) (comment above).

  Forward: 5 matmuls `[B n_out V, 3 C_in] @ [3 C_in, C_out]`, one per interpolation point.
  Backward (custom VJP): per point the two transposed matmuls, the filter gradient
  `cat_p^T @ dP_p` and the input-tile gradient `dP_p @ F_p^T`, again as 2-D GEMMs; the
  transforms' transposes come from `jax.vjp` of the linear transforms. It keeps only x and
  the kernel (the transformed tiles are recomputed). Autodiff of the forward instead made
  15 narrow matmuls with leading-axis contractions and a pad-and-add per slice: its backward
  took 1.4x (256 channels, T 13) to 2.5x (64 channels, T 50) the time of this one on the
  2-core CPU, batch 128 (docs/benchmarks.md).

  Args:
    x: `[B, T, V, C_in]`.
    kernel: `[9, C_in, C_out]`, tap i reading frame t + i - 4.

  Returns:
    `[B, T, V, C_out]`, the same function as the direct convolution up to float32 rounding.
  """
  return _winograd_fwd(x, kernel)[0]


def _winograd_products_fwd(to_inputs, to_filters, to_outputs, x, kernel):
  """A Winograd form's forward: transformed inputs times transformed filters, one GEMM per
  product, then the output transform (shared by F(3, 3) and the nested form)."""
  filters = to_filters(kernel)
  return to_outputs([d @ filters[i] for i, d in enumerate(to_inputs(x))])


def _winograd_products_bwd(to_inputs, to_filters, to_outputs, x, kernel, g):
  """Its backward: per product the filter gradient `in^T @ dP` and the input gradient
  `dP @ F^T` as 2-D GEMMs; the transforms' transposes from `jax.vjp` (they are linear)."""
  ins, ins_vjp = jax.vjp(to_inputs, x)
  filters, filters_vjp = jax.vjp(to_filters, kernel)
  like = [jax.ShapeDtypeStruct((*d.shape[:-1], g.shape[-1]), g.dtype) for d in ins]
  d_products = jax.linear_transpose(to_outputs, like)(g)[0]
  d_filters = jnp.stack([_rows(d).T @ _rows(dp) for d, dp in zip(ins, d_products)])
  d_ins = [dp @ filters[i].T for i, dp in enumerate(d_products)]
  return ins_vjp(d_ins)[0], filters_vjp(d_filters)[0]


def _f33_transforms(t: int):
  n_out = -(-t // 3)  # output tiles of 3 frames
  return (lambda x: _winograd_inputs(x, n_out), _winograd_filters,
          lambda products: _winograd_outputs(products, t))


def _winograd_fwd(x, kernel):
  return _winograd_products_fwd(*_f33_transforms(x.shape[1]), x, kernel), (x, kernel)


def _winograd_bwd(residuals, g):
  x, kernel = residuals
  return _winograd_products_bwd(*_f33_transforms(x.shape[1]), x, kernel, g)


winograd_temporal_conv.defvjp(_winograd_fwd, _winograd_bwd)


# Nested Winograd, F(9, 9) as F(3, 3) inside F(3, 3) (docs/benchmarks.md, "Nested Winograd").
# The F(3, 3) form above is still a direct 3-tap correlation over tile indices: output tile s
# sums over groups j the point products of input tile s + j with group j's filters. Applying
# F(3, 3) to that outer correlation as well, over super-tiles of 3 output tiles (9 frames),
# makes each super-tile 25 products of [C_in]-vectors with [C_in, C_out] matrices (outer point
# q, inner point p) instead of F(3, 3)'s 5 x 3 per output tile: 25/81 of the direct
# convolution's multiply-adds per output frame (F(3, 3): 5/9), at the price of padding T up to
# a multiple of 9 and of float32 rounding about 2-3 times F(3, 3)'s (1e-6 of the output's scale;
# tests/test_stgcn.py). With super-tile S and outer index c = a + j in 0..4, input tile 3 S + c
# (5 frames xp[9 S + 3 c ..]) is transformed by WINOGRAD_BT twice, along frames (inner) and
# along c (outer); the filters by WINOGRAD_G along taps r and groups j; the outputs by
# WINOGRAD_AT along p (frame b in the tile) and q (tile a in the super-tile): frame 9 S + 3 a + b.


@jax.custom_vjp
def _windows_of_five(x: jnp.ndarray) -> list[jnp.ndarray]:
  """`[B, 3 n + 2, ...]` -> 5 x `[B, n, ...]`: element f of window s is `x[:, 3 s + f]`.

  The windows overlap by two. Through a reshape into rows of 3 instead of strided slices, and
  with a hand-written transpose: autodiff of strided slices of strided slices made one
  interior-padded full-size array per term (125 for the nested form's input), which took its
  backward pass to 3x the F(3, 3) form's time.
  """
  n = (x.shape[1] - 2) // 3
  rows = jnp.pad(x, ((0, 0), (0, 1)) + ((0, 0),) * (x.ndim - 2))
  rows = rows.reshape(x.shape[0], n + 1, 3, *x.shape[2:])  # [B, n + 1, 3, ...]: frame 3 m + r
  return [rows[:, f // 3:f // 3 + n, f % 3] for f in range(5)]


def _windows_of_five_fwd(x):
  return _windows_of_five(x), x.shape


def _windows_of_five_bwd(shape, parts):
  # Frame 3 m + r collects window m's element r and, for r < 2, window m - 1's element 3 + r.
  def at(part, first):  # part [B, n, ...] placed at rows first .. first + n - 1 of n + 1
    return jnp.pad(part, ((0, 0), (first, 1 - first)) + ((0, 0),) * (part.ndim - 2))
  columns = [at(parts[0], 0) + at(parts[3], 1), at(parts[1], 0) + at(parts[4], 1),
             at(parts[2], 0)]
  rows = jnp.stack(columns, axis=2)  # [B, n + 1, 3, ...]
  return (rows.reshape(shape[0], -1, *shape[2:])[:, :shape[1]],)


_windows_of_five.defvjp(_windows_of_five_fwd, _windows_of_five_bwd)


def _nested_winograd_inputs(x: jnp.ndarray, n_super: int) -> list[jnp.ndarray]:
  """`[B, T, V, C]` -> 25 x `[B, n_super, V, C]`, index 5 q + p: each super-tile's input tiles
  transformed along frames (inner point p) and along the tile index (outer point q).

  Linear in x; the backward pass takes its transpose with `jax.vjp`.
  """
  t = x.shape[1]
  n_tiles = 3 * n_super + 2  # super-tile S reads inner tiles 3 S .. 3 S + 4
  # xp[f] = x[f - 4]; inner tile m is xp[3 m .. 3 m + 4], so xp needs 3 n_tiles + 2 frames.
  xp = jnp.pad(x, ((0, 0), (4, 3 * n_tiles - 2 - t), (0, 0), (0, 0)))
  frames = _windows_of_five(xp)  # 5 x [B, n_tiles, V, C]: frame f of every inner tile
  inner = [_combine(row, frames) for row in WINOGRAD_BT]  # 5 x [B, n_tiles, V, C], point p
  per_point = [_windows_of_five(tiles) for tiles in inner]  # [p][c]: tile 3 S + c, [B, n_super..]
  return [_combine(outer_row, per_point[p])  # outer point q, inner point p
          for outer_row in WINOGRAD_BT for p in range(5)]


def _nested_winograd_filters(kernel: jnp.ndarray) -> jnp.ndarray:
  """`[9, C_in, C_out]` -> `[25, C_in, C_out]`: the filters of (outer q, inner p), q major."""
  _, c_in, c_out = kernel.shape
  groups = kernel.reshape(3, 3, c_in, c_out)  # [group j, tap r, C_in, C_out]
  g = WINOGRAD_G.astype(np.float32)
  return jnp.einsum("qj,pr,jrco->qpco", g, g, groups).reshape(25, c_in, c_out)


def _nested_winograd_outputs(products: Sequence[jnp.ndarray], t: int) -> jnp.ndarray:
  """25 x `[B, n_super, V, C_out]` (index 5 q + p) -> `[B, t, V, C_out]`."""
  b, n_super, v, c_out = products[0].shape
  frames = []
  for outer_row in WINOGRAD_AT:  # tile a of the super-tile
    per_point = [_combine(outer_row, products[p::5]) for p in range(5)]  # 5 x inner point p
    frames += [_combine(inner_row, per_point) for inner_row in WINOGRAD_AT]  # frame b
  y = jnp.stack(frames, axis=2)  # [B, n_super, 9, V, C_out]: frame 3 a + b
  return y.reshape(b, 9 * n_super, v, c_out)[:, :t]


@jax.custom_vjp
def nested_winograd_temporal_conv(x: jnp.ndarray, kernel: jnp.ndarray) -> jnp.ndarray:
  """The (9, 1) convolution, stride 1, zero padding 4, by nested Winograd (comment above).

  Forward: 25 matmuls `[B n_super V, C_in] @ [C_in, C_out]`; backward (custom VJP, as in
  `winograd_temporal_conv`): per product the filter gradient `in^T @ dP` and the input
  gradient `dP @ F^T`, the transforms' transposes from `jax.vjp`. Keeps only x and the kernel.

  Args:
    x: `[B, T, V, C_in]`.
    kernel: `[9, C_in, C_out]`, tap i reading frame t + i - 4.

  Returns:
    `[B, T, V, C_out]`, the same function as the direct convolution up to float32 rounding.
  """
  return _nested_winograd_fwd(x, kernel)[0]


def _nested_transforms(t: int):
  n_super = -(-t // 9)  # super-tiles of 9 frames
  return (lambda x: _nested_winograd_inputs(x, n_super), _nested_winograd_filters,
          lambda products: _nested_winograd_outputs(products, t))


def _nested_winograd_fwd(x, kernel):
  return _winograd_products_fwd(*_nested_transforms(x.shape[1]), x, kernel), (x, kernel)


def _nested_winograd_bwd(residuals, g):
  x, kernel = residuals
  return _winograd_products_bwd(*_nested_transforms(x.shape[1]), x, kernel, g)


nested_winograd_temporal_conv.defvjp(_nested_winograd_fwd, _nested_winograd_bwd)


class TemporalConv(nn.Module):
  """Conv with kernel (k, 1) along time, zero padding k//2, stride s; x: `[B, T, V, C]`.

  A kernel size of 1 is the 1x1 convolution (a Dense layer on the channel axis). With a
  low-precision `dtype` the matmul operands are cast to it and the result (accumulated in
  float32) is float32. With `winograd`, the float32 layers that `use_winograd` picks (stride 1,
  9 taps; with `conv_impl='conv'` from 32 channels) run `nested_winograd_temporal_conv`.
  """

  features: int
  kernel_size: int = 9
  stride: int = 1
  conv_impl: str = "matmul"
  dtype: Any = None
  winograd: bool = False
  strided_xla_conv: bool = False

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    k = self.kernel_size
    kernel = self.param("kernel", weight_init, (k, c_in, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    pad = (k - 1) // 2
    t_out = (x.shape[1] + 2 * pad - k) // self.stride + 1
    low = self.dtype is not None and jnp.dtype(self.dtype) != jnp.float32
    if self.conv_impl not in CONV_IMPLS:
      raise ValueError(f"unknown conv_impl {self.conv_impl!r}; known: {CONV_IMPLS}")
    if (self.winograd and not low
        and use_winograd(k, self.stride, c_in, self.features, self.conv_impl)):
      y = nested_winograd_temporal_conv(x, kernel)
    elif self.conv_impl == "conv":
      lhs, rhs = (x.astype(self.dtype), kernel.astype(self.dtype)) if low else (x, kernel)
      y = _xla_temporal_conv(lhs, rhs, self.stride,
                             preferred_element_type=jnp.float32 if low else None)
    elif self.conv_impl == "matmul":
      if k == 1:
        lhs, rhs = x[:, ::self.stride], kernel[0]
        if low:
          y = jnp.dot(lhs.astype(self.dtype), rhs.astype(self.dtype),
                      preferred_element_type=jnp.float32)
        else:
          y = lhs @ rhs
      elif low:
        y = _low_precision_temporal_conv(x, kernel, self.stride, self.dtype)
      elif self.stride > 1 and self.strided_xla_conv:
        y = strided_temporal_conv(x, kernel, self.stride)
      else:
        y = _unfold_matmul(x, kernel.reshape(k * c_in, self.features), k, self.stride, t_out)
    return y + bias


def half_dropout_mask(rng: jax.Array, shape: tuple[int, ...]) -> jnp.ndarray:
  """Bernoulli(0.5) keep mask of `shape` from one random bit per element.

  `jax.random.bernoulli` draws a 32-bit number per element; at p = 0.5 one bit is enough,
  so 32 mask entries come from each random word (the last axis is filled word by word). On
  XLA:CPU this takes the dropout mask from ~6% of an encoder train pass to well under 1%.
  """
  c = shape[-1]
  words = jax.random.bits(rng, (*shape[:-1], -(-c // 32)), jnp.uint32)
  bits = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32)) & 1  # [..., words, 32]
  return bits.reshape(*shape[:-1], -1)[..., :c].astype(jnp.bool_)


class Dropout(nn.Module):
  """Inverted dropout (PyTorch semantics: keep with 1 - rate, scale kept by 1 / (1 - rate)).

  Draws from the 'dropout' rng stream like `flax.linen.Dropout`; rate 0.5, the reference's
  uses `half_dropout_mask`, other rates `jax.random.bernoulli`.
  """

  rate: float

  @nn.compact
  def __call__(self, x, *, deterministic: bool):
    if deterministic or self.rate == 0.0:
      return x
    if self.rate == 1.0:
      return jnp.zeros_like(x)
    rng = self.make_rng("dropout")
    if self.rate == 0.5:
      keep = half_dropout_mask(rng, x.shape)
    else:
      keep = jax.random.bernoulli(rng, 1.0 - self.rate, x.shape)
    return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))


class ConvParams(nn.Module):
  """The `kernel [k, C_in, C_out]` and `bias [C_out]` of a TemporalConv, for code that applies
  them in another form (GraphConv's aggregate-first form)."""

  features: int
  kernel_size: int = 1

  @nn.compact
  def __call__(self, c_in: int):
    kernel = self.param("kernel", weight_init, (self.kernel_size, c_in, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    return kernel, bias


GCN_IMPLS = ("aggregate_first", "einsum", "dense", "dense_narrow")
# `model.gcn_impl` values of configs written before the field was pruned: 'auto' was a pure
# alias of 'aggregate_first'.
_LEGACY_GCN_IMPLS = {"auto": "aggregate_first"}
# 'dense_narrow' takes the dense matrix where it costs at most this many times the
# multiply-adds of aggregate-first: 3.3x (C_out = 16) and 4.7x (32) on the 25-joint graph, not
# 6x (64). On the 2-core CPU (experiments/benchmark_layers.py, docs/benchmarks.md) the dense
# form's forward took 15 ms against aggregate-first's 32 at 16 channels (T 50), 28 against 37
# at 32 (T 25), and 52 against 40 at 64 (T 13).
DENSE_MAX_COST_RATIO = 5.0


def dense_cost_ratio(num_subsets: int, num_joints: int, c_out: int) -> float:
  """Multiply-adds of the dense `[V C_in, V C_out]` matrix over those of aggregate-first.

  Per frame, dense: V C_in V C_out; aggregate-first: K V V C_in (the aggregation) + V K C_in
  C_out (the matmul). C_in cancels: the ratio is V C_out / (K (V + C_out)).
  """
  return num_joints * c_out / (num_subsets * (num_joints + c_out))


class GraphConv(nn.Module):
  """Spatial graph convolution (`ConvTemporalGraphical`); `[B, T, V, C_in]` -> `[B, T, V, C_out]`.

  A 1x1 conv to K * C_out channels, then `sum_k y_k A_k * E_k` over source joints, with a
  learnable edge-importance mask E (ones at init). Two formulations of the same parameters
  and the same function (`gcn_impl`); they differ in float32 rounding only:

  * 'einsum': the reference's order, the 1x1 conv to K * C_out channels, then the aggregation
    as an einsum over joints. The einsum contracts the joint axis, which is not the minor
    one, so XLA wraps it in transposes of the K * C_out-wide activations.
  * 'aggregate_first': the aggregation moved before the conv (both are linear), on the
    C_in-wide input, then one `[K C_in, C_out]` matmul; the conv bias becomes
    `sum_k b_k colsum(A_k E_k)`. Same multiply-adds for the conv, fewer for the aggregation
    when C_in < C_out, and transposes of the narrower tensors only. The default: it trains
    the h = 16 encoder faster than 'einsum' on the 2-core CPU (docs/benchmarks.md,
    experiments/benchmark_encoder.py).
  * 'dense': aggregation and conv folded into one `[V C_in, V C_out]` matrix
    `M[(v, c), (w, o)] = sum_k A_k E_k[v, w] W_k[c, o]`, applied to each frame's joints and
    channels flattened: no transposes at all, and one GEMM wide enough to run near the
    machine's peak, for V C_out / (K (V + C_out)) times aggregate-first's multiply-adds.
  * 'dense_narrow': 'dense' for the layers where that costs at most `DENSE_MAX_COST_RATIO`
    times more (the narrow ones), 'aggregate_first' for the others. The default of the
    passes without a gradient (`backbone_kwargs(no_grad=True)`); passes with one keep
    aggregate-first, whose float32 gradients are the ones checked against the reference's
    training steps (docs/fidelity.md).
  """

  features: int
  adjacency: np.ndarray  # [K, V, V], rows = source joints, columns = targets
  conv_impl: str = "matmul"
  dtype: Any = None
  gcn_impl: str = "aggregate_first"

  def resolved_impl(self) -> str:
    """The formulation of this layer: `gcn_impl` with the legacy 'auto' read as
    'aggregate_first' and 'dense_narrow' decided by the layer's cost ratio."""
    impl = _LEGACY_GCN_IMPLS.get(self.gcn_impl, self.gcn_impl)
    if impl not in GCN_IMPLS:
      raise ValueError(f"unknown gcn_impl {self.gcn_impl!r}; known: {GCN_IMPLS}")
    if impl == "dense_narrow":
      k, v, _ = self.adjacency.shape
      narrow = dense_cost_ratio(k, v, self.features) <= DENSE_MAX_COST_RATIO
      return "dense" if narrow else "aggregate_first"
    return impl

  @nn.compact
  def __call__(self, x):
    k, v, _ = self.adjacency.shape
    importance = self.param("edge_importance", nn.initializers.ones, (k, v, v))
    a = jnp.asarray(self.adjacency) * importance
    low = self.dtype is not None and jnp.dtype(self.dtype) != jnp.float32
    impl = self.resolved_impl()
    if impl == "aggregate_first":
      return self._aggregate_first(x, a, low)
    if impl == "dense":
      return self._dense(x, a, low)
    y = TemporalConv(k * self.features, kernel_size=1, conv_impl=self.conv_impl,
                     dtype=self.dtype, name="conv")(x)
    y = y.reshape(*y.shape[:-1], k, self.features)  # [B, T, V, K, C_out]
    if low:
      return jnp.einsum("btvkc,kvw->btwc", y.astype(self.dtype), a.astype(self.dtype),
                        preferred_element_type=jnp.float32)
    return jnp.einsum("btvkc,kvw->btwc", y, a)

  def _aggregate_first(self, x, a, low: bool):
    """Aggregate the C_in-wide input over the graph, then one `[K C_in, C_out]` matmul."""
    k, v, _ = a.shape
    c = x.shape[-1]
    kernel, bias = ConvParams(k * self.features, kernel_size=1, name="conv")(c)
    kernel = kernel[0].reshape(c, k, self.features).transpose(1, 0, 2)  # [K, C_in, C_out]
    if low:
      x, a, kernel = x.astype(self.dtype), a.astype(self.dtype), kernel.astype(self.dtype)
    gathered = jnp.einsum("btvc,kvw->btwkc", x, a)  # [B, T, W, K, C_in]
    flat = gathered.reshape(*gathered.shape[:-2], k * c)  # [B, T, W, K*C_in]
    y = jnp.dot(flat, kernel.reshape(k * c, self.features), preferred_element_type=jnp.float32)
    return y + _aggregated_bias(a, bias)

  def _dense(self, x, a, low: bool):
    """One `[V C_in, V C_out]` matmul per frame: the graph and the 1x1 conv folded together."""
    k, v, _ = a.shape
    c = x.shape[-1]
    kernel, bias = ConvParams(k * self.features, kernel_size=1, name="conv")(c)
    kernel = kernel[0].reshape(c, k, self.features)  # [C_in, K, C_out]
    matrix = jnp.einsum("kvw,cko->vcwo", a, kernel).reshape(v * c, v * self.features)
    flat = x.reshape(*x.shape[:-2], v * c)  # [B, T, V*C_in]
    if low:
      flat, matrix = flat.astype(self.dtype), matrix.astype(self.dtype)
    y = jnp.dot(flat, matrix, preferred_element_type=jnp.float32)
    y = y.reshape(*x.shape[:-2], v, self.features)  # [B, T, W, C_out]
    return y + _aggregated_bias(a, bias)


def _aggregated_bias(a: jnp.ndarray, bias: jnp.ndarray) -> jnp.ndarray:
  """`[W, C_out]`: the 1x1 conv's bias `b_k` carried through the aggregation,
  `sum_k b_k colsum(A_k E_k)`, for the forms that aggregate before (or with) the conv."""
  k = a.shape[0]
  return jnp.einsum("kvw,ko->wo", a.astype(jnp.float32), bias.reshape(k, -1))


class STGCNBlock(nn.Module):
  """One `st_gcn` block: GCN, TCN, residual, ReLU; x: `[B, T, V, C]`."""

  features: int
  adjacency: np.ndarray
  stride: int = 1
  residual: str = "auto"  # 'none', 'identity', 'conv' or 'auto' (identity when shapes allow)
  dropout: float = 0.0
  conv_impl: str = "matmul"
  dtype: Any = None
  gcn_impl: str = "aggregate_first"
  bn_sums: str = "float32"
  winograd: bool = False
  strided_xla_conv: bool = False

  @nn.compact
  def __call__(self, x, *, train: bool):
    bn = functools.partial(BatchNorm, use_running_average=not train, sums=self.bn_sums)
    conv = functools.partial(TemporalConv, conv_impl=self.conv_impl, dtype=self.dtype)
    residual = self.residual
    if residual == "auto":
      residual = "identity" if (x.shape[-1] == self.features and self.stride == 1) else "conv"
    if residual == "none":
      res = 0.0
    elif residual == "identity":
      res = x
    elif residual == "conv":
      res = conv(self.features, kernel_size=1, stride=self.stride, name="residual_conv")(x)
      res = bn(name="residual_bn")(res)
    else:
      raise ValueError(f"unknown residual kind {residual!r}")
    y = GraphConv(self.features, self.adjacency, conv_impl=self.conv_impl, dtype=self.dtype,
                  gcn_impl=self.gcn_impl, name="gcn")(x)
    y = bn(name="tcn_bn1")(y)
    y = nn.relu(y)
    y = conv(self.features, kernel_size=9, stride=self.stride, winograd=self.winograd,
             strided_xla_conv=self.strided_xla_conv, name="tcn_conv")(y)
    y = bn(name="tcn_bn2")(y)
    y = Dropout(self.dropout)(y, deterministic=not train)
    return nn.relu(y + res)


# Temporal strides of the reference's ten blocks (`net/st_gcn.py`): total stride 4.
REFERENCE_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


def global_pool(fmap: jnp.ndarray) -> jnp.ndarray:
  """`[N, M, T', V, D]` -> `[N, D]`: mean over (T', V), then over persons (the reference's
  `F.avg_pool2d` over the feature map and `mean` over persons in `net/st_gcn.py`)."""
  return fmap.mean(axis=(2, 3)).mean(axis=1)


def block_plan(hidden: int, out_dim: int, dropout: float, widths: Sequence[int] | None = None,
               strides: Sequence[int] | None = None):
  """(c_out, stride, residual, dropout) of the ten reference blocks (`Model.__init__`)."""
  widths = widths or (hidden, hidden, hidden, hidden, 2 * hidden, 2 * hidden, 2 * hidden,
                      4 * hidden, 4 * hidden, out_dim)
  strides = strides or REFERENCE_STRIDES
  if len(widths) != len(strides):
    raise ValueError(f"{len(widths)} block widths but {len(strides)} strides")
  return [(w, s, "none" if i == 0 else "auto", 0.0 if i == 0 else dropout)
          for i, (w, s) in enumerate(zip(widths, strides))]


def temporal_out_length(t: int, strides: Sequence[int] = REFERENCE_STRIDES) -> int:
  """Feature-map length T' for input length T (kernel 9, padding 4): 50 -> 13, 64 -> 16."""
  for s in strides:
    t = (t - 1) // s + 1
  return t


class STGCN(nn.Module):
  """The ST-GCN encoder (CrosSCLR net/st_gcn.py `Model`) on `[N, M, T, V, C]` clips.

  Attributes:
    layout: skeleton layout name or path (sets V and the graph).
    graph: 'stgcn' (CrosSCLR / AimCLR) or 'agcn' (SkeleMixCLR / SkeAttnCLR), models/graph.py.
    hidden: width h of the first blocks (16 quarter width, 64 full width).
    out_dim: channels D of the last block (256).
    dropout: dropout of blocks 2-10 (0.5).
    num_classes: size of the final Linear `fc`; None returns the pooled features.
    widths / strides: optional custom block plan (defaults: the reference's ten blocks).
    conv_impl: 'matmul' (fast on CPU) or 'conv' (lax convolutions).
    dtype: computation dtype of the blocks (None: float32; jnp.bfloat16: mixed precision).
      The returned feature map and pooled features are float32 either way.
    gcn_impl: graph-convolution formulation, one of `GCN_IMPLS` (GraphConv).
    bn_sums: how BatchNorm accumulates its per-channel sums, 'float32' or 'compensated'
      (PyTorch's CPU rounding; models/batchnorm.py).
    winograd: the stride-1 temporal convolutions by nested Winograd F(9, 9) (TemporalConv).
    strided_xla_conv: the strided temporal convolutions of the matmul formulation as
      `strided_temporal_conv` (TemporalConv).

  Returns (from __call__): `(out, aux)` where out is `[N, num_classes]` (or the pooled `[N, D]`
  feature without fc) and aux holds 'feature_map' `[N, M, T', V, D]` and 'pooled' `[N, D]`.
  """

  layout: str = "ntu25"
  graph: str = "stgcn"
  hidden: int = 16
  out_dim: int = 256
  dropout: float = 0.5
  num_classes: int | None = None
  widths: tuple[int, ...] | None = None
  strides: tuple[int, ...] | None = None
  conv_impl: str = "matmul"
  dtype: Any = None
  gcn_impl: str = "aggregate_first"
  bn_sums: str = "float32"
  winograd: bool = False
  strided_xla_conv: bool = False

  @nn.compact
  def __call__(self, x, *, train: bool):
    adjacency = build_adjacency(self.layout, self.graph)
    n, m, t, v, c = x.shape
    if v != adjacency.shape[-1]:
      raise ValueError(f"clips have {v} joints but layout {self.layout!r} has "
                       f"{adjacency.shape[-1]}")
    # Data BN over V*C channels (index v*C + c), statistics pooled over N*M*T (`Model.forward`).
    h = x.reshape(n * m, t, v * c)  # [N*M, T, V*C]
    h = BatchNorm(use_running_average=not train, name="data_bn", sums=self.bn_sums,
                  scale_init=joint_keyed_bn_scale_init(get_layout(self.layout).joint_names))(h)
    h = h.reshape(n * m, t, v, c)  # [N*M, T, V, C]
    plan = block_plan(self.hidden, self.out_dim, self.dropout, self.widths, self.strides)
    for i, (width, stride, residual, drop) in enumerate(plan):
      h = STGCNBlock(width, adjacency, stride=stride, residual=residual, dropout=drop,
                     conv_impl=self.conv_impl, dtype=self.dtype, gcn_impl=self.gcn_impl,
                     bn_sums=self.bn_sums, winograd=self.winograd,
                     strided_xla_conv=self.strided_xla_conv, name=f"block{i}")(h, train=train)
    fmap = h.astype(jnp.float32).reshape(n, m, *h.shape[1:])  # [N, M, T', V, D]
    pooled = global_pool(fmap)  # [N, D]
    aux = {"feature_map": fmap, "pooled": pooled}
    if self.num_classes is None:
      return pooled, aux
    logits = nn.Dense(self.num_classes, kernel_init=weight_init, name="fc")(pooled)
    return logits, aux


def count_params(params) -> int:
  """Total number of scalars in a parameter tree."""
  return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
