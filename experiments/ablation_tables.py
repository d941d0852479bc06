r"""Regenerates the one-change-at-a-time training-curve tables of docs/small_data.md, section 2.

    python experiments/ablation_tables.py --ablation=skelemixclr [--root=workdirs/ablations]
    python experiments/ablation_tables.py --ablation=skeattnclr --table-only

Each row is one pretraining run on NW-UCLA (`configs/<method>.py:nwucla`, seed 0, `--mode=pretrain`)
with the config fields of that row changed; the table reads the runs' `metrics.jsonl` (the
InfoNCE term, the positive-pair accuracy, the uniformity at given steps). These are training
curves of single runs, to locate where a recipe stalls: no accuracy is read from them (the
accuracies are three-seed means, experiments/seed_tables.py). A run that already logged the
last step a table needs is reused; `--table-only` runs nothing and leaves "–" for missing runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The 2s-AGCN setting of SkeleMixCLR+ (its reference code) on top of the small preset.
_SMIX_REFERENCE = {"model.graph": "agcn", "model.head_bn": True, "moco.temperature": 0.2,
                   "skelemix.mix_warmup_epochs": 0}
# SkeAttnCLR's reference predictors, graph and temperature on top of the small preset.
_SATTN_REFERENCE = {"model.predictor_residual": False, "model.graph": "agcn",
                    "moco.temperature": 0.2}

# name -> (columns: (header, metric, step), rows: (label, method, config overrides)).
ABLATIONS = {
    "skelemixclr": (
        (("InfoNCE term, step 60", "instance", 60), ("step 150", "instance", 150),
         ("uniformity, step 150", "train/uniformity", 150)),
        (("SkeletonCLR (ST-GCN graph)", "skeletonclr", {}),
         ("SkeletonCLR with the 2s-AGCN graph", "skeletonclr", {"model.graph": "agcn"}),
         ("SkeleMixCLR+, reference setting", "skelemixclr", _SMIX_REFERENCE),
         ("... without head BN", "skelemixclr", {**_SMIX_REFERENCE, "model.head_bn": False}),
         ("... lr / 4", "skelemixclr", {**_SMIX_REFERENCE, "optim.lr": 0.005}),
         ("... tau 0.07", "skelemixclr", {**_SMIX_REFERENCE, "moco.temperature": 0.07}),
         ("... ST-GCN graph", "skelemixclr", {**_SMIX_REFERENCE, "model.graph": "stgcn"}),
         ("... mixed-view terms ramped in over the first half", "skelemixclr",
          {**_SMIX_REFERENCE, "skelemix.mix_warmup_epochs": 15}),
         ("... ST-GCN graph, no head BN, tau 0.07, mixed terms ramped (the small presets)",
          "skelemixclr", {}))),
    "skeattnclr": (
        (("positive-pair accuracy, step 15", "train/pos_acc", 15),
         ("step 240", "train/pos_acc", 240), ("step 450 (end)", "train/pos_acc", 450),
         ("InfoNCE term, end", "instance", 450)),
        (("reference predictors (the old small preset)", "skeattnclr", _SATTN_REFERENCE),
         ("identity-initialised predictors", "skeattnclr",
          {"model.graph": "agcn", "moco.temperature": 0.2}),
         ("... and SkeletonCLR's graph and tau 0.07 (the small presets)", "skeattnclr", {}),
         ("identity-initialised predictors, gradient clipped at 5 instead of 1 (not kept)",
          "skeattnclr", {"model.graph": "agcn", "moco.temperature": 0.2,
                         "optim.clip_grad_norm": 5.0}))),
}
# The instance (InfoNCE) term's name in each method's metrics.
_INSTANCE = ("train/loss_info", "train/loss_z")


def slug(method: str, overrides: dict) -> str:
  """A run folder name from the method and its overrides, e.g. 'skelemixclr__model.graph-agcn'."""
  parts = [f"{k}-{v}" for k, v in sorted(overrides.items())]
  return "__".join([method, *parts]) if parts else f"{method}__preset"


def read_metrics(workdir: str) -> dict[int, dict]:
  """`{step: row}` of a run's metrics.jsonl ({} when absent): `--seeds=0` runs keep it in
  `seed_0/`, runs made with `--config.seed=0` in the workdir itself."""
  path = os.path.join(workdir, "seed_0", "metrics.jsonl")
  if not os.path.exists(path):
    path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  return {int(r["step"]): r for r in rows}


def value(rows: dict[int, dict], metric: str, step: int) -> float | None:
  row = rows.get(step)
  if row is None:
    return None
  if metric == "instance":
    return next((row[k] for k in _INSTANCE if k in row), None)
  return row.get(metric)


def run(method: str, overrides: dict, workdir: str, last_step: int) -> None:
  """Pretrains one row (seed 0) up to `last_step`; the schedule is the full run's."""
  cmd = [sys.executable, "-m", "skel_jax.main", f"--config=configs/{method}.py:nwucla",
         f"--workdir={workdir}", "--mode=pretrain", "--seeds=0",
         f"--config.train.max_steps={last_step}"]
  cmd += [f"--config.{k}={v}" for k, v in overrides.items()]
  print("+ " + " ".join(cmd[1:]), flush=True)
  subprocess.run(cmd, cwd=REPO, check=True)


def table(name: str, root: str) -> str:
  columns, rows = ABLATIONS[name]
  lines = ["| run (NW-UCLA, `nwucla`, seed 0) | " + " | ".join(c[0] for c in columns) + " |",
           "|---|" + "---:|" * len(columns)]
  for label, method, overrides in rows:
    metrics = read_metrics(os.path.join(root, name, slug(method, overrides)))
    cells = []
    for _, metric, step in columns:
      v = value(metrics, metric, step)
      cells.append("–" if v is None else f"{v:.3f}" if metric == "train/pos_acc" else f"{v:.2f}")
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--ablation", choices=sorted(ABLATIONS), required=True)
  p.add_argument("--root", default=os.path.join(REPO, "workdirs", "ablations"))
  p.add_argument("--table-only", action="store_true")
  args = p.parse_args(argv)
  columns, rows = ABLATIONS[args.ablation]
  last = max(step for _, _, step in columns)
  if not args.table_only:
    for _, method, overrides in rows:
      workdir = os.path.join(args.root, args.ablation, slug(method, overrides))
      if last not in read_metrics(workdir):
        run(method, overrides, workdir, last)
  print(table(args.ablation, args.root))


if __name__ == "__main__":
  main()
