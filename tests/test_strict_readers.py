"""The readers reject bad values with a DataError naming the file and the problem.

One test per kind of bad input that used to be accepted silently or to crash with a foreign
exception: non-finite or float32-overflowing coordinates, labels that are NaN, negative,
fractional, soft one-hot or too large for int32, wrong shapes, malformed layout files and
files that are not what their name says.
"""

import json
import pickle

import numpy as np
import pytest

from skel_jax import prepare
from skel_jax.data import formats, nw_ucla, prepared, skeletons
from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.errors import DataError
from skel_jax.data.preprocess import preprocess_clip


def _nwucla_clip(tmp_path, value=0.5, name="a01_s01_e01_v01.json"):
  frames = np.full((4, 20, 3), 0.25).tolist()
  frames[1][3][2] = value
  path = tmp_path / name
  path.write_text(json.dumps({"file_name": name[:-5], "skeletons": frames, "label": 2}))
  return path


def test_nwucla_coordinate_beyond_float32_is_rejected(tmp_path):
  path = _nwucla_clip(tmp_path, 1e300)
  with pytest.raises(DataError, match=r"a01_s01_e01_v01.json: non-finite coordinate at frame 1 "
                     r"joint 3 axis 2 \(1e\+300; values must be finite and fit float32\)"):
    nw_ucla.read_clip(path)


def test_prepare_nwucla_fails_on_a_huge_coordinate(tmp_path):
  raw = tmp_path / "raw"
  raw.mkdir()
  _nwucla_clip(raw, 0.5, "a01_s01_e01_v01.json")
  _nwucla_clip(raw, 1e300, "a02_s01_e01_v03.json")
  assert prepare.main(["nwucla", f"--raw={raw}", f"--out={tmp_path / 'out'}",
                       "--workers=1"]) == 1
  assert not (tmp_path / "out" / "nwucla").exists()


def test_preprocessing_rejects_a_clip_that_overflows_float32():
  clip = np.zeros((1, 2, 20, 3))
  clip[0, :, 0] = 1.0
  clip[0, :, 5, 0] = 3e38  # finite in float32 too, but 3e38 - (-3e38) is not
  clip[0, :, 0, 0] = -3e38
  with pytest.raises(DataError, match="clip7: coordinates too large: the preprocessed clip "
                     "does not fit float32"):
    preprocess_clip(clip, "kinect_v1_20", 4, name="clip7")


def _npz(tmp_path, x=None, y=None):
  x = np.ones((2, 3, 4, 25, 2), np.float32) if x is None else x
  y = np.array([0, 1]) if y is None else y
  path = tmp_path / "d.npz"
  np.savez(path, x_train=x, y_train=y)
  return path


@pytest.mark.parametrize("y, message", [
    (np.array([np.nan, 1.0]), r"y_train: label nan of sample 0 is not an integer"),
    (np.array([1, -1]), r"y_train: label -1 of sample 1 is outside 0..2147483646"),
    (np.array([0.5, 1.0]), r"y_train: label 0.5 of sample 0 is not an integer"),
    (np.array([[0.5, 0.5], [0, 1]]), r"y_train: label row 0 is not one-hot"),
    (np.array([[1, 0], [0, 0]]), r"y_train: label row 1 is not one-hot"),
    (np.array([[1, 1], [0, 1]]), r"y_train: label row 0 is not one-hot"),
    (np.array([2**32, 1]), r"y_train: label 4294967296 of sample 0 is outside"),
    (np.array(["a", "b"]), r"y_train: labels must be integers, got dtype <U1"),
])
def test_npz_bad_labels(tmp_path, y, message):
  with pytest.raises(DataError, match=message) as info:
    formats.load_ctrgcn_npz(_npz(tmp_path, y=y), "train")
  assert "d.npz" in str(info.value)


