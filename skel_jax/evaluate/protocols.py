"""Downstream protocols on a pretrained backbone: linear, KNN, t-SNE, fine-tune, semi-supervised.

All protocols take the backbone variables (the query encoder without its projection head,
params + BN running statistics) and the (train, test) clips of the dataset evaluated, which is
the pretraining dataset or, for transfer (as SkeAttnCLR's config/SkeAttnCLR/transfer/), another
one with the same skeleton layout.

* linear: the backbone in eval mode, no augmentation, so the frozen features are
  computed once and only a Linear(D -> classes) is trained on them (lr 3.0, SGD 0.9, step
  schedule; evaluate/linear.py). Kept for comparison with the papers; its fixed learning rate
  makes it depend on the scale of the features.
* linear_std: the scale-invariant linear probe: the same features standardised with the
  training split's statistics (a non-affine BatchNorm in front of the classifier, as in MAE's
  linear probing), SGD with a cosine schedule (`config.eval.linear_std`). The fair probe for
  comparing encoders and baselines.
* knn: weighted k-NN on the same features (evaluate/knn.py); k = 1 is plain 1-NN.
* tsne: a t-SNE plot of the test features (`tsne.png`).
* finetune: the whole backbone + a fresh fc, the method's reference schedule from
  `config.eval.finetune` (evaluate/finetune.py: BN-mode switch, real gradient clipping).
* semi: fine-tuning on a class-balanced labelled subset per fraction in
  `config.eval.semi.fractions` (evaluate/semi.py; the subset is saved next to the results).

Every protocol writes its entry to `results.json` / `results.md` (evaluate/results.py) with the
settings it used and where the weights came from (`extra`), and the classifier protocols save
their test logits as `{protocol}_test_logits.npy` (what multi-stream fusion adds up). The final
(last-epoch) and the best-of-evaluations accuracy are both reported and labelled: the reference
repos report the best, which is selected on the test set.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence

import jax
import ml_collections
import numpy as np

from skel_jax import progress
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import features as features_lib
from skel_jax.evaluate import finetune as finetune_lib
from skel_jax.evaluate import knn as knn_lib
from skel_jax.evaluate import linear as linear_lib
from skel_jax.evaluate import results as results_lib
from skel_jax.evaluate import semi as semi_lib

log = logging.getLogger(__name__)

PROTOCOLS = ("linear", "linear_std", "knn", "tsne", "finetune", "semi")
FEATURE_PROTOCOLS = ("linear", "linear_std", "knn", "tsne")
# Baselines evaluated beside the pretrained encoder under the same feature protocols
# (`config.eval.baselines`): the same encoder at its random initialisation, and the input
# itself (the preprocessed clips of the evaluated stream, flattened).
BASELINES = ("random_init", "raw_input")


def backbone_variables(state) -> dict:
  """The query encoder's backbone variables (params + BN running stats) from a TrainState."""
  return {"params": jax.device_get(state.params["backbone"]),
          "batch_stats": jax.device_get(state.batch_stats["backbone"])}


def compute_features(config: ml_collections.ConfigDict, variables: dict, train: ArrayDataset,
                     test: ArrayDataset) -> tuple[np.ndarray, np.ndarray]:
  """Frozen eval-mode backbone features `[N, D]` of both splits."""
  backbone = features_lib.backbone_from_encoder_config(config.model, config.data.layout,
                                                       no_grad=True)
  kw = dict(stream=config.data.stream, layout=config.data.layout,
            batch_size=int(config.eval.batch_size))
  return (features_lib.extract_features(backbone, variables, train.x, desc="features (train)",
                                        **kw),
          features_lib.extract_features(backbone, variables, test.x, desc="features (test)",
                                        **kw))


def _plain(value):
  """JSON round trip (tuples become lists), so stored and current settings compare equal."""
  return json.loads(json.dumps(value))


