"""Projection head inits (skel_jax/models/heads.py: the reference's and 'lecun')."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.config_lib import load_config
from skel_jax.methods.base import build_encoder
from skel_jax.models.heads import MLPHead


def _head_params(init: str, fan_in: int = 512, hidden: int = 512, features: int = 256):
  head = MLPHead(hidden=hidden, features=features, init_scheme=init)
  return head.init(jax.random.key(0), jnp.zeros((2, fan_in)), train=False)["params"]


def test_reference_init_is_std_002():
  p = _head_params("reference")
  for name in ("fc1", "fc2"):
    assert abs(float(np.std(p[name]["kernel"])) - 0.02) < 0.001
    np.testing.assert_array_equal(p[name]["bias"], 0.0)


def test_lecun_init_has_unit_gain():
  p = _head_params("lecun", fan_in=512, hidden=256, features=128)
  # Variance 1 / fan_in (truncated normal rescaled to that variance by flax).
  assert abs(float(np.std(p["fc1"]["kernel"])) * np.sqrt(512) - 1.0) < 0.03
  assert abs(float(np.std(p["fc2"]["kernel"])) * np.sqrt(256) - 1.0) < 0.05
  np.testing.assert_array_equal(p["fc2"]["bias"], 0.0)


def test_unknown_init_names_the_choices():
  with pytest.raises(ValueError, match="reference"):
    _head_params("kaiming")


def test_presets_choose_the_head_init():
  assert load_config("configs/skeletonclr.py", "ntu60_xsub").model.head_init == "reference"
  c = load_config("configs/skeletonclr.py", "demo")
  assert c.model.head_init == "lecun"
  enc = build_encoder(c, c.data.layout)
  assert enc.head_init == "lecun"


def test_skeattnclr_neck_and_predictors_follow_the_head_init():
  from skel_jax.methods.skeattnclr import build_skeattn_encoder

  c = load_config("configs/skeattnclr.py", "smoke")
  enc = build_skeattn_encoder(c, c.data.layout)
  x = jnp.zeros((2, 2, c.data.num_frames, 25, 3))
  params = jax.jit(lambda: enc.init(jax.random.key(0), x, train=False))()["params"]
  for name in ("predictor_global", "predictor_salient", "predictor_nonsalient"):
    kernel = np.asarray(params[name]["fc2"]["kernel"])
    assert enc.head_init == "lecun"
    # Variance 1 / fan_in, not the reference 0.02^2 (std 0.02 would give about 0.02 * sqrt(fan_in)).
    assert 0.5 < float(np.std(kernel)) * np.sqrt(kernel.shape[0]) < 1.5
  proj = np.asarray(params["neck"]["proj"]["fc1"]["kernel"])
  assert 0.5 < float(np.std(proj)) * np.sqrt(proj.shape[0]) < 1.5


def test_residual_head_starts_as_the_identity_and_learns_through_its_last_layer():
  head = MLPHead(hidden=16, features=8, use_bn=True, use_bias=False, residual=True)
  x = jax.random.normal(jax.random.key(1), (5, 8))
  variables = head.init(jax.random.key(0), x, train=False)
  np.testing.assert_array_equal(variables["params"]["fc2"]["kernel"], 0.0)
  np.testing.assert_array_equal(head.apply(variables, x, train=False), x)

  def loss(params):
    out, _ = head.apply({**variables, "params": params}, x, train=True, mutable=["batch_stats"])
    return jnp.sum(out[:, 0])

  grads = jax.grad(loss)(variables["params"])
  assert float(jnp.abs(grads["fc2"]["kernel"]).sum()) > 0  # the zero layer gets a gradient
  with pytest.raises(ValueError, match="residual head maps 8 features to 8, not 4"):
    MLPHead(hidden=16, features=4, residual=True).init(jax.random.key(0), x, train=False)
