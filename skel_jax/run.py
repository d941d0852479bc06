"""Top-level jobs behind the CLI: one run (pretrain and evaluate), and the seeds of a run.

`run(config, workdir, mode)` with mode in MODES:

* `pretrain`: (resume) pretraining; with `train.knn_every_epochs > 0` the KNN monitor
  (evaluate/monitor.py) runs every N epochs and keeps the best-KNN backbone.
* `all`: pretrain, then linear + KNN + t-SNE. `eval`: the same protocols on the latest
  checkpoint. `linear`, `knn`, `tsne`, `finetune`, `semi`: one protocol. `eval_all`: linear,
  KNN, t-SNE, fine-tune and semi-supervised.
* `three_stream`: one run per stream of `eval.fusion.streams` in `{workdir}/<stream>`
  (pretrain + linear + KNN + t-SNE + the fused protocols), then the weighted fusion of their
  test logits into `{workdir}/results.json` / `results.md`. Streams whose results are complete
  and up to date are reused; unfinished pretraining resumes from its checkpoint
  (skel_jax/fusion_run.py).

Which weights are evaluated: the latest checkpoint of the workdir; the untrained encoder with
`eval.random_init` (a baseline; results tagged `_random_init`); the best-KNN backbone with
`eval.use_best_knn` (tagged `_best_knn`). With `eval.target_dataset` the protocols run on
another dataset (skel_jax/transfer.py; tagged `_to_<dataset>`) whose class count is the
target's; its skeleton layout must have the source's joint count.
"""

from __future__ import annotations

import copy
import logging
import os
import re

import jax
import ml_collections

from skel_jax import config_lib, files, transfer
from skel_jax.data import custom, registry
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import monitor as monitor_lib
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.evaluate import seeds as seeds_lib
from skel_jax.train import pretrain as pretrain_lib

log = logging.getLogger(__name__)

MODES = ("all", "pretrain", "eval", "linear", "knn", "tsne", "finetune", "semi", "eval_all",
         "three_stream")
_MODE_PROTOCOLS = {
    "all": ("linear", "linear_std", "knn", "tsne"),
    "eval": ("linear", "linear_std", "knn", "tsne"), "pretrain": (),
    "eval_all": ("linear", "linear_std", "knn", "tsne", "finetune", "semi"),
}

Splits = tuple[ArrayDataset, ArrayDataset]


def mode_protocols(mode: str) -> tuple[str, ...]:
  """The evaluation protocols a mode runs (none for 'pretrain')."""
  return _MODE_PROTOCOLS.get(mode, (mode,))


def run(config: ml_collections.ConfigDict, workdir: str, mode: str = "all", *,
        splits: Splits | None = None) -> dict:
  """Runs `mode` on `config` in `workdir`; returns the evaluation results (if any).

  Args:
    config: a configs/<method>.py config.
    workdir: the run directory.
    mode: one of MODES.
    splits: optional preloaded (train, test) of `config.data` (tests, notebooks); loaded
      from the config when None.

  Raises:
    ValueError: an unknown mode, or a transfer target whose layout does not fit.
    FileNotFoundError: evaluation without a checkpoint (or best-KNN file) to evaluate.
  """
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
  prepare_config(config)
  if mode == "three_stream":
    # Imported here: fusion_run runs its streams with run_single of this module.
    from skel_jax import fusion_run  # pylint: disable=g-import-not-at-top
    return fusion_run.run_three_stream(config, workdir, splits=splits)
  return run_single(config, workdir, pretrain=mode in ("all", "pretrain"),
                    protocols=mode_protocols(mode), splits=splits)


def prepare_config(config: ml_collections.ConfigDict) -> None:
  """Completes a config from its dataset (in place): a prepared custom dataset sets its layout
  and classes, and the `custom` preset's sizes follow its training set.

  Raises:
    ValueError: sizes still unset (the `custom` preset without a prepared custom dataset).
  """
  custom.apply_dataset_info(config, sizing=config_lib.size_from_training_set)
  config_lib.check_sized(config)


