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
