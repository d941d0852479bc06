"""ST-GCN encoder in Flax linen, channels-last (reference-spec sections 1.5.2-1.5.4).

Input clips are `[N, M, T, V, C]`; persons are folded into the batch (`[N*M, T, V, C]`) and
averaged after pooling, as in the reference (spec 1.5.3). The layer maths equals the PyTorch
reference exactly (checked against its outputs in tests/test_stgcn.py), but the convolutions are
written for speed on XLA:CPU (design.md, Speed): the weight gradient of `lax.conv_general_dilated`
is 30-40x slower than its forward pass there, so with ``conv_impl='matmul'`` (the default)

* 1x1 convolutions are matmuls on the channel axis,
* the (9, 1) temporal convolution is an unfold of the 9 (strided) shifted frames along the
  channel axis followed by one matmul with a `[9 * C_in, C_out]` kernel,
* the graph aggregation is an einsum with the adjacency.

``conv_impl='conv'`` runs the same parameters through `lax.conv_general_dilated` (what
`nn.Conv` does), for GPU/TPU runs where cuDNN-style convolutions may win, and for the
benchmark in experiments/benchmark_encoder.py. Both share one parameter tree.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.models.graph import build_adjacency

CONV_IMPLS = ("matmul", "conv")


def weight_init(key, shape, dtype=jnp.float32):
  """Spec 1.5.4: every conv / linear weight ~ N(0, 0.02^2)."""
  return 0.02 * jax.random.normal(key, shape, dtype)


def bn_scale_init(key, shape, dtype=jnp.float32):
  """Spec 1.5.4: every BatchNorm weight ~ N(1, 0.02^2)."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


# PyTorch BatchNorm defaults (spec 1.5.4): eps 1e-5, running-stat momentum 0.1 (flax 0.9).
BatchNorm = functools.partial(nn.BatchNorm, momentum=0.9, epsilon=1e-5, scale_init=bn_scale_init)


