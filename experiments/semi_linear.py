r"""The scale-invariant linear probe trained on the semi-supervised protocol's labelled subset.

The semi-supervised protocol fine-tunes the whole encoder on a class-balanced fraction of the
training labels (`eval.semi`, skel_jax/evaluate/semi.py). The like-for-like frozen-feature
comparison is the scale-invariant linear probe trained on the same clips, not the one trained
on all the labels. For each method and seed's pretrained checkpoint (and the same encoder at
its random initialisation) this script extracts the features, takes the subset the
semi-supervised protocol uses (`semi.class_balanced_subset(train.y, fraction,
eval.semi.seed)`, checked against the subset the run saved), trains the probe of
`eval.linear_std` on it, and writes a table of mean ± sample std over the seeds next to the
semi-supervised fine-tuning results of the same runs (from their `results.json`):

    python experiments/semi_linear.py --preset=nwucla \
        --methods=skeletonclr,aimclr,skelemixclr,skeattnclr --root=workdirs/seed_tables \
        --seeds=0,1,2 --out=docs/semi_linear_results.md

`{root}/<method>_<preset>/seed_<n>` are the runs' workdirs with their checkpoints (the layout of
experiments/seed_tables.py).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from skel_jax import config_lib, files
from skel_jax import run as run_lib
from skel_jax.data import registry
from skel_jax.evaluate import protocols, semi


def protocol_subset(config, train, workdir: str, fraction: float) -> np.ndarray:
  """The labelled clips of the semi-supervised protocol; checked against the subset the run
  saved (`semi.save_subset`) when there is one."""
  idx = semi.class_balanced_subset(train.y, fraction, int(config.eval.semi.seed))
  name = protocols.result_name(config, semi.protocol_name(fraction))
  for tag in ("", "_random_init"):
    path = os.path.join(workdir, f"{name}{tag}_subset.json")
    if os.path.exists(path) and not np.array_equal(semi.load_subset(path)["indices"], idx):
      raise ValueError(f"{path}: the run's subset differs from the one recomputed here")
  return idx


def subset_probe(config, variables, train, test, idx) -> float:
  """Final top-1 of the scale-invariant probe trained on the clips `idx` only."""
  train_f, test_f = protocols.compute_features(config, variables, train, test)
  out = protocols.run_linear_std(config, train_f[idx], train.y[idx], test_f, test.y,
                                 int(config.data.num_classes), seed=int(config.seed))
  return float(out["linear_std_top1_final"])


def semi_finetune(config, workdir: str, fraction: float) -> dict[str, float]:
  """The run's semi-supervised fine-tuning top-1 for `fraction` (NaN where it has none), from
  the pretrained encoder and from scratch (the entries `protocols.result_name` names)."""
  base = semi.protocol_name(fraction)
  name = protocols.result_name(config, base)
  path = os.path.join(workdir, "results.json")
  results = {}
  if os.path.exists(path):
    with open(path) as f:
      results = json.load(f)
  metric = f"{base}_top1_final"  # protocols.run_finetune names its metrics after the protocol
  out = {}
  for column, entry in ((COLUMNS[0], name), (COLUMNS[3], f"{name}_random_init")):
    value = results.get(entry, {}).get(metric)
    if value is None:
      print(f"warning: {path} has no {entry}/{metric}", flush=True)
    out[column] = float("nan") if value is None else float(value)
  return out


def mean_std(values) -> str:
  values = np.asarray(values, np.float64)
  std = values.std(ddof=1) if len(values) > 1 else 0.0
  return f"{values.mean():.1f} ± {std:.1f} (worst {values.min():.1f})"


COLUMNS = ("semi-supervised fine-tune", "scale-invariant linear probe on the same labels",
           "the probe on the random-init encoder", "semi-supervised fine-tune from scratch")


def method_rows(method: str, preset: str, root: str, seeds, fraction: float) -> dict:
  """Column -> per-seed top-1 of one method (see COLUMNS)."""
  rows: dict[str, list[float]] = {c: [] for c in COLUMNS}
  for seed in seeds:
    config = config_lib.load_config(f"configs/{method}.py", preset)
    config.seed = seed
    workdir = os.path.join(root, f"{method}_{preset}", f"seed_{seed}")
    train, test = registry.load_splits(config)
    idx = protocol_subset(config, train, workdir, fraction)
    variables, _ = run_lib.eval_variables(config, workdir)
    rows[COLUMNS[1]].append(subset_probe(config, variables, train, test, idx))
    config.eval.random_init = True
    random_vars, _ = run_lib.eval_variables(config, workdir)
    rows[COLUMNS[2]].append(subset_probe(config, random_vars, train, test, idx))
    for column, value in semi_finetune(config, workdir, fraction).items():
      rows[column].append(value)
    print(f"{method} seed {seed}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items()),
          flush=True)
  return rows


def table(results: dict, preset: str, seeds, fraction: float, command: str) -> str:
  """The generated markdown page."""
  pct = f"{100 * fraction:g} %"
  lines = [
      f"# Semi-supervised ({pct} of the labels) against the probe on the same labels "
      "(generated)", "",
      "Written by `experiments/semi_linear.py`; do not edit by hand. Regenerate with", "",
      f"    {command}", "",
      f"Top-1 % on the `{preset}` test split, mean ± sample std over seeds "
      f"{', '.join(map(str, seeds))} (worst seed in parentheses; per seed after the slash), "
      "final epoch. The fine-tuning columns are the runs' own semi-supervised results (their "
      "`results.json`, written at the commits their runs record); the probes are trained here, "
      "on the same checkpoints and the same labelled clips.", "",
      "| method | " + " | ".join(COLUMNS) + " |",
      "|---|" + "---|" * len(COLUMNS)]
  for method, rows in results.items():
    cells = [f"{mean_std(rows[c])} / {', '.join(f'{v:.1f}' for v in rows[c])}"
             for c in COLUMNS]
    lines.append(f"| {method} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--preset", default="nwucla")
  parser.add_argument("--methods", default="skeletonclr,aimclr,skelemixclr,skeattnclr")
  parser.add_argument("--root", required=True, help="folder of the <method>_<preset> runs")
  parser.add_argument("--seeds", default="0,1,2")
  parser.add_argument("--fraction", type=float, default=0.1)
  parser.add_argument("--out", default="", help="markdown file to write (default: print)")
  args = parser.parse_args(argv)
  seeds = [int(s) for s in args.seeds.split(",")]
  results = {m: method_rows(m, args.preset, args.root, seeds, args.fraction)
             for m in args.methods.split(",")}
  command = ("python experiments/semi_linear.py " + " ".join(
      f"--{k}={v}" for k, v in (("preset", args.preset), ("methods", args.methods),
                                ("root", args.root), ("seeds", args.seeds),
                                ("fraction", args.fraction), ("out", args.out)) if v != ""))
  text = table(results, args.preset, seeds, args.fraction, command)
  if args.out:
    files.atomic_write(args.out, text)
  print(text)


if __name__ == "__main__":
  main()
