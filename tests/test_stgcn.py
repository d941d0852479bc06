"""ST-GCN encoder: parameter counts, shapes, and exact parity with the PyTorch reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.interop import stgcn_state_dict
from skel_jax.models import stgcn


def _param_count(**kw):
  model = stgcn.STGCN(**kw)
  shapes = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 2, 50, 25, 3)), train=False))
  return stgcn.count_params(shapes["params"])


def test_parameter_counts_match_spec():
  assert _param_count(hidden=16) == 821_380
  assert _param_count(hidden=64) == 3_083_412


@pytest.mark.parametrize("t, t_out", [(50, 13), (64, 16), (9, 3)])
def test_temporal_out_length(t, t_out):
  assert stgcn.temporal_out_length(t) == t_out


def test_shapes_and_person_averaging():
  model = stgcn.STGCN(hidden=4, out_dim=8, num_classes=5, layout="kinect_v1_20")
  x = jax.random.normal(jax.random.key(1), (3, 2, 20, 20, 3))
  variables = jax.jit(lambda: model.init(jax.random.key(0), x, train=False))()
  logits, aux = jax.jit(lambda v: model.apply(v, x, train=False))(variables)
  assert logits.shape == (3, 5)
  assert aux["feature_map"].shape == (3, 2, 5, 20, 8)
  np.testing.assert_allclose(aux["pooled"], aux["feature_map"].mean((1, 2, 3)), rtol=1e-5)


def test_wrong_joint_count_is_a_clear_error():
  model = stgcn.STGCN(hidden=4, out_dim=8)
  with pytest.raises(ValueError, match="20 joints but layout 'ntu25' has 25"):
    model.init(jax.random.key(0), jnp.zeros((1, 1, 10, 20, 3)), train=False)


def test_matmul_and_conv_formulations_agree():
  x = jax.random.normal(jax.random.key(1), (2, 2, 16, 25, 3))
  fast = stgcn.STGCN(hidden=4, out_dim=8, conv_impl="matmul")
  slow = stgcn.STGCN(hidden=4, out_dim=8, conv_impl="conv")
  variables = jax.jit(lambda: fast.init(jax.random.key(0), x, train=False))()

  def run(model):
    return jax.jit(lambda v: model.apply(v, x, train=True, mutable=["batch_stats"],
                                         rngs={"dropout": jax.random.key(2)}))(variables)

  (a, _), state_a = run(fast)
  (b, _), state_b = run(slow)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  jax.tree_util.tree_map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6),
                         state_a, state_b)


def test_init_follows_spec():
  model = stgcn.STGCN(hidden=16)
  params = jax.jit(lambda: model.init(jax.random.key(0), jnp.zeros((1, 1, 50, 25, 3)),
                                      train=False))()["params"]
  kernel = params["block5"]["tcn_conv"]["kernel"]
  assert abs(float(kernel.std()) - 0.02) < 0.002
  assert float(jnp.abs(params["block5"]["tcn_conv"]["bias"]).max()) == 0.0
  assert abs(float(params["block5"]["tcn_bn1"]["scale"].mean()) - 1.0) < 0.01
  np.testing.assert_array_equal(params["block3"]["gcn"]["edge_importance"], 1.0)


def test_reference_parity(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  x = np.load(reference_fixture_dir / "input_x.npz")["x"].transpose(0, 4, 2, 3, 1)
  expected = np.load(reference_fixture_dir / "stgcn_eval_output.npz")["out"]
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  model = stgcn.STGCN(hidden=16, num_classes=128)
  out, _ = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  rel = np.abs(np.asarray(out) - expected).max() / np.abs(expected).max()
  assert rel < 1e-4, rel


def test_state_dict_round_trip(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  back = stgcn_state_dict.stgcn_variables_to_state_dict(variables)
  assert set(back) == set(sd) - {"A"}
  for key, value in back.items():
    if "num_batches_tracked" not in key:
      np.testing.assert_array_equal(value, sd[key], err_msg=key)


def test_missing_key_is_named(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  del sd["st_gcn_networks.3.tcn.2.weight"]
  with pytest.raises(stgcn_state_dict.StateDictError, match="st_gcn_networks.3.tcn.2.weight"):
    stgcn_state_dict.stgcn_variables_from_state_dict(sd)
