"""Tests of the NTU `.skeleton` reader, names, splits and step A/B on the six real samples."""

import numpy as np
import pytest

from skel_jax.data import ntu, preprocess
from skel_jax.data.preprocess import DataError

FRAMES = {
    "S001C001P001R001A001": 103,
    "S001C001P001R001A011": 82,
    "S001C003P008R002A058": 70,
    "S002C001P003R001A003": 100,
    "S003C001P015R001A034": 71,
    "S004C002P003R001A017": 124,
}
TWO_BODIES = "S001C003P008R002A058"


def _simple_read(path):
  """Independent line-by-line reader: per frame, per body, the x y z of each joint."""
  with open(path) as f:
    lines = [line.strip() for line in f]
  pos = 1
  frames = []
  for _ in range(int(lines[0])):
    bodies = []
    count = int(lines[pos])
    pos += 1
    for _ in range(count):
      pos += 2  # body info line, joint count
      bodies.append([[float(v) for v in lines[pos + j].split()[:3]] for j in range(25)])
      pos += 25
    frames.append(bodies)
  return frames


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_read_real_files_matches_simple_reader(ntu_samples_dir, name):
  path = ntu_samples_dir / f"{name}.skeleton"
  out = ntu.read_skeleton(path)
  assert out.shape == (2, FRAMES[name], 25, 3) and out.dtype == np.float32
  frames = _simple_read(path)
  expected = np.zeros(out.shape, np.float32)
  for t, bodies in enumerate(frames):
    for b, joints in enumerate(bodies[:2]):
      expected[b, t] = joints
  np.testing.assert_array_equal(out, expected)
  present = np.abs(out).sum(axis=(2, 3)) > 0  # [M, T]
  assert present[0].all()
  assert present[1].all() == (name == TWO_BODIES) and present[1].any() == (name == TWO_BODIES)


def test_hand_values_of_first_joint(ntu_samples_dir):
  out = ntu.read_skeleton(ntu_samples_dir / "S001C001P001R001A001.skeleton")
  np.testing.assert_array_equal(out[0, 0, 0], np.float32([0.2181153, 0.1725972, 3.785547]))
  np.testing.assert_array_equal(out[0, 0, 24], np.float32([0.1268453, 0.2813963, 3.549525]))
  one_body = ntu.read_skeleton(ntu_samples_dir / f"{TWO_BODIES}.skeleton", max_bodies=1)
  assert one_body.shape == (1, 70, 25, 3)


def test_names_labels_and_splits():
  info = ntu.parse_name("/x/S017C003P020R002A060.skeleton")
  assert (info.setup, info.camera, info.performer, info.replication, info.action) == (
      17, 3, 20, 2, 60)
  assert info.label == 59
  cases = {
      # name: (ntu60_xsub, ntu60_xview, ntu120_xsub, ntu120_xset)
      "S001C001P001R001A001": ("train", "test", "train", "test"),
      "S001C003P008R002A058": ("train", "train", "train", "test"),
      "S002C002P003R001A003": ("test", "train", "test", "train"),
      "S003C001P015R001A034": ("train", "test", "train", "test"),
      "S020C001P045R001A100": ("test", "test", "train", "train"),
      "S021C001P044R001A100": ("test", "test", "test", "test"),
      "S032C001P103R001A120": ("test", "test", "train", "train"),
  }
  for name, expected in cases.items():
    got = tuple(ntu.split_of(name, d) for d in
                ("ntu60_xsub", "ntu60_xview", "ntu120_xsub", "ntu120_xset"))
    assert got == expected, name
  assert len(ntu.NTU60_XSUB_TRAIN_PERFORMERS) == 20
  assert len(ntu.NTU120_XSUB_TRAIN_PERFORMERS) == 53
  with pytest.raises(DataError, match="not an NTU sample name"):
    ntu.parse_name("foo.skeleton")
  with pytest.raises(ValueError, match="unknown NTU dataset"):
    ntu.split_of("S001C001P001R001A001", "ntu60_xset")


def test_skip_lists_and_listing(ntu_samples_dir, tmp_path):
  skip60 = ntu.read_skip_list(ntu_samples_dir / "meta" / ntu.SKIP_LIST_NAMES[60])
  skip120 = ntu.read_skip_list(ntu_samples_dir / "meta" / ntu.SKIP_LIST_NAMES[120])
  assert len(skip60) == 302 and len(skip120) == 535 and skip60 <= skip120
  names = ["S001C001P001R001A001", "S001C002P005R002A008", "S001C003P001R001A061",
           "S018C001P001R001A001", "S002C002P003R001A003"]
  for n in names:
    (tmp_path / f"{n}.skeleton").write_text("")
  (tmp_path / "notes.txt").write_text("")
  assert "S001C002P005R002A008" in skip60
  train = ntu.list_samples(tmp_path, "ntu60_xview", "train", skip60)
  test = ntu.list_samples(tmp_path, "ntu60_xview", "test", skip60)
  assert [n for n, _, _ in train] == ["S002C002P003R001A003"]
  # A061 and setup 18 are NTU-120 only; the skipped sample is gone.
  assert [(n, label) for n, _, label in test] == [("S001C001P001R001A001", 0)]
  all120 = ntu.list_samples(tmp_path, "ntu120_xset", "all")
  assert [n for n, _, _ in all120] == sorted(names)
  assert all120[2][2] == 60
  (tmp_path / "s018_to_s032").mkdir()  # the second NTU-120 archive beside the files
  (tmp_path / "s018_to_s032" / "S018C001P008R001A061.skeleton").write_text("")
  assert len(ntu.list_samples(tmp_path, "ntu120_xsub", "all")) == 6
  (tmp_path / "s018_to_s032" / "S001C001P001R001A001.skeleton").write_text("")
  with pytest.raises(DataError, match="S001C001P001R001A001 also found"):
    ntu.list_samples(tmp_path, "ntu120_xsub", "all")


