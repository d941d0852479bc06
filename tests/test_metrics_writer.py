"""Tests for skel_jax.train.metrics_writer: event files, metrics.jsonl, config.json."""

import json
import math

import numpy as np
import pytest

from skel_jax.train import metrics_writer as mw
from tests import tb_events


class FakeClock:
  """A clock the test moves by hand."""

  def __init__(self, t: float = 0.0):
    self.t = t

  def __call__(self) -> float:
    return self.t


# --- MetricWriter -------------------------------------------------------------------------------


def test_write_scalars_read_back_exactly(tmp_path):
  clock = FakeClock(1_700_000_000.25)
  values = {1: {"train/loss": 6.2131, "lr": 0.1}, 10: {"train/loss": 5.0, "lr": 0.1},
            20: {"train/loss": np.float32(4.75), "eval/knn_top1": np.float64(0.4321)}}
  with mw.MetricWriter(tmp_path / "run", clock=clock) as writer:
    for step, scalars in values.items():
      clock.t += 1.0
      writer.write_scalars(step, scalars)
  files = tb_events.event_files(tmp_path / "run")
  assert len(files) == 1
  got = tb_events.read_scalars(tmp_path / "run")
  assert set(got) == {"train/loss", "lr", "eval/knn_top1"}
  assert got["train/loss"] == [(1, float(np.float32(6.2131))), (10, 5.0), (20, 4.75)]
  assert got["lr"] == [(1, float(np.float32(0.1))), (10, float(np.float32(0.1)))]
  assert got["eval/knn_top1"] == [(20, float(np.float32(0.4321)))]
  events = list(tb_events.iter_events(files[0]))
  assert events[0].file_version == "brain.Event:2"
  assert [e.wall_time for e in events[1:]] == [1_700_000_001.25, 1_700_000_002.25,
                                               1_700_000_003.25]


def test_metrics_jsonl_content_and_non_finite(tmp_path):
  clock = FakeClock(100.0)
  with mw.MetricWriter(tmp_path, clock=clock) as writer:
    writer.write_scalars(5, {"loss": 1.5, "n": 3})
    clock.t = 101.5
    writer.write_scalars(6, {"loss": float("nan"), "g": -math.inf})
  lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
  assert json.loads(lines[0]) == {"step": 5, "time": 100.0, "loss": 1.5, "n": 3.0}
  rows = mw.read_metrics_jsonl(tmp_path)
  assert rows[0] == json.loads(lines[0])
  assert rows[1]["step"] == 6 and rows[1]["time"] == 101.5
  assert math.isnan(rows[1]["loss"]) and rows[1]["g"] == -math.inf
  tb = tb_events.read_scalars(tmp_path)
  assert math.isnan(tb["loss"][1][1]) and tb["g"] == [(6, -math.inf)]


def test_two_writers_same_second_and_resume_append(tmp_path):
  clock = FakeClock(50.0)
  with mw.MetricWriter(tmp_path, clock=clock) as writer:
    writer.write_scalars(1, {"a": 1.0})
  with mw.MetricWriter(tmp_path, clock=clock) as writer:
    writer.write_scalars(2, {"a": 2.0})
  assert len(tb_events.event_files(tmp_path)) == 2
  assert tb_events.read_scalars(tmp_path) == {"a": [(1, 1.0), (2, 2.0)]}
  assert [r["step"] for r in mw.read_metrics_jsonl(tmp_path)] == [1, 2]


def test_config_json_round_trip_plain_dict_and_configdict(tmp_path):
  config = {"seed": 0, "model": {"name": "stgcn", "hidden": [64, 128]}, "lr": 0.1,
            "arr": np.arange(3), "ratio": np.float32(0.5)}
  with mw.MetricWriter(tmp_path) as writer:
    writer.write_config(config)
  text = (tmp_path / "config.json").read_text()
  loaded = json.loads(text)
  assert loaded == {"seed": 0, "model": {"name": "stgcn", "hidden": [64, 128]}, "lr": 0.1,
                    "arr": [0, 1, 2], "ratio": 0.5}
  assert text == json.dumps(loaded, indent=2, sort_keys=True) + "\n"
  assert not list(tmp_path.glob("*.tmp"))

  ml_collections = pytest.importorskip("ml_collections")
  cfg = ml_collections.ConfigDict({"b": 2, "a": {"queue_size": 16384, "tau": 0.07}})
  with mw.MetricWriter(tmp_path) as writer:
    writer.write_config(cfg)
  assert json.loads((tmp_path / "config.json").read_text()) == cfg.to_dict()


