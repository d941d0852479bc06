"""Tests of skel_jax.data.registry.load_dataset: every kind of name and the missing-data errors."""

import os
import pickle

import numpy as np
import pytest

from skel_jax import prepare
from skel_jax.data import registry, skeletons
from skel_jax.data.registry import DatasetNotFoundError


def test_one_dataset_table_from_the_readers():
  # Names, layouts and class counts as published; the registry derives them from the readers.
  assert registry.DATASETS == {
      "ntu60_xsub": ("ntu25", 60), "ntu60_xview": ("ntu25", 60),
      "ntu120_xsub": ("ntu25", 120), "ntu120_xset": ("ntu25", 120),
      "pku1_xsub": ("ntu25", 51), "pku1_xview": ("ntu25", 51),
      "pku2_xsub": ("ntu25", 51), "pku2_xview": ("ntu25", 51),
      "nwucla": ("kinect_v1_20", 10), "demo": ("ntu25", 10)}
  assert prepare.DATASETS == registry.PREPARED + ("nwucla",)  # prepare builds every real one


def test_tfds_builds_declare_the_registry_constants():
  builders = pytest.importorskip("skel_jax.data.tfds.builders")
  assert [builders.dataset_constants(d) for d in ("ntu60_xsub", "ntu120_xset", "pku2_xview",
                                                  "nwucla")] == [
      (2, 25, 60, "ntu25"), (2, 25, 120, "ntu25"), (2, 25, 51, "ntu25"), (1, 20, 10, "kinect_v1_20")]
  with pytest.raises(ValueError, match="unknown dataset 'demo'"):
    builders.dataset_constants("demo")


def test_nwucla_from_data_dir_and_env(nw_ucla_dir, monkeypatch):
  ds = registry.load_dataset("nwucla", "test", data_dir=str(nw_ucla_dir), num_frames=10)
  assert ds.x.shape == (464, 1, 10, 20, 3) and ds.num_classes == 10
  monkeypatch.setenv("SKEL_JAX_NWUCLA_DIR", str(nw_ucla_dir / "all_sqe"))
  val = registry.load_dataset("nwucla", "val", data_dir=None, num_frames=10)
  assert val.names == ds.names
  np.testing.assert_array_equal(val.x, ds.x)


def test_nwucla_wrong_folder_does_not_fall_back(tmp_path):
  with pytest.raises(DatasetNotFoundError, match="SKEL_JAX_NWUCLA_DIR"):
    registry.load_dataset("nwucla", "train", data_dir=str(tmp_path), num_frames=50)


def test_missing_prepared_dataset_says_how_to_prepare(tmp_path, monkeypatch):
  monkeypatch.delenv("SKEL_JAX_DATA_DIR", raising=False)
  with pytest.raises(DatasetNotFoundError) as info:
    registry.load_dataset("ntu120_xset", "train", data_dir=None, num_frames=64)
  message = str(info.value)
  assert "python -m skel_jax.prepare ntu120_xset --raw=RAW_DIR --out=DATA_DIR --frames=64" in (
      message)
  assert "SKEL_JAX_DATA_DIR" in message and "--config.data.data_dir" in message
  with pytest.raises(DatasetNotFoundError, match=str(tmp_path / "pku2_xsub" / "test.npz")):
    registry.load_dataset("pku2_xsub", "test", data_dir=str(tmp_path), num_frames=50)