def test_step_a_and_b_on_two_body_file(ntu_samples_dir):
  path = ntu_samples_dir / f"{TWO_BODIES}.skeleton"
  raw = ntu.read_skeleton(path)
  step_a = ntu.load_step_a(path)
  assert step_a.shape == (2, 300, 25, 3)
  np.testing.assert_array_equal(step_a[:, :70], raw)
  np.testing.assert_array_equal(step_a[:, 70:], 0.0)
  out = ntu.process_file(path, 50)
  assert out.shape == (2, 50, 25, 3) and out.dtype == np.float32
  np.testing.assert_allclose(out[:, :, 20], 0.0, atol=1e-6)  # spine shoulder at the origin
  expected = preprocess.rotate_view(
      preprocess.resize_time(preprocess.center_clip(step_a, 20), 70, 50), (4, 8))
  np.testing.assert_allclose(out, expected, atol=1e-5)
  shoulders = out[:, :, 8] - out[:, :, 4]
  assert (shoulders[..., 0] > 0).mean() > 0.9  # mostly turned to +x (the sign is per sequence)
  no_rot = ntu.process_file(path, 50, view_normalize=False)
  np.testing.assert_allclose(
      np.linalg.norm(no_rot[:, :, 3] - no_rot[:, :, 2], axis=-1),
      np.linalg.norm(out[:, :, 3] - out[:, :, 2], axis=-1), atol=1e-5)


def test_long_sequences_are_cut_to_300_frames():
  clip = np.ones((2, 310, 25, 3), np.float32)
  clip[:, 300:] = 2.0
  out = ntu.pad_frames(clip)
  assert out.shape == (2, 300, 25, 3) and np.all(out == 1.0)


def _lines(ntu_samples_dir, name="S001C001P001R001A001"):
  return (ntu_samples_dir / f"{name}.skeleton").read_bytes().decode().split("\r\n")


def _write(tmp_path, lines, name="S001C001P001R001A001"):
  path = tmp_path / f"{name}.skeleton"
  path.write_bytes("\r\n".join(lines).encode())
  return path


# Line numbers (1-based) in S001C001P001R001A001: 1 frame count, then per frame 28 lines:
# body count (2), body info (3), joint count (4), joints (5-29); frame 1 starts at line 30.
@pytest.mark.parametrize("edit,message", [
    (lambda ls: ls[:100], r"line 89: file ends early \(truncated\?\) after 100 lines: expected "
     r"25 joint lines of frame 3 body 0"),
    (lambda ls: ls[:29] + ["1"], r"line 31: file ends early .* body info line of frame 1"),
    (lambda ls: ls[:3] + ["24"] + ls[4:], r"line 4: frame 0 body 0 has 24 joints, expected 25"),
    (lambda ls: ls[:1] + ["2"] + ls[2:], r"line 30: expected a body info line of 10 values in "
     r"frame 0, got 1 values '1'"),
    (lambda ls: ls[:1] + ["0"] + ls[2:], r"line 3: expected the body count of frame 1"),
    (lambda ls: ls[:10] + [ls[10].replace("0.", "x.", 1)] + ls[11:],
     r"line 11: non-numeric value 'x.\d+' in joint line"),
    (lambda ls: ls[:10] + [ls[10].rsplit(" ", 1)[0]] + ls[11:],
     r"line 11: expected a joint line of 12 values, got 11"),
    (lambda ls: ls[:10] + ["nan" + ls[10][ls[10].index(" "):]] + ls[11:],
     r"line 11: non-finite coordinate"),
    (lambda ls: ["102"] + ls[1:], r"line 2858: unexpected content after the last of 102 frames"),
    (lambda ls: ["abc"] + ls[1:], r"line 1: expected the frame count \(one integer\), got 'abc'"),
    (lambda ls: ls[:2] + ["1 2 3"] + ls[3:], r"line 3: expected a body info line of 10 values"),
])
def test_corrupt_files_name_file_and_line(ntu_samples_dir, tmp_path, edit, message):
  path = _write(tmp_path, edit(_lines(ntu_samples_dir)))
  with pytest.raises(DataError, match=message) as info:
    ntu.read_skeleton(path)
  assert str(path) in str(info.value)


def test_zero_body_frames_and_empty_file(tmp_path, ntu_samples_dir):
  ls = _lines(ntu_samples_dir)
  # Frame 0 with no body: its 27 body lines removed and the count set to 0.
  path = _write(tmp_path, ls[:1] + ["0"] + ls[29:])
  out = ntu.read_skeleton(path)
  assert out.shape == (2, 103, 25, 3)
  np.testing.assert_array_equal(out[:, 0], 0.0)
  assert preprocess.valid_length(out) == 102
  empty = _write(tmp_path, ["2", "0", "0", ""], name="S001C001P001R001A002")
  assert not ntu.read_skeleton(empty).any()
  with pytest.raises(DataError, match="S001C001P001R001A002.skeleton: no valid frame"):
    ntu.process_file(empty)
