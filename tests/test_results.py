"""results.json / results.md bookkeeping."""

import json

import numpy as np
import pytest

from skel_jax.evaluate import results


def test_write_merges_protocols_and_labels_final_and_best(tmp_path):
  results.write_results(str(tmp_path), "linear", {"linear_top1_final": 71.5,
                                                  "linear_top1_best_of_evals": 73.25})
  merged = results.write_results(str(tmp_path), "knn", {"knn_top1@10": 60.0},
                                 extra={"k": [10]})
  assert set(merged) == {"linear", "knn"}
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk["linear"]["linear_top1_final"] == 71.5
  assert on_disk["knn"]["k"] == [10]
  table = (tmp_path / "results.md").read_text()
  assert "| linear | linear_top1: final (last epoch) | 71.50 |" in table
  assert "best of evaluations (selected on the test set" in table
  assert "| knn | knn_top1@10 | 60.00 |" in table
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp_")]


def test_rewrite_replaces_a_protocol(tmp_path):
  results.write_results(str(tmp_path), "linear", {"linear_top1_final": 1.0})
  results.write_results(str(tmp_path), "linear", {"linear_top1_final": 2.0})
  assert results.read_results(str(tmp_path))["linear"]["linear_top1_final"] == 2.0
  assert results.read_results(str(tmp_path / "missing")) == {}


def test_numpy_values_labels_and_no_temporary_files(tmp_path):
  merged = results.write_results(
      str(tmp_path), "linear", {"final_top1": np.float32(80.5), "best_top1": np.float64(81.0),
                                "best_epoch": np.int64(95)},
      extra={"history": np.array([[5, 80.0], [10, 81.0]])})
  entry = results.read_results(str(tmp_path))["linear"]
  assert entry == merged["linear"]
  assert entry["final_top1"] == 80.5 and type(entry["best_epoch"]) is int
  assert entry["history"] == [[5.0, 80.0], [10.0, 81.0]]
  table = (tmp_path / "results.md").read_text()
  assert "| linear | top1: final (last epoch) | 80.50 |" in table
  assert "| linear | top1: best of evaluations (selected on the test set" in table
  assert "| linear | best_epoch | 95 |" in table
  assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "results.md"]


def test_corrupt_file_and_bad_protocol_raise(tmp_path):
  (tmp_path / "results.json").write_text("{not json")
  with pytest.raises(ValueError, match="results.json is not valid JSON"):
    results.read_results(str(tmp_path))
  with pytest.raises(ValueError, match="bad protocol name"):
    results.write_results(str(tmp_path / "other"), "a|b", {"x": 1.0})
  assert results.describe("knn_top1@10") == "knn_top1@10"



def test_gain_table_compares_the_pretrained_encoder_with_each_baseline(tmp_path):
  results.write_results(str(tmp_path), "linear_std", {"linear_std_top1_final": 70.0})
  results.write_results(str(tmp_path), "linear_std_random_init", {"linear_std_top1_final": 40.5})
  results.write_results(str(tmp_path), "linear_std_raw_input", {"linear_std_top1_final": 50.0})
  results.write_results(str(tmp_path), "knn", {"knn_top1@10": 60.0, "knn_top1@1": 65.0})
  results.write_results(str(tmp_path), "knn_raw_input", {"knn_top1@10": 55.0, "knn_top1@1": 59.0})
  table = results.gain_table(results.read_results(str(tmp_path)))
  lines = table.splitlines()
  assert lines[0].startswith("| metric (top-1 %) | pretrained | random-init encoder | raw input")
  assert "| linear_std_top1 | 70.00 | 40.50 | 50.00 | +29.50 | +20.00 |" in lines
  # k-NN rows in increasing k; a baseline that was not evaluated shows a dash.
  assert lines.index("| knn_top1@1 | 65.00 | – | 59.00 | – | +6.00 |") < lines.index(
      "| knn_top1@10 | 60.00 | – | 55.00 | – | +5.00 |")
  md = open(tmp_path / "results.md").read()
  assert md.index("against the baselines") < md.index("## All metrics")
  assert results.gain_table({"linear": {"linear_top1_final": 1.0}}) == ""
