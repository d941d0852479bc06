"""experiments/seed_tables.py: a resumed (re-evaluated) run keeps its pretraining's record; the
tables are built from the committed per-run records, and a recorded run is not run again."""

import json
import os
import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "experiments"))
import seed_tables  # noqa: E402


def test_reevaluating_a_pretrained_run_keeps_its_commit_and_wall_time(tmp_path, monkeypatch):
  workdir = tmp_path / "skeattnclr_nwucla"
  os.makedirs(workdir / "seed_0" / "checkpoints")
  with open(workdir / "timing.json", "w") as f:
    json.dump({"code_commit": "aaaaaaa", "pretrain_seconds_per_seed": 582.0,
               "eval_seconds_per_seed": 100.0}, f)
  commands = []
  monkeypatch.setattr(seed_tables.subprocess, "run", lambda cmd, **kw: commands.append(cmd))
  monkeypatch.setattr(seed_tables, "git_commit", lambda: "bbbbbbb")
  seed_tables.run_one(str(tmp_path), "skeattnclr", "nwucla", "0", finetune=True,
                      records=str(tmp_path / "records"))
  assert [next(a for a in c if a.startswith("--mode=")) for c in commands] == [
      "--mode=pretrain", "--mode=eval_all"]
  with open(workdir / "timing.json") as f:
    timing = json.load(f)
  assert timing["code_commit"] == "aaaaaaa" and timing["eval_code_commit"] == "bbbbbbb"
  assert timing["pretrain_seconds_per_seed"] == 582.0
  assert timing["eval_seconds_per_seed"] != 100.0  # measured again


def _finished_run(root, method, preset, linear_std, seeds=(0, 1, 2)):
  workdir = seed_tables.run_dir(str(root), method, preset)
  os.makedirs(workdir)
  per_seed = [linear_std - 1.0, linear_std, linear_std + 1.0]
  results = {"_seeds": list(seeds), "linear_std": {
      "linear_std_top1_final": linear_std, "linear_std_top1_final_std": 1.0,
      "linear_std_top1_final_worst": min(per_seed),
      "per_seed": {"linear_std_top1_final": per_seed}}}
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f)
  with open(os.path.join(workdir, "timing.json"), "w") as f:
    json.dump({"code_commit": "ccccccc", "pretrain_seconds_per_seed": 600.0}, f)
  return results


def test_a_finished_run_becomes_a_record_and_the_table_is_built_from_records(tmp_path):
  records = str(tmp_path / "records")
  results = _finished_run(tmp_path / "root", "skeletonclr", "nwucla", 71.25)
  assert not seed_tables.save_record(str(tmp_path / "root"), "aimclr", "nwucla", records)
  assert seed_tables.save_record(str(tmp_path / "root"), "skeletonclr", "nwucla", records)
  assert seed_tables.load_record("skeletonclr", "nwucla", records) == (
      results, {"code_commit": "ccccccc", "pretrain_seconds_per_seed": 600.0})
  assert seed_tables.load_record("aimclr", "nwucla", records) == ({}, {})
  # The run without a record has no row; the other's row reads its record (10.0 min, commit).
  text = seed_tables.table([("skeletonclr", "nwucla"), ("aimclr", "nwucla")], records)
  rows = [line for line in text.splitlines() if line.startswith("| nwucla")]
  assert len(rows) == 1 and rows[0].startswith("| nwucla | skeletonclr | 71.2 ± 1.0 (worst 70.2) |")
  assert rows[0].endswith("| 10.0 min | ccccccc |")
  assert "over seeds 0, 1, 2" in text


def test_a_recorded_run_is_reused_unless_asked_to_rerun(tmp_path, monkeypatch):
  records = str(tmp_path / "records")
  _finished_run(tmp_path / "old", "aimclr", "demo", 70.0)
  seed_tables.save_record(str(tmp_path / "old"), "aimclr", "demo", records)
  commands = []
  monkeypatch.setattr(seed_tables.subprocess, "run", lambda cmd, **kw: commands.append(cmd))
  monkeypatch.setattr(seed_tables, "git_commit", lambda: "ddddddd")
  seed_tables.run_one(str(tmp_path / "new"), "aimclr", "demo", "0,1,2", records=records)
  assert not commands
  seed_tables.run_one(str(tmp_path / "new"), "aimclr", "demo", "0,1,2", records=records,
                      rerun=True)
  assert [next(a for a in c if a.startswith("--mode=")) for c in commands] == [
      "--mode=pretrain", "--mode=eval"]
  # Other seeds than the record's are a run of their own, too.
  commands.clear()
  seed_tables.run_one(str(tmp_path / "new2"), "aimclr", "demo", "0,1", records=records)
  assert len(commands) == 2


def test_the_fine_tuning_table_shows_each_run_s_schedule_and_evaluation_commit(tmp_path):
  records = str(tmp_path / "records")
  root = tmp_path / "root"
  results = _finished_run(root, "aimclr", "nwucla", 70.0)
  results["finetune_bntrain_aug"] = {"finetune_top1_final": 80.0,
                                     "finetune_top1_final_std": 0.5,
                                     "finetune_top1_final_worst": 79.5}
  workdir = seed_tables.run_dir(str(root), "aimclr", "nwucla")
  with open(os.path.join(workdir, "results.json"), "w") as f:
    json.dump(results, f)
  with open(os.path.join(workdir, "timing.json"), "w") as f:
    json.dump({"code_commit": "ccccccc", "eval_code_commit": "eeeeeee"}, f)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    json.dump({"eval": {"finetune": {"epochs": 100}, "semi": {"epochs": 100}}}, f)
  assert seed_tables.save_record(str(root), "aimclr", "nwucla", records)
  assert seed_tables.load_settings("aimclr", "nwucla", records) == {
      "finetune_epochs": 100, "semi_epochs": 100}
  rows = [line for line in seed_tables.finetune_table([("aimclr", "nwucla")], records)
          .splitlines() if line.startswith("| nwucla")]
  assert rows == ["| nwucla | aimclr | 80.0 ± 0.5 (worst 79.5) | – | – | – | "
                  "70.0 ± 1.0 (worst 69.0) | 100 / 100 | eeeeeee |"]
