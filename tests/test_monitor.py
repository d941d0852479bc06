"""The KNN monitor of pretraining and the best-KNN backbone."""

import json
import types

import jax
import numpy as np
import pytest

from skel_jax import methods
from skel_jax.config_lib import load_config
from skel_jax.data.dataset import ArrayDataset
from skel_jax.evaluate import features, knn, monitor


def _config():
  c = load_config("configs/skeletonclr.py", "smoke")
  c.eval.batch_size = 16
  return c


def _splits(n_train=24, n_test=12):
  rng = np.random.default_rng(0)

  def make(n, prefix):
    x = rng.normal(size=(n, 1, 16, 25, 3)).astype(np.float32)
    y = (np.arange(n) % 4).astype(np.int32)
    return ArrayDataset(x, y, [f"{prefix}{i}" for i in range(n)], "ntu25", 10)

  return make(n_train, "train"), make(n_test, "test")


def _state(config, seed=0, step=8):
  model = methods.get_method(config.method)(config, "ntu25").model
  variables = model.init(jax.random.key(seed), np.zeros((2, 1, 16, 25, 3), np.float32),
                         train=False)
  return types.SimpleNamespace(params=variables["params"], batch_stats=variables["batch_stats"],
                               step=np.int32(step))


def test_backbone_monitor_matches_the_evaluation_features():
  config = _config()
  train, test = _splits()
  state = _state(config)
  mon = monitor.KnnMonitor(config, train, test, keep_best=False)
  got = mon(state)
  backbone = features.backbone_from_encoder_config(config.model, "ntu25")
  variables = {"params": state.params["backbone"], "batch_stats": state.batch_stats["backbone"]}
  kw = dict(stream="joint", layout="ntu25", batch_size=16)
  train_f = features.extract_features(backbone, variables, train.x, **kw)
  test_f = features.extract_features(backbone, variables, test.x, **kw)
  np.testing.assert_allclose(mon.embed(variables, test.x, jax.random.key(0)), test_f,
                             rtol=1e-5, atol=1e-6)
  expected = knn.knn_accuracy(train_f, train.y, test_f, test.y, num_classes=10, ks=(1, 5))
  assert got["knn/top1@1"] == expected["knn_top1@1"]
  assert got["knn/top1@5"] == expected["knn_top1@5"]
  assert got["knn/seconds"] >= 0 and "knn/best_top1@1" not in got  # nothing kept


def test_head_features_with_augmentation_are_keyed_by_the_step():
  config = _config()
  train, test = _splits()
  state = _state(config)
  mon = monitor.KnnMonitor(config, train, test, features="head",
                           augment="temporal_shift(6)|shear(0.5)", keep_best=False)
  variables = mon.variables_of(state)
  a = mon.embed(variables, test.x, jax.random.key(3))
  assert a.shape == (12, config.model.feature_dim)  # the projection head's output
  np.testing.assert_array_equal(a, mon.embed(variables, test.x, jax.random.key(3)))
  b = mon.embed(variables, test.x, jax.random.key(4))
  assert np.abs(a - b).max() > 1e-2 * np.abs(a).max()  # features at init are ~1e-9
  with pytest.raises(ValueError, match="features"):
    monitor.KnnMonitor(config, train, test, features="neck", keep_best=False)


def test_keep_best_saves_only_improvements_and_survives_a_restart(tmp_path, monkeypatch):
  config = _config()
  train, test = _splits(8, 4)
  states = [_state(config, seed=s, step=4 * (s + 1)) for s in range(4)]
  accs = iter([50.0, 40.0, 60.0, 55.0])
  monkeypatch.setattr(monitor.KnnMonitor, "evaluate",
                      lambda self, variables, step: {"knn/top1@1": next(accs),
                                                     "knn/top1@5": 0.0})
  mon = monitor.KnnMonitor(config, train, test, workdir=str(tmp_path), steps_per_epoch=4)
  assert mon.best_k == 1  # the first of eval.knn.ks
  seen = [mon(s)["knn/best_top1@1"] for s in states[:3]]
  assert seen == [50.0, 50.0, 60.0]
  info = json.loads((tmp_path / "best_knn.json").read_text())
  assert (info["epoch"], info["step"], info["top1"], info["k"]) == (3, 12, 60.0, 1)
  variables, info2 = monitor.load_best_variables(str(tmp_path))
  assert info2 == info
  jax.tree.map(np.testing.assert_array_equal, variables,
               {"params": states[2].params["backbone"],
                "batch_stats": states[2].batch_stats["backbone"]})
  # A resumed run knows the best so far: 55 < 60 does not replace it.
  resumed = monitor.KnnMonitor(config, train, test, workdir=str(tmp_path), steps_per_epoch=4)
  assert resumed(states[3])["knn/best_top1@1"] == 60.0
  assert json.loads((tmp_path / "best_knn.json").read_text())["step"] == 12


def test_monitor_off_and_missing_best_file(tmp_path):
  config = _config()
  train, test = _splits(8, 4)
  assert monitor.build_monitor(config, str(tmp_path), train, test, steps_per_epoch=1) is None
  config.train.knn_every_epochs = 2
  built = monitor.build_monitor(config, str(tmp_path), train, test, steps_per_epoch=3)
  assert isinstance(built, monitor.KnnMonitor) and built.steps_per_epoch == 3
  with pytest.raises(FileNotFoundError, match="knn_every_epochs"):
    monitor.load_best_variables(str(tmp_path))
  assert monitor.subsample(10, 4, 0).tolist() == sorted(monitor.subsample(10, 4, 0).tolist())
  assert len(monitor.subsample(10, 4, 0)) == 4 and len(monitor.subsample(10, 0, 0)) == 10
