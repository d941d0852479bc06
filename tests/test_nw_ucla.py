"""Tests of the NW-UCLA json reader against the real release and its index.csv."""

import csv
import json

import numpy as np
import pytest

from skel_jax.data import nw_ucla, preprocess
from skel_jax.data.preprocess import DataError


@pytest.fixture(scope="module")
def index(nw_ucla_dir):
  with open(nw_ucla_dir / "index.csv") as f:
    rows = list(csv.DictReader(f))
  return {row["file"].split("/")[-1][:-5]: row for row in rows}


@pytest.fixture(scope="module")
def splits(nw_ucla_dir):
  return {s: nw_ucla.load_nw_ucla(nw_ucla_dir, s, num_frames=20) for s in ("train", "test")}


def test_split_sizes_labels_and_views_match_index(splits, index):
  assert len(splits["train"]) == 1020 and len(splits["test"]) == 464
  for split, ds in splits.items():
    assert ds.x.shape == (len(ds), 1, 20, 20, 3) and ds.x.dtype == np.float32
    assert ds.layout == "kinect_v1_20" and ds.num_classes == 10
    assert ds.names == sorted(ds.names)
    for name, label in zip(ds.names, ds.y):
      row = index[name]
      assert row["split"] == split
      assert int(row["label"]) == label
      assert int(row["view"]) in ((1, 2) if split == "train" else (3,))
  all_names = set(splits["train"].names) | set(splits["test"].names)
  assert all_names == set(index)
  labels = np.concatenate([splits["train"].y, splits["test"].y])
  assert labels.min() == 0 and labels.max() == 9


def test_class_names_follow_the_labels(nw_ucla_dir, index):
  assert len(nw_ucla.CLASS_NAMES) == nw_ucla.NUM_CLASSES
  for row in index.values():
    assert nw_ucla.CLASS_NAMES[int(row["label"])] == row["class_name"]
  meta = json.loads((nw_ucla_dir / "meta.json").read_text())["class_names"]
  assert tuple(meta[a] for a in sorted(meta)) == nw_ucla.CLASS_NAMES


def test_frame_counts_and_name_fields_match_index(nw_ucla_dir, index):
  samples = nw_ucla.list_samples(nw_ucla_dir)
  assert len(samples) == 1484
  for sample in samples:
    row = index[sample.name]
    assert (sample.action, sample.subject, sample.episode, sample.view) == (
        int(row["action_id"]), int(row["subject"]), int(row["episode"]), int(row["view"]))
  # Reading every file is ~1 s; check frame counts and labels on a spread of clips,
  # including the shortest ones (1-9 frames).
  short = [s for s in samples if int(index[s.name]["frames"]) < 10]
  assert len(short) == 10
  for sample in short + samples[::37]:
    skeleton, label = nw_ucla.read_clip(sample.path)
    assert skeleton.shape == (int(index[sample.name]["frames"]), 20, 3)
    assert label == int(index[sample.name]["label"])


def test_preprocessing_centres_on_hip_and_resizes(nw_ucla_dir, splits, index):
  ds = splits["test"]
  np.testing.assert_array_equal(ds.x[:, 0, :, 0, :], 0.0)  # centre joint (hip) at the origin
  assert np.all(np.abs(ds.x).sum(axis=(1, 2, 3, 4)) > 0)
  # One clip by hand: centre on joint 0, then the half-pixel bilinear resize 27 -> 20 frames.
  i = ds.names.index("a01_s01_e00_v03")
  skeleton, _ = nw_ucla.read_clip(nw_ucla_dir / "all_sqe" / "a01_s01_e00_v03.json")
  assert len(skeleton) == int(index["a01_s01_e00_v03"]["frames"]) == 27
  centred = skeleton - skeleton[:, :1]
  src = np.clip((np.arange(20) + 0.5) * 27 / 20 - 0.5, 0, 26)
  lo = np.floor(src).astype(int)
  hi = np.minimum(lo + 1, 26)
  w = (src - lo)[:, None, None]
  expected = centred[lo] * (1 - w) + centred[hi] * w
  np.testing.assert_allclose(ds.x[i, 0], expected, atol=1e-6)


