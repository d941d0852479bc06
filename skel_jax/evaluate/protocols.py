"""Downstream protocols on a pretrained run: linear evaluation, KNN and a t-SNE plot.

Linear evaluation follows reference-spec 1.8: the backbone (the query encoder without its
projection head) in eval mode, no augmentation, so the frozen 256-d features are computed once
and only a Linear(D -> classes) is trained on them (lr 3.0, SGD 0.9, step schedule). KNN is
the weighted k-NN of spec 1.8 on the same features. Results go to `results.json` and
`results.md` in the workdir; both the last-epoch and the best-of-evaluations linear accuracy
are reported, labelled (the reference repos report the best, i.e. selected on the test set).
"""

from __future__ import annotations

import logging
import os
import time

import jax
import ml_collections
import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import features as features_lib
from skel_jax.evaluate import knn as knn_lib
from skel_jax.evaluate import linear as linear_lib
from skel_jax.evaluate import results as results_lib

log = logging.getLogger(__name__)


def backbone_variables(state) -> dict:
  """The query encoder's backbone variables (params + BN running stats) from a TrainState."""
  return {"params": jax.device_get(state.params["backbone"]),
          "batch_stats": jax.device_get(state.batch_stats["backbone"])}


def compute_features(config: ml_collections.ConfigDict, variables: dict, train: ArrayDataset,
                     test: ArrayDataset) -> tuple[np.ndarray, np.ndarray]:
  backbone = features_lib.backbone_from_encoder_config(config.model, config.data.layout)
  kw = dict(stream=config.data.stream, layout=config.data.layout,
            batch_size=int(config.eval.batch_size))
  return (features_lib.extract_features(backbone, variables, train.x, **kw),
          features_lib.extract_features(backbone, variables, test.x, **kw))


def run_linear(config, train_f, train_y, test_f, test_y, num_classes, *, seed=0) -> dict:
  lc = config.eval.linear
  t0 = time.time()
  out = linear_lib.train_linear(
      train_f, train_y, test_f, test_y, num_classes=num_classes, epochs=lc.epochs, lr=lc.lr,
      lr_steps=tuple(lc.lr_steps), batch_size=lc.batch_size, weight_decay=lc.weight_decay,
      eval_every=lc.eval_every, seed=seed)
  return {"linear_top1_final": out["final_top1"], "linear_top5_final": out["final_top5"],
          "linear_top1_best_of_evals": out["best_top1"], "linear_best_epoch": out["best_epoch"],
          "linear_seconds": time.time() - t0,
          "_test_logits": np.asarray(out["test_logits"]), "_history": out["history"]}


def run_knn(config, train_f, train_y, test_f, test_y, num_classes) -> dict:
  kc = config.eval.knn
  ks = tuple(int(k) for k in kc.ks)
  out = knn_lib.knn_accuracy(train_f, train_y, test_f, test_y, num_classes=num_classes, ks=ks,
                             t=float(kc.temperature))
  return {key: float(v) for key, v in out.items()}


def evaluate_variables(config: ml_collections.ConfigDict, workdir: str, variables: dict,
                       train: ArrayDataset, test: ArrayDataset, *, protocols=("linear", "knn",
                       "tsne"), tag: str = "") -> dict:
  """Runs the protocols on the given backbone variables and writes the results."""
  t0 = time.time()
  train_f, test_f = compute_features(config, variables, train, test)
  feature_seconds = time.time() - t0
  num_classes = int(config.data.num_classes)
  results: dict = {"feature_seconds": feature_seconds}
  suffix = f"_{tag}" if tag else ""
  if "linear" in protocols:
    lin = run_linear(config, train_f, train.y, test_f, test.y, num_classes, seed=config.seed)
    np.save(os.path.join(workdir, f"linear_test_logits{suffix}.npy"), lin.pop("_test_logits"))
    lin.pop("_history")
    results_lib.write_results(workdir, f"linear{suffix}", lin)
    results.update(lin)
  if "knn" in protocols:
    knn = run_knn(config, train_f, train.y, test_f, test.y, num_classes)
    results_lib.write_results(workdir, f"knn{suffix}", knn)
    results.update(knn)
  if "tsne" in protocols and config.eval.tsne.enabled:
    from skel_jax.evaluate import tsne  # pylint: disable=g-import-not-at-top
    path = os.path.join(workdir, f"tsne{suffix}.png")
    tsne.plot_tsne(test_f, test.y, path, title=f"{config.method} {config.data.dataset} "
                   f"({config.data.stream}) test embeddings{' ' + tag if tag else ''}",
                   max_points=int(config.eval.tsne.max_points), seed=config.seed)
    results["tsne_png"] = path
  return results
