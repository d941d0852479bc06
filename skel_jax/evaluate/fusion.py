"""Multi-stream score fusion (AimCLR ensemble_ntu_cs.py; Levigty/AimCLR issues #1, #9, #11).

The reference trains one model per input stream (joint, motion, bone; no joint training),
evaluates each with the linear protocol, saves the classifier's **logits** (not softmax
probabilities) on the test set and adds them with fixed weights: joint 0.6, bone 0.6,
motion 0.4 for every dataset (the AimCLR paper states the same weights). The prediction is the
argmax of the weighted sum; top-1 and top-5 are reported.

`fuse_logits` is that weighted sum; `fusion_metrics` reports every stream alone and the fusion.
Any subset of streams and any weights work (e.g. a 2-stream joint + motion fusion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from skel_jax.data import streams as streams_lib
from skel_jax.evaluate.linear import topk_accuracy

# AimCLR's ensemble weights (ensemble_*.py).
DEFAULT_WEIGHTS = {"joint": 0.6, "bone": 0.6, "motion": 0.4}


def weights_for(stream_names: Sequence[str], weights: Sequence[float] | None = None,
                ) -> dict[str, float]:
  """Stream -> weight, from a parallel tuple or the reference defaults.

  Raises:
    ValueError: unknown or repeated streams, or a weight tuple of another length.
  """
  names = tuple(stream_names)
  unknown = [s for s in names if s not in streams_lib.STREAMS]
  if unknown:
    raise ValueError(f"unknown streams {unknown}; known: {streams_lib.STREAMS}")
  if len(set(names)) != len(names) or not names:
    raise ValueError(f"fusion streams must be distinct and non-empty, got {names}")
  if weights is None:
    return {s: DEFAULT_WEIGHTS[s] for s in names}
  weights = tuple(float(w) for w in weights)
  if len(weights) != len(names):
    raise ValueError(f"{len(weights)} fusion weights {weights} for {len(names)} streams {names}")
  return dict(zip(names, weights))


def fuse_logits(logits: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
  """`sum_s w_s * logits_s` in float64, over the streams in `weights`.

  Args:
    logits: stream -> `[N, C]` test logits (same clips in the same order).
    weights: stream -> weight; every stream named here must be in `logits`.

  Returns:
    The fused `[N, C]` scores (float64).

  Raises:
    ValueError: a weighted stream has no logits, or the shapes differ.
  """
  missing = [s for s in weights if s not in logits]
  if missing:
    raise ValueError(f"no logits for streams {missing} (have {sorted(logits)})")
  shapes = {s: np.shape(logits[s]) for s in weights}
  if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
    raise ValueError(f"stream logits must share one [N, C] shape, got {shapes}")
  return sum(float(w) * np.asarray(logits[s], np.float64) for s, w in weights.items())


def fusion_metrics(logits: Mapping[str, np.ndarray], labels, weights: Mapping[str, float],
                   ) -> dict[str, float]:
  """Top-1 / top-5 (percent) of each stream alone and of the weighted fusion.

  Returns:
    `{'<stream>_top1', '<stream>_top5' for each weighted stream, 'fused_top1',
    'fused_top5'}`.

  Raises:
    ValueError: see `fuse_logits`; also when the labels do not match the logits.
  """
  labels = np.asarray(labels)
  fused = fuse_logits(logits, weights)
  if labels.shape != (fused.shape[0],):
    raise ValueError(f"{labels.shape} labels for {fused.shape[0]} fused test clips")
  out = {}
  for s in weights:
    out[f"{s}_top1"] = topk_accuracy(logits[s], labels, 1)
    out[f"{s}_top5"] = topk_accuracy(logits[s], labels, 5)
  out["fused_top1"] = topk_accuracy(fused, labels, 1)
  out["fused_top5"] = topk_accuracy(fused, labels, 5)
  return out