def test_single_frame_clips_and_view_normalisation(nw_ucla_dir, index):
  single = sorted(n for n, r in index.items() if r["frames"] == "1")
  assert len(single) == 2
  path = nw_ucla_dir / "all_sqe" / f"{single[0]}.json"
  skeleton, _ = nw_ucla.read_clip(path)
  out = preprocess.preprocess_clip(skeleton[None], "kinect_v1_20", 8, view_normalize=True)
  assert out.shape == (1, 8, 20, 3)
  np.testing.assert_allclose(out[0], np.broadcast_to(out[0, :1], (8, 20, 3)))
  u = out[0, :, 8] - out[0, :, 4]
  assert np.all(u[:, 0] > 0) and np.all(np.abs(u[:, 2]) < 1e-2 * np.abs(u[:, 0]))


def test_unknown_split_or_protocol(nw_ucla_dir):
  with pytest.raises(ValueError, match="split"):
    nw_ucla.load_nw_ucla(nw_ucla_dir, "val")
  with pytest.raises(ValueError, match="protocol"):
    nw_ucla.load_nw_ucla(nw_ucla_dir, "train", protocol="cross_subject")


def _write(folder, name, record):
  path = folder / f"{name}.json"
  path.write_text(record if isinstance(record, str) else json.dumps(record))
  return path


def _good_frames(t=3):
  return (np.arange(t * 60).reshape(t, 20, 3) * 0.01 + 0.1).tolist()


def test_small_folder_loads(tmp_path):
  _write(tmp_path, "a01_s01_e00_v01", {"skeletons": _good_frames(3), "label": 2})
  _write(tmp_path, "a02_s01_e00_v03", {"skeletons": _good_frames(1), "label": 10})
  train = nw_ucla.load_nw_ucla(tmp_path, "train", num_frames=4)
  test = nw_ucla.load_nw_ucla(tmp_path, "test", num_frames=4)
  assert train.names == ["a01_s01_e00_v01"] and list(train.y) == [1]
  assert test.names == ["a02_s01_e00_v03"] and list(test.y) == [9]


@pytest.mark.parametrize("record,message", [
    ({"label": 1}, "no 'skeletons'"),
    ({"skeletons": [], "label": 1}, "zero frames"),
    ({"skeletons": _good_frames(2)[:1] + [_good_frames(1)[0][:19]], "label": 1},
     "frame 1 has 19 joints, expected 20"),
    ({"skeletons": [[[0.1, 0.2]] * 20], "label": 1}, "frame 0 joint 0 .* expected 3"),
    ({"skeletons": [[[0.1, "x", 0.3]] * 20], "label": 1}, "non-numeric value 'x'"),
    ('{"skeletons": [' + ",".join(["[0.1, 0.2, NaN]"] * 20).join("[]") + '], "label": 1}',
     "non-finite coordinate at frame 0 joint 0 axis 2"),
    ({"skeletons": _good_frames(2), "label": 11}, "label 11"),
    ("{not json", "cannot read json"),
])
def test_bad_files_raise_naming_the_file(tmp_path, record, message):
  path = _write(tmp_path, "a01_s01_e00_v01", record)
  with pytest.raises(DataError, match=message) as info:
    nw_ucla.load_nw_ucla(tmp_path, "train")
  assert str(path) in str(info.value)


def test_bad_name_and_empty_folder(tmp_path):
  with pytest.raises(DataError, match="no NW-UCLA .json clips"):
    nw_ucla.list_samples(tmp_path)
  _write(tmp_path, "clip1", {"skeletons": _good_frames(), "label": 1})
  with pytest.raises(DataError, match="clip1.json: not an NW-UCLA clip name"):
    nw_ucla.list_samples(tmp_path)