def protocol_settings(config: ml_collections.ConfigDict, protocol: str) -> dict:
  """The config values a protocol's result depends on (stored with the result, compared when
  a multi-stream run decides whether a stream's earlier result can be reused)."""
  e = config.eval
  if protocol == "linear":
    return _plain(e.linear.to_dict())
  if protocol == "linear_std":
    return _plain(e.linear_std.to_dict())
  if protocol == "knn":
    return _plain(e.knn.to_dict())
  if protocol == "tsne":
    return _plain(e.tsne.to_dict())
  if protocol == "finetune":
    return _plain(finetune_settings(config).to_dict())
  raise ValueError(f"no single settings for protocol {protocol!r}; known: linear, linear_std, "
                   "knn, tsne, finetune (see expected_settings for semi)")


def result_name(config: ml_collections.ConfigDict, base: str) -> str:
  """The results.json entry (and logits file) name of a protocol run, without the weights tag.

  Fine-tuning and semi-supervised runs with normal train-mode BN (`eval.finetune.bn_mode=
  'train'`) get the suffix `_bntrain`, and runs with an augmentation chain
  (`eval.finetune.augment`) `_aug`, and runs whose backbone trains at a fraction of the lr
  (`eval.finetune.backbone_lr_scale`) `_blr<scale>`, so that they sit beside the reference's
  eval-mode BN runs without augmentation of the same checkpoint instead of replacing them.
  """
  trainable = base == "finetune" or base.startswith("semi_")
  if not trainable:
    return base
  if config.eval.finetune.bn_mode == "train":
    base = f"{base}_bntrain"
  if config.eval.finetune.get("augment", ""):
    base = f"{base}_aug"
  scale = float(config.eval.finetune.get("backbone_lr_scale", 1.0))
  if scale != 1.0:
    base = f"{base}_blr{scale:g}"
  return base


def expected_settings(config: ml_collections.ConfigDict, protocol: str) -> dict[str, dict]:
  """Result name (without tag) -> the settings stored with it, for every entry a protocol
  writes: one for linear / knn / finetune, one per fraction for semi ('semi_1pct', ...)."""
  if protocol == "semi":
    return {result_name(config, semi_lib.protocol_name(f)): _plain(s.to_dict())
            for f, s in semi_runs(config)}
  return {result_name(config, protocol): protocol_settings(config, protocol)}


def finetune_settings(config: ml_collections.ConfigDict) -> finetune_lib.FinetuneSettings:
  """`config.eval.finetune` as FinetuneSettings (test chunks of `eval.batch_size`)."""
  return finetune_lib.FinetuneSettings.from_config(
      config.eval.finetune, eval_batch_size=int(config.eval.batch_size))


# Per-epoch values a progress bar can show: info key -> (label, format).
_POSTFIX = {"train_loss": ("loss", ".3f"), "train_acc": ("acc", ".1f"), "top1": ("top1", ".1f")}


def _epoch_callback(bar, train_keys: Sequence[str] = ()):
  """A per-epoch progress callback (`train_linear`, `finetune`) that advances `bar`.

  It shows the epoch's `train_keys` (e.g. 'train_loss', 'train_acc') and the last test top-1,
  which stays on the bar between evaluation epochs (tqdm's set_postfix replaces all values).
  """
  shown = {}

  def update(info: dict) -> None:
    for key in (*train_keys, "top1"):
      if key in info:
        label, fmt = _POSTFIX[key]
        shown[label] = format(info[key], fmt)
    if shown:
      bar.set_postfix(shown, refresh=False)
    bar.update(1)
  return update


def run_linear(config, train_f, train_y, test_f, test_y, num_classes, *, seed=0) -> dict:
  """Linear evaluation on frozen features; metrics plus `_test_logits` and `_history`."""
  lc = config.eval.linear
  t0 = time.time()
  with progress.bar(lc.epochs, "linear probe", unit="epoch") as bar:
    out = linear_lib.train_linear(
        train_f, train_y, test_f, test_y, num_classes=num_classes, epochs=lc.epochs, lr=lc.lr,
        lr_steps=tuple(lc.lr_steps), batch_size=lc.batch_size, weight_decay=lc.weight_decay,
        eval_every=lc.eval_every, seed=seed, progress=_epoch_callback(bar))
  return {"linear_top1_final": out["final_top1"], "linear_top5_final": out["final_top5"],
          "linear_top1_best_of_evals": out["best_top1"], "linear_best_epoch": out["best_epoch"],
          "linear_seconds": time.time() - t0,
          "_test_logits": np.asarray(out["test_logits"]), "_history": out["history"]}


