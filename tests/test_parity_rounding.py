"""experiments/parity_rounding.py: its BatchNorm variants are the library's maths with other sums."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.models import batchnorm
from tests.conftest import load_script

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "parity_rounding.py"


@pytest.fixture(scope="module")
def script():
  return load_script(SCRIPT, "parity_rounding")


def _outputs_and_grads(normalize, x, scale, bias):
  def loss(x, scale, bias):
    y, mean, var = normalize(x, scale, bias, 1e-5, False)
    return jnp.sum(jnp.sin(y)) + jnp.sum(mean * 0.3) + jnp.sum(var * 0.7)

  return normalize(x, scale, bias, 1e-5, False), jax.grad(loss, argnums=(0, 1, 2))(x, scale,
                                                                                  bias)


def test_parity_rounding_variant_with_plain_sums_is_the_library_bit_for_bit(script):
  # The experiment rebinds `normalize_batch`; with `jnp.sum` as its sums it must be exactly
  # the library's default, so that its variants differ from the library in the sums only.
  x = jax.random.normal(jax.random.key(0), (4, 6, 5, 3)) * 2.0 + 1.0
  scale, bias = jnp.asarray([0.5, 1.0, 2.0]), jnp.asarray([0.1, -0.2, 0.3])
  plain = script.batchnorm_with_sums(lambda v: jnp.sum(v, tuple(range(v.ndim - 1))))
  got = _outputs_and_grads(plain, x, scale, bias)
  want = _outputs_and_grads(batchnorm.normalize_batch, x, scale, bias)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    np.testing.assert_array_equal(g, w)


def test_parity_rounding_pairwise_sum_is_a_per_channel_sum(script):
  # 1000 rows: padded to a whole number of 32-row blocks, summed per block, then over blocks.
  x = np.random.default_rng(0).normal(3.0, 1.0, (10, 100, 2)).astype(np.float32)
  got = np.asarray(script.pairwise_sum(jnp.asarray(x)), np.float64)
  np.testing.assert_allclose(got, x.astype(np.float64).sum((0, 1)), rtol=1e-6)
