"""Frozen features of a pretrained encoder: eval mode, no augmentation (the reference's
linear evaluation, processor/linear_evaluation.py, runs the encoder the same way).

The backbone runs with BN running statistics and dropout off, so features are deterministic
and are computed once per split; linear evaluation and KNN then work on the arrays.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax import progress
from skel_jax.data import streams
from skel_jax.models.stgcn import STGCN, backbone_kwargs
from skel_jax.train import sharding


def backbone_from_encoder_config(model_config, layout: str, num_classes=None, *,
                                 no_grad: bool = False) -> STGCN:
  """The backbone of `config.model` (`stgcn.backbone_kwargs`); `no_grad=True` for feature
  extraction, which takes no gradient."""
  return STGCN(layout=layout, num_classes=num_classes,
               **backbone_kwargs(model_config, no_grad=no_grad))


# Module level with the backbone static (flax modules hash by their fields): the train and the
# test split share one compilation, where a jit defined inside `extract_features` compiled anew
# on every call.
@functools.partial(jax.jit, static_argnames=("backbone", "stream", "layout"))
def _embed(variables, batch, *, backbone: STGCN, stream: str, layout):
  batch = streams.to_stream(batch, stream, layout)
  _, aux = backbone.apply(variables, batch, train=False)
  return aux["pooled"]


def extract_features(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str,
                     layout, batch_size: int = 256, desc: str = "features") -> np.ndarray:
  """Pooled `[N, D]` backbone features of clips `x` `[N, M, T, V, C]` in `stream`.

  The last batch is zero-padded to the batch size (one compiled shape) and trimmed. A progress
  bar named `desc` counts the clips. With several processes, all must call this: each embeds
  its `sharding.process_block` of the clips and every process returns all N rows.
  """
  start, stop = sharding.process_block(len(x))
  local = _extract_rows(backbone, variables, x[start:stop], stream=stream, layout=layout,
                        batch_size=batch_size, desc=desc)
  return sharding.gather_rows(local, len(x))


def _extract_rows(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str, layout,
                  batch_size: int, desc: str) -> np.ndarray:
  """Features of `x` on this process's default device."""
  n = len(x)
  out = []
  with progress.bar(n, desc, unit="clip") as bar:
    for start in range(0, n, batch_size):
      batch = np.asarray(x[start:start + batch_size], np.float32)
      size = len(batch)
      if size < batch_size:
        pad = np.zeros((batch_size - size, *batch.shape[1:]), np.float32)
        batch = np.concatenate([batch, pad])
      out.append(np.asarray(_embed(variables, jnp.asarray(batch), backbone=backbone,
                                   stream=stream, layout=layout))[:size])
      bar.update(size)
  return np.concatenate(out) if out else np.zeros((0, backbone.out_dim), np.float32)