def test_disabled_writer_writes_nothing(tmp_path):
  with mw.MetricWriter(tmp_path / "w", enabled=False) as writer:
    writer.write_config({"a": 1})
    writer.write_scalars(1, {"loss": 1.0})
    writer.flush()
  assert not (tmp_path / "w").exists()


def test_writer_errors(tmp_path):
  writer = mw.MetricWriter(tmp_path)
  with pytest.raises(ValueError, match="reserved"):
    writer.write_scalars(1, {"step": 1.0})
  with pytest.raises(ValueError, match="step 3.*'x' is not a scalar"):
    writer.write_scalars(3, {"x": [1.0, 2.0]})
  with pytest.raises(TypeError, match="mapping"):
    writer.write_config([1, 2])
  writer.close()
  writer.close()
  with pytest.raises(ValueError, match="closed"):
    writer.write_scalars(1, {"a": 1.0})


def test_tags_are_kept_as_written_and_large_values_become_inf(tmp_path):
  with mw.MetricWriter(tmp_path) as writer:
    writer.write_scalars(7, {"knn/top1@1": 0.5, "big": 1e300, "neg": -1e300})
  assert tb_events.read_scalars(tmp_path) == {"knn/top1@1": [(7, 0.5)], "big": [(7, math.inf)],
                                              "neg": [(7, -math.inf)]}


def test_tensorboard_reads_our_files(tmp_path):
  try:
    from tensorboard.backend.event_processing import event_accumulator
  except ImportError:
    pytest.skip("tensorboard is not installed: cross-check with its reader not possible")
  with mw.MetricWriter(tmp_path) as writer:
    writer.write_scalars(1, {"train/loss": 3.5, "lr": 0.1})
    writer.write_scalars(2, {"train/loss": 3.25})
  acc = event_accumulator.EventAccumulator(str(tmp_path))
  acc.Reload()
  assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [(1, 3.5), (2, 3.25)]
  assert [(e.step, e.value) for e in acc.Scalars("lr")] == [(1, pytest.approx(0.1))]


# --- finiteness and resume ---------------------------------------------------------------------


def test_check_finite():
  mw.check_finite(3, {"loss": 1.0, "acc": np.float32(0.5), "vec": np.ones(3)})
  with pytest.raises(FloatingPointError) as info:
    mw.check_finite(120, {"train/loss": float("nan"), "lr": 0.1, "grad_norm": np.inf,
                          "vec": np.array([1.0, np.nan])})
  assert str(info.value) == ("non-finite metrics at step 120: train/loss=nan, grad_norm=inf, "
                             "vec=<non-finite entries>")


def test_drop_rows_after_keeps_one_row_per_step(tmp_path):
  with mw.MetricWriter(tmp_path) as writer:
    for step in (10, 20, 30):
      writer.write_scalars(step, {"loss": step / 10})
  with open(tmp_path / mw.METRICS_FILENAME, "a") as f:
    f.write('not json\n{"step": 40, "lo')  # a foreign line and a row cut by a kill
  assert mw.drop_rows_after(tmp_path, 20) == 2  # row 30 and the partial row 40
  assert (tmp_path / mw.METRICS_FILENAME).read_text().endswith("not json\n")
  with mw.MetricWriter(tmp_path) as writer:
    writer.write_scalars(30, {"loss": 3.5})
  rows = [json.loads(line) for line in (tmp_path / mw.METRICS_FILENAME).read_text().splitlines()
          if line != "not json"]
  assert [(r["step"], r["loss"]) for r in rows] == [(10, 1.0), (20, 2.0), (30, 3.5)]
  assert mw.drop_rows_after(tmp_path, 30) == 0
  assert mw.drop_rows_after(tmp_path / "absent", 0) == 0
