"""Three-stream runs: one run per input stream and the weighted fusion of their test logits.

`run_three_stream(config, workdir)` (`--mode=three_stream`) runs pretraining and the protocols
of each stream of `eval.fusion.streams` in `{workdir}/<stream>` (skel_jax.run.run_single) and
fuses their classifier logits with `eval.fusion.weights`, as AimCLR's `ensemble_*.py` scripts
do (Levigty/AimCLR: joint 0.6, motion 0.4, bone 0.6). A stream whose results are complete and
up to date is reused (`stream_is_done`); unfinished pretraining resumes from its checkpoint.
"""

from __future__ import annotations

import copy
import logging
import os

import jax
import ml_collections
import numpy as np

from skel_jax import files, transfer
from skel_jax import run as run_lib
from skel_jax.data import registry
from skel_jax.evaluate import fusion as fusion_lib
from skel_jax.evaluate import monitor as monitor_lib
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.evaluate import results as results_lib
from skel_jax.train import checkpoint as ckpt_lib

log = logging.getLogger(__name__)

FUSABLE = ("linear", "finetune")


def stream_config(config: ml_collections.ConfigDict, stream: str) -> ml_collections.ConfigDict:
  """A copy of `config` on another input stream.

  The values the reference sets per stream (SkeAttnCLR's mu and its fine-tune /
  semi-supervised learning rates) are computed from `data.stream` in the config files
  (`config_lib.computed`), so they follow it; a value set by hand has replaced its rule and
  stays. `config` must still hold those references: a `copy_and_resolve_references()` copy
  would keep the old stream's values (run.run_seeds passes a deep copy).
  """
  c = copy.deepcopy(config)
  c.data.stream = stream
  return c


def _latest_checkpoint(workdir: str) -> int | None:
  if not os.path.isdir(os.path.join(workdir, "checkpoints")):
    return None
  checkpointer = ckpt_lib.Checkpointer(workdir)
  latest = checkpointer.latest_step()
  checkpointer.close()
  return latest


def final_step(config: ml_collections.ConfigDict, num_train: int) -> int:
  """The step at which pretraining of `config` on `num_train` clips ends."""
  total = (num_train // int(config.optim.batch_size)) * int(config.optim.epochs)
  return total if config.train.max_steps < 0 else min(total, int(config.train.max_steps))


def stream_is_done(config: ml_collections.ConfigDict, workdir: str,
                   protocols: tuple[str, ...], num_train: int) -> bool:
  """Whether `workdir` already holds up-to-date results of every protocol.

  Up to date: the stored settings equal the config's, the logits files exist, and the weights
  are those the run would evaluate now (random init; the current best-KNN step; or the final
  pretraining checkpoint, which must also be the latest checkpoint).
  """
  res = results_lib.read_results(workdir)
  tag = run_lib.eval_tag(config)
  suffix = f"_{tag}" if tag else ""
  if config.eval.random_init:
    expected: dict = {"weights": "random_init"}
  else:
    # Pretraining must be finished: its final step is the latest checkpoint.
    step = final_step(config, num_train)
    if _latest_checkpoint(workdir) != step:
      return False
    expected = {"weights": "checkpoint", "checkpoint_step": step}
    if config.eval.get("use_best_knn", False):
      try:
        expected = {"weights": "best_knn",
                    "best_knn_step": monitor_lib.read_best_info(workdir)["step"]}
      except FileNotFoundError:
        return False
  for p in protocols:
    if p == "tsne":
      if config.eval.tsne.enabled and not os.path.isfile(
          os.path.join(workdir, f"tsne{suffix}.png")):
        return False
      continue
    for base, settings in protocols_lib.expected_settings(config, p).items():
      entry = res.get(base + suffix)
      if not entry or entry.get("settings") != settings:
        return False
      if any(entry.get("context", {}).get(k) != v for k, v in expected.items()):
        return False
      if p != "knn" and not os.path.isfile(
          os.path.join(workdir, f"{base}{suffix}_test_logits.npy")):
        return False
  return True


def run_three_stream(config: ml_collections.ConfigDict, workdir: str, *,
                     splits: run_lib.Splits | None = None) -> dict:
  """One run per stream in `{workdir}/<stream>` and the weighted fusion of their test logits.

  The streams, weights and fused protocols come from `config.eval.fusion` (default joint /
  motion / bone with the 0.6 / 0.4 / 0.6 of AimCLR's `ensemble_*.py`, linear logits). Each stream
  pretrains (resuming any checkpoint) and runs linear, KNN, t-SNE and the fused protocols;
  streams with complete, up-to-date results are reused as they are (`stream_is_done`).

  Returns:
    A flat dict: `<protocol>_<stream>_top1/5` and `<protocol>_fused_top1/5` per fused
    protocol.

  Raises:
    ValueError: bad fusion settings (unknown streams or protocols, weights of another length).
  """
  fc = config.eval.fusion
  weights = fusion_lib.weights_for(tuple(fc.streams), tuple(fc.weights))
  fused = tuple(fc.protocols)
  bad = [p for p in fused if p not in FUSABLE]
  if bad or not fused:
    raise ValueError(f"eval.fusion.protocols {fused}: choose among {FUSABLE}")
  protocols = ("linear", "linear_std", "knn", "tsne") + tuple(p for p in fused
                                                             if p != "linear")
  target = transfer.target_config(config)
  need_source = not config.eval.random_init or target is None
  if splits is None and need_source:
    splits = registry.load_splits(config)
  eval_splits = transfer.load_target_splits(config, target) if target is not None else splits
  num_train = len(splits[0]) if splits is not None else 0
  tag = run_lib.eval_tag(config)
  suffix = f"_{tag}" if tag else ""
  if jax.process_index() == 0:
    files.atomic_write(os.path.join(workdir, "config.json"),
                       config.to_json_best_effort(indent=2, sort_keys=True) + "\n")

  logits: dict[str, dict[str, np.ndarray]] = {p: {} for p in fused}
  # Entry names of the fused protocols (the same in every stream: only the stream differs).
  names = {p: protocols_lib.result_name(config, p) + suffix for p in fused}
  for stream in weights:
    sc = stream_config(config, stream)
    sdir = os.path.join(workdir, stream)
    if stream_is_done(sc, sdir, protocols, num_train):
      log.info("three_stream: reusing the finished %s run in %s", stream, sdir)
    else:
      log.info("three_stream: running the %s stream in %s", stream, sdir)
      run_lib.run_single(sc, sdir, pretrain=True, protocols=protocols, splits=splits,
                 eval_splits=eval_splits)
    if jax.process_index() == 0:  # only process 0 evaluates and writes the logits
      for p in fused:
        logits[p][stream] = np.load(os.path.join(sdir, f"{names[p]}_test_logits.npy"))

  if jax.process_index() != 0:
    return {}
  labels = eval_splits[1].y
  out = {}
  for p in fused:
    metrics = fusion_lib.fusion_metrics(logits[p], labels, weights)
    name = f"fusion_{names[p]}"
    np.save(os.path.join(workdir, f"{name}_test_logits.npy"),
            fusion_lib.fuse_logits(logits[p], weights).astype(np.float32))
    results_lib.write_results(workdir, name, metrics, {
        "streams": list(weights), "weights": weights, "context": {
            "fused": f"{p} test logits of the last epoch", "method": config.method,
            "dataset": target.data.dataset if target is not None else config.data.dataset,
            "stream_dirs": {s: s for s in weights}}})
    out.update({f"{p}_{k}": v for k, v in metrics.items()})
  return out
