"""results.json / results.md bookkeeping."""

import json

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
