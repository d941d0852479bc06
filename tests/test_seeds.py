"""Multi-seed runs: seed parsing, the aggregate (mean, sample std, worst), results.md, the
report's cells and one real `run_seeds` over two seeds."""

import json
import os

import numpy as np
import pytest

from skel_jax import report, run
from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.evaluate import results, seeds


def test_parse_seeds():
  assert seeds.parse_seeds("0,1,2") == (0, 1, 2)
  assert seeds.parse_seeds("3-5, 9") == (3, 4, 5, 9)
  for bad in ("", "a", "1,1", "-1"):
    with pytest.raises(ValueError, match="--seeds"):
      seeds.parse_seeds(bad)


def test_aggregate_mean_sample_std_worst():
  per_seed = {
      0: {"linear": {"linear_top1_final": 60.0, "linear_seconds": 3.0, "context": {"a": 1}},
          "knn": {"knn_top1@1": 50.0}},
      1: {"linear": {"linear_top1_final": 70.0, "linear_seconds": 4.0},
          "knn": {"knn_top1@1": 52.0}},
      2: {"linear": {"linear_top1_final": 80.0, "linear_seconds": 5.0}},  # no knn entry
  }
  agg = seeds.aggregate(per_seed)
  assert set(agg) == {"linear"}  # knn is missing in seed 2: not aggregated
  e = agg["linear"]
  assert e["linear_top1_final"] == 70.0
  assert e["linear_top1_final_std"] == pytest.approx(10.0)  # ddof = 1
  assert e["linear_top1_final_worst"] == 60.0
  assert e["per_seed"] == {"linear_top1_final": [60.0, 70.0, 80.0]}
  assert "linear_seconds" not in e and e["seeds"] == [0, 1, 2]
  assert seeds.format_cell(e, "linear_top1_final") == "70.0 ± 10.0 (worst 60.0)"


def test_write_summary_and_report(tmp_path):
  for s, acc in ((0, 61.0), (1, 64.0)):
    results.write_results(seeds.seed_dir(str(tmp_path), s), "linear_std",
                          {"linear_std_top1_final": acc})
    results.write_results(seeds.seed_dir(str(tmp_path), s), "linear_std_random_init",
                          {"linear_std_top1_final": acc - 30})
  agg = seeds.write_summary(str(tmp_path), (0, 1))
  std = float(np.std([61.0, 64.0], ddof=1))
  assert agg["linear_std"]["linear_std_top1_final_std"] == pytest.approx(std)
  md = open(tmp_path / "results.md").read()
  assert f"| linear_std: linear_std_top1: final (last epoch) | 62.5 ± {std:.1f} (worst 61.0) | " \
      f"32.5 ± {std:.1f} (worst 31.0) | – |" in md
  stored = json.loads(open(tmp_path / "results.json").read())
  assert stored["_seeds"] == [0, 1]
  table = report.comparison_table(report.load_runs([str(tmp_path)]))
  assert "| seeds | 0, 1 |" in table
  assert f"| linear_std: linear_std_top1: final (last epoch) | 62.5 ± {std:.1f} (worst 61.0) |" \
      in table
  with pytest.raises(FileNotFoundError, match="seed_7"):
    seeds.write_summary(str(tmp_path), (0, 7))


def test_run_seeds_evaluates_every_seed_and_aggregates(tmp_path):
  config = load_config("configs/skeletonclr.py", "smoke")
  config.eval.random_init = True
  config.eval.tsne.enabled = False
  splits = registry.load_splits(config)
  agg = run.run_seeds(config, str(tmp_path), "eval", (0, 1), splits=splits)
  per = [results.read_results(str(tmp_path / f"seed_{s}")) for s in (0, 1)]
  values = [p["linear_std_random_init"]["linear_std_top1_final"] for p in per]
  entry = agg["linear_std_random_init"]
  assert entry["per_seed"]["linear_std_top1_final"] == values
  assert entry["linear_std_top1_final"] == pytest.approx(np.mean(values))
  # Different seeds are different encoders: their test logits differ.
  logits = [np.load(tmp_path / f"seed_{s}" / "linear_std_random_init_test_logits.npy")
            for s in (0, 1)]
  assert not np.allclose(logits[0], logits[1])
  assert os.path.isfile(tmp_path / "results.md") and os.path.isfile(tmp_path / "config.json")


def test_each_seed_gets_a_config_that_keeps_its_references(tmp_path, monkeypatch):
  # A three-stream run moves SkeAttnCLR's mu and fine-tune lr with the stream
  # (fusion_run.stream_config); that needs the references, not resolved values.
  from skel_jax import fusion_run  # pylint: disable=g-import-not-at-top
  seen = []
  monkeypatch.setattr(run, "run", lambda c, workdir, mode, splits=None: seen.append(c))
  config = load_config("configs/skeattnclr.py", "ntu60_xsub")
  run.run_seeds(config, str(tmp_path), "pretrain", (0, 1), splits=((), ()))
  assert [c.seed for c in seen] == [0, 1] and config.seed == 0
  bone = fusion_run.stream_config(seen[1], "bone")
  assert (bone.skeattn.mu, bone.eval.finetune.lr) == (0.5, 0.005)
  assert (seen[1].skeattn.mu, seen[1].eval.finetune.lr) == (1.0, 0.008)
