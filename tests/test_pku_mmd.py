"""Tests of the PKU-MMD reader on PKU-style recordings glued from the real NTU samples."""

import numpy as np
import pytest

from skel_jax.data import ntu, pku_mmd
from skel_jax.data.preprocess import DataError, preprocess_clip
from tests import pku_fixtures


@pytest.fixture(scope="module")
def part1(ntu_samples_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp("pku1")
  return root, pku_fixtures.write_release(root, ntu_samples_dir, part=1)


@pytest.fixture(scope="module")
def part2(ntu_samples_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp("pku2")
  return root, pku_fixtures.write_release(root, ntu_samples_dir, part=2)


def test_clip_names_follow_the_reference():
  assert pku_mmd.clip_name("0002-L", 7, 3) == "F002V001C008L003"
  assert pku_mmd.clip_name("0364-R", 50, 12) == "F364V003C051L012"
  assert pku_mmd.clip_name("A01N02-M", 0, 1) == "A001N002V002C001L001"


def test_find_files_and_split_files(part1, part2):
  root, _ = part1
  files = pku_mmd.find_files(root, 1)
  assert files.skeleton_dir.endswith("PKU_Skeleton_Renew")
  assert files.label_dir.endswith("Train_Label_PKU_final")
  assert pku_mmd.read_split_file(files.split_files["xsub"]) == (["0002-L", "0002-M"], ["0003-R"])
  assert pku_mmd.read_split_file(files.split_files["xview"]) == (["0002-M", "0003-R"], ["0002-L"])
  files2 = pku_mmd.find_files(part2[0], 2)
  assert files2.split_files["xsub"].endswith("cross_subject_v2.txt")


def test_labels_cut_and_central_frames(part1, ntu_samples_dir):
  root, written = part1
  files = pku_mmd.find_files(root, 1)
  clips = pku_mmd.read_label_file(f"{files.label_dir}/0003-R.txt")
  assert [(c.name, c.label, c.start, c.end) for c in clips] == [
      ("F003V003C051L001", 50, 6, 105), ("F003V003C001L002", 0, 106, 485)]
  frames = pku_mmd.read_skeleton_file(f"{files.skeleton_dir}/0003-R.txt")
  assert frames.shape == (485, 150)
  long_clip = pku_mmd.cut_clip(frames, clips[1])
  xyz = written["0003-R"][1][3]
  assert long_clip.shape == (2, 380, 25, 3)
  np.testing.assert_array_equal(long_clip, xyz)
  central = pku_mmd.central_frames(long_clip)
  np.testing.assert_array_equal(central, xyz[:, 40:340])  # (380 - 300) // 2 = 40
  short = pku_mmd.central_frames(long_clip[:, :10])
  assert short.shape == (2, 300, 25, 3) and not short[:, 10:].any()


def test_load_part1_matches_ntu_preprocessing(part1, ntu_samples_dir):
  root, written = part1
  train = pku_mmd.load_pku_mmd(root, "pku1_xsub", "train", num_frames=32)
  test = pku_mmd.load_pku_mmd(root, "pku1_xsub", "test", num_frames=32)
  assert train.names == ["F002V001C008L001", "F002V001C014L002", "F002V002C003L001"]
  assert list(train.y) == [7, 13, 2]
  assert test.names == ["F003V003C051L001", "F003V003C001L002"] and list(test.y) == [50, 0]
  assert train.x.shape == (3, 2, 32, 25, 3) and train.num_classes == 51
  assert train.layout == "ntu25"
  # The first action is NTU sample A001 verbatim: same result as the NTU path.
  np.testing.assert_array_equal(
      train.x[0], ntu.process_file(ntu_samples_dir / "S001C001P001R001A001.skeleton", 32))
  # Body 2 only where the recording has one (the handshake A058).
  assert not train.x[0, 1].any() and np.all(np.abs(train.x[1, 1]).sum(axis=(1, 2)) > 0)
  # The long action: central 300 of 380 frames, then step B.
  xyz = written["0003-R"][1][3][:, 40:340]
  np.testing.assert_array_equal(test.x[1], preprocess_clip(xyz, "ntu25", 32))
  xview = pku_mmd.load_pku_mmd(root, "pku1_xview", "test", num_frames=32)
  assert xview.names == ["F002V001C008L001", "F002V001C014L002"]


def test_load_part2_and_skip_list(part2):
  root, _ = part2
  train = pku_mmd.load_pku_mmd(root, "pku2_xsub", "train", num_frames=16, view_normalize=False)
  assert train.names == ["A001N002V003C014L001"] and list(train.y) == [13]
  (root / "samples_with_missing_skeletons_v2.txt").write_text("A001N002V003C014L001\n")
  try:
    assert pku_mmd.find_files(root, 2).skip_file is not None
    assert len(pku_mmd.load_pku_mmd(root, "pku2_xsub", "train", num_frames=16)) == 0
  finally:
    (root / "samples_with_missing_skeletons_v2.txt").unlink()


def test_unlabelled_video_warns(part1, tmp_path):
  root, _ = part1
  files = pku_mmd.find_files(root, 1)
  split = tmp_path / "cross-view.txt"
  split.write_text("Training videos:\n0002-M, 0009-L,\nValidataion videos:\n0002-L\n")
  files = pku_mmd.PkuFiles(files.skeleton_dir, files.label_dir, {"xview": str(split)})
  with pytest.warns(UserWarning, match="1 videos .* no label file"):
    videos = pku_mmd.list_videos(files, "xview", "train")
  assert [len(clips) for _, clips in videos] == [1]


@pytest.mark.parametrize("content,message", [
    ("8,1,10,1\n8,1\n", r"0002-L.txt, line 2: expected 'class,start,end,confidence'"),
    ("52,1,10,1\n", r"line 1: class 52 outside 1..51"),
    ("8,10,9,1\n", r"line 1: bad frame range start=10 end=9"),
    ("8,a,9,1\n", r"line 1: expected"),
])
def test_bad_label_files(tmp_path, content, message):
  path = tmp_path / "0002-L.txt"
  path.write_text(content)
  with pytest.raises(DataError, match=message):
    pku_mmd.read_label_file(path)


def test_bad_skeleton_files_and_ranges(tmp_path):
  good = " ".join(["0.5"] * 150)
  path = tmp_path / "0002-L.txt"
  path.write_text("\n".join([good, good, " ".join(["0.5"] * 149), good]) + "\n")
  with pytest.raises(DataError, match=r"0002-L.txt, frame 3: 149 values, expected 150"):
    pku_mmd.read_skeleton_file(path)
  path.write_text("\n".join([good, good.replace("0.5", "abc", 1)]) + "\n")
  with pytest.raises(DataError, match=r"frame 2: non-numeric value 'abc'"):
    pku_mmd.read_skeleton_file(path)
  path.write_text("\n".join([good, good.replace("0.5", "nan", 1)]) + "\n")
  with pytest.raises(DataError, match=r"frame 2: non-finite"):
    pku_mmd.read_skeleton_file(path)
  path.write_text("\n\n")
  with pytest.raises(DataError, match="no frame"):
    pku_mmd.read_skeleton_file(path)
  frames = np.ones((5, 150))
  clip = pku_mmd.PkuClip("F002V001C001L001", "0002-L", 0, 3, 7, 4)
  with pytest.raises(DataError, match="label line 4 ends at frame 7, but the recording has 5"):
    pku_mmd.cut_clip(frames, clip, source=str(path))


def test_missing_split_file(tmp_path, part1):
  with pytest.raises(DataError, match="not found"):
    pku_mmd.find_files(tmp_path / "nope", 1)
  with pytest.raises(DataError, match="one folder of label files"):
    pku_mmd.find_files(tmp_path, 1)