def run_linear_std(config, train_f, train_y, test_f, test_y, num_classes, *, seed=0) -> dict:
  """The scale-invariant linear probe: standardised features (`linear.standardize`), then a
  linear classifier with the settings of `config.eval.linear_std`."""
  sc = config.eval.linear_std
  t0 = time.time()
  s_train, s_test = linear_lib.standardize(train_f, test_f)
  with progress.bar(sc.epochs, "scale-invariant linear probe", unit="epoch") as bar:
    out = linear_lib.train_linear(
        s_train, train_y, s_test, test_y, num_classes=num_classes, epochs=sc.epochs, lr=sc.lr,
        lr_steps=(), schedule=sc.schedule, batch_size=sc.batch_size,
        weight_decay=sc.weight_decay, eval_every=sc.eval_every, seed=seed,
        progress=_epoch_callback(bar))
  return {"linear_std_top1_final": out["final_top1"], "linear_std_top5_final": out["final_top5"],
          "linear_std_top1_best_of_evals": out["best_top1"],
          "linear_std_best_epoch": out["best_epoch"], "linear_std_seconds": time.time() - t0,
          "_test_logits": np.asarray(out["test_logits"]), "_history": out["history"]}


def raw_input_features(config: ml_collections.ConfigDict, train: ArrayDataset,
                       test: ArrayDataset) -> tuple[np.ndarray, np.ndarray]:
  """The raw-input baseline's features: the preprocessed clips in the evaluated stream,
  flattened to `[N, M * T * V * C]`."""
  from skel_jax.data import streams  # pylint: disable=g-import-not-at-top

  def flat(x):
    x = streams.to_stream(np.asarray(x, np.float32), config.data.stream, config.data.layout)
    return np.asarray(x, np.float32).reshape(x.shape[0], -1)  # [N, M*T*V*C]

  return flat(train.x), flat(test.x)


def run_knn(config, train_f, train_y, test_f, test_y, num_classes) -> dict:
  """Weighted k-NN top-1 (percent) for every k of `config.eval.knn`."""
  kc = config.eval.knn
  ks = tuple(int(k) for k in kc.ks)
  out = knn_lib.knn_accuracy(train_f, train_y, test_f, test_y, num_classes=num_classes, ks=ks,
                             t=float(kc.temperature))
  return {key: float(v) for key, v in out.items()}


def run_finetune(config: ml_collections.ConfigDict, variables: dict, train: ArrayDataset,
                 test: ArrayDataset, num_classes: int, *, name: str = "finetune",
                 settings: finetune_lib.FinetuneSettings | None = None) -> dict:
  """Fine-tunes the backbone on `train` and evaluates on `test`.

  Returns:
    Metrics named `{name}_top1_final`, `{name}_top5_final`, `{name}_top1_best_of_evals`,
    `{name}_best_epoch`, `{name}_seconds`, plus `_test_logits`, `_history`, `_epoch_log`.
  """
  settings = settings or finetune_settings(config)
  backbone = features_lib.backbone_from_encoder_config(config.model, config.data.layout)
  t0 = time.time()
  with progress.bar(settings.epochs, name, unit="epoch") as bar:
    out = finetune_lib.finetune(backbone, variables, train.x, train.y, test.x, test.y,
                                num_classes=num_classes, settings=settings,
                                stream=config.data.stream, layout=config.data.layout,
                                seed=int(config.seed),
                                progress=_epoch_callback(bar, ("train_loss", "train_acc")))
  return {f"{name}_top1_final": out["final_top1"], f"{name}_top5_final": out["final_top5"],
          f"{name}_top1_best_of_evals": out["best_top1"], f"{name}_best_epoch": out["best_epoch"],
          f"{name}_seconds": time.time() - t0, f"{name}_num_train": out["num_train"],
          "_test_logits": out["test_logits"], "_history": out["history"],
          "_epoch_log": out["epoch_log"]}


def semi_runs(config: ml_collections.ConfigDict) -> list[tuple[float, finetune_lib.FinetuneSettings]]:
  """(fraction, settings) of every semi-supervised run in `config.eval.semi`."""
  base = finetune_settings(config)
  fractions = tuple(float(f) for f in config.eval.semi.fractions)
  return [(f, finetune_lib.settings_for_semi(base, config.eval.semi, i))
          for i, f in enumerate(fractions)]


