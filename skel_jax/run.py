"""Top-level jobs behind the CLI: pretrain, evaluate, transfer and multi-stream runs.

`run(config, workdir, mode)` with mode in MODES:

* `pretrain`: (resume) pretraining; with `train.knn_every_epochs > 0` the KNN monitor
  (evaluate/monitor.py) runs every N epochs and keeps the best-KNN backbone.
* `all`: pretrain, then linear + KNN + t-SNE. `eval`: the same protocols on the latest
  checkpoint. `linear`, `knn`, `tsne`, `finetune`, `semi`: one protocol. `eval_all`: linear,
  KNN, t-SNE, fine-tune and semi-supervised.
* `three_stream`: one run per stream of `eval.fusion.streams` in `{workdir}/<stream>`
  (pretrain + linear + KNN + t-SNE + the fused protocols), then the weighted fusion of their
  test logits into `{workdir}/results.json` / `results.md`. Streams whose results are complete
  and up to date are reused; unfinished pretraining resumes from its checkpoint.

Which weights are evaluated: the latest checkpoint of the workdir; the untrained encoder with
`eval.random_init` (a baseline; results tagged `_random_init`); the best-KNN backbone with
`eval.use_best_knn` (tagged `_best_knn`). With `eval.target_dataset` the protocols run on
another dataset (transfer, spec 5.6; tagged `_to_<dataset>`) whose class count is the
target's; its skeleton layout must have the source's joint count.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re

import jax
import ml_collections
import numpy as np

from skel_jax import config_lib
from skel_jax.data import custom, skeletons
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import files, reference_settings
from skel_jax.evaluate import fusion as fusion_lib
from skel_jax.evaluate import monitor as monitor_lib
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.evaluate import results as results_lib
from skel_jax.evaluate import seeds as seeds_lib
from skel_jax.train import checkpoint as ckpt_lib
from skel_jax.train import pretrain as pretrain_lib

log = logging.getLogger(__name__)

MODES = ("all", "pretrain", "eval", "linear", "knn", "tsne", "finetune", "semi", "eval_all",
         "three_stream")
_MODE_PROTOCOLS = {
    "all": ("linear", "linear_std", "knn", "tsne"),
    "eval": ("linear", "linear_std", "knn", "tsne"), "pretrain": (),
    "eval_all": ("linear", "linear_std", "knn", "tsne", "finetune", "semi"),
}
FUSABLE = ("linear", "finetune")
# Datasets whose layout and class count are known before loading (transfer checks).
_KNOWN_DATASETS = {**config_lib.FULL_DATASETS, "nwucla": ("kinect_v1_20", 10),
                   "demo": ("ntu25", 10)}

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
    return run_three_stream(config, workdir, splits=splits)
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
    splits = pretrain_lib.load_splits(config)
  for i, seed in enumerate(seeds):
    log.info("seed %d (%d of %d) in %s", seed, i + 1, len(seeds), seeds_lib.seed_dir(workdir, seed))
    c = config.copy_and_resolve_references()
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
  target = target_config(config)  # checks the layouts before any data is read
  do_pretrain = pretrain and not config.eval.random_init
  if splits is None and (do_pretrain or (protocols and target is None)):
    splits = pretrain_lib.load_splits(config)
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
    train, test = eval_splits or load_target_splits(config, target)
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


# ---------------------------------------------------------------------------------------------
# Transfer.


def check_layouts(source_layout: str, target_layout: str, source: str, target: str) -> None:
  """Raises unless the target layout has the source's joint count (warns on other names).

  Raises:
    ValueError: the joint counts differ.
  """
  vs = skeletons.get_layout(source_layout).num_joints
  vt = skeletons.get_layout(target_layout).num_joints
  if vs != vt:
    raise ValueError(
        f"transfer from {source!r} (layout {source_layout!r}, {vs} joints) to {target!r} "
        f"(layout {target_layout!r}, {vt} joints) is impossible: the ST-GCN graph and data BN "
        "are per joint, so the target needs the source's skeleton layout")
  if source_layout != target_layout:
    log.warning("transfer: layouts %r and %r differ but have %d joints each; the target's "
                "graph is used with the source's weights", source_layout, target_layout, vs)


def target_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict | None:
  """The config describing the transfer target (`eval.target_dataset`), or None.

  Its `data` section is the target's (dataset, data_dir = `eval.target_data_dir`, layout, class
  count = `eval.target_num_classes` or the dataset's); model and protocols are the source's.

  Raises:
    ValueError: a known target whose layout has another joint count than the source's.
  """
  name = config.eval.get("target_dataset", "")
  if not name:
    return None
  tc = config.copy_and_resolve_references()
  tc.data.dataset = name
  tc.data.data_dir = config.eval.target_data_dir
  if name in _KNOWN_DATASETS:
    tc.data.layout, tc.data.num_classes = _KNOWN_DATASETS[name]
    check_layouts(config.data.layout, tc.data.layout, config.data.dataset, name)
  if name == "demo" and (tc.data.num_train <= 0 or tc.data.num_test <= 0):
    tc.data.num_train, tc.data.num_test = 512, 128
  if config.eval.target_num_classes > 0:
    tc.data.num_classes = int(config.eval.target_num_classes)
  return tc


def load_target_splits(config: ml_collections.ConfigDict,
                       target: ml_collections.ConfigDict) -> Splits:
  """Loads the target's (train, test), checks its layout and sets its class count.

  Raises:
    ValueError: the loaded layout does not fit, or labels exceed the class count.
  """
  train, test = pretrain_lib.load_splits(target)
  check_layouts(config.data.layout, train.layout, config.data.dataset, target.data.dataset)
  target.data.layout = train.layout
  if config.eval.target_num_classes <= 0:
    target.data.num_classes = int(train.num_classes)
  top = int(max(train.y.max(), test.y.max()))
  if top >= target.data.num_classes:
    raise ValueError(f"target {target.data.dataset!r} has label {top} but "
                     f"{target.data.num_classes} classes (eval.target_num_classes)")
  return train, test


# ---------------------------------------------------------------------------------------------
# Multi-stream.


def _config_module(method: str):
  """configs/<method>.py as a module (None when it cannot be found)."""
  try:
    path = config_lib.resolve_config_path(os.path.join("configs", f"{method}.py"))
  except FileNotFoundError:
    return None
  spec = importlib.util.spec_from_file_location(f"skel_jax_configs_{method}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def stream_config(config: ml_collections.ConfigDict, stream: str) -> ml_collections.ConfigDict:
  """A copy of `config` on another input stream.

  Values that the reference sets per stream follow the stream unless they were changed by hand
  (i.e. they still equal the reference value of the original stream): the fine-tune /
  semi-supervised settings (SkeAttnCLR, spec 5.6) and SkeAttnCLR's mu (spec 5.2).
  """
  c = config.copy_and_resolve_references()
  old = c.data.stream
  c.data.stream = stream
  if old == stream:
    return c
  reference_settings.restream(c, old, stream, c.get("preset", ""))
  if "skeattn" in c:
    module = _config_module(c.method)
    reference_mu = getattr(module, "reference_mu", None)
    if reference_mu is not None and c.skeattn.mu == reference_mu(c.data.dataset, old):
      c.skeattn.mu = reference_mu(c.data.dataset, stream)
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
  tag = eval_tag(config)
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
                     splits: Splits | None = None) -> dict:
  """One run per stream in `{workdir}/<stream>` and the weighted fusion of their test logits.

  The streams, weights and fused protocols come from `config.eval.fusion` (default joint /
  motion / bone with the reference's 0.6 / 0.4 / 0.6, linear logits; spec 1.8). Each stream
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
  target = target_config(config)
  need_source = not config.eval.random_init or target is None
  if splits is None and need_source:
    splits = pretrain_lib.load_splits(config)
  eval_splits = load_target_splits(config, target) if target is not None else splits
  num_train = len(splits[0]) if splits is not None else 0
  tag = eval_tag(config)
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
      run_single(sc, sdir, pretrain=True, protocols=protocols, splits=splits,
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