@pytest.mark.parametrize("shape, message", [
    ((2, 2, 4, 25, 2), "2 coordinates per joint; expected 3"),
    ((2, 7, 4, 25, 2), "7 coordinates per joint; expected 3"),
    ((2, 3, 4, 25, 5), "5 persons per clip; this format holds 1 or 2"),
    ((2, 3, 0, 25, 2), "clips of 0 frames"),
    ((0, 3, 4, 25, 2), "holds no sample"),
    ((2, 4, 375), "last axis 375 is not persons x 25 joints x 3"),
])
def test_npz_bad_shapes(tmp_path, shape, message):
  y = np.zeros(shape[0], np.int64)
  with pytest.raises(DataError, match=message) as info:
    formats.load_ctrgcn_npz(_npz(tmp_path, x=np.ones(shape, np.float32), y=y), "train")
  assert "d.npz x_train" in str(info.value)


def test_npz_non_finite_and_float32_overflow(tmp_path):
  for value in (np.nan, np.inf, 1e300):
    x = np.ones((2, 3, 4, 25, 2))
    x[1, 0, 2, 3, 0] = value
    with pytest.raises(DataError, match=r"d.npz x_train: sample 1 has a non-finite coordinate"):
      formats.load_ctrgcn_npz(_npz(tmp_path, x=x), "train")


def _npy_folder(tmp_path, data, labels, names=None):
  np.save(tmp_path / "train_position.npy", data)
  names = names if names is not None else [f"s{i}" for i in range(len(labels))]
  with open(tmp_path / "train_label.pkl", "wb") as f:
    pickle.dump((names, labels), f)


def test_npy_non_finite_found_also_when_memory_mapped(tmp_path):
  data = np.ones((300, 3, 4, 25, 2))
  data[290, 1, 0, 0, 1] = 1e300  # in the second chunk of the scan
  _npy_folder(tmp_path, data, [0] * 300)
  for mmap in (False, True):
    with pytest.raises(DataError, match=r"train_position.npy: sample 290 has a non-finite"):
      formats.load_reference_npy(tmp_path, "train", mmap=mmap)


@pytest.mark.parametrize("labels, message", [
    ([2**32, 0], r"label 4294967296 of sample 0 is outside 0..2147483646"),
    ([0.5, 1.0], r"label 0.5 of sample 0 is not an integer"),
    ([-1, 0], r"label -1 of sample 0 is outside"),
    ([True, False], r"labels must be integers, got dtype bool"),
])
def test_label_pickle_bad_labels(tmp_path, labels, message):
  _npy_folder(tmp_path, np.ones((2, 3, 4, 25, 2), np.float32), labels)
  with pytest.raises(DataError, match=message) as info:
    formats.load_reference_npy(tmp_path, "train")
  assert "train_label.pkl" in str(info.value)


def test_label_pickle_names_must_be_a_list(tmp_path):
  _npy_folder(tmp_path, np.ones((2, 3, 4, 25, 2), np.float32), [0, 1], names="ab")
  with pytest.raises(DataError, match="train_label.pkl: the sample names are a str"):
    formats.load_reference_npy(tmp_path, "train")


def test_corrupt_containers_name_the_file(tmp_path):
  path = _npz(tmp_path)
  path.write_bytes(path.read_bytes()[:300])
  with pytest.raises(DataError, match=r"d.npz: cannot read npz file: BadZipFile"):
    formats.load_ctrgcn_npz(path, "train")
  _npy_folder(tmp_path, np.ones((2, 3, 4, 25, 2), np.float32), [0, 1])
  npy = tmp_path / "train_position.npy"
  npy.write_bytes(npy.read_bytes()[:500])
  with pytest.raises(DataError, match=r"train_position.npy: cannot read npy file: ValueError: "
                     "mmap length is greater than file size"):
    formats.load_reference_npy(tmp_path, "train")
  np.save(tmp_path / "single.npy", np.ones(3))
  (tmp_path / "single.npz").write_bytes((tmp_path / "single.npy").read_bytes())
  with pytest.raises(DataError, match="single.npz: not an npz archive"):
    formats.load_ctrgcn_npz(tmp_path / "single.npz", "train")
  with pytest.raises(DataError, match="single.npz: not a prepared split"):
    prepared.read_split(tmp_path / "single.npz")


