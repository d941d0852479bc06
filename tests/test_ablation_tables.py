"""experiments/ablation_tables.py: run folders and the table read from metrics.jsonl."""

import json
import os
import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "experiments"))
import ablation_tables  # noqa: E402


def _write_metrics(path, rows):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "metrics.jsonl"), "w") as f:
    for row in rows:
      f.write(json.dumps(row) + "\n")


def test_slug_names_the_method_and_its_sorted_overrides():
  assert ablation_tables.slug("skeattnclr", {}) == "skeattnclr__preset"
  assert ablation_tables.slug("skelemixclr", {"moco.temperature": 0.2, "model.graph": "agcn"}) == (
      "skelemixclr__moco.temperature-0.2__model.graph-agcn")


def test_table_reads_each_runs_metrics_and_marks_missing_runs(tmp_path):
  columns, rows = ablation_tables.ABLATIONS["skeattnclr"]
  label, method, overrides = rows[0]
  run = tmp_path / "skeattnclr" / ablation_tables.slug(method, overrides) / "seed_0"
  _write_metrics(run, [{"step": 15, "train/pos_acc": 0.0031, "train/loss_z": 5.8},
                       {"step": 240, "train/pos_acc": 0.015, "train/loss_z": 5.05},
                       {"step": 450, "train/pos_acc": 0.031, "train/loss_z": 4.8249}])
  # A run made with --config.seed (no seed folder), SkeletonCLR-style metric names.
  label2, method2, overrides2 = rows[1]
  _write_metrics(tmp_path / "skeattnclr" / ablation_tables.slug(method2, overrides2),
                 [{"step": 450, "train/pos_acc": 0.092, "train/loss_info": 4.13}])
  lines = ablation_tables.table("skeattnclr", str(tmp_path)).splitlines()
  assert len(lines) == 2 + len(rows) and len(columns) == 4
  assert lines[2] == f"| {label} | 0.003 | 0.015 | 0.031 | 4.82 |"
  assert lines[3] == f"| {label2} | – | – | 0.092 | 4.13 |"
  assert lines[4].endswith("| – | – | – | – |")
