"""KNN monitoring during pretraining and the best-KNN backbone.

`KnnMonitor(state) -> {'knn/top1@k': ...}` is the `knn_monitor` of `Pretrainer.run`, called every
`config.train.knn_every_epochs` epochs; the scalars go to `metrics.jsonl` and TensorBoard with
the training scalars. It runs the weighted k-NN of SkeleMixCLR (czhaneva/SkeleMixCLR)
processor/knn_monitor.py `knn_predict` (InstDisc: bank = L2-normalised
training features, top-k neighbours weighted by `exp(s / t)`, k in `eval.knn.ks`, t =
`eval.knn.temperature`; reference k 10/20/40, t 0.1) with training features as the bank and
test features as the queries.

Differences to the reference, on purpose (switches in `config.eval.knn_monitor`):

* features: by default the **backbone's pooled 256-d features in eval mode** (BN running
  statistics, no dropout), the features that linear evaluation and the final KNN use, so the
  monitor tracks what the downstream protocols will see. The reference monitors the
  **projection-head** output (SkeleMixCLR: `encoder_q` with its MLP, 128-d; SkeAttnCLR: neck
  `z_x` followed by `predictor`): `features='head'` gives that (the model's `encode_query`
  when it has one, i.e. SkeAttnCLR's predictor on the global branch, else the projection).
* augmentation: by default **none**, so two calls on the same weights agree and the numbers
  are comparable across epochs. The reference augments both bank and queries (shear 0.5,
  temporal shift 6); `augment='temporal_shift(6)|shear(0.5)'` (any augmentation spec string,
  drawn with a key folded from the seed and the step) does the same.
* `max_train` / `max_test` subsample the bank and the queries (deterministically, from the
  seed) to bound the cost on large datasets; 0 keeps everything.

With `keep_best=True` (default) the backbone variables of the best monitored accuracy (top-1
at k = `best_k`, default the first of `eval.knn.ks`) are saved to `{workdir}/best_knn.npz`
with `{workdir}/best_knn.json` (epoch, step, k, accuracy, all scalars). A resumed run reads the
JSON back and only replaces the file on a strict improvement. SkeAttnCLR's author selects the
checkpoint this way (GitHubOfHyl97/SkeAttnCLR issue #1): it is model selection on the test set,
and reports
should say so. `config.eval.use_best_knn` makes the evaluation use this backbone.
"""

from __future__ import annotations

import json
import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from skel_jax import files, methods
from skel_jax.data import streams
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import features as features_lib
from skel_jax.evaluate import knn as knn_lib
from skel_jax.evaluate import tsne as tsne_lib

log = logging.getLogger(__name__)

BEST_NPZ = "best_knn.npz"
BEST_JSON = "best_knn.json"
FEATURES = ("backbone", "head")


def subsample(num: int, max_num: int, seed: int) -> np.ndarray:
  """Sorted indices of a deterministic subset of `min(num, max_num)` items (all if max_num<=0)."""
  if max_num <= 0:
    return np.arange(num)
  return tsne_lib.subsample_indices(num, max_num, seed)


def best_k(config: ml_collections.ConfigDict) -> int:
  """The k whose top-1 selects the best-KNN backbone (`knn_monitor.best_k`, else ks[0])."""
  k = int(config.eval.knn_monitor.get("best_k", 0))
  return k if k > 0 else int(tuple(config.eval.knn.ks)[0])


