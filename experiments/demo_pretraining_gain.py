r"""Does pretraining beat the random-init encoder? The demo-data sanity check of the CLI.

    python experiments/demo_pretraining_gain.py --method=skeletonclr --workdir=/tmp/gain

Pretrains `configs/<method>.py:<preset>` (the demo data by default; any `--set key=value`
overrides a config field, e.g. `--set data.demo_nuisance=0.5 --set train.max_steps=200`), then
evaluates its backbone and the same encoder at its random initialisation (same seed) on frozen
eval-mode features with three probes:

* `linear_ref`: the reference linear protocol (lr 3.0 on the raw features). With the
  reference init (N(0, 0.02^2) weights, `weights_init`) a random encoder's eval-mode features are
  ~1e-8 in scale, so this probe leaves it at chance: a win here says little.
* `linear_std`: the same probe on features standardised with the training split's mean and
  std (lr 0.1), which removes that scale advantage: the fair comparison.
* `knn@k`: weighted k-NN (t = 0.1) on L2-normalised features, scale-free as well.

Prints one table (top-1 %) and writes it as JSON to `{workdir}/gain.json`.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import time

import numpy as np

from skel_jax import run as run_lib
from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.evaluate import knn as knn_lib
from skel_jax.evaluate import linear as linear_lib
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.train import pretrain as pretrain_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def set_field(config, dotted: str, text: str) -> None:
  """`config.a.b = literal(text)` (a Python literal, or the text itself as a string)."""
  *path, last = dotted.split(".")
  node = config
  for p in path:
    node = node[p]
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    value = text
  node[last] = value


def standardise(train_f: np.ndarray, test_f: np.ndarray):
  mean, std = train_f.mean(0), train_f.std(0) + 1e-6 * (train_f.std() + 1e-30)
  return (train_f - mean) / std, (test_f - mean) / std


def probes(config, train_f, train_y, test_f, test_y, num_classes) -> dict[str, float]:
  lc = config.eval.linear
  common = dict(num_classes=num_classes, epochs=lc.epochs, lr_steps=tuple(lc.lr_steps),
                batch_size=lc.batch_size, eval_every=lc.eval_every, seed=config.seed)
  ref = linear_lib.train_linear(train_f, train_y, test_f, test_y, lr=lc.lr, **common)
  s_train, s_test = standardise(train_f, test_f)
  std = linear_lib.train_linear(s_train, train_y, s_test, test_y, lr=0.1, **common)
  ks = tuple(int(k) for k in config.eval.knn.ks)
  knn = knn_lib.knn_accuracy(train_f, train_y, test_f, test_y, num_classes=num_classes, ks=ks,
                             t=float(config.eval.knn.temperature))
  out = {"linear_ref": ref["final_top1"], "linear_std": std["final_top1"],
         "feature_rms": float(np.sqrt(np.mean(train_f ** 2)))}
  out.update({f"knn@{k}": float(v) for k, v in knn.items()})
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--method", default="skeletonclr")
  p.add_argument("--preset", default="demo")
  p.add_argument("--workdir", required=True)
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  args = p.parse_args()
  config = load_config(os.path.join(REPO, "configs", f"{args.method}.py"), args.preset)
  for item in args.set:
    key, _, value = item.partition("=")
    set_field(config, key, value)
  os.makedirs(args.workdir, exist_ok=True)
  train, test = registry.load_splits(config)
  t0 = time.time()
  state = pretrain_lib.pretrain(config, args.workdir, train)
  pretrain_s = time.time() - t0
  rows = {}
  for name, variables in [("pretrained", protocols_lib.backbone_variables(state)),
                          ("random_init", run_lib.eval_variables(_random(config),
                                                                 args.workdir)[0])]:
    train_f, test_f = protocols_lib.compute_features(config, variables, train, test)
    rows[name] = probes(config, train_f, train.y, test_f, test.y, int(config.data.num_classes))
  keys = list(rows["pretrained"])
  print(f"{args.method}:{args.preset} {' '.join(args.set)}  pretrain {pretrain_s:.0f} s, "
        f"{int(state.step)} steps")
  print("| encoder | " + " | ".join(keys) + " |")
  print("|---|" + "---:|" * len(keys))
  for name, r in rows.items():
    print(f"| {name} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")
  with open(os.path.join(args.workdir, "gain.json"), "w") as f:
    json.dump({"method": args.method, "preset": args.preset, "set": args.set,
               "steps": int(state.step), "pretrain_seconds": pretrain_s, "rows": rows}, f,
              indent=2)


def _random(config):
  c = config.copy_and_resolve_references()
  c.eval.random_init = True
  return c


if __name__ == "__main__":
  main()
