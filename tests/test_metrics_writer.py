"""Tests for skel_jax.train.metrics_writer: event files, metrics.jsonl, config.json, progress."""

import json
import math
import struct

import numpy as np
import pytest

from skel_jax.train import metrics_writer as mw


class FakeClock:
  """A clock the test moves by hand."""

  def __init__(self, t: float = 0.0):
    self.t = t

  def __call__(self) -> float:
    return self.t


# --- crc32c and record framing ------------------------------------------------------------------


def test_crc32c_known_vectors():
  assert mw.crc32c(b"") == 0
  assert mw.crc32c(b"123456789") == 0xE3069283
  # RFC 3720 (iSCSI) appendix B.4 test vectors.
  assert mw.crc32c(bytes(32)) == 0x8A9136AA
  assert mw.crc32c(b"\xff" * 32) == 0x62A8AB43
  assert mw.crc32c(bytes(range(32))) == 0x46DD794E
  assert mw.crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_crc32c_continues_across_pieces():
  assert mw.crc32c(b"6789", mw.crc32c(b"12345")) == 0xE3069283


def test_masked_crc32c_formula():
  crc = 0xE3069283
  rotated = ((crc >> 15) | (crc << 17)) % 2**32
  assert mw.masked_crc32c(b"123456789") == (rotated + 0xA282EAD8) % 2**32


def test_record_framing_layout_and_round_trip(tmp_path):
  payload = b"hello event"
  record = mw.encode_record(payload)
  assert len(record) == 8 + 4 + len(payload) + 4
  assert struct.unpack("<Q", record[:8])[0] == len(payload)
  assert struct.unpack("<I", record[8:12])[0] == mw.masked_crc32c(record[:8])
  assert record[12:-4] == payload
  assert struct.unpack("<I", record[-4:])[0] == mw.masked_crc32c(payload)
  path = tmp_path / "rec"
  path.write_bytes(record + mw.encode_record(b"") + mw.encode_record(b"x" * 300))
  assert list(mw.iter_records(path)) == [payload, b"", b"x" * 300]


def test_corrupt_record_names_file_and_offset(tmp_path):
  first = mw.encode_record(b"ok")
  bad = bytearray(mw.encode_record(b"payload"))
  bad[14] ^= 0x01  # flip a data bit of the second record
  path = tmp_path / "events.out.tfevents.1.host"
  path.write_bytes(first + bytes(bad))
  with pytest.raises(ValueError, match=rf"events.out.tfevents.1.host.*byte {len(first)}"):
    list(mw.iter_records(path))


def test_truncated_tail_is_ignored(tmp_path):
  path = tmp_path / "rec"
  whole = mw.encode_record(b"first")
  path.write_bytes(whole + mw.encode_record(b"second")[:-3])
  assert list(mw.iter_records(path)) == [b"first"]


# --- protobuf encoding --------------------------------------------------------------------------


def test_scalar_event_bytes_by_hand():
  data = mw.encode_scalar_event(1.5, 300, {"a": 1.0})
  value = b"\x0a\x01a" + b"\x15" + struct.pack("<f", 1.0)  # tag (1, len) + simple_value (2, f32)
  summary = b"\x0a" + bytes([len(value)]) + value  # Summary.value = 1
  expected = (b"\x09" + struct.pack("<d", 1.5)  # wall_time = 1, fixed64
              + b"\x10" + bytes([0xAC, 0x02])  # step = 2, varint 300
              + b"\x2a" + bytes([len(summary)]) + summary)  # summary = 5
  assert data == expected


def test_file_version_event_bytes_by_hand():
  data = mw.encode_file_version_event(2.0)
  assert data == b"\x09" + struct.pack("<d", 2.0) + b"\x1a\x0dbrain.Event:2"


def test_decode_event_round_trip_negative_step_and_overflow():
  event = mw.decode_event(mw.encode_scalar_event(3.25, -7, {"x": 1e39, "y": -0.0, "z": 0.1}))
  assert event["wall_time"] == 3.25
  assert event["step"] == -7
  assert event["file_version"] is None
  (tx, vx), (ty, vy), (tz, vz) = event["scalars"]
  assert (tx, ty, tz) == ("x", "y", "z")
  assert vx == math.inf  # beyond float32 range
  assert vy == 0.0 and math.copysign(1.0, vy) == -1.0
  assert vz == float(np.float32(0.1))


