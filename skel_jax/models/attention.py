"""SkeAttnCLR's attention-mask neck, predictors and encoder.

Official code: SkeAttnCLR (GitHubOfHyl97/SkeAttnCLR) net/utils/AttnMask.py `ObjectNeck_AM`,
`Attention_MASK`, `MLP1D`, and net/SkeAttnCLR.py `SkeAttnMask`. The encoder is the ST-GCN
backbone of `skel_jax.models.stgcn` (AGCN graph, full width in the reference) followed by the
neck `ObjectNeck_AM` and three BYOL-style predictors:

* global branch: `z_x = proj(GAP(F))`, GAP over (T', V) and then over persons;
* attention-mask branch: the `T'·V` tokens of each person go through LayerNorm and 8-head
  self-attention (no residual, no MLP); the soft mask is `Mt = sigmoid(lambda * out)`, one value
  per token and channel. The pre-norm tokens are pooled as
  `s = (1/T'V) sum X ⊙ Mt` and `ns = (1/T'V) sum X ⊙ (1 - Mt)` (divided by the token count, not
  the mask sum, so `s + ns` is the global mean), averaged over persons and projected:
  `z_s = proj(s)`, `z_ns = proj(ns)`;
* given-mask branch (key encoder): the same pooling with a mask passed in;
* `proj` = MLP1D(D, hidden, features): Linear (no bias) -> BN -> ReLU -> Linear (no bias), one
  module shared by every branch, each call with its own batch statistics;
* predictors (query side only): `predictor_global`, `predictor_salient` and
  `predictor_nonsalient`, each MLP1D(features, predictor_hidden, features). The reference names
  them `predictor`, `predictor_p` and `predictor_c` (the names its forward pass and
  evaluation configs use); here they are named for what they are.

Persons stay separate through the attention: it runs on `N·M` sequences and the masks are
`[N·M, T'·V, D]`, rows ordered (sample, person), so a key pooled with the query's mask lines up
person by person (`SkeAttnMask.forward`).

The key encoder is the same module with the same parameter tree: its predictors exist (so the
EMA of `SkeAttnMask.momentum_update` maps over identical trees) but are never called in
training.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from skel_jax.models.heads import MLPHead, head_kernel_init
from skel_jax.models.stgcn import STGCN, global_pool


def to_tokens(fmap: jnp.ndarray) -> jnp.ndarray:
  """`[N, M, T', V, D]` -> `[N·M, T'·V, D]`: one token sequence per person, time-major."""
  n, m, t, v, d = fmap.shape
  return fmap.reshape(n * m, t * v, d)  # [N*M, T'*V, D]


def masked_pool(tokens: jnp.ndarray, mask: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Salient and non-salient pooling (`ObjectNeck_AM._mask_pooling`).

  Args:
    tokens: `[B, L, D]` features before the LayerNorm.
    mask: `[B, L, D]` soft mask in [0, 1] (per token and channel).

  Returns:
    `(s, ns)`, each `[B, D]`: `mean_L(tokens * mask)` and `mean_L(tokens * (1 - mask))`. Both
    divide by the token count L, so `s + ns = mean_L(tokens)`.
  """
  if tokens.shape != mask.shape:
    raise ValueError(f"tokens {tokens.shape} and mask {mask.shape} must have the same shape")
  s = jnp.mean(tokens * mask, axis=1)
  ns = jnp.mean(tokens * (1.0 - mask), axis=1)
  return s, ns


def person_mean(pooled: jnp.ndarray, num_persons: int) -> jnp.ndarray:
  """`[N·M, D]` -> `[N, D]`: the average over the M persons of each sample."""
  return pooled.reshape(-1, num_persons, pooled.shape[-1]).mean(axis=1)  # [N, M, D] -> [N, D]


def MLP1D(hidden: int, features: int, name: str | None = None,
          init_scheme: str = "reference", residual: bool = False,
          bn_sums: str = "float32") -> MLPHead:
  """SkeAttnCLR's MLP1D: 1x1 conv (no bias) -> BN -> ReLU -> 1x1 conv (no bias).

  `init_scheme` as `heads.head_kernel_init` ('reference' = the reference's std 0.02);
  `residual` as `heads.MLPHead` (an identity-initialised predictor; not the reference);
  `bn_sums` BatchNorm's accumulation (models/batchnorm.py).
  """
  return MLPHead(hidden=hidden, features=features, use_bn=True, use_bias=False, name=name,
                 init_scheme=init_scheme, residual=residual, bn_sums=bn_sums)


