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


def active_persons(x: np.ndarray) -> np.ndarray:
  """`[N, M]` bool: which persons of clips `[N, M, T, V, C]` have any non-zero coordinate."""
  return np.any(np.reshape(x, (*x.shape[:2], -1)) != 0, axis=-1)


def extract_features(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str,
                     layout, batch_size: int = 256, desc: str = "features",
                     skip_empty_persons: bool = True) -> np.ndarray:
  """Pooled `[N, D]` backbone features of clips `x` `[N, M, T, V, C]` in `stream`.

  The last batch is zero-padded to the batch size (one compiled shape) and trimmed. A progress
  bar named `desc` counts the clips. With several processes, all must call this: each embeds
  its `sharding.process_block` of the clips and every process returns all N rows.

  `skip_empty_persons`: in eval mode every layer acts on each person on its own (BatchNorm
  uses its running statistics) and the clip's feature is the mean of its persons' pooled
  features, so an all-zero person (NTU RGB+D's padding of single-person clips, about 80 % of
  NTU-60) has the same feature in every clip. Each non-empty person is then embedded once and
  the empty persons' constant once per call: the same features up to float32 rounding, for
  about 1.7x less work on NTU-60 (docs/benchmarks.md).
  """
  start, stop = sharding.process_block(len(x))
  extract = _extract_person_rows if skip_empty_persons and stop > start else _extract_rows
  local = extract(backbone, variables, x[start:stop], stream=stream, layout=layout,
                  batch_size=batch_size, desc=desc)
  return sharding.gather_rows(local, len(x))


def _extract_person_rows(backbone: STGCN, variables: dict, x: np.ndarray, *, stream: str,
                         layout, batch_size: int, desc: str) -> np.ndarray:
  """`_extract_rows` with each non-empty person embedded alone (M = 1), batch_size * M persons
  per call, and the empty person once; reads `x` (possibly a memmap) a batch at a time."""
  n, m = x.shape[:2]
  width = batch_size * m  # persons per call: the work of one batch of clips
  embed = functools.partial(_embed, variables, backbone=backbone, stream=stream, layout=layout)
  sums = None
  persons = np.zeros((0, 1, *x.shape[2:]), np.float32)  # [P, 1, T, V, C] not yet embedded
  owners = np.zeros((0,), np.int64)  # [P] their clips' rows

  def flush(persons, rows):
    nonlocal sums
    size = len(persons)
    if size < width:
      persons = np.concatenate([persons, np.zeros((width - size, *persons.shape[1:]),
                                                   np.float32)])
    features = np.asarray(embed(jnp.asarray(persons)))  # [width, D]
    if sums is None:
      sums = np.zeros((n, features.shape[-1]), np.float32)
    np.add.at(sums, rows, features[:size])  # every person to its clip's row
    return features[-1]  # after padding: an empty person's feature

  active_per_clip = np.zeros((n,), np.int64)
  with progress.bar(n, desc, unit="clip") as bar:
    for start in range(0, n, batch_size):
      batch = np.asarray(x[start:start + batch_size], np.float32)  # [B, M, T, V, C]
      active = active_persons(batch)  # [B, M]
      active_per_clip[start:start + len(batch)] = active.sum(axis=1)
      persons = np.concatenate([persons, batch[active][:, None]])
      owners = np.concatenate([owners, start + np.nonzero(active)[0]])
      while len(persons) >= width:
        flush(persons[:width], owners[:width])
        persons, owners = persons[width:], owners[width:]
      bar.update(len(batch))
    # The rest (fewer than `width`), padded with empty persons, whose feature it also gives.
    empty_feature = flush(persons, owners)
  empty_count = (m - active_per_clip).astype(np.float32)[:, None]  # [N, 1]
  return (sums + empty_count * empty_feature) / np.float32(m)


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