def _save_logits(workdir: str, protocol: str, logits: np.ndarray) -> str:
  path = os.path.join(workdir, f"{protocol}_test_logits.npy")
  np.save(path, np.asarray(logits, np.float32))
  return path


def _write(workdir: str, protocol: str, metrics: dict, extra: dict) -> dict:
  """Writes the public metrics (no '_' keys) + extra; returns the public metrics."""
  public = {k: v for k, v in metrics.items() if not k.startswith("_")}
  results_lib.write_results(workdir, protocol, public, extra)
  return public


def evaluate_variables(config: ml_collections.ConfigDict, workdir: str, variables: dict,
                       train: ArrayDataset, test: ArrayDataset, *,
                       protocols: Sequence[str] = ("linear", "knn", "tsne"), tag: str = "",
                       extra: Mapping | None = None) -> dict:
  """Runs the protocols on the given backbone variables and writes the results.

  Args:
    config: the config; `config.data` describes the dataset evaluated (for transfer, the
      target's), `config.model` the backbone.
    workdir: where results.json / results.md, logits, subsets and plots go.
    variables: backbone `{'params', 'batch_stats'}`.
    train: training clips of the evaluated dataset (joint coordinates).
    test: test clips.
    protocols: any of PROTOCOLS.
    tag: appended to every protocol name (`linear_{tag}`), e.g. 'random_init'.
    extra: stored under 'context' in every protocol's entry (where the weights came from),
      next to the dataset, stream, class and clip counts.

  Multi-process runs: every process must call this; all compute the features together
  (features.extract_features), then process 0 alone runs the protocols and writes, and the
  other processes return {}.

  Returns:
    The metrics of all protocols in one flat dict (plus 'tsne_png' when plotted).

  Raises:
    ValueError: an unknown protocol.
  """
  unknown = [p for p in protocols if p not in PROTOCOLS]
  if unknown:
    raise ValueError(f"unknown protocols {unknown}; known: {PROTOCOLS}")
  results: dict = {}
  if any(p in FEATURE_PROTOCOLS for p in protocols):
    t0 = time.time()
    train_f, test_f = compute_features(config, variables, train, test)
    results["feature_seconds"] = time.time() - t0
  if jax.process_index() != 0:
    return {}
  os.makedirs(workdir, exist_ok=True)
  suffix = f"_{tag}" if tag else ""
  num_classes = int(config.data.num_classes)
  # Nested, so that results.md lists only the metrics; the report and the multi-stream reuse
  # check read it from results.json.
  base_extra = base_context(config, train, test, extra)
  if any(p in FEATURE_PROTOCOLS for p in protocols):
    results.update(evaluate_features(config, workdir, train_f, test_f, train, test,
                                     protocols=protocols, tag=tag, extra=base_extra))
  if "finetune" in protocols:
    name = result_name(config, "finetune") + suffix
    ft = run_finetune(config, variables, train, test, num_classes)
    _save_logits(workdir, name, ft["_test_logits"])
    results.update(_write(workdir, name, ft, {
        **base_extra, "settings": protocol_settings(config, "finetune"),
        "history": ft["_history"], "epoch_log": ft["_epoch_log"]}))
  if "semi" in protocols:
    results.update(run_semi_protocols(config, workdir, variables, train, test, num_classes,
                                      suffix=suffix, extra=base_extra))
  return results


def base_context(config: ml_collections.ConfigDict, train: ArrayDataset, test: ArrayDataset,
                 extra: Mapping | None = None) -> dict:
  """The 'context' stored with every result: method, dataset, stream, counts, weights."""
  return {"context": {"method": config.method, "dataset": config.data.dataset,
                      "stream": config.data.stream, "num_classes": int(config.data.num_classes),
                      "num_train": len(train), "num_test": len(test), **dict(extra or {})}}