class KnnMonitor:
  """Weighted k-NN accuracy of the current pretraining state (see the module docstring)."""

  def __init__(self, config: ml_collections.ConfigDict, train: ArrayDataset,
               test: ArrayDataset, *, workdir: str | None = None, steps_per_epoch: int = 1,
               features: str | None = None, augment: str | None = None,
               keep_best: bool | None = None):
    """Prepares the bank / query clips and the jitted feature function.

    Args:
      config: the run's config (model, method, stream, eval.knn and eval.knn_monitor).
      train: the bank clips (joint coordinates, `[N, M, T, V, C]`).
      test: the query clips.
      workdir: where best_knn.npz / .json go (required with keep_best).
      steps_per_epoch: converts the state's step into the epoch reported.
      features: 'backbone' or 'head'; default `eval.knn_monitor.features`.
      augment: augmentation spec ('' = none); default `eval.knn_monitor.augment`.
      keep_best: save the best backbone; default `eval.knn_monitor.keep_best`.

    Raises:
      ValueError: unknown feature kind, or keep_best without a workdir.
    """
    mc = config.eval.knn_monitor
    self.config = config
    self.features = features if features is not None else str(mc.features)
    if self.features not in FEATURES:
      raise ValueError(f"unknown knn_monitor.features {self.features!r}; known: {FEATURES}")
    self.augment = augment if augment is not None else str(mc.augment)
    self.keep_best = bool(mc.keep_best) if keep_best is None else keep_best
    if self.keep_best and not workdir:
      raise ValueError("KnnMonitor(keep_best=True) needs a workdir to save best_knn.npz in")
    self.workdir = workdir
    self.steps_per_epoch = max(1, int(steps_per_epoch))
    self.ks = tuple(int(k) for k in config.eval.knn.ks)
    self.t = float(config.eval.knn.temperature)
    self.best_k = best_k(config)
    self.num_classes = int(config.data.num_classes)
    self.batch_size = int(config.eval.batch_size)
    self.seed = int(config.seed)
    tr = subsample(len(train), int(mc.max_train), self.seed)
    te = subsample(len(test), int(mc.max_test), self.seed + 1)
    self.train_x, self.train_y = train.x[tr], train.y[tr]
    self.test_x, self.test_y = test.x[te], test.y[te]
    self.best = self._read_best()
    self._embed = self._make_embed(config)

  # -- features --------------------------------------------------------------------------
  def _make_embed(self, config):
    layout = config.data.layout
    stream = config.data.stream
    aug = None
    if self.augment and self.augment != "identity":
      from skel_jax.augment import registry  # pylint: disable=g-import-not-at-top
      aug = registry.build(self.augment, layout)
    if self.features == "backbone":
      module = features_lib.backbone_from_encoder_config(config.model, layout, no_grad=True)

      def encode(variables, x):
        return module.apply(variables, x, train=False)[1]["pooled"]
    else:
      module = methods.get_method(config.method)(config, layout).model
      method_name = "encode_query" if hasattr(module, "encode_query") else None

      def encode(variables, x):
        if method_name is None:
          return module.apply(variables, x, train=False)
        return module.apply(variables, x, train=False, method=method_name)

    @jax.jit
    def embed(variables, batch, rng):
      if aug is not None:  # as in the reference: the stream is computed after the augmentation
        batch = aug(rng, batch)
      return encode(variables, streams.to_stream(batch, stream, layout))

    return embed

  def variables_of(self, state) -> dict:
    """The variables the monitor's features use: the backbone's, or the whole encoder's."""
    if self.features == "backbone":
      return {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
    return {"params": state.params, "batch_stats": state.batch_stats}

  def embed(self, variables: dict, x: np.ndarray, rng: jax.Array) -> np.ndarray:
    """Features `[N, D]` of clips `x` in fixed-size batches (the last one zero-padded)."""
    out = []
    for i, start in enumerate(range(0, len(x), self.batch_size)):
      batch = np.asarray(x[start:start + self.batch_size], np.float32)
      size = len(batch)
      if size < self.batch_size:
        batch = np.concatenate([batch, np.zeros((self.batch_size - size, *batch.shape[1:]),
                                                np.float32)])
      feats = self._embed(variables, jnp.asarray(batch), jax.random.fold_in(rng, i))
      out.append(np.asarray(feats)[:size])
    return np.concatenate(out)

  def evaluate(self, variables: dict, step: int) -> dict[str, float]:
    """`{'knn/top1@k': accuracy %}` of the given variables (augmentation keyed by `step`)."""
    rng = jax.random.fold_in(jax.random.key(self.seed), step)
    train_f = self.embed(variables, self.train_x, jax.random.fold_in(rng, 0))
    test_f = self.embed(variables, self.test_x, jax.random.fold_in(rng, 1))
    acc = knn_lib.knn_accuracy(train_f, self.train_y, test_f, self.test_y,
                               num_classes=self.num_classes, ks=self.ks, t=self.t)
    return {f"knn/top1@{k}": float(acc[f"knn_top1@{k}"]) for k in self.ks}

  # -- the hook ---------------------------------------------------------------------------
  def __call__(self, state) -> dict[str, float]:
    t0 = time.time()
    step = int(jax.device_get(state.step))
    scalars = self.evaluate(jax.device_get(self.variables_of(state)), step)
    epoch = step // self.steps_per_epoch
    value = scalars[f"knn/top1@{self.best_k}"]
    if self.keep_best and (self.best is None or value > self.best["top1"]):
      self._save_best(state, step, epoch, value, scalars)
    if self.best is not None:
      scalars[f"knn/best_top1@{self.best_k}"] = float(self.best["top1"])
    scalars["knn/seconds"] = time.time() - t0
    log.info("KNN monitor at epoch %d: %s", epoch,
             ", ".join(f"{k} {v:.2f}" for k, v in scalars.items()))
    return scalars

  # -- best-KNN backbone ------------------------------------------------------------------
  def _read_best(self) -> dict | None:
    if not self.workdir or not os.path.isfile(os.path.join(self.workdir, BEST_JSON)):
      return None
    return read_best_info(self.workdir)

  def _save_best(self, state, step: int, epoch: int, value: float, scalars: dict) -> None:
    backbone = {"params": jax.device_get(state.params["backbone"]),
                "batch_stats": jax.device_get(state.batch_stats["backbone"])}
    files.save_variables(os.path.join(self.workdir, BEST_NPZ), backbone)
    info = {"epoch": int(epoch), "step": int(step), "k": self.best_k, "top1": float(value),
            "features": self.features, "augment": self.augment, "scalars": scalars,
            "note": "selected on the test split (as the reference does)"}
    files.atomic_write(os.path.join(self.workdir, BEST_JSON), json.dumps(info, indent=2) + "\n")
    self.best = info


def build_monitor(config: ml_collections.ConfigDict, workdir: str, train: ArrayDataset,
                  test: ArrayDataset, *, steps_per_epoch: int) -> KnnMonitor | None:
  """The `knn_monitor` for `Pretrainer.run`, or None when `train.knn_every_epochs` is 0."""
  if int(config.train.get("knn_every_epochs", 0)) <= 0:
    return None
  return KnnMonitor(config, train, test, workdir=workdir, steps_per_epoch=steps_per_epoch)


def read_best_info(workdir: str) -> dict:
  """The `best_knn.json` record of a workdir.

  Raises:
    FileNotFoundError: when the run kept no best-KNN backbone.
  """
  path = os.path.join(workdir, BEST_JSON)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f"{path} not found: the run kept no best-KNN backbone. Pretrain with "
        "--config.train.knn_every_epochs=N (and eval.knn_monitor.keep_best=True)")
  with open(path) as f:
    return json.load(f)


def load_best_variables(workdir: str) -> tuple[dict, dict]:
  """`(backbone variables, best_knn.json record)` saved by the monitor in `workdir`.

  Raises:
    FileNotFoundError: when best_knn.npz / .json are missing.
  """
  info = read_best_info(workdir)
  return files.load_variables(os.path.join(workdir, BEST_NPZ)), info