class AttentionMask(nn.Module):
  """LayerNorm + multi-head self-attention + `sigmoid(lambda * out)` (`Attention_MASK`).

  `qkv` and `proj` are Linear layers with bias; attention scale `head_dim^-1/2`, no dropout,
  no residual. Input `[B, L, D]` tokens, output the soft mask `[B, L, D]`.

  `init_scheme` picks their weight init as `heads.head_kernel_init` does: 'reference' is
  N(0, 0.02^2) as every Linear (CrosSCLR processor/pretrain.py `weights_init`); it starts the
  attention at a token-uniform saddle point that short runs do not leave. 'lecun' (variance
  1 / fan_in) starts it away from that point (`model.attn_init`; docs/findings.md).
  """

  num_heads: int = 8
  lam: float = 2.0
  init_scheme: str = "reference"

  @nn.compact
  def __call__(self, tokens: jnp.ndarray) -> jnp.ndarray:
    b, length, d = tokens.shape
    if d % self.num_heads:
      raise ValueError(f"feature width {d} is not divisible by {self.num_heads} heads")
    head_dim = d // self.num_heads
    # PyTorch LayerNorm defaults: eps 1e-5, weight 1, bias 0 (the reference's init keeps them).
    h = nn.LayerNorm(epsilon=1e-5, name="norm")(tokens)
    kernel_init = head_kernel_init(self.init_scheme)
    qkv = nn.Dense(3 * d, kernel_init=kernel_init, name="qkv")(h)  # [B, L, 3D]
    qkv = qkv.reshape(b, length, 3, self.num_heads, head_dim)  # [B, L, 3, H, D/H]
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each [B, L, H, D/H]
    out = jax.nn.dot_product_attention(q, k, v, scale=head_dim ** -0.5)  # [B, L, H, D/H]
    out = out.reshape(b, length, d)  # heads concatenated
    out = nn.Dense(d, kernel_init=kernel_init, name="proj")(out)
    return jax.nn.sigmoid(self.lam * out)


