"""Tests of `python -m skel_jax.prepare` and the TFDS builder on small real-data folders."""

import json
import os
import shutil
import sys

import numpy as np
import pytest

from skel_jax import prepare, progress
from skel_jax.data import ntu, nw_ucla, pku_mmd, registry
from skel_jax.data.prepared import load_prepared
from skel_jax.data.preprocess import DataError
from tests import pku_fixtures

NTU_NAMES = ["S001C001P001R001A001", "S001C001P001R001A011", "S001C003P008R002A058",
             "S002C001P003R001A003", "S003C001P015R001A034", "S004C002P003R001A017"]


@pytest.fixture
def ntu_raw(ntu_samples_dir, tmp_path):
  """A raw NTU folder of links to the six samples, with the skip lists beside them."""
  raw = tmp_path / "raw"
  raw.mkdir()
  for name in NTU_NAMES:
    os.symlink(ntu_samples_dir / f"{name}.skeleton", raw / f"{name}.skeleton")
  os.symlink(ntu_samples_dir / "meta", raw / "meta")
  return raw


def _by_name(ds):
  return {n: (x, y) for n, x, y in zip(ds.names, ds.x, ds.y)}


def test_prepare_ntu_splits_labels_and_values(ntu_raw, tmp_path):
  out = tmp_path / "out"
  final = prepare.prepare("ntu60_xsub", ntu_raw, out, num_frames=32, workers=1, shard_size=2,
                          progress=False)
  assert final == str(out / "ntu60_xsub")
  assert sorted(os.listdir(out)) == ["ntu60_xsub"]  # no partial or temporary folder left
  train, test = (load_prepared(out, "ntu60_xsub", s) for s in ("train", "test"))
  assert train.names == ["S001C001P001R001A001", "S001C001P001R001A011",
                         "S001C003P008R002A058", "S003C001P015R001A034"]
  assert test.names == ["S002C001P003R001A003", "S004C002P003R001A017"]
  assert list(train.y) == [0, 10, 57, 33] and list(test.y) == [2, 16]
  assert train.x.shape == (4, 2, 32, 25, 3) and train.num_classes == 60
  assert train.layout == "ntu25"
  for ds in (train, test):
    for name, (x, _) in _by_name(ds).items():
      np.testing.assert_array_equal(x, ntu.process_file(ntu_raw / f"{name}.skeleton", 32))
  with open(out / "ntu60_xsub" / "info.json") as f:
    info = json.load(f)
  assert info["counts"] == {"train": 4, "test": 2} and info["num_frames"] == 32
  xset = prepare.prepare("ntu120_xset", ntu_raw, out, workers=1, progress=False)
  assert load_prepared(os.path.dirname(xset), "ntu120_xset", "train").names == [
      "S002C001P003R001A003", "S004C002P003R001A017"]
  with pytest.raises(FileExistsError, match="--overwrite"):
    prepare.prepare("ntu60_xsub", ntu_raw, out, workers=1, progress=False)


def test_prepare_resumes_after_a_bad_file(ntu_raw, tmp_path, monkeypatch):
  bad = ntu_raw / "S001C002P004R001A005.skeleton"  # the third train sample in name order
  lines = (ntu_raw / "S001C001P001R001A001.skeleton").read_bytes().split(b"\r\n")
  bad.write_bytes(b"\r\n".join(lines[:50]))
  out = tmp_path / "out"
  with pytest.raises(DataError, match=r"S001C002P004R001A005.skeleton, line \d+: file ends early"
                     r"(.|\n)*rerun the same command to resume"):
    prepare.prepare("ntu60_xsub", ntu_raw, out, workers=1, shard_size=1, progress=False)
  assert not (out / "ntu60_xsub").exists()  # nothing half written
  done = sorted(f for f in os.listdir(out / ".ntu60_xsub.partial") if f.endswith(".npz"))
  assert done == ["train-00000.npz", "train-00001.npz"]
  assert sorted(os.listdir(out / ".ntu60_xsub.partial")) == ["plan.json", *done]  # no temp files
  bad.write_bytes(b"\r\n".join(lines))  # fixed
  calls = []
  real = prepare._write_shard
  monkeypatch.setattr(prepare, "_write_shard", lambda path, *a: calls.append(path) or real(
      path, *a))
  prepare.prepare("ntu60_xsub", ntu_raw, out, workers=1, shard_size=1, progress=False)
  assert len(calls) == 7 - len(done)  # only the shards that were missing
  train = load_prepared(out, "ntu60_xsub", "train")
  assert "S001C002P004R001A005" in train.names and len(train) == 5
  assert not (out / ".ntu60_xsub.partial").exists()


