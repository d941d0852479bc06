"""Tests of your-own-skeleton data: the custom prepare, its info, and training picking it up."""

import csv
import json
import os
import pickle

import numpy as np
import pytest

from skel_jax import config_lib, prepare
from skel_jax.data import custom, formats, preprocess, registry, skeletons
from skel_jax.data.preprocess import DataError
from skel_jax.train import pretrain

K1 = skeletons.KINECT_V1_20


def _clip(rng, t, persons=1, v=20, c=3, offset=(0.2, 0.1, 3.0)):
  """Raw camera-space-like clip `[M, T, V, C]` (no zero values)."""
  x = rng.normal(size=(persons, t, v, c)) * 0.2 + np.asarray(offset)[:c]
  return x.astype(np.float32)


def _write_labels(path, rows):
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["clip", "label", "split"])
    w.writerows(rows)


@pytest.fixture()
def clip_folder(tmp_path):
  """Six clips in the three file formats; classes 'wave' and 'kick'."""
  rng = np.random.default_rng(0)
  raw = tmp_path / "raw"
  raw.mkdir()
  clips = {}
  clips["a"] = _clip(rng, 12)
  np.save(raw / "a.npy", clips["a"][0])  # [T, V, C]
  clips["b"] = _clip(rng, 9, persons=2)
  np.save(raw / "b.npy", clips["b"])  # [M, T, V, C]
  clips["c"] = _clip(rng, 7)
  (raw / "c.json").write_text(json.dumps({"skeletons": clips["c"][0].tolist()}))
  clips["d"] = _clip(rng, 5)
  (raw / "d.json").write_text(json.dumps(clips["d"][0].tolist()))
  clips["e"] = _clip(rng, 6)
  with open(raw / "e.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([f"j{j}_{a}" for j in range(20) for a in "xyz"])  # a header row
    w.writerows(clips["e"][0].reshape(6, 60).tolist())
  clips["f"] = _clip(rng, 8)
  np.save(raw / "f.npy", clips["f"][0])
  _write_labels(raw / "labels.csv", [("a", "wave", "train"), ("b.npy", "kick", "train"),
                                     ("c", "wave", "train"), ("d", "kick", "test"),
                                     ("e", "wave", "test"), ("f", "kick", "train")])
  return raw, clips


def test_prepare_folder_writes_clips_layout_and_info(clip_folder, tmp_path):
  raw, clips = clip_folder
  final = custom.prepare_folder(raw, tmp_path / "out", "mine", "kinect_v1_20", num_frames=10)
  assert final == os.path.join(tmp_path / "out", "mine")
  assert sorted(os.listdir(final)) == ["info.json", "layout.json", "test.npz", "train.npz"]
  info = custom.read_info(final)
  assert info["class_names"] == ["kick", "wave"] and info["num_classes"] == 2
  assert info["counts"] == {"train": 4, "test": 2}
  assert info["class_counts"] == {"train": [2, 2], "test": [1, 1]}
  assert info["channels"] == ["x", "y", "z"] and info["num_joints"] == 20
  assert info["num_persons"] == 2 and info["num_frames"] == 10 and info["center"] is True
  assert skeletons.get_layout(info["layout_path"]).to_dict() == K1.to_dict()
  train = custom.load_custom(final, "train", 10)
  assert train.names == ["a", "b", "c", "f"] and list(train.y) == [1, 0, 1, 0]
  assert train.layout == info["layout_path"] and train.num_classes == 2
  for i, name in enumerate(train.names):
    want = preprocess.prepare_clip(clips[name], K1, 10)
    np.testing.assert_array_equal(train.x[i, :want.shape[0]], want)
  np.testing.assert_array_equal(train.x[0, 1], 0.0)  # one-person clips: the second is zero
  np.testing.assert_array_equal(train.x[..., K1.center, :], 0.0)  # centred
  test = custom.load_custom(final, "test", 10)
  np.testing.assert_allclose(test.x[1, :1], preprocess.prepare_clip(clips["e"], K1, 10),
                             atol=1e-6)
  resampled = custom.load_custom(final, "test", 4)  # another frame count: resampled
  np.testing.assert_allclose(resampled.x, np.stack(
      [preprocess.resize_time(c, 10, 4) for c in test.x]), atol=1e-6)


def test_prepare_folder_reports_every_bad_clip_at_once(clip_folder, tmp_path):
  raw, clips = clip_folder
  np.save(raw / "a.npy", np.zeros((12, 20, 3), np.float32))  # all zero
  bad = clips["c"][0].copy()
  bad[3, 4, 1] = np.nan
  (raw / "c.json").write_text(json.dumps({"skeletons": bad.tolist()}).replace("NaN", "NaN"))
  np.save(raw / "f.npy", np.ones((8, 25, 3), np.float32))  # the wrong joint count
  with pytest.raises(DataError) as e:
    custom.prepare_folder(raw, tmp_path / "out", "mine", "kinect_v1_20", num_frames=10)
  msg = str(e.value)
  assert "3 of 6 clips" in msg
  assert "a.npy: all values are zero" in msg
  assert "c.json: non-finite value at (person, frame, joint, channel) (0, 3, 4, 1)" in msg
  assert "f.npy: 25 joints, but layout 'kinect_v1_20' has 20" in msg
  assert not os.path.exists(tmp_path / "out" / "mine")


def test_labels_and_files_errors_name_the_file_and_line(clip_folder, tmp_path):
  raw, _ = clip_folder
  _write_labels(raw / "labels.csv", [("a", "wave", "train"), ("zz", "kick", "test")])
  with pytest.raises(DataError, match=r"labels.csv: 1 listed clip\(s\) have no file .*'zz' \(line 3\)"):
    custom.prepare_folder(raw, tmp_path / "out", "mine", "kinect_v1_20")
  _write_labels(raw / "labels.csv", [("a", "wave", "train"), ("b", "kick", "dev")])
  with pytest.raises(DataError, match=r"labels.csv, line 3: split 'dev' is not train or test"):
    custom.prepare_folder(raw, tmp_path / "out", "mine", "kinect_v1_20")
  (raw / "labels.csv").write_text("file,label\na,wave\n")
  with pytest.raises(DataError, match=r"needs the header columns clip, label, split"):
    custom.prepare_folder(raw, tmp_path / "out", "mine", "kinect_v1_20")
  (raw / "e.csv").write_text("1,2,3\n")
  with pytest.raises(DataError, match=r"e.csv: 3 values per row is not persons x 20 joints x 3"):
    custom.read_clip(raw / "e.csv", K1)


def test_valid_span_keeps_inner_gaps_and_centred_clips():
  clip = np.ones((2, 9, 4, 3), np.float32)
  clip[:, :2] = 0  # leading padding
  clip[:, 5] = 0  # a dropped frame inside the clip
  clip[:, 7:] = 0  # trailing padding
  assert preprocess.valid_span(clip) == (2, 7)
  clip[0, :, 0] = 0  # centred on joint 0: the reference rule finds nothing
  assert preprocess.valid_length(clip) == 0 and preprocess.valid_span(clip) == (2, 7)
  assert preprocess.valid_span(np.zeros((1, 3, 4, 3))) == (0, 0)


def test_prepare_clip_follows_the_layout_under_a_joint_permutation():
  rng = np.random.default_rng(1)
  clip = np.zeros((2, 30, 20, 3), np.float32)
  clip[:, 3:25] = _clip(rng, 22, persons=2)
  perm = rng.permutation(20)
  inv = np.argsort(perm)
  d = K1.to_dict()
  layout = skeletons.make_layout(
      "perm", [d["joint_names"][p] for p in perm], [int(inv[d["parents"][p]]) for p in perm],
      int(inv[d["center"]]), {k: [int(inv[j]) for j in v] for k, v in d["parts"].items()},
      [int(inv[d["flip"][p]]) for p in perm], [int(inv[j]) for j in d["shoulders"]])
  for vn in (False, True):
    a = preprocess.prepare_clip(clip, K1, 16, view_normalize=vn)
    b = preprocess.prepare_clip(clip[..., perm, :], layout, 16, view_normalize=vn)
    np.testing.assert_allclose(b, a[..., perm, :], atol=1e-6)
    np.testing.assert_array_equal(a[..., K1.center, :], 0.0)


def test_prepare_clip_moves_only_coordinates_and_checks_channels():
  rng = np.random.default_rng(2)
  clip = _clip(rng, 10, v=17, c=3, offset=(300.0, 200.0, 0.9))  # x, y pixels + score
  out = preprocess.prepare_clip(clip, "coco17", 10)
  np.testing.assert_allclose(out[..., 2], clip[..., 2], atol=1e-6)  # scores untouched
  np.testing.assert_allclose(out[..., :2], clip[..., :2] - clip[..., :1, :2], atol=1e-4)
  with pytest.raises(DataError, match="view normalisation needs 3D coordinates"):
    preprocess.prepare_clip(clip, "coco17", 10, view_normalize=True)
  with pytest.raises(DataError, match=r"clipZ: 2 channels, but layout 'coco17' names 3"):
    preprocess.prepare_clip(clip[..., :2], "coco17", 10, name="clipZ")


def _config_for(dataset, data_dir, preset="smoke"):
  c = config_lib.load_config("configs/skeletonclr.py", preset)
  c.data.dataset = dataset
  c.data.data_dir = str(data_dir)
  return c


def test_training_config_picks_up_the_prepared_dataset(clip_folder, tmp_path):
  raw, _ = clip_folder
  out = tmp_path / "out"
  custom.prepare_folder(raw, out, "mine", "kinect_v1_20", num_frames=10)
  c = _config_for("mine", out)
  assert c.data.layout == "ntu25" and c.data.num_classes == 10  # the preset's
  seen = []
  info = custom.apply_dataset_info(c, sizing=lambda config, info: seen.append(info["counts"]))
  assert c.data.layout == os.path.join(out, "mine", "layout.json")
  assert c.data.num_classes == 2 and info["class_names"] == ["kick", "wave"]
  assert seen == [{"train": 4, "test": 2}]
  train, test = registry.load_splits(c)
  assert train.x.shape == (4, 2, 16, 20, 3) and len(test) == 2  # resampled to the smoke's 16
  pretrain.check_layout(train, c.data.layout)
  by_path = registry.load_dataset(str(out / "mine"), "test", num_frames=10)
  assert by_path.names == ["d", "e"]
  assert custom.apply_dataset_info(_config_for("demo", out)) is None


def test_data_and_config_layouts_must_agree(tmp_path):
  rng = np.random.default_rng(3)
  folder = tmp_path / "npy"
  folder.mkdir()
  np.save(folder / "train_data.npy", _clip(rng, 12, persons=2)[None].transpose(0, 4, 2, 3, 1))
  with open(folder / "train_label.pkl", "wb") as f:
    pickle.dump((["s0"], [0]), f)
  with pytest.raises(DataError, match=r"the clips have 20 joints but layout 'ntu25' has 25"):
    formats.load_reference_npy(folder, "train", layout="ntu25")
  ds = formats.load_reference_npy(folder, "train", layout="kinect_v1_20", num_frames=8)
  with pytest.raises(ValueError, match=r"layout 'kinect_v1_20' \(20 joints\) is not the config's"):
    pretrain.check_layout(ds, "ntu25")
  pretrain.check_layout(ds, "kinect_v1_20")


def test_prepare_cli_custom(clip_folder, tmp_path, capsys):
  raw, _ = clip_folder
  out = tmp_path / "out"
  layout_file = tmp_path / "my_layout.json"
  layout_file.write_text(json.dumps(dict(K1.to_dict(), name="my_kinect")))
  assert prepare.main(["custom", f"--raw={raw}", f"--out={out}", f"--layout={layout_file}",
                       "--name=mine", "--frames=8"]) == 0
  printed = capsys.readouterr().out
  assert "train 4 clips, test 2 clips, 2 classes, layout my_kinect" in printed
  assert f"--config.data.dataset=mine --config.data.data_dir={out}" in printed
  assert prepare.main(["custom", f"--raw={raw}", f"--out={out}", "--layout=kinect_v1_20",
                       "--name=mine"]) == 1
  assert "already exists" in capsys.readouterr().err
  assert prepare.main(["custom", f"--raw={raw}", f"--out={out}", "--name=x"]) == 2


def test_prepare_arrays_in_memory(tmp_path):
  rng = np.random.default_rng(4)
  train = ([_clip(rng, t, v=17, offset=(320, 240, 0.8))[0] for t in (5, 9, 7)], [0, 1, 1])
  test = ([_clip(rng, 6, v=17, offset=(320, 240, 0.8))[0]], [1])
  final = custom.prepare_arrays(tmp_path, "pose2d", "coco17", train, test,
                                class_names=["sit", "stand"], num_frames=6)
  info = custom.read_info(final)
  assert info["layout"] == "coco17" and info["channels"] == ["x", "y", "score"]
  assert info["class_names"] == ["sit", "stand"] and info["counts"] == {"train": 3, "test": 1}
  ds = custom.load_custom(final, "train", 6)
  assert ds.x.shape == (3, 1, 6, 17, 3)
  np.testing.assert_array_equal(ds.x[..., 0, :2], 0.0)  # centred on the nose
  with pytest.raises(DataError, match=r"train_000001: 20 joints, but layout 'coco17' has 17"):
    custom.prepare_arrays(tmp_path, "bad", "coco17", ([train[0][0], _clip(rng, 4)[0]], [0, 1]),
                          test)


def test_npz_reader_uses_the_layout_and_keeps_centred_clips(tmp_path):
  rng = np.random.default_rng(5)
  x = np.zeros((3, 30, 20, 3, 1), np.float32)  # [N, T, V, C, M] before the transpose below
  for i, t in enumerate((30, 12, 20)):
    x[i, :t, ..., 0] = _clip(rng, t)[0]
  x[1, 5] = 0  # a dropped frame inside clip 1
  clips = x.transpose(0, 3, 1, 2, 4)  # (N, C, T, V, M)
  centred = clips - clips[:, :, :, :1]  # centred on joint 0: joint 0 is zero everywhere
  path = tmp_path / "d.npz"
  np.savez(path, x_train=centred, y_train=np.array([0, 1, 1]), x_test=clips[:1],
           y_test=np.array([1]))
  ds = formats.load_ctrgcn_npz(path, "train", num_frames=8, layout="kinect_v1_20")
  assert ds.layout == "kinect_v1_20" and ds.x.shape == (3, 1, 8, 20, 3)
  m_first = centred.transpose(0, 4, 2, 3, 1)  # [N, M, T, V, C]
  np.testing.assert_allclose(ds.x[1], preprocess.resize_time(m_first[1], 12, 8), atol=1e-6)
  with pytest.raises(DataError, match=r"d.npz x_train: the clips have 20 joints but layout 'ntu25'"):
    formats.load_ctrgcn_npz(path, "train", layout="ntu25")
  c = config_lib.load_config("configs/skeletonclr.py", "smoke")
  c.data.dataset, c.data.layout, c.data.preprocess = f"npz:{path}", "kinect_v1_20", True
  _, test = registry.load_splits(c)
  np.testing.assert_array_equal(test.x[0], preprocess.preprocess_clip(
      clips[:1].transpose(0, 4, 2, 3, 1)[0], K1, 16, view_normalize=True))
  np.testing.assert_array_equal(test.x[..., K1.center, :], 0.0)
