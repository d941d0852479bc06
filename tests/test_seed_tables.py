"""experiments/seed_tables.py: a resumed (re-evaluated) run keeps its pretraining's record."""

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
  seed_tables.run_one(str(tmp_path), "skeattnclr", "nwucla", "0", finetune=True)
  assert [next(a for a in c if a.startswith("--mode=")) for c in commands] == [
      "--mode=pretrain", "--mode=eval_all"]
  with open(workdir / "timing.json") as f:
    timing = json.load(f)
  assert timing["code_commit"] == "aaaaaaa" and timing["eval_code_commit"] == "bbbbbbb"
  assert timing["pretrain_seconds_per_seed"] == 582.0
  assert timing["eval_seconds_per_seed"] != 100.0  # measured again