def run_seeds(config: ml_collections.ConfigDict, workdir: str, mode: str,
              seeds: tuple[int, ...], *, splits: Splits | None = None) -> dict:
  """Runs `mode` once per seed in `{workdir}/seed_<s>` (resuming finished or interrupted
  seeds) and writes the mean, standard deviation and worst seed of every accuracy into
  `{workdir}/results.json` / `results.md` (evaluate/seeds.py).

  The seed changes the initialisation, the augmentation draws and the batch order; the data
  stay the same (the demo data follow `data.demo_seed`). Datasets are loaded once.

  Returns:
    The aggregate (protocol -> {metric: mean, metric_std, metric_worst, per_seed}), or {} for
    `--mode=pretrain`.
  """
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
  prepare_config(config)
  if splits is None:
    splits = registry.load_splits(config)
  for i, seed in enumerate(seeds):
    log.info("seed %d (%d of %d) in %s", seed, i + 1, len(seeds), seeds_lib.seed_dir(workdir, seed))
    # A copy that keeps the config's references: a three-stream run moves the stream-dependent
    # values (SkeAttnCLR's mu and fine-tune lr) with the stream (fusion_run.stream_config).
    c = copy.deepcopy(config)
    c.seed = int(seed)
    run(c, seeds_lib.seed_dir(workdir, seed), mode, splits=splits)
  evaluates = mode == "three_stream" or bool(mode_protocols(mode))
  if not evaluates or jax.process_index() != 0:
    return {}
  files.atomic_write(os.path.join(workdir, "config.json"),
                     config.to_json_best_effort(indent=2, sort_keys=True) + "\n")
  return seeds_lib.write_summary(workdir, seeds)


# ---------------------------------------------------------------------------------------------
# One stream.


def run_single(config: ml_collections.ConfigDict, workdir: str, *, pretrain: bool,
               protocols: tuple[str, ...], splits: Splits | None = None,
               eval_splits: Splits | None = None) -> dict:
  """(Resume) pretraining when asked, then the protocols on the chosen weights.

  Args:
    config: the config.
    workdir: the run directory.
    pretrain: run / resume pretraining first (skipped with `eval.random_init`).
    protocols: evaluation protocols (protocols.PROTOCOLS); () for none.
    splits: preloaded source (train, test), else loaded when needed.
    eval_splits: preloaded transfer-target (train, test), else loaded when needed.

  Returns:
    The flat results dict of `protocols.evaluate_variables` ({} without protocols).
  """
  target = transfer.target_config(config)  # checks the layouts before any data is read
  do_pretrain = pretrain and not config.eval.random_init
  if splits is None and (do_pretrain or (protocols and target is None)):
    splits = registry.load_splits(config)
  state = None
  if do_pretrain:
    train, test = splits
    trainer = pretrain_lib.Pretrainer(config, workdir, train)
    knn_monitor = None
    if jax.process_count() == 1:  # the monitor reads the state on one host
      knn_monitor = monitor_lib.build_monitor(config, workdir, train, test,
                                              steps_per_epoch=trainer.steps_per_epoch)
    elif config.train.get("knn_every_epochs", 0):
      log.warning("train.knn_every_epochs is ignored in a multi-process run: the KNN monitor "
                  "runs with one process only")
    state = trainer.run(knn_monitor)
  if not protocols:
    return {}
  # Every process takes part up to the features (restoring a checkpoint and computing the
  # features are collective); process 0 alone then evaluates and writes.
  variables, info = eval_variables(config, workdir, state)
  if target is None:
    eval_config, (train, test) = config, splits
  else:
    eval_config = target
    train, test = eval_splits or transfer.load_target_splits(config, target)
  results = protocols_lib.evaluate_variables(eval_config, workdir, variables, train, test,
                                             protocols=protocols, tag=eval_tag(config),
                                             extra=info)
  results.update(run_baselines(config, eval_config, workdir, train, test, protocols))
  return results


