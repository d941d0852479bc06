"""`python -m skel_jax.report`: side-by-side table, curves and t-SNE copies of finished runs."""

import json

import pytest

from skel_jax import report
from skel_jax.evaluate import results

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fake_run(path, method, stream, linear_final, linear_best, knn_rows=()):
  path.mkdir(parents=True)
  (path / "config.json").write_text(json.dumps(
      {"method": method, "data": {"dataset": "demo", "stream": stream}, "optim": {"epochs": 20}}))
  rows = [{"step": s, "time": 0.0, "train/loss": 5.0 - 0.1 * s} for s in range(1, 6)]
  rows += [{"step": s, "time": 0.0, "knn/top1@10": v} for s, v in knn_rows]
  (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
  results.write_results(str(path), "linear", {
      "linear_top1_final": linear_final, "linear_top1_best_of_evals": linear_best,
      "linear_seconds": 1.5}, {
          "context": {"weights": "checkpoint", "stream": stream},
          "history": [[5, linear_best, 90.0, 1.0], [10, linear_final, 91.0, 0.5]]})
  (path / "tsne.png").write_bytes(PNG_MAGIC + b"fake")


def test_report_compares_runs_and_draws_curves(tmp_path, capsys):
  _fake_run(tmp_path / "runs" / "sclr", "skeletonclr", "joint", 61.0, 63.5,
            knn_rows=[(10, 40.0), (20, 55.0), (30, 50.0)])
  _fake_run(tmp_path / "runs" / "aim", "aimclr", "joint", 70.25, 71.0)
  out = tmp_path / "out"
  code = report.main([str(tmp_path / "runs" / "sclr"), str(tmp_path / "runs" / "aim"),
                      "--out", str(out)])
  assert code == 0
  table = capsys.readouterr().out
  lines = table.splitlines()
  assert lines[0] == "| | sclr | aim |"
  assert "| method | skeletonclr | aimclr |" in lines
  assert "| weights | checkpoint | checkpoint |" in lines
  assert "| linear: linear_top1: final (last epoch) | 61.00 | 70.25 |" in lines
  assert ("| linear: linear_top1: best of evaluations (selected on the test set, as the "
          "reference reports) | 63.50 | 71.00 |") in lines
  assert "| KNN monitor (pretraining) top1@10: last | 50.00 | – |" in lines
  assert "| KNN monitor (pretraining) top1@10: best (selected on the test set) | 55.00 | – |" \
      in lines
  assert not any("seconds" in line for line in lines)  # timings are not compared
  assert (out / "report.md").read_text().count("|") > 10
  for name in ("sclr_curves.png", "aim_curves.png"):
    assert (out / name).read_bytes().startswith(PNG_MAGIC)
  assert (out / "sclr_tsne.png").read_bytes() == PNG_MAGIC + b"fake"
  assert "![sclr_curves.png](sclr_curves.png)" in (out / "report.md").read_text()


def test_three_stream_folders_expand_into_their_streams(tmp_path):
  top = tmp_path / "three"
  for stream, acc in (("joint", 60.0), ("motion", 50.0), ("bone", 55.0)):
    _fake_run(top / stream, "aimclr", stream, acc, acc)
  results.write_results(str(top), "fusion_linear", {"fused_top1": 66.0, "joint_top1": 60.0},
                        {"streams": ["joint", "motion", "bone"]})
  table = report.write_report([str(top)], str(tmp_path / "out"), plots=False)
  lines = table.splitlines()
  assert lines[0] == "| | three | three/joint | three/motion | three/bone |"
  assert "| stream | joint+motion+bone | joint | motion | bone |" in lines
  assert "| fusion_linear: fused_top1 | 66.00 | – | – | – |" in lines
  assert "| linear: linear_top1: final (last epoch) | – | 60.00 | 50.00 | 55.00 |" in lines
  assert not list((tmp_path / "out").glob("*.png"))


def test_a_folder_that_is_not_a_run_is_an_error(tmp_path, capsys):
  (tmp_path / "empty").mkdir()
  assert report.main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
  assert "not a run" in capsys.readouterr().err
  with pytest.raises(FileNotFoundError, match="empty"):
    report.load_runs([str(tmp_path / "empty")])