def _protobuf_event_class():
  """An Event/Summary message class built from a hand-written descriptor (tensorflow names)."""
  descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")
  from google.protobuf import descriptor_pool, message_factory

  fdp = descriptor_pb2.FileDescriptorProto(name="skel_jax_test_event.proto", package="tf_test",
                                           syntax="proto3")
  f = descriptor_pb2.FieldDescriptorProto
  summary = fdp.message_type.add(name="Summary")
  value = summary.nested_type.add(name="Value")
  value.field.add(name="tag", number=1, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL)
  value.oneof_decl.add(name="value")
  value.field.add(name="simple_value", number=2, type=f.TYPE_FLOAT, label=f.LABEL_OPTIONAL,
                  oneof_index=0)
  summary.field.add(name="value", number=1, type=f.TYPE_MESSAGE, label=f.LABEL_REPEATED,
                    type_name=".tf_test.Summary.Value")
  event = fdp.message_type.add(name="Event")
  event.oneof_decl.add(name="what")
  event.field.add(name="wall_time", number=1, type=f.TYPE_DOUBLE, label=f.LABEL_OPTIONAL)
  event.field.add(name="step", number=2, type=f.TYPE_INT64, label=f.LABEL_OPTIONAL)
  event.field.add(name="file_version", number=3, type=f.TYPE_STRING, label=f.LABEL_OPTIONAL,
                  oneof_index=0)
  event.field.add(name="summary", number=5, type=f.TYPE_MESSAGE, label=f.LABEL_OPTIONAL,
                  type_name=".tf_test.Summary", oneof_index=0)
  pool = descriptor_pool.DescriptorPool()
  pool.Add(fdp)
  return message_factory.GetMessageClass(pool.FindMessageTypeByName("tf_test.Event"))


def test_protobuf_library_parses_our_events_and_we_parse_its():
  event_cls = _protobuf_event_class()
  ours = event_cls.FromString(mw.encode_scalar_event(12.5, 2**40, {"train/loss": 6.25, "z": 0.0}))
  assert ours.wall_time == 12.5 and ours.step == 2**40
  assert [(v.tag, v.simple_value) for v in ours.summary.value] == [("train/loss", 6.25), ("z", 0.0)]
  assert ours.summary.value[1].HasField("simple_value")
  assert event_cls.FromString(mw.encode_file_version_event(1.0)).file_version == "brain.Event:2"

  theirs = event_cls(wall_time=4.0, step=-3)
  theirs.summary.value.add(tag="acc", simple_value=0.75)
  decoded = mw.decode_event(theirs.SerializeToString())
  assert decoded == {"wall_time": 4.0, "step": -3, "file_version": None,
                     "scalars": [("acc", 0.75)]}


# --- MetricWriter -------------------------------------------------------------------------------


def test_write_scalars_read_back_exactly(tmp_path):
  clock = FakeClock(1_700_000_000.25)
  values = {1: {"train/loss": 6.2131, "lr": 0.1}, 10: {"train/loss": 5.0, "lr": 0.1},
            20: {"train/loss": np.float32(4.75), "eval/knn_top1": np.float64(0.4321)}}
  with mw.MetricWriter(tmp_path / "run", clock=clock) as writer:
    for step, scalars in values.items():
      clock.t += 1.0
      writer.write_scalars(step, scalars)
  files = mw.event_files(tmp_path / "run")
  assert [p.name.split(".")[3] for p in files] == ["1700000000"]
  got = mw.read_scalars(tmp_path / "run")
  assert set(got) == {"train/loss", "lr", "eval/knn_top1"}
  assert got["train/loss"] == [(1, float(np.float32(6.2131))), (10, 5.0), (20, 4.75)]
  assert got["lr"] == [(1, float(np.float32(0.1))), (10, float(np.float32(0.1)))]
  assert got["eval/knn_top1"] == [(20, float(np.float32(0.4321)))]
  first = next(mw.iter_records(files[0]))
  assert mw.decode_event(first)["file_version"] == "brain.Event:2"


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
  tb = mw.read_scalars(tmp_path)
  assert math.isnan(tb["loss"][1][1]) and tb["g"] == [(6, -math.inf)]