def run_baselines(config: ml_collections.ConfigDict, eval_config: ml_collections.ConfigDict,
                  workdir: str, train: ArrayDataset, test: ArrayDataset,
                  protocols: tuple[str, ...]) -> dict:
  """The baselines of `config.eval.baselines` under the protocols of `protocols`.

  Run beside a pretrained encoder's evaluation (not when the random-init or best-KNN weights
  are what is evaluated): `random_init` is the same encoder at its seed's initialisation
  (under fine-tuning and semi-supervised protocols: the encoder trained from scratch),
  `raw_input` the flattened preprocessed clips (feature protocols only). Results are tagged `_random_init` /
  `_raw_input`, and results.md shows the pretrained encoder's gain over each.

  Raises:
    ValueError: an unknown baseline name.
  """
  feature_protocols = tuple(p for p in protocols if p in ("linear", "linear_std", "knn"))
  # Fine-tuning / semi-supervised from the random init = the same encoder trained from scratch.
  trained_protocols = tuple(p for p in protocols if p in ("finetune", "semi"))
  baselines = tuple(config.eval.get("baselines", ()))
  unknown = [b for b in baselines if b not in protocols_lib.BASELINES]
  if unknown:
    raise ValueError(f"unknown eval.baselines {unknown}; known: {protocols_lib.BASELINES}")
  if (not feature_protocols and not trained_protocols) or config.eval.random_init or \
      config.eval.get("use_best_knn", False):
    return {}
  tag = eval_tag(config)
  results = {}
  for name in baselines:
    full_tag = "_".join(filter(None, (name, tag)))
    out: dict = {}
    if name == "random_init":
      random_config = config.copy_and_resolve_references()
      random_config.eval.random_init = True
      variables, info = eval_variables(random_config, workdir)
      out = protocols_lib.evaluate_variables(
          eval_config, workdir, variables, train, test,
          protocols=feature_protocols + trained_protocols, tag=full_tag, extra=info)
    elif feature_protocols and jax.process_index() == 0:  # no device work: process 0 alone
      train_f, test_f = protocols_lib.raw_input_features(eval_config, train, test)
      out = protocols_lib.evaluate_features(
          eval_config, workdir, train_f, test_f, train, test, protocols=feature_protocols,
          tag=full_tag, extra=protocols_lib.base_context(eval_config, train, test,
                                                         {"weights": "raw_input"}))
    # Keys of the returned dict name the baseline, so they cannot shadow the encoder's.
    results.update({f"{full_tag}/{k}": v for k, v in out.items()})
  return results


def eval_tag(config: ml_collections.ConfigDict) -> str:
  """'' or the suffix naming non-default evaluation weights / data ('random_init',
  'best_knn', 'to_<target>', joined by '_')."""
  parts = []
  if config.eval.random_init:
    parts.append("random_init")
  elif config.eval.get("use_best_knn", False):
    parts.append("best_knn")
  target = config.eval.get("target_dataset", "")
  if target:
    name = os.path.basename(target.rstrip("/")) if ":" in target else target
    parts.append("to_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name))
  return "_".join(parts)


def eval_variables(config: ml_collections.ConfigDict, workdir: str,
                   state=None) -> tuple[dict, dict]:
  """The backbone variables to evaluate and a record of where they came from.

  Order: `eval.random_init` (the encoder at its seed's init), `eval.use_best_knn`
  (`{workdir}/best_knn.npz`), the given state, the latest checkpoint of the workdir.

  Raises:
    FileNotFoundError: no checkpoint / best-KNN file to evaluate.
  """
  if config.eval.random_init:
    if state is None:
      state = pretrain_lib.Pretrainer(config, workdir,
                                      pretrain_lib.placeholder_dataset(config)).init_state()
    return protocols_lib.backbone_variables(state), {"weights": "random_init"}
  if config.eval.get("use_best_knn", False):
    variables, info = monitor_lib.load_best_variables(workdir)
    return variables, {"weights": "best_knn", "best_knn_epoch": info["epoch"],
                       "best_knn_step": info["step"], "best_knn_k": info["k"],
                       "best_knn_top1": info["top1"]}
  if state is None:
    state = pretrain_lib.restore_checkpoint(
        config, workdir, hint=" to evaluate: run --mode=pretrain first, or set "
        "--config.eval.random_init=True for the random-init baseline")
  return (protocols_lib.backbone_variables(state),
          {"weights": "checkpoint", "checkpoint_step": int(jax.device_get(state.step))})