class AttentionMaskNeck(nn.Module):
  """The neck `ObjectNeck_AM` on feature maps `[N, M, T', V, D]`.

  Params: {'proj': MLP1D(D, hidden, features), 'attention': AttentionMask}.
  """

  hidden: int = 256
  features: int = 128
  num_heads: int = 8
  lam: float = 2.0
  init_scheme: str = "reference"
  attn_init: str = "reference"  # the attention's qkv / proj init (AttentionMask.init_scheme)
  bn_sums: str = "float32"  # BatchNorm's accumulation (models/batchnorm.py)

  def setup(self):
    self.proj = MLP1D(self.hidden, self.features, init_scheme=self.init_scheme,
                      bn_sums=self.bn_sums)
    self.attention = AttentionMask(num_heads=self.num_heads, lam=self.lam,
                                   init_scheme=self.attn_init)

  def global_branch(self, fmap: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    """`z_x = proj(GAP(F))`, `[N, features]` (the neck's global branch)."""
    return self.proj(global_pool(fmap), train=train)

  def pool_with_mask(self, fmap: jnp.ndarray, mask: jnp.ndarray, *, train: bool):
    """`(z_s, z_ns)`, each `[N, features]`: masked pooling, person mean, `proj` (step 2.4-2.5, 3).

    Args:
      fmap: `[N, M, T', V, D]` features.
      mask: `[N·M, T'·V, D]` soft mask.
      train: BN mode of `proj`.
    """
    s, ns = masked_pool(to_tokens(fmap), mask)
    m = fmap.shape[1]
    z_s = self.proj(person_mean(s, m), train=train)
    z_ns = self.proj(person_mean(ns, m), train=train)
    return z_s, z_ns

  def attention_branch(self, fmap: jnp.ndarray, *, train: bool):
    """`(z_s, z_ns, mask)` of the attention-mask branch.

    The gradient flows through the mask, so the losses train the attention.
    """
    mask = self.attention(to_tokens(fmap))  # [N*M, T'*V, D]
    z_s, z_ns = self.pool_with_mask(fmap, mask, train=train)
    return z_s, z_ns, mask


class SkeAttnEncoder(nn.Module):
  """ST-GCN backbone + attention-mask neck + three predictors.

  Params: {'backbone', 'neck', 'predictor_global', 'predictor_salient', 'predictor_nonsalient'};
  the query and the key encoder share this tree (the key never calls its predictors).
  Features are returned unnormalised; the method L2-normalises them.
  """

  layout: str = "ntu25"
  graph: str = "agcn"
  hidden: int = 64
  out_dim: int = 256
  dropout: float = 0.5
  conv_impl: str = "matmul"
  dtype: Any = None  # the backbone's matmul operand dtype (models/stgcn.py)
  gcn_impl: str = "aggregate_first"  # the backbone's graph-convolution formulation (models/stgcn.py)
  bn_sums: str = "float32"  # BatchNorm's accumulation everywhere (models/batchnorm.py)
  winograd: bool = False  # the backbone's Winograd temporal convolutions (models/stgcn.py)
  strided_xla_conv: bool = False  # the backbone's strided temporal convolutions (models/stgcn.py)
  neck_hidden: int = 256
  feature_dim: int = 128
  predictor_hidden: int = 256
  num_heads: int = 8
  attn_lambda: float = 2.0
  widths: tuple[int, ...] | None = None  # optional custom block plan (tests)
  strides: tuple[int, ...] | None = None
  head_init: str = "reference"  # the neck's and predictors' MLP1D init (heads.head_kernel_init)
  attn_init: str = "reference"  # the attention's qkv / proj init (AttentionMask.init_scheme)
  # True: the predictors are x + MLP1D(x) with a zero last layer (identity at init); the
  # reference's are plain MLP1Ds (False).
  predictor_residual: bool = False

  def setup(self):
    self.backbone = STGCN(layout=self.layout, graph=self.graph, hidden=self.hidden,
                          out_dim=self.out_dim, dropout=self.dropout, num_classes=None,
                          widths=self.widths, strides=self.strides, conv_impl=self.conv_impl,
                          dtype=self.dtype, gcn_impl=self.gcn_impl, bn_sums=self.bn_sums,
                          winograd=self.winograd, strided_xla_conv=self.strided_xla_conv)
    self.neck = AttentionMaskNeck(hidden=self.neck_hidden, features=self.feature_dim,
                                  num_heads=self.num_heads, lam=self.attn_lambda,
                                  init_scheme=self.head_init, attn_init=self.attn_init,
                                  bn_sums=self.bn_sums)
    predictor = functools.partial(MLP1D, self.predictor_hidden, self.feature_dim,
                                  init_scheme=self.head_init, residual=self.predictor_residual,
                                  bn_sums=self.bn_sums)
    self.predictor_global = predictor()
    self.predictor_salient = predictor()
    self.predictor_nonsalient = predictor()

  def feature_map(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    """Backbone features `[N, M, T', V, D]` of clips `[N, M, T, V, C]`."""
    _, aux = self.backbone(x, train=train)
    return aux["feature_map"]

  def encode_query(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    """`predictor_global(z_x(x))`, `[N, features]`: the query view's q_z."""
    return self.predictor_global(self.neck.global_branch(self.feature_map(x, train=train),
                                                         train=train), train=train)

  def encode_mixed(self, x: jnp.ndarray, *, train: bool) -> dict[str, jnp.ndarray]:
    """The mixed view through the attention branch and the predictors (`SkeAttnMask.forward`).

    BN calls, in order: proj(global), proj(salient), proj(non-salient), then the global,
    salient and non-salient predictors. The global prediction 'z' is not used by any loss
    (as in the reference), but its BN call still updates the running statistics.

    Returns:
      {'z', 's', 'ns': `[N, features]` predictions; 'mask': `[N·M, T'·V, D]` soft mask}.
    """
    fmap = self.feature_map(x, train=train)
    z_x = self.neck.global_branch(fmap, train=train)
    z_s, z_ns, mask = self.neck.attention_branch(fmap, train=train)
    return {"z": self.predictor_global(z_x, train=train),
            "s": self.predictor_salient(z_s, train=train),
            "ns": self.predictor_nonsalient(z_ns, train=train),
            "mask": mask}

  def encode_key(self, x: jnp.ndarray, mask: jnp.ndarray, *, train: bool):
    """Key features `(z, z_s, z_ns)`, each `[N, features]`, pooled with a given mask (5.3 step 3).

    Args:
      x: `[N, M, T, V, C]` key clips.
      mask: `[N·M, T'·V, D]` soft mask (the query's, from the mixed view).
      train: BN / dropout mode (the reference's key encoder runs in train mode).
    """
    fmap = self.feature_map(x, train=train)
    z = self.neck.global_branch(fmap, train=train)
    z_s, z_ns = self.neck.pool_with_mask(fmap, mask, train=train)
    return z, z_s, z_ns

  def __call__(self, x: jnp.ndarray, *, train: bool) -> dict[str, jnp.ndarray]:
    """`encode_mixed`; it touches every parameter, so `init` builds the whole tree."""
    return self.encode_mixed(x, train=train)
