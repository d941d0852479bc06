r"""The scale-invariant linear probe trained on the semi-supervised protocol's labelled subset.

The semi-supervised protocol fine-tunes the whole encoder on a class-balanced fraction of the
training labels (`eval.semi`, skel_jax/evaluate/semi.py). The like-for-like frozen-feature
comparison is the scale-invariant linear probe trained on the same clips, not the one trained
on all the labels. For each seed's pretrained checkpoint (and the same encoder at its random
initialisation) this script extracts the features, takes the subset the semi-supervised
protocol uses (`semi.class_balanced_subset(train.y, fraction, eval.semi.seed)`), trains the
probe of `eval.linear_std` on it and prints a table of mean ± sample std over the seeds, next
to the semi-supervised fine-tuning results of the same runs when their `results.json` holds
them:

    python experiments/semi_linear.py --config=configs/skeletonclr.py:nwucla \
        --root=workdirs/seed_tables/skeletonclr_nwucla --seeds=0,1,2 [--fraction=0.1]

`--root` holds one `seed_<n>` workdir per seed with its checkpoints (the layout of
`python -m skel_jax.main --seeds=...` and experiments/seed_tables.py).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from skel_jax import config_lib
from skel_jax import run as run_lib
from skel_jax.data import registry
from skel_jax.evaluate import protocols, semi


def protocol_subset(config, train, workdir: str, fraction: float) -> np.ndarray:
  """The labelled clips of the semi-supervised protocol; checked against the subset the run
  saved (`semi.save_subset`) when there is one."""
  idx = semi.class_balanced_subset(train.y, fraction, int(config.eval.semi.seed))
  for name in os.listdir(workdir):
    if name.startswith(semi.protocol_name(fraction)) and name.endswith("_subset.json"):
      saved = semi.load_subset(os.path.join(workdir, name))
      if not np.array_equal(np.asarray(saved["indices"]), idx):
        raise ValueError(f"{name}: the run's subset differs from the one recomputed here")
  return idx


def subset_probe(config, variables, train, test, idx) -> float:
  """Final top-1 of the scale-invariant probe trained on the clips `idx` only."""
  train_f, test_f = protocols.compute_features(config, variables, train, test)
  out = protocols.run_linear_std(config, train_f[idx], train.y[idx], test_f, test.y,
                                 int(config.data.num_classes), seed=int(config.seed))
  return float(out["linear_std_top1_final"])


def semi_finetune(workdir: str, fraction: float) -> dict[str, float]:
  """The semi-supervised fine-tuning results the run wrote for `fraction`, if any."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    results = json.load(f)
  base = semi.protocol_name(fraction)
  metric = f"{base}_top1_final"  # protocols.run_finetune names its metrics after the protocol
  out = {}
  for name, entry in results.items():
    if not (name.startswith(base) and isinstance(entry, dict) and metric in entry):
      continue
    key = "semi-supervised fine-tune from scratch" if name.endswith("_random_init") else (
        "semi-supervised fine-tune")
    out[key] = float(entry[metric])
  return out


def mean_std(values) -> str:
  values = np.asarray(values, np.float64)
  std = values.std(ddof=1) if len(values) > 1 else 0.0
  return f"{values.mean():.1f} ± {std:.1f} (worst {values.min():.1f})"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--config", required=True, help="configs/<method>.py:<preset>")
  parser.add_argument("--root", required=True, help="folder of the seed_<n> workdirs")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--fraction", type=float, default=0.1)
  args = parser.parse_args(argv)
  path, _, arg = args.config.partition(":")
  rows: dict[str, list[float]] = {}
  for seed in (int(s) for s in args.seeds.split(",")):
    config = config_lib.load_config(path, arg or None)
    config.seed = seed
    workdir = os.path.join(args.root, f"seed_{seed}")
    train, test = registry.load_splits(config)
    idx = protocol_subset(config, train, workdir, args.fraction)
    variables, _ = run_lib.eval_variables(config, workdir)
    rows.setdefault("scale-invariant linear probe on the subset", []).append(
        subset_probe(config, variables, train, test, idx))
    config.eval.random_init = True
    random_vars, _ = run_lib.eval_variables(config, workdir)
    rows.setdefault("the same, random-init encoder", []).append(
        subset_probe(config, random_vars, train, test, idx))
    for key, value in semi_finetune(workdir, args.fraction).items():
      rows.setdefault(key, []).append(value)
    print(f"seed {seed}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items()), flush=True)
  print(f"\n{args.config}, {100 * args.fraction:g} % of the labels, seeds {args.seeds} "
        "(top-1 %, final epoch):\n")
  print("| protocol | mean ± std (worst) | per seed |\n|---|---|---|")
  for key, values in rows.items():
    print(f"| {key} | {mean_std(values)} | {', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
  main()
