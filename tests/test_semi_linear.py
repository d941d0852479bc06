"""experiments/semi_linear.py: the linear probe on the semi-supervised protocol's labels."""

import json
import pathlib

import numpy as np
import pytest

from skel_jax.config_lib import load_config
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import semi
from tests.conftest import load_script

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "semi_linear.py"


@pytest.fixture(scope="module")
def script():
  return load_script(SCRIPT, "semi_linear")


def _train(n=60, classes=3):
  y = np.arange(n) % classes
  return ArrayDataset(np.zeros((n, 1, 4, 25, 3), np.float32), y.astype(np.int32),
                      [f"clip{i}" for i in range(n)], "ntu25", classes)


def test_the_subset_is_the_protocols_and_a_different_saved_one_is_refused(script, tmp_path):
  config = load_config("configs/skeletonclr.py", "nwucla")
  train = _train()
  idx = script.protocol_subset(config, train, str(tmp_path), 0.1)
  np.testing.assert_array_equal(
      idx, semi.class_balanced_subset(train.y, 0.1, int(config.eval.semi.seed)))
  assert np.bincount(train.y[idx]).tolist() == [2, 2, 2]  # class-balanced, 10 % of each
  record = semi.describe_subset(idx, train.y, train.names, 0.1, 0)
  semi.save_subset(str(tmp_path), "semi_10pct_bntrain_aug", record)
  # Another protocol's subset (here a transfer target's) is not this one's: not compared.
  semi.save_subset(str(tmp_path), "semi_10pct_bntrain_aug_to_demo", {"indices": [0]})
  np.testing.assert_array_equal(script.protocol_subset(config, train, str(tmp_path), 0.1), idx)
  record["indices"] = record["indices"][::-1][:5] + [59]
  semi.save_subset(str(tmp_path), "semi_10pct_bntrain_aug_random_init", record)
  with pytest.raises(ValueError, match="semi_10pct_bntrain_aug_random_init_subset.json"):
    script.protocol_subset(config, train, str(tmp_path), 0.1)


def test_semi_finetune_reads_the_protocols_own_entries(script, tmp_path, capsys):
  config = load_config("configs/skeletonclr.py", "nwucla")  # train-mode BN, augmented
  results = {"semi_10pct_bntrain_aug": {"semi_10pct_top1_final": 64.5},
             "semi_10pct_bntrain_aug_random_init": {"semi_10pct_top1_final": 41.0},
             "semi_10pct_bntrain_aug_to_demo": {"semi_10pct_top1_final": 99.0},
             "semi_1pct_bntrain_aug": {"semi_1pct_top1_final": 12.0}}
  (tmp_path / "results.json").write_text(json.dumps(results))
  assert script.semi_finetune(config, str(tmp_path), 0.1) == {
      script.COLUMNS[0]: 64.5, script.COLUMNS[3]: 41.0}
  missing = script.semi_finetune(config, str(tmp_path / "missing"), 0.1)
  assert all(np.isnan(v) for v in missing.values()) and "warning" in capsys.readouterr().out
  assert script.mean_std([70.0, 72.0, 74.0]) == "72.0 ± 2.0 (worst 70.0)"


def test_the_generated_page_has_one_row_per_method_with_every_seed(script):
  rows = {c: [60.0, 62.0, 64.0] for c in script.COLUMNS}
  text = script.table({"aimclr": rows}, "nwucla", [0, 1, 2], 0.1, "python experiments/x.py")
  assert "do not edit by hand" in text and "    python experiments/x.py" in text
  row = next(line for line in text.splitlines() if line.startswith("| aimclr |"))
  assert row.count("62.0 ± 2.0 (worst 60.0) / 60.0, 62.0, 64.0") == len(script.COLUMNS)
