"""Frozen features of a pretrained encoder: eval mode, no augmentation (reference-spec 1.8).

The backbone runs with BN running statistics and dropout off, so features are deterministic
and are computed once per split; linear evaluation and KNN then work on the arrays.

In a multi-process run every process embeds its own contiguous share of the clips on its own
devices and the shares are gathered, so each process (process 0 evaluates) gets the features
of all clips in dataset order.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.data import streams
from skel_jax.models.stgcn import STGCN, compute_dtype
from skel_jax.train import sharding


def backbone_from_encoder_config(model_config, layout: str, num_classes=None, *,
                                 no_grad: bool = False) -> STGCN:
  """The backbone of `config.model`; `no_grad=True` for passes that take no gradient (feature
  extraction), which use `model.nograd_conv_impl` (forward-only speed) instead of
  `model.conv_impl`; both formulations share one parameter tree."""
  conv_impl = model_config.conv_impl
  if no_grad:
    conv_impl = model_config.get("nograd_conv_impl", conv_impl)
  return STGCN(layout=layout, graph=model_config.graph, hidden=model_config.hidden,
               out_dim=model_config.out_dim, dropout=model_config.dropout,
               num_classes=num_classes, conv_impl=conv_impl,
               dtype=compute_dtype(model_config.get("dtype", "float32")),
               gcn_impl=model_config.get("gcn_impl", "auto"))


def extract_features(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str,
                     layout, batch_size: int = 256) -> np.ndarray:
  """Pooled `[N, D]` backbone features of clips `x` `[N, M, T, V, C]` in `stream`.

  The last batch is zero-padded to the batch size (one compiled shape) and trimmed. With
  several processes, all must call this: each embeds its `sharding.process_block` of the
  clips and every process returns all N rows.
  """
  start, stop = sharding.process_block(len(x))
  local = _extract_rows(backbone, variables, x[start:stop], stream=stream, layout=layout,
                        batch_size=batch_size)
  return sharding.gather_rows(local, len(x))


def _extract_rows(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str, layout,
                  batch_size: int) -> np.ndarray:
  """Features of `x` on this process's default device."""

  @jax.jit
  def embed(variables, batch):
    batch = streams.to_stream(batch, stream, layout)
    _, aux = backbone.apply(variables, batch, train=False)
    return aux["pooled"]

  n = len(x)
  out = []
  for start in range(0, n, batch_size):
    batch = np.asarray(x[start:start + batch_size], np.float32)
    size = len(batch)
    if size < batch_size:
      pad = np.zeros((batch_size - size, *batch.shape[1:]), np.float32)
      batch = np.concatenate([batch, pad])
    out.append(np.asarray(embed(variables, jnp.asarray(batch)))[:size])
  return np.concatenate(out) if out else np.zeros((0, backbone.out_dim), np.float32)