def evaluate_features(config: ml_collections.ConfigDict, workdir: str, train_f: np.ndarray,
                      test_f: np.ndarray, train: ArrayDataset, test: ArrayDataset, *,
                      protocols: Sequence[str], tag: str = "", extra: Mapping | None = None,
                      tsne: bool = True) -> dict:
  """Runs the feature protocols (linear, linear_std, knn, tsne) of `protocols` on given
  features `[N, D]` and writes their results (names suffixed with `_{tag}`)."""
  suffix = f"_{tag}" if tag else ""
  num_classes = int(config.data.num_classes)
  base_extra = dict(extra or {})
  results: dict = {}
  if "linear" in protocols:
    lin = run_linear(config, train_f, train.y, test_f, test.y, num_classes, seed=config.seed)
    name = f"linear{suffix}"
    _save_logits(workdir, name, lin["_test_logits"])
    results.update(_write(workdir, name, lin, {
        **base_extra, "settings": protocol_settings(config, "linear"),
        "history": [list(h) for h in lin["_history"]]}))
  if "linear_std" in protocols:
    lin = run_linear_std(config, train_f, train.y, test_f, test.y, num_classes,
                         seed=config.seed)
    name = f"linear_std{suffix}"
    _save_logits(workdir, name, lin["_test_logits"])
    results.update(_write(workdir, name, lin, {
        **base_extra, "settings": protocol_settings(config, "linear_std"),
        "history": [list(h) for h in lin["_history"]]}))
  if "knn" in protocols:
    knn = run_knn(config, train_f, train.y, test_f, test.y, num_classes)
    results.update(_write(workdir, f"knn{suffix}", knn, {
        **base_extra, "settings": protocol_settings(config, "knn")}))
  if tsne and "tsne" in protocols and config.eval.tsne.enabled:
    from skel_jax.evaluate import tsne  # pylint: disable=g-import-not-at-top
    path = os.path.join(workdir, f"tsne{suffix}.png")
    tsne.plot_tsne(test_f, test.y, path, class_names=class_names(config),
                   title=f"{config.method} {config.data.dataset} "
                   f"({config.data.stream}) test embeddings{' ' + tag if tag else ''}",
                   max_points=int(config.eval.tsne.max_points), seed=config.seed)
    results["tsne_png"] = path
  return results


def class_names(config: ml_collections.ConfigDict) -> list[str] | None:
  """The names behind labels 0, 1, ... for plot legends: the demo's actions, NW-UCLA's (from
  its reader, `registry.CLASS_NAMES`), or those in a prepared custom dataset's info.json; None
  (numbers) for the other datasets."""
  from skel_jax.data import custom, registry, synthetic  # pylint: disable=g-import-not-at-top
  if config.data.dataset == "demo":
    return synthetic.class_names(int(config.data.num_classes),
                                 tuple(config.data.get("demo_classes", ())) or None)
  if config.data.dataset in registry.CLASS_NAMES:
    return list(registry.CLASS_NAMES[config.data.dataset])
  folder = custom.dataset_folder(config.data.dataset, config.data.get("data_dir") or None)
  if folder is None:
    return None
  names = custom.read_info(folder).get("class_names")
  return [str(n) for n in names] if names else None


def run_semi_protocols(config: ml_collections.ConfigDict, workdir: str, variables: dict,
                       train: ArrayDataset, test: ArrayDataset, num_classes: int, *,
                       suffix: str = "", extra: Mapping | None = None) -> dict:
  """One semi-supervised fine-tuning per fraction; saves each subset next to its results."""
  results = {}
  seed = int(config.eval.semi.seed)
  for fraction, settings in semi_runs(config):
    base = semi_lib.protocol_name(fraction)
    name = result_name(config, base) + suffix
    idx = semi_lib.class_balanced_subset(train.y, fraction, seed)
    record = semi_lib.describe_subset(idx, train.y, train.names, fraction, seed)
    subset_path = semi_lib.save_subset(workdir, name, record)
    log.info("%s: %d labelled clips of %d (seed %d)", name, len(idx), len(train), seed)
    out = run_finetune(config, variables, train.subset(idx), test, num_classes, name=base,
                       settings=settings)
    _save_logits(workdir, name, out["_test_logits"])
    results.update(_write(workdir, name, out, {
        **dict(extra or {}), "settings": _plain(settings.to_dict()),
        "subset": {k: record[k] for k in ("fraction", "seed", "size", "per_class", "sha1")},
        "subset_file": os.path.basename(subset_path),
        "history": out["_history"], "epoch_log": out["_epoch_log"]}))
  return results
