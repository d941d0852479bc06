"""BatchNorm with PyTorch's running statistics, and the key EMA's exact 1 - m."""

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np

from skel_jax.methods import moco
from skel_jax.models import batchnorm
from skel_jax.train import pretrain


def _run(x, **kwargs):
  bn = batchnorm.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5, **kwargs)
  variables = bn.init(jax.random.key(0), x)
  y, mutated = bn.apply(variables, x, mutable=["batch_stats"])
  return np.asarray(y, np.float64), jax.tree.map(np.asarray, mutated["batch_stats"])


def test_parity_batchnorm_running_variance_is_unbiased_and_output_uses_biased():
  x = np.random.default_rng(0).normal(2.0, 3.0, (5, 7, 3)).astype(np.float32)
  y, stats = _run(jnp.asarray(x))
  flat = x.reshape(-1, 3).astype(np.float64)
  n = flat.shape[0]
  mean, var = flat.mean(0), flat.var(0)
  np.testing.assert_allclose(stats["mean"], 0.1 * mean, rtol=1e-6)
  np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * var * n / (n - 1), rtol=1e-6)
  np.testing.assert_allclose(y.reshape(-1, 3), (flat - mean) / np.sqrt(var + 1e-5), atol=2e-6)
  _, flax_like = _run(jnp.asarray(x), unbiased_running_var=False)
  np.testing.assert_allclose(flax_like["var"], 0.9 + 0.1 * var, rtol=1e-6)


def test_parity_batchnorm_two_pass_variance_on_an_offset_channel():
  # A channel whose mean is 1000x its spread: E[x^2] - E[x]^2 cancels in float32.
  x = (1000.0 + np.random.default_rng(1).normal(0.0, 1.0, (64, 1))).astype(np.float32)
  exact = x.astype(np.float64).var()
  _, two_pass = _run(jnp.asarray(x))
  _, one_pass = _run(jnp.asarray(x), fast_variance=True)
  n = x.size
  err_two = abs((two_pass["var"][0] - 0.9) / 0.1 * (n - 1) / n - exact) / exact
  err_one = abs((one_pass["var"][0] - 0.9) / 0.1 * (n - 1) / n - exact) / exact
  assert err_two < 1e-5
  assert err_one > 100 * err_two


def test_batchnorm_vjp_is_the_float64_gradient_of_the_two_pass_form():
  # The closed-form backward pass (PyTorch's) against autodiff of the forward, float64, with
  # cotangents on all three outputs (y and the two moments feeding the running statistics).
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), (4, 6, 5, 3), jnp.float64) * 2.0 + 1.5
    scale = jnp.asarray([0.5, 1.0, 2.0], jnp.float64)
    bias = jnp.asarray([0.1, -0.2, 0.3], jnp.float64)
    cots = (jax.random.normal(jax.random.key(1), x.shape, jnp.float64),
            jnp.asarray([0.3, -0.1, 0.7], jnp.float64), jnp.asarray([-0.2, 0.5, 0.1], jnp.float64))

    def plain(x, scale, bias):
      mean, var = batchnorm.batch_moments(x, (0, 1, 2), fast=False)
      return (x - mean) * (jax.lax.rsqrt(var + 1e-5) * scale) + bias, mean, var

    got_out, vjp = jax.vjp(lambda *a: batchnorm.normalize_batch(*a, 1e-5, False), x, scale, bias)
    want_out, vjp_ref = jax.vjp(plain, x, scale, bias)
    for got, want in zip(got_out, want_out):
      np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(vjp(cots), vjp_ref(cots)):
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_compensated_sum_is_exact_where_float32_sums_lose_the_small_terms():
  # Per channel: 1e8, then 4096 ones, then -1e8 (exact sum 4096: a float32 running sum at 1e8
  # drops every 1, whose ulp there is 8); the second channel the same, negated.
  column = np.concatenate([[1e8], np.ones(4096), [-1e8]]).astype(np.float32)
  x = jnp.asarray(np.stack([column, -column], axis=-1).reshape(1, -1, 2))  # [1, 4098, 2]
  np.testing.assert_array_equal(batchnorm.compensated_sum(x, (0, 1)), [4096.0, -4096.0])
  np.testing.assert_array_equal(batchnorm.channel_sum(x, True), [4096.0, -4096.0])


def test_compensated_sum_is_the_correctly_rounded_float64_sum():
  # What PyTorch's CPU BatchNorm gets from its float64 accumulator: the float32 rounding of
  # the exact sum (one rounding, within half an ulp of the float64 value).
  x = (1000.0 + np.random.default_rng(2).normal(0.0, 3.0, (64, 50, 20, 4))).astype(np.float32)
  exact = x.astype(np.float64).sum((0, 1, 2))
  got = np.asarray(batchnorm.compensated_sum(jnp.asarray(x), (0, 1, 2)), np.float64)
  half_ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64) / 2
  assert np.all(np.abs(got - exact) <= half_ulp), (got - exact) / half_ulp