class TemporalConv(nn.Module):
  """Conv with kernel (k, 1) along time, zero padding k//2, stride s; x: `[B, T, V, C]`.

  A kernel size of 1 is the 1x1 convolution (a Dense layer on the channel axis).
  """

  features: int
  kernel_size: int = 9
  stride: int = 1
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, x):
    c_in = x.shape[-1]
    k = self.kernel_size
    kernel = self.param("kernel", weight_init, (k, c_in, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    pad = (k - 1) // 2
    t_out = (x.shape[1] + 2 * pad - k) // self.stride + 1
    if self.conv_impl == "conv":
      y = jax.lax.conv_general_dilated(
          x, kernel[:, None], window_strides=(self.stride, 1), padding=((pad, pad), (0, 0)),
          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    elif self.conv_impl == "matmul":
      if k == 1:
        y = x[:, ::self.stride] @ kernel[0]
      else:
        xp = jnp.pad(x, ((0, 0), (pad, pad), (0, 0), (0, 0)))  # [B, T + 2 pad, V, C]
        last = self.stride * (t_out - 1) + 1
        taps = [xp[:, i:i + last:self.stride] for i in range(k)]  # k x [B, T', V, C]
        unfolded = jnp.concatenate(taps, axis=-1)  # [B, T', V, k * C], tap-major
        y = unfolded @ kernel.reshape(k * c_in, self.features)
    else:
      raise ValueError(f"unknown conv_impl {self.conv_impl!r}; known: {CONV_IMPLS}")
    return y + bias


class GraphConv(nn.Module):
  """Spatial graph convolution of spec 1.5.2 step 1; x: `[B, T, V, C_in]` -> `[B, T, V, C_out]`.

  A 1x1 conv to K * C_out channels, then `sum_k y_k A_k * E_k` over source joints, with a
  learnable edge-importance mask E (ones at init).
  """

  features: int
  adjacency: np.ndarray  # [K, V, V], rows = source joints, columns = targets
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, x):
    k, v, _ = self.adjacency.shape
    importance = self.param("edge_importance", nn.initializers.ones, (k, v, v))
    y = TemporalConv(k * self.features, kernel_size=1, conv_impl=self.conv_impl, name="conv")(x)
    y = y.reshape(*y.shape[:-1], k, self.features)  # [B, T, V, K, C_out]
    a = jnp.asarray(self.adjacency) * importance
    return jnp.einsum("btvkc,kvw->btwc", y, a)


class STGCNBlock(nn.Module):
  """One `st_gcn` block (spec 1.5.2): GCN, TCN, residual, ReLU; x: `[B, T, V, C]`."""

  features: int
  adjacency: np.ndarray
  stride: int = 1
  residual: str = "auto"  # 'none', 'identity', 'conv' or 'auto' (identity when shapes allow)
  dropout: float = 0.0
  conv_impl: str = "matmul"

  @nn.compact
  def __call__(self, x, *, train: bool):
    residual = self.residual
    if residual == "auto":
      residual = "identity" if (x.shape[-1] == self.features and self.stride == 1) else "conv"
    if residual == "none":
      res = 0.0
    elif residual == "identity":
      res = x
    elif residual == "conv":
      res = TemporalConv(self.features, kernel_size=1, stride=self.stride,
                         conv_impl=self.conv_impl, name="residual_conv")(x)
      res = BatchNorm(use_running_average=not train, name="residual_bn")(res)
    else:
      raise ValueError(f"unknown residual kind {residual!r}")
    y = GraphConv(self.features, self.adjacency, conv_impl=self.conv_impl, name="gcn")(x)
    y = BatchNorm(use_running_average=not train, name="tcn_bn1")(y)
    y = nn.relu(y)
    y = TemporalConv(self.features, kernel_size=9, stride=self.stride,
                     conv_impl=self.conv_impl, name="tcn_conv")(y)
    y = BatchNorm(use_running_average=not train, name="tcn_bn2")(y)
    y = nn.Dropout(self.dropout, deterministic=not train)(y)
    return nn.relu(y + res)


def block_plan(hidden: int, out_dim: int, dropout: float, widths: Sequence[int] | None = None,
               strides: Sequence[int] | None = None):
  """(c_out, stride, residual, dropout) of the ten reference blocks (spec 1.5.3 table)."""
  widths = widths or (hidden, hidden, hidden, hidden, 2 * hidden, 2 * hidden, 2 * hidden,
                      4 * hidden, 4 * hidden, out_dim)
  strides = strides or (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)
  if len(widths) != len(strides):
    raise ValueError(f"{len(widths)} block widths but {len(strides)} strides")
  return [(w, s, "none" if i == 0 else "auto", 0.0 if i == 0 else dropout)
          for i, (w, s) in enumerate(zip(widths, strides))]


def temporal_out_length(t: int, strides: Sequence[int] = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)) -> int:
  """Feature-map length T' for input length T (kernel 9, padding 4): 50 -> 13, 64 -> 16."""
  for s in strides:
    t = (t - 1) // s + 1
  return t


class STGCN(nn.Module):
  """The ST-GCN encoder of spec 1.5.3 on `[N, M, T, V, C]` clips.

  Attributes:
    layout: skeleton layout name or path (sets V and the graph).
    graph: 'stgcn' (CrosSCLR / AimCLR) or 'agcn' (SkeleMixCLR / SkeAttnCLR), spec 1.5.1.
    hidden: width h of the first blocks (16 quarter width, 64 full width).
    out_dim: channels D of the last block (256).
    dropout: dropout of blocks 2-10 (0.5).
    num_classes: size of the final Linear `fc`; None returns the pooled features.
    widths / strides: optional custom block plan (defaults: the reference's ten blocks).
    conv_impl: 'matmul' (fast on CPU) or 'conv' (lax convolutions).

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

  @nn.compact
  def __call__(self, x, *, train: bool):
    adjacency = build_adjacency(self.layout, self.graph)
    n, m, t, v, c = x.shape
    if v != adjacency.shape[-1]:
      raise ValueError(f"clips have {v} joints but layout {self.layout!r} has "
                       f"{adjacency.shape[-1]}")
    # Data BN over V*C channels (index v*C + c), statistics pooled over N*M*T (spec 1.5.3).
    h = x.reshape(n * m, t, v * c)  # [N*M, T, V*C]
    h = BatchNorm(use_running_average=not train, name="data_bn")(h)
    h = h.reshape(n * m, t, v, c)  # [N*M, T, V, C]
    plan = block_plan(self.hidden, self.out_dim, self.dropout, self.widths, self.strides)
    for i, (width, stride, residual, drop) in enumerate(plan):
      h = STGCNBlock(width, adjacency, stride=stride, residual=residual, dropout=drop,
                     conv_impl=self.conv_impl, name=f"block{i}")(h, train=train)
    fmap = h.reshape(n, m, *h.shape[1:])  # [N, M, T', V, D]
    pooled = fmap.mean(axis=(2, 3)).mean(axis=1)  # [N, D]: GAP over (T', V), then persons
    aux = {"feature_map": fmap, "pooled": pooled}
    if self.num_classes is None:
      return pooled, aux
    logits = nn.Dense(self.num_classes, kernel_init=weight_init, name="fc")(pooled)
    return logits, aux


def count_params(params) -> int:
  """Total number of scalars in a parameter tree."""
  return int(sum(np.prod(p.shape) for p in jax.tree_util.tree_leaves(params)))
