r"""What did a short NW-UCLA pretraining learn? Nuisance decodability and training curves.

    python experiments/small_data_diagnostics.py RUN [RUN ...] --out=docs/images/small_data

Each RUN is a finished `--config=configs/<method>.py:nwucla...` workdir (or `NAME=WORKDIR`).
For each run's final checkpoint, and for the same encoder at its random initialisation, the
frozen eval-mode features of the NW-UCLA *training* split (views 1 and 2) are probed with the
scale-invariant linear probe (standardised features, evaluate/linear.py) for three labels:

* action (what we want), trained on one half of the subjects and tested on the other half;
* camera view (1 or 2) and subject (1-10): nuisance. Features that tell these apart let the
  instance-discrimination task be solved by who is filmed from where instead of by the motion,
  and they transfer badly to the unseen view 3. Both are trained on episodes 1-2 of every
  (action, subject, view) and tested on the remaining episodes.

A fourth column measures view invariance directly: NW-UCLA films each performance with all
three cameras, so the share of view-3 test clips whose nearest training clip is the same
performance seen from view 1 or 2 (`same_performance_retrieval`).

It prints one table (top-1 %) and writes `{out}/curves.png`: the training loss, positive-pair
accuracy, alignment, uniformity, embedding standard deviation, effective rank and gradient norm
of every run against the step (from its metrics.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from skel_jax import run as run_lib
from skel_jax.config_lib import load_config
from skel_jax.data import nw_ucla, registry
from skel_jax.evaluate import linear as linear_lib
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.train import metrics_writer

CURVES = ("loss", "pos_acc", "alignment", "uniformity", "embed_std", "effective_rank",
          "grad_norm")


def probe(features: np.ndarray, labels: np.ndarray, train_mask: np.ndarray) -> float:
  """Test top-1 % of the scale-invariant linear probe trained on `train_mask`."""
  classes, y = np.unique(labels, return_inverse=True)
  s_train, s_test = linear_lib.standardize(features[train_mask], features[~train_mask])
  out = linear_lib.train_linear(s_train, y[train_mask], s_test, y[~train_mask],
                                num_classes=len(classes), epochs=60, lr=0.1, lr_steps=(),
                                schedule="cosine", batch_size=64, weight_decay=1e-3,
                                eval_every=60)
  return float(out["final_top1"])


def nuisance_table(features: np.ndarray, names: list[str], actions: np.ndarray) -> dict:
  fields = np.asarray([nw_ucla.parse_name(n) for n in names])  # [N, 4] action subject episode view
  subject, episode, view = fields[:, 1], fields[:, 2], fields[:, 3]
  by_subject = np.isin(subject, np.unique(subject)[::2])
  by_episode = episode <= 2
  return {"action (held-out subjects)": probe(features, actions, by_subject),
          "view (held-out episodes)": probe(features, view, by_episode),
          "subject (held-out episodes)": probe(features, subject, by_episode)}


def same_performance_retrieval(train_f: np.ndarray, train_names: list[str], test_f: np.ndarray,
                               test_names: list[str]) -> float:
  """Cross-view retrieval top-1 %: NW-UCLA films every performance (action, subject, episode)
  with three cameras at once, so a view-3 test clip has its twin(s) among the view-1/2
  training clips. The share of test clips whose nearest training clip (cosine) is one of its
  own twins measures view invariance directly (chance is about 0.1-0.2 %)."""
  key = lambda n: nw_ucla.parse_name(n)[:3]  # noqa: E731  (action, subject, episode)
  train_keys = [key(n) for n in train_names]
  index = {k: set() for k in train_keys}
  for i, k in enumerate(train_keys):
    index[k].add(i)
  unit = lambda a: a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)  # noqa: E731
  nearest = np.argmax(unit(test_f) @ unit(train_f).T, axis=1)
  hits = [nearest[j] in index[key(n)] for j, n in enumerate(test_names) if key(n) in index]
  return 100.0 * float(np.mean(hits))


def _config_of(workdir: str):
  with open(os.path.join(workdir, "config.json")) as f:
    stored = json.load(f)
  config = load_config(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                    "configs", f"{stored['method']}.py"), "nwucla")
  _merge(config, stored)
  return config


def _merge(config, stored: dict) -> None:
  for key, value in stored.items():
    if key not in config:
      continue
    if isinstance(value, dict):
      _merge(config[key], value)
    else:
      config[key] = tuple(value) if isinstance(value, list) else value


def plot_curves(runs: dict[str, str], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(CURVES), figsize=(3.2 * len(CURVES), 3.0))
  for label, workdir in runs.items():
    rows = metrics_writer.read_metrics_jsonl(workdir)
    for ax, name in zip(axes, CURVES):
      points = [(r["step"], r[f"train/{name}"]) for r in rows if f"train/{name}" in r]
      if points:
        ax.plot(*zip(*points), label=label)
      ax.set(title=name, xlabel="step")
  axes[0].legend(fontsize="small")
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("runs", nargs="+", help="workdirs, or NAME=WORKDIR")
  p.add_argument("--out", required=True)
  p.add_argument("--curves-only", action="store_true", help="only the training curves")
  args = p.parse_args()
  runs = dict(r.split("=", 1) if "=" in r else (os.path.basename(r.rstrip("/")), r)
              for r in args.runs)
  if args.curves_only:
    plot_curves(runs, os.path.join(args.out, "curves.png"))
    return
  rows = {}
  train = test = None
  for label, workdir in runs.items():
    config = _config_of(workdir)
    if train is None:
      train, test = registry.load_splits(config)
    variables, _ = run_lib.eval_variables(config, workdir)
    random_config = config.copy_and_resolve_references()
    random_config.eval.random_init = True
    random_variables, _ = run_lib.eval_variables(random_config, workdir)
    for name, v in ((label, variables), (f"{label} at random init", random_variables)):
      features, test_f = protocols_lib.compute_features(config, v, train, test)
      rows[name] = nuisance_table(features, train.names, train.y)
      rows[name]["same performance from view 3 (retrieval)"] = same_performance_retrieval(
          features, train.names, test_f, test.names)
  raw, raw_test = train.x.reshape(len(train), -1), test.x.reshape(len(test), -1)
  rows["raw input"] = nuisance_table(raw, train.names, train.y)
  rows["raw input"]["same performance from view 3 (retrieval)"] = same_performance_retrieval(
      raw, train.names, raw_test, test.names)
  keys = list(next(iter(rows.values())))
  print("| features | " + " | ".join(keys) + " |")
  print("|---|" + "---:|" * len(keys))
  for name, r in rows.items():
    print(f"| {name} | " + " | ".join(f"{r[k]:.1f}" for k in keys) + " |")
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "nuisance.json"), "w") as f:
    json.dump(rows, f, indent=2)
  plot_curves(runs, os.path.join(args.out, "curves.png"))
  print(f"curves in {os.path.join(args.out, 'curves.png')}")


if __name__ == "__main__":
  main()
