"""The training-time embedding diagnostics (methods/moco.py embedding_metrics), against values
worked out by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.methods import moco


def test_orthonormal_batch():
  q = jnp.eye(4, dtype=jnp.float32)
  m = {k: float(v) for k, v in moco.embedding_metrics(q, q).items()}
  assert m["alignment"] == 0.0
  # Every pair is at squared distance 2: log exp(-4).
  assert m["uniformity"] == pytest.approx(-4.0, abs=1e-6)
  # Each dimension holds one 1 and three 0: std sqrt(3)/4, times sqrt(D) = 2.
  assert m["embed_std"] == pytest.approx(np.sqrt(3) / 2, rel=1e-6)
  # Centred, I - 1/4 has singular values (1, 1, 1, 0): three equal directions.
  assert m["effective_rank"] == pytest.approx(3.0, rel=1e-5)


def test_collapse_and_misalignment():
  q = jnp.tile(jnp.asarray([[0.6, 0.8]], jnp.float32), (5, 1))
  k = jnp.tile(jnp.asarray([[0.8, 0.6]], jnp.float32), (5, 1))
  m = {k_: float(v) for k_, v in moco.embedding_metrics(q, k).items()}
  assert m["alignment"] == pytest.approx(0.08, rel=1e-5)  # (0.2^2 + 0.2^2)
  assert m["uniformity"] == pytest.approx(0.0, abs=1e-6)
  assert m["embed_std"] == 0.0
  assert m["effective_rank"] == pytest.approx(1.0, abs=1e-6)  # all-zero spectrum counts as 1