def test_prepared_split_label_beyond_num_classes(tmp_path):
  ds = ArrayDataset(np.ones((2, 1, 4, 20, 3)), np.array([0, 9]), ["a", "b"], "kinect_v1_20", 9)
  prepared.save_split(tmp_path / "train.npz", ds)
  with pytest.raises(DataError, match=r"train.npz: label 9 of sample 1 \(b\) is not below "
                     "num_classes=9"):
    prepared.read_split(tmp_path / "train.npz")


_LAYOUT = {"name": "five", "joint_names": ["pelvis", "chest", "head", "l_hand", "r_hand"],
           "parents": [0, 0, 1, 1, 1], "center": 0,
           "parts": {"trunk": [0, 1, 2], "left_arm": [3], "right_arm": [4]},
           "flip": [0, 1, 2, 4, 3], "shoulders": [3, 4]}


@pytest.mark.parametrize("change, message", [
    ({"joint_names": ["a", "b", "c", "a", "e"]}, r"joint name 'a' is used twice \(joints 0 and 3\)"),
    ({"parents": [0, 0, 1.5, 1, 1]}, r"parents\[2\] must be an integer joint index, got 1.5"),
    ({"parents": [0, 0, "1", 1, 1]}, r"parents\[2\] must be an integer joint index, got '1'"),
    ({"center": True}, "center must be an integer joint index, got True"),
    ({"flip": [1, 2, 0, 3, 4]}, "flip is not its own inverse: joint 0 goes to 1, which goes to 2"),
    ({"shoulders": [1, 1]}, r"shoulders must be two different joints, got \[1, 1\]"),
    ({"parts": {}}, "needs at least one body part"),
    ({"parts": {"trunk": []}}, "part 'trunk' has no joints"),
    ({"joint_names": "abcde"}, "joint_names must be a list of strings"),
])
def test_bad_layout_fields(tmp_path, change, message):
  path = tmp_path / "layout.json"
  path.write_text(json.dumps(dict(_LAYOUT, **change)))
  with pytest.raises(skeletons.LayoutError, match=message) as info:
    skeletons.load_layout(path)
  assert str(info.value).startswith(f"{path}: ")
  assert isinstance(info.value, DataError)


def test_layout_file_parser_errors_name_the_file(tmp_path):
  cases = {
      "inf.json": '{"joint_names": ["a", "b"], "parents": [0, 0], "center": Infinity}',
      "deep.json": "[" * 100000 + "]" * 100000,
      "bad.yaml": "joint_names: [a, b\nparents: {",
      "list.json": "[1, 2]",
  }
  messages = {"inf.json": "center must be an integer joint index, got inf",
              "deep.json": "cannot read layout file: RecursionError",
              "bad.yaml": "cannot read layout file: ParserError",
              "list.json": "a layout file must hold a mapping, got list"}
  for name, text in cases.items():
    (tmp_path / name).write_text(text)
    with pytest.raises(skeletons.LayoutError, match=messages[name]) as info:
      skeletons.get_layout(str(tmp_path / name))
    assert name in str(info.value)


def test_cycle_check_is_linear_and_names_a_joint_on_the_cycle():
  n = 200_000
  chain = [max(i - 1, 0) for i in range(n)]
  layout = skeletons.make_layout("chain", [f"j{i}" for i in range(n)], chain, 0, {"all": [0]})
  assert layout.num_joints == n
  looped = list(chain)
  looped[0] = n - 1  # the whole chain is one cycle
  with pytest.raises(skeletons.LayoutError, match="parent cycle through joint 0"):
    skeletons.make_layout("loop", [f"j{i}" for i in range(n)], looped, 0, {"all": [0]})
