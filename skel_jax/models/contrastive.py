"""The contrastive encoder: ST-GCN backbone plus projection head, with pooling entry points.

Methods differ in how the final feature map is pooled before the head (global average,
EADM-dropped average, mask pooling over a mixed region, attention masks), so the module
exposes the three stages separately:

* `feature_map(x, train)`: backbone up to the last block, `[N, M, T', V, D]`;
* `project(pooled, train)`: the head on `[N, D]` pooled features;
* `__call__(x, train)`: global average pooling (CrosSCLR net/st_gcn.py Model.forward) and
  the head.

All of them run inside one `Module.apply`, so batch statistics thread through successive
calls in order, as PyTorch's successive encoder calls do in the reference.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from skel_jax.models.heads import MLPHead
from skel_jax.models.stgcn import STGCN, global_pool


class ContrastiveEncoder(nn.Module):
  """ST-GCN backbone (no fc) followed by a projection head; params {'backbone', 'head'}."""

  layout: str = "ntu25"
  graph: str = "stgcn"
  hidden: int = 16
  out_dim: int = 256
  dropout: float = 0.5
  conv_impl: str = "matmul"
  dtype: Any = None
  gcn_impl: str = "aggregate_first"
  bn_sums: str = "float32"  # BatchNorm's accumulation (models/batchnorm.py)
  winograd: bool = False  # the backbone's Winograd temporal convolutions (models/stgcn.py)
  strided_xla_conv: bool = False  # the backbone's strided temporal convolutions (models/stgcn.py)
  head_hidden: int = 256
  feature_dim: int = 128
  head_bn: bool = False
  head_bias: bool = True
  head_init: str = "reference"

  def setup(self):
    self.backbone = STGCN(layout=self.layout, graph=self.graph, hidden=self.hidden,
                          out_dim=self.out_dim, dropout=self.dropout, num_classes=None,
                          conv_impl=self.conv_impl, dtype=self.dtype, gcn_impl=self.gcn_impl,
                          bn_sums=self.bn_sums, winograd=self.winograd,
                          strided_xla_conv=self.strided_xla_conv)
    self.head = MLPHead(hidden=self.head_hidden, features=self.feature_dim, use_bn=self.head_bn,
                        init_scheme=self.head_init, use_bias=self.head_bias,
                        bn_sums=self.bn_sums)

  def feature_map(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    _, aux = self.backbone(x, train=train)
    return aux["feature_map"]

  def project(self, pooled: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    return self.head(pooled, train=train)

  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    return self.project(global_pool(self.feature_map(x, train=train)), train=train)