def test_two_writers_same_second_and_resume_append(tmp_path):
  clock = FakeClock(50.0)
  with mw.MetricWriter(tmp_path, clock=clock) as writer:
    writer.write_scalars(1, {"a": 1.0})
  with mw.MetricWriter(tmp_path, clock=clock) as writer:
    writer.write_scalars(2, {"a": 2.0})
  assert len(mw.event_files(tmp_path)) == 2
  assert mw.read_scalars(tmp_path) == {"a": [(1, 1.0), (2, 2.0)]}
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


def test_read_scalars_without_event_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="tfevents"):
    mw.read_scalars(tmp_path)


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


# --- progress, durations, finiteness ------------------------------------------------------------


def test_format_duration():
  assert mw.format_duration(0) == "0s"
  assert mw.format_duration(12.4) == "12s"
  assert mw.format_duration(59.6) == "1m00s"
  assert mw.format_duration(542) == "9m02s"
  assert mw.format_duration(3720) == "1h02m"
  assert mw.format_duration(50 * 3600 + 61) == "50h01m"
  assert mw.format_duration(-5) == "0s"
  assert mw.format_duration(math.inf) == "?"


def test_progress_lines_with_fake_clock():
  clock, lines = FakeClock(), []
  rep = mw.ProgressReporter(3000, every_seconds=10.0, batch_size=64, log=lines.append,
                            clock=clock)
  clock.t = 30.0  # first step: compilation
  assert rep.update(1) == "step 1/3000 (0.0%) | first step 30s (incl. compile)"
  for step in range(2, 120):
    clock.t += 9.5 / 118  # 118 more steps before the 10 s mark: no line yet
    assert rep.update(step) is None
  clock.t = 30.0 + 119 / 5.3125  # 119 steps since step 1 at 5.3125 steps/s
  line = rep.update(120, {"loss": 6.21349})
  # ETA = 2880 / 5.3125 = 542.1 s; 5.3125 * 64 = 340 samples/s.
  assert line == "step 120/3000 (4.0%) | 5.31 steps/s | 340 samples/s | ETA 9m02s | loss 6.213"
  assert lines == ["step 1/3000 (0.0%) | first step 30s (incl. compile)", line]


def test_progress_every_steps_and_final_step():
  clock, lines = FakeClock(), []
  rep = mw.ProgressReporter(10, every_steps=4, every_seconds=None, start_step=0,
                            log=lines.append, clock=clock)
  for step in range(1, 11):
    clock.t += 2.0
    rep.update(step)
  # Lines at step 1 (first), 4 and 8 (multiples of 4), 10 (the last step).
  assert [line.split(" |")[0] for line in lines] == [
      "step 1/10 (10.0%)", "step 4/10 (40.0%)", "step 8/10 (80.0%)", "step 10/10 (100.0%)"]
  assert lines[1] == "step 4/10 (40.0%) | 0.5 steps/s | ETA 12s"
  assert lines[3] == "step 10/10 (100.0%) | 0.5 steps/s | ETA 0s"


def test_progress_sparse_updates_after_resume():
  clock, lines = FakeClock(), []
  rep = mw.ProgressReporter(1000, every_steps=100, every_seconds=None, start_step=500,
                            log=lines.append, clock=clock)
  for step in (510, 560, 610, 660):  # the loop reports only every 50 steps
    clock.t += 1.0
    rep.update(step)
  assert [line.split(" |")[0] for line in lines] == ["step 510/1000 (51.0%)",
                                                     "step 610/1000 (61.0%)"]
  assert lines[1].split(" | ")[1] == "50 steps/s"


def test_progress_rejects_bad_arguments():
  with pytest.raises(ValueError, match="total_steps"):
    mw.ProgressReporter(0)
  with pytest.raises(ValueError, match="every_steps"):
    mw.ProgressReporter(10, every_steps=0)


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
