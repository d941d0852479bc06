"""Top-level jobs behind the CLI: pretrain, then evaluate (linear, KNN, t-SNE).

`run(config, workdir, mode)` with mode in MODES. Evaluation restores the latest checkpoint of
the workdir (or, with `config.eval.random_init`, evaluates the untrained encoder as a
baseline) and writes `results.json` / `results.md`.
"""

from __future__ import annotations

import logging

import jax
import ml_collections

from skel_jax.evaluate import protocols
from skel_jax.train import checkpoint as ckpt_lib
from skel_jax.train import pretrain as pretrain_lib

log = logging.getLogger(__name__)

MODES = ("all", "pretrain", "eval", "linear", "knn", "tsne")


def _eval_protocols(mode: str) -> tuple[str, ...]:
  return ("linear", "knn", "tsne") if mode in ("all", "eval") else (mode,)


def run(config: ml_collections.ConfigDict, workdir: str, mode: str = "all") -> dict:
  """Runs `mode` on `config` in `workdir`; returns the evaluation results (if any)."""
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
  train, test = pretrain_lib.load_splits(config)
  trainer = pretrain_lib.Pretrainer(config, workdir, train)
  if mode in ("all", "pretrain") and not config.eval.random_init:
    state = trainer.run()
  else:
    state = trainer.init_state()
    if not config.eval.random_init:
      checkpointer = ckpt_lib.Checkpointer(workdir)
      if checkpointer.latest_step() is None:
        raise FileNotFoundError(
            f"no checkpoint in {workdir}/checkpoints to evaluate: run --mode=pretrain first, "
            "or set --config.eval.random_init=True for the random-init baseline")
      state, _ = checkpointer.restore(state)
      checkpointer.close()
  if mode == "pretrain" or jax.process_index() != 0:
    return {}
  tag = "random_init" if config.eval.random_init else ""
  return protocols.evaluate_variables(config, workdir, protocols.backbone_variables(state),
                                      train, test, protocols=_eval_protocols(mode), tag=tag)
