"""skel_jax.evaluate.features: frozen features of a backbone, compiled once per shape."""

import jax
import numpy as np

from skel_jax.config_lib import load_config
from skel_jax.evaluate import features


def test_train_and_test_splits_share_one_compilation():
  config = load_config("configs/skeletonclr.py", "smoke")
  backbone = features.backbone_from_encoder_config(config.model, config.data.layout,
                                                   no_grad=True)
  x = np.random.default_rng(0).normal(size=(11, 1, 8, 25, 3)).astype(np.float32)
  variables = backbone.init(jax.random.key(0), x[:2], train=False)
  # A batch size no other test uses: its compilation is this test's own.
  kwargs = dict(stream="joint", layout=config.data.layout, batch_size=7)
  before = features._embed._cache_size()  # pylint: disable=protected-access
  train = features.extract_features(backbone, variables, x, desc="train", **kwargs)
  test = features.extract_features(backbone, variables, x[:3], desc="test", **kwargs)
  assert features._embed._cache_size() == before + 1  # pylint: disable=protected-access
  assert train.shape == (11, backbone.out_dim) and test.shape == (3, backbone.out_dim)
  np.testing.assert_allclose(test, train[:3], rtol=1e-5, atol=1e-6)


def test_empty_persons_are_embedded_once_with_the_same_features(monkeypatch):
  # Clips with an empty second person (NTU's single-person padding), one with both persons
  # and one fully empty clip: the per-person path gives the clip path's features while the
  # backbone sees only the non-empty persons plus padding.
  config = load_config("configs/skeletonclr.py", "smoke")
  backbone = features.backbone_from_encoder_config(config.model, config.data.layout,
                                                   no_grad=True)
  rng = np.random.default_rng(1)
  x = rng.normal(size=(9, 2, 8, 25, 3)).astype(np.float32)
  x[[0, 2, 3, 5, 6, 8], 1] = 0.0  # six single-person clips
  x[4] = 0.0  # an empty clip
  x[7, 0] = 0.0  # the first person empty, the second not
  variables = backbone.init(jax.random.key(0), x[:2], train=False)
  # Parameters and running statistics far from their init, so that features vary by clip.
  params = jax.tree.map(lambda v: v + rng.normal(0.0, 0.3, v.shape).astype(np.float32),
                        variables["params"])

  def running_stat(path, v):  # variances positive, means around 0
    if path[-1].key == "var":
      return rng.uniform(0.5, 1.5, v.shape).astype(np.float32)
    return rng.normal(0.0, 0.1, v.shape).astype(np.float32)

  stats = jax.tree_util.tree_map_with_path(running_stat, variables["batch_stats"])
  variables = {"params": params, "batch_stats": stats}
  kwargs = dict(stream="bone", layout=config.data.layout, batch_size=4)
  np.testing.assert_array_equal(features.active_persons(x).sum(), 9 * 2 - 6 - 2 - 1)
  whole = features.extract_features(backbone, variables, x, skip_empty_persons=False, **kwargs)
  embedded = []
  real_embed = features._embed  # pylint: disable=protected-access

  def counting_embed(variables, batch, **kw):
    embedded.append(batch.shape[:2])
    return real_embed(variables, batch, **kw)

  monkeypatch.setattr(features, "_embed", counting_embed)
  skipped = features.extract_features(backbone, variables, x, **kwargs)
  np.testing.assert_allclose(skipped, whole, rtol=2e-5, atol=2e-6)
  # 9 non-empty persons in calls of batch_size * M = 8 persons of one: two calls, not 3 of 4 x 2.
  assert embedded == [(8, 1), (8, 1)]
  # The features vary by clip (so the comparison above means something), and the empty
  # clip gets the empty person's constant.
  assert np.std(whole, axis=0).max() > 1e-3 * np.abs(whole).max()
  assert not np.allclose(skipped[4], skipped[0], rtol=1e-3)