def test_prepared_dataset_from_env_and_frame_check(ntu_samples_dir, tmp_path, monkeypatch):
  raw = tmp_path / "raw"
  raw.mkdir()
  for name in ("S001C001P001R001A001", "S002C001P003R001A003"):
    os.symlink(ntu_samples_dir / f"{name}.skeleton", raw / f"{name}.skeleton")
  prepare.prepare("ntu60_xsub", raw, tmp_path / "data", num_frames=20, workers=1,
                  skip_list="none", progress=False)
  monkeypatch.setenv("SKEL_JAX_DATA_DIR", str(tmp_path / "data"))
  train = registry.load_dataset("ntu60_xsub", "train", data_dir=None, num_frames=20)
  assert train.names == ["S001C001P001R001A001"] and train.x.shape == (1, 2, 20, 25, 3)
  with pytest.raises(ValueError, match="prepared with 20 frames but num_frames=50"):
    registry.load_dataset("ntu60_xsub", "train", data_dir=None, num_frames=50)
  with pytest.raises(TypeError, match="takes no options"):
    registry.load_dataset("ntu60_xsub", "train", num_frames=20, view_normalize=False)


def test_npy_and_npz_names(tmp_path):
  data = np.ones((2, 3, 50, 25, 2), np.float32)
  np.save(tmp_path / "train_position.npy", data)
  with open(tmp_path / "train_label.pkl", "wb") as f:
    pickle.dump((["a", "b"], [3, 1]), f)
  ds = registry.load_dataset(f"npy:{tmp_path}", "train", num_frames=50, num_classes=60)
  assert ds.x.shape == (2, 2, 50, 25, 3) and ds.num_classes == 60
  np.savez(tmp_path / "d.npz", x_train=np.ones((2, 300, 150), np.float32),
           y_train=np.array([0, 1]), x_test=np.ones((1, 300, 150), np.float32),
           y_test=np.array([1]))
  npz = registry.load_dataset(f"npz:{tmp_path / 'd.npz'}", "test", num_frames=50)
  assert npz.x.shape == (1, 2, 50, 25, 3) and list(npz.y) == [1]
  with pytest.raises(DatasetNotFoundError, match="npz file not found"):
    registry.load_dataset(f"npz:{tmp_path / 'nope.npz'}", "test", num_frames=50)
  with pytest.raises(DatasetNotFoundError, match="folder"):
    registry.load_dataset(f"npy:{tmp_path / 'nope'}", "test", num_frames=50)


def test_demo_by_name_is_the_demo_preset_data():
  """`load_dataset('demo', ...)` and `load_splits(config)` give the same preprocessed clips."""
  from skel_jax import config_lib

  c = config_lib.base_config()
  c.data.dataset = "demo"
  c.data.layout, c.data.num_classes = registry.DATASETS["demo"]
  c.data.num_train, c.data.num_test, c.data.num_frames = 6, 3, 8
  c.data.demo_shear, c.data.demo_seed = 0.3, 4
  train, test = registry.load_splits(c)
  by_name = registry.load_dataset("demo", "test", num_frames=8, num_train=6, num_test=3,
                                  num_classes=10, seed=4, shear=0.3)
  assert train.x.shape == (6, 2, 8, 25, 3) and len(test) == 3
  np.testing.assert_array_equal(by_name.x, test.x)
  np.testing.assert_array_equal(by_name.y, test.y)
  # Preprocessed (and sheared, a linear map): the layout's centre joint at the origin.
  center = skeletons.get_layout("ntu25").center
  np.testing.assert_allclose(train.x[:, 0, :, center], 0.0, atol=1e-5)


def test_unknown_names_and_splits():
  with pytest.raises(ValueError, match="unknown dataset 'kinetics'.*npz:<file>"):
    registry.load_dataset("kinetics", "train")
  with pytest.raises(ValueError, match="unknown split"):
    registry.load_dataset("nwucla", "dev")


def test_nwucla_env_pointing_nowhere_does_not_fall_back(tmp_path, monkeypatch):
  monkeypatch.setenv("SKEL_JAX_NWUCLA_DIR", str(tmp_path / "missing"))
  with pytest.raises(DatasetNotFoundError) as info:
    registry.load_dataset("nwucla", "train", num_frames=50)
  assert str(info.value) == (
      f"{tmp_path / 'missing'}: $SKEL_JAX_NWUCLA_DIR points to a folder that does not exist. "
      "Point it at the NW-UCLA folder (with all_sqe/) or unset it.")
