"""Tests of the readers of the reference repositories' preprocessed files."""

import os
import pickle

import numpy as np
import pytest

from skel_jax.data import formats, ntu
from skel_jax.data.preprocess import DataError, preprocess_clip, resize_time


def _write_npy_folder(folder, split, data, names, labels, kind="position"):
  folder.mkdir(exist_ok=True)
  np.save(folder / f"{split}_{kind}.npy", data)
  with open(folder / f"{split}_label.pkl", "wb") as f:
    pickle.dump((names, labels), f)


def test_position_npy_transposes_and_reads_labels(tmp_path):
  rng = np.random.default_rng(0)
  data = rng.normal(size=(3, 3, 50, 25, 2)).astype(np.float32)  # (N, C, T, V, M)
  labels = [np.int64(4), np.int64(0), np.int64(59)]  # numpy scalars go through the pickle
  _write_npy_folder(tmp_path, "val", data, ["a", "b", "c"], labels)
  for mmap in (False, True):
    ds = formats.load_reference_npy(tmp_path, "test", num_classes=60, mmap=mmap)
    assert ds.x.shape == (3, 2, 50, 25, 3) and ds.layout == "ntu25"
    assert ds.names == ["a", "b", "c"] and list(ds.y) == [4, 0, 59] and ds.num_classes == 60
    n, m, t, v, c = 2, 1, 7, 20, 2
    assert ds.x[n, m, t, v, c] == data[n, c, t, v, m]
    np.testing.assert_array_equal(ds.x, data.transpose(0, 4, 2, 3, 1))
  assert formats.load_reference_npy(tmp_path, "val").num_classes == 60  # largest label + 1
  resized = formats.load_reference_npy(tmp_path, "val", num_frames=20)
  np.testing.assert_allclose(resized.x[1], resize_time(ds.x[1], 50, 20), atol=1e-6)


def test_step_a_data_npy_is_preprocessed(tmp_path, ntu_samples_dir):
  names = ["S001C001P001R001A001", "S001C003P008R002A058"]
  clips = [ntu.load_step_a(ntu_samples_dir / f"{n}.skeleton") for n in names]
  data = np.stack(clips).transpose(0, 4, 2, 3, 1)  # [N, M, T, V, C] -> (N, C, T, V, M)
  _write_npy_folder(tmp_path, "train", data, [n + ".skeleton" for n in names], [0, 57],
                    kind="data")
  ds = formats.load_reference_npy(tmp_path, "train", num_frames=32)
  assert ds.x.shape == (2, 2, 32, 25, 3) and list(ds.y) == [0, 57]
  for i, n in enumerate(names):
    np.testing.assert_array_equal(ds.x[i], ntu.process_file(ntu_samples_dir / f"{n}.skeleton",
                                                            32))


class _Evil:
  def __reduce__(self):
    return (os.system, ("echo unsafe",))


def test_label_pickle_errors(tmp_path):
  data = np.zeros((2, 3, 4, 25, 2), np.float32)
  _write_npy_folder(tmp_path, "train", data, ["a", "b"], [1])
  with pytest.raises(DataError, match="2 names but 1 labels"):
    formats.load_reference_npy(tmp_path, "train")
  with open(tmp_path / "train_label.pkl", "wb") as f:
    pickle.dump((["a", "b"], [_Evil(), 1]), f)
  with pytest.raises(DataError, match="refusing to load"):
    formats.read_label_pickle(tmp_path / "train_label.pkl")
  with pytest.raises(DataError, match="train_position.npy .* train_label.pkl"):
    formats.load_reference_npy(tmp_path / "nothing", "train")
  _write_npy_folder(tmp_path, "val", data[:1, :, :, :7], ["a"], [0])
  with pytest.raises(DataError, match="7 joints matches no built-in layout"):
    formats.load_reference_npy(tmp_path, "val")


def _ctrgcn_flat(rng, n, valid):
  x = np.zeros((n, 300, 150), np.float32)
  for i, length in enumerate(valid):
    x[i, :length] = rng.normal(size=(length, 150))
    x[i, :length, 75:] *= i % 2  # second person only in odd clips
  return x


def test_ctrgcn_npz_flat_one_hot(tmp_path):
  rng = np.random.default_rng(1)
  x_train, x_test = _ctrgcn_flat(rng, 3, [40, 300, 7]), _ctrgcn_flat(rng, 2, [12, 99])
  y_train = np.eye(60, dtype=np.float32)[[3, 0, 59]]
  y_test = np.eye(60, dtype=np.float32)[[1, 2]]
  path = tmp_path / "NTU60_CS.npz"
  np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
  ds = formats.load_ctrgcn_npz(path, "train")
  assert ds.x.shape == (3, 2, 300, 25, 3) and list(ds.y) == [3, 0, 59] and ds.num_classes == 60
  assert ds.names == ["train_000000", "train_000001", "train_000002"]
  n, m, t, v, c = 1, 1, 5, 13, 2
  assert ds.x[n, m, t, v, c] == x_train[n, t, m * 75 + v * 3 + c]
  resized = formats.load_ctrgcn_npz(path, "test", num_frames=50)
  assert resized.x.shape == (2, 2, 50, 25, 3) and list(resized.y) == [1, 2]
  raw_test = formats.load_ctrgcn_npz(path, "test")
  np.testing.assert_allclose(resized.x[1], resize_time(raw_test.x[1], 99, 50), atol=1e-6)
  full = formats.load_ctrgcn_npz(path, "test", preprocess=True, num_frames=20)
  np.testing.assert_array_equal(full.x[0], preprocess_clip(raw_test.x[0], "ntu25", 20))


def test_ctrgcn_npz_five_dim_int_labels_and_errors(tmp_path):
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 3, 10, 20, 1)).astype(np.float32)  # (N, C, T, V, M)
  path = tmp_path / "ucla.npz"
  np.savez(path, x_train=x, y_train=np.array([9, 1]), x_test=x[:1], y_test=np.array([0]))
  ds = formats.load_ctrgcn_npz(path, "train", num_classes=10)
  assert ds.x.shape == (2, 1, 10, 20, 3) and ds.layout == "kinect_v1_20"
  np.testing.assert_array_equal(ds.x, x.transpose(0, 4, 2, 3, 1))
  assert list(ds.y) == [9, 1] and ds.num_classes == 10
  with pytest.raises(DataError, match="label 9 does not fit num_classes=5"):
    formats.load_ctrgcn_npz(path, "train", num_classes=5)
  bad = tmp_path / "bad.npz"
  np.savez(bad, x_train=x)
  with pytest.raises(DataError, match=r"missing array\(s\) \['y_train'\]"):
    formats.load_ctrgcn_npz(bad, "train")
  np.savez(bad, x_train=np.zeros((2, 10, 100)), y_train=np.zeros(2))
  with pytest.raises(DataError, match="not persons x 25 joints x 3"):
    formats.load_ctrgcn_npz(bad, "train")
  with pytest.raises(ValueError, match="unknown split"):
    formats.load_ctrgcn_npz(path, "dev")