def test_batchnorm_with_compensated_sums_is_the_same_function():
  # Same output, running statistics and gradients as the default sums, to float32 rounding.
  x = jax.random.normal(jax.random.key(3), (8, 10, 5, 3)) * 2.0 + 4.0
  y, stats = _run(x)
  y_comp, stats_comp = _run(x, sums="compensated")
  np.testing.assert_allclose(y_comp, y, atol=1e-5)
  for k in ("mean", "var"):
    np.testing.assert_allclose(stats_comp[k], stats[k], rtol=1e-6)

  def loss(x, sums):
    bn = batchnorm.BatchNorm(use_running_average=False, sums=sums)
    variables = bn.init(jax.random.key(0), x)
    y, _ = bn.apply(variables, x, mutable=["batch_stats"])
    return jnp.sum(jnp.sin(y))

  for got, want in zip(jax.grad(loss)(x, "compensated"), jax.grad(loss)(x, "float32")):
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_batchnorm_rejects_an_unknown_summation():
  bn = batchnorm.BatchNorm(use_running_average=False, sums="float64")
  with np.testing.assert_raises_regex(ValueError, "unknown BatchNorm sums 'float64'"):
    bn.init(jax.random.key(0), jnp.ones((4, 2)))


def test_parity_batchnorm_eval_mode_and_flax_variable_names():
  x = jnp.ones((4, 2))
  bn = batchnorm.BatchNorm(use_running_average=True)
  variables = bn.init(jax.random.key(0), x)
  assert set(variables["params"]) == {"scale", "bias"}
  assert set(variables["batch_stats"]) == {"mean", "var"}
  stats = {"mean": jnp.array([1.0, -1.0]), "var": jnp.array([4.0, 0.25])}
  y = bn.apply({"params": variables["params"], "batch_stats": stats}, x)
  np.testing.assert_allclose(y, np.array([[0.0, 2.0 / np.sqrt(0.25 + 1e-5)]] * 4), rtol=1e-6)


def test_parity_key_ema_uses_exact_one_minus_m():
  # The reference computes k * m + q * (1 - m) with m a Python double: both factors are the
  # float32 roundings of 0.999 and 0.001. A float32 m would give 1 - m = 0.00099998713.
  from ml_collections import ConfigDict
  m = pretrain.make_momentum_fn(ConfigDict({"momentum_schedule": "constant",
                                            "momentum": 0.999}), 10, 1)(jnp.int32(3))
  k = jnp.asarray(np.random.default_rng(0).normal(size=1000), jnp.float32)
  q = jnp.asarray(np.random.default_rng(1).normal(size=1000), jnp.float32)
  out = np.asarray(jax.jit(lambda k, q: moco.ema(k, q, m))(k, q))
  expected = np.float32(0.001) * np.asarray(q) + np.float32(0.999) * np.asarray(k)
  np.testing.assert_array_equal(out, expected)
  wrong = np.asarray(moco.ema(k, q, jnp.float32(0.999)))
  assert np.abs(wrong - expected).max() > 0


def _variadic_reduces(jaxpr) -> int:
  """Compensated sums in a jaxpr: `lax.reduce` over (sum, error) pairs (plain sums are
  `reduce_sum`), counted through nested jaxprs (jit, custom_vjp)."""
  count = 0
  for eqn in jaxpr.eqns:
    count += eqn.primitive.name == "reduce"
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      count += _variadic_reduces(sub)
  return count


def test_model_bn_sums_reaches_every_batchnorm_of_both_encoders():
  # Every train-mode BatchNorm call (data_bn, the blocks', the BN head's; SkeAttnCLR's neck
  # projection, called three times, and its three predictors) takes its mean and variance
  # with compensated sums: two per call (the default's plain sums are `reduce_sum`, below).
  from skel_jax.config_lib import load_config
  from skel_jax.methods import base, skeattnclr
  x = jnp.ones((2, 1, 16, 25, 3))
  for method, build, extra_calls in (("skelemixclr", base.build_encoder, 0),
                                     ("skeattnclr", skeattnclr.build_skeattn_encoder, 2)):
    config = load_config(f"configs/{method}.py", "smoke")
    config.model.head_bn = True
    config.model.dropout = 0.0
    config.model.bn_sums = "compensated"
    model = build(config, "ntu25")
    variables = model.init(jax.random.key(0), x, train=False)
    num_bn = sum(jax.tree_util.keystr(path).endswith("['mean']") for path, _ in
                 jax.tree_util.tree_leaves_with_path(variables["batch_stats"]))
    kwargs = {} if method == "skelemixclr" else {"method": "encode_mixed"}
    jaxpr = jax.make_jaxpr(lambda v, x: model.apply(
        v, x, train=True, mutable=["batch_stats"], **kwargs))(variables, x)  # noqa: B023
    assert num_bn > 10
    assert _variadic_reduces(jaxpr.jaxpr) == 2 * (num_bn + extra_calls), (method, num_bn)


def test_default_bn_sums_are_plain_reductions():
  bn = batchnorm.BatchNorm(use_running_average=False)
  x = jnp.ones((4, 3, 2))
  variables = bn.init(jax.random.key(0), x)
  jaxpr = jax.make_jaxpr(lambda v, x: bn.apply(v, x, mutable=["batch_stats"]))(variables, x)
  assert _variadic_reduces(jaxpr.jaxpr) == 0