def test_partial_shards_of_other_arguments_are_discarded(ntu_raw, tmp_path, capsys):
  out = tmp_path / "out"
  partial = out / ".ntu60_xview.partial"
  partial.mkdir(parents=True)
  (partial / "plan.json").write_text(json.dumps({"num_frames": 64}))
  (partial / "train-00000.npz").write_bytes(b"stale")
  prepare.prepare("ntu60_xview", ntu_raw, out, num_frames=16, workers=1, progress=False)
  assert "starting over" in capsys.readouterr().err
  test = load_prepared(out, "ntu60_xview", "test")  # camera 1
  assert test.names == [n for n in NTU_NAMES if "C001" in n] and test.x.shape[2] == 16


def test_prepare_pku_matches_reader(ntu_samples_dir, tmp_path):
  raw = tmp_path / "pku"
  pku_fixtures.write_release(raw, ntu_samples_dir, part=1)
  prepare.prepare("pku1_xview", raw, tmp_path / "out", workers=1, progress=False)
  for split in ("train", "test"):
    got = load_prepared(tmp_path / "out", "pku1_xview", split)
    want = pku_mmd.load_pku_mmd(raw, "pku1_xview", split)
    assert got.names == want.names and list(got.y) == list(want.y)
    np.testing.assert_array_equal(got.x, want.x)
    assert got.num_classes == 51


def test_prepare_nwucla_matches_reader(nw_ucla_dir, tmp_path):
  raw = tmp_path / "ucla"
  raw.mkdir()
  for name in ("a01_s01_e00_v01", "a01_s01_e00_v03", "a12_s10_e04_v02", "a05_s03_e01_v03"):
    os.symlink(nw_ucla_dir / "all_sqe" / f"{name}.json", raw / f"{name}.json")
  prepare.prepare("nwucla", raw, tmp_path / "out", num_frames=20, workers=1, progress=False)
  for split in ("train", "test"):
    got = load_prepared(tmp_path / "out", "nwucla", split)
    want = nw_ucla.load_nw_ucla(raw, split, num_frames=20)
    assert got.names == want.names and list(got.y) == list(want.y) and len(got) == 2
    np.testing.assert_array_equal(got.x, want.x)


def test_cli_parallel_with_progress_and_overwrite(ntu_raw, tmp_path, capsys):
  argv = ["ntu60_xview", f"--raw={ntu_raw}", f"--out={tmp_path}", "--frames=20", "--workers=2",
          "--shard-size=2"]
  assert prepare.main(argv) == 0
  captured = capsys.readouterr()
  assert "files/s" in captured.err and "6 files in" in captured.err
  assert "train 2 clips, test 4 clips" in captured.out  # cameras 2 and 3 train
  serial = prepare.prepare("ntu60_xview", ntu_raw, tmp_path / "serial", num_frames=20,
                           workers=1, progress=False)
  for split in ("train", "test"):
    a = load_prepared(tmp_path, "ntu60_xview", split)
    b = load_prepared(os.path.dirname(serial), "ntu60_xview", split)
    assert a.names == b.names
    np.testing.assert_array_equal(a.x, b.x)
  assert prepare.main(argv) == 1
  assert "already exists" in capsys.readouterr().err
  assert prepare.main(argv[:-2] + ["--workers=1", "--overwrite", "--frames=8"]) == 0
  assert load_prepared(tmp_path, "ntu60_xview", "train").x.shape[2] == 8


def test_skip_list_resolution(ntu_raw, tmp_path, monkeypatch):
  skip = prepare.find_ntu_skip_list(60, str(ntu_raw), None)  # found in raw/meta
  assert len(skip) == 302
  assert prepare.find_ntu_skip_list(120, str(ntu_raw), "none") == frozenset()
  own = tmp_path / "skip.txt"
  own.write_text("S001C001P001R001A001\n\n")
  assert prepare.find_ntu_skip_list(60, str(ntu_raw), str(own)) == {"S001C001P001R001A001"}
  prepare.prepare("ntu60_xsub", ntu_raw, tmp_path / "o", workers=1, progress=False,
                  skip_list=str(own))
  assert "S001C001P001R001A001" not in load_prepared(tmp_path / "o", "ntu60_xsub",
                                                     "train").names
  os.unlink(ntu_raw / "meta")
  monkeypatch.setattr(prepare, "_shared_data_dirs", lambda: [])
  with pytest.raises(DataError, match="--skip_list=PATH .* --skip_list=none"):
    prepare.find_ntu_skip_list(60, str(ntu_raw), None)
  with pytest.raises(DataError, match="skip list not found"):
    prepare.find_ntu_skip_list(60, str(ntu_raw), str(tmp_path / "nope.txt"))


def test_unknown_dataset_and_missing_raw(tmp_path):
  with pytest.raises(ValueError, match="unknown dataset"):
    prepare.plan_dataset("ntu60_xset", tmp_path)
  with pytest.raises(DataError, match="NTU raw folder not found"):
    prepare.plan_dataset("ntu60_xsub", tmp_path / "nope", skip_list="none")
  with pytest.raises(SystemExit):
    prepare.main(["kinetics", "--raw=x", "--out=y"])


def test_tfds_builder_writes_array_record_without_tensorflow(ntu_raw, tmp_path):
  tfds = pytest.importorskip(
      "tensorflow_datasets", reason="tensorflow-datasets is the optional extra [tfds] (pip "
      "install -e '.[tfds]'); the [test] extra installs it")

  from skel_jax.data import tfds as skel_tfds

  data_dir = tmp_path / "tfds"
  skel_tfds.build("ntu60_xsub_f50", str(data_dir), str(ntu_raw), workers=1)
  assert "tensorflow" not in sys.modules  # neither building nor reading imports TF
  files = os.listdir(data_dir / "skeleton_actions" / "ntu60_xsub_f50" / "1.0.0")
  assert any(".array_record-" in f for f in files)
  source = tfds.data_source("skeleton_actions/ntu60_xsub_f50", data_dir=str(data_dir))
  prepare.prepare("ntu60_xsub", ntu_raw, tmp_path / "npz", workers=1, progress=False)
  for split in ("train", "test"):
    want = _by_name(load_prepared(tmp_path / "npz", "ntu60_xsub", split))
    got = {ex["name"].decode(): ex for ex in (source[split][i] for i in range(
        len(source[split])))}
    assert sorted(got) == sorted(want)
    for name, ex in got.items():
      np.testing.assert_array_equal(ex["clip"], want[name][0])
      assert ex["label"] == want[name][1]
    via_registry = registry.load_dataset("tfds:ntu60_xsub_f50", split, data_dir=str(data_dir),
                                         num_frames=50)
    assert via_registry.names == sorted(want) and via_registry.num_classes == 60
    np.testing.assert_array_equal(via_registry.x, np.stack([want[n][0] for n in sorted(want)]))
  shutil.rmtree(data_dir)


def test_progress_bar_shows_rate_and_can_be_off(capsys):
  with progress.bar(10, "ntu60_xsub", unit="files", initial=4) as bar:
    bar.update(6)
  err = capsys.readouterr().err
  assert "ntu60_xsub" in err and "10/10" in err and "files/s" in err
  with progress.bar(10, "quiet", enabled=False) as bar:
    bar.update(10)
  assert capsys.readouterr().err == ""


def test_skip_bad_lists_every_rejected_file(ntu_raw, tmp_path, capsys):
  good = (ntu_raw / "S001C001P001R001A001.skeleton").read_bytes()
  (ntu_raw / "S001C002P004R001A005.skeleton").write_bytes(good[:2000])  # truncated
  (ntu_raw / "S002C002P003R001A009.skeleton").write_bytes(b"1\r\n1\r\nnot a body line\r\n")
  out = tmp_path / "out"
  # One file per shard: the shards of the bad files hold no sample at all.
  final = prepare.prepare("ntu60_xsub", ntu_raw, out, workers=1, shard_size=1, progress=False,
                          skip_bad=True)
  train, test = (load_prepared(out, "ntu60_xsub", s) for s in ("train", "test"))
  assert "S001C002P004R001A005" not in train.names and len(train) == 4 and len(test) == 2
  with open(os.path.join(final, "info.json")) as f:
    info = json.load(f)
  assert [os.path.basename(r["file"]) for r in info["rejected"]] == [
      "S001C002P004R001A005.skeleton", "S002C002P003R001A009.skeleton"]
  assert "file ends early (truncated?)" in info["rejected"][0]["reason"]
  assert info["rejected"][1]["reason"].endswith(
      "S002C002P003R001A009.skeleton, line 3: expected a body info line of 10 values in frame 0, "
      "got 4 values 'not a body line' (body count wrong?)")
  err = capsys.readouterr().err
  assert err.startswith("skipped 2 bad file(s) (--skip_bad); all are listed with their reason "
                        f"under 'rejected' in {final}/info.json:\n")


def test_leftovers_of_a_killed_run_are_cleaned(ntu_raw, tmp_path, capsys):
  out = tmp_path / "out"
  dead = out / ".ntu60_xsub.tmp-999999999"  # no such process
  dead.mkdir(parents=True)
  (dead / "train.npz").write_bytes(b"x" * 1000)
  alive = out / f".ntu60_xsub.tmp-{os.getppid()}"  # a running process: maybe still writing
  alive.mkdir()
  prepare.prepare("ntu60_xsub", ntu_raw, out, workers=1, progress=False)
  assert sorted(os.listdir(out)) == [alive.name, "ntu60_xsub"]
  assert f"{dead}: removed (left by a killed run)" in capsys.readouterr().err
  # Killed between setting the old dataset aside and renaming the new one in: restored.
  os.rename(out / "ntu60_xsub", out / ".ntu60_xsub.old-999999999")
  assert prepare.clean_leftovers(str(out), "ntu60_xsub") == [
      str(out / ".ntu60_xsub.old-999999999")]
  assert load_prepared(out, "ntu60_xsub", "test").names == [
      "S002C001P003R001A003", "S004C002P003R001A017"]
