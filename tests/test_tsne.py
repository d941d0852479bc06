"""Tests for skel_jax.evaluate.tsne: our exact t-SNE and its PNG plot."""

import numpy as np
import pytest

from skel_jax.evaluate import tsne


def _clusters(seed=0, k=4, per=30, dim=50):
  rng = np.random.default_rng(seed)
  centres = 8.0 * rng.normal(size=(k, dim))
  y = np.repeat(np.arange(k), per)
  return centres[y] + rng.normal(size=(len(y), dim)), y


def _one_nn_accuracy(points, labels):
  d = ((points[:, None] - points[None]) ** 2).sum(-1)
  np.fill_diagonal(d, np.inf)
  return float(np.mean(labels[d.argmin(1)] == labels))


def test_conditional_probabilities_hit_the_perplexity():
  x, _ = _clusters(k=3, per=20, dim=5)
  p = np.asarray(tsne.conditional_probabilities(tsne.squared_distances(x), 10.0), np.float64)
  np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
  assert np.all(np.diag(p) == 0)
  entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=1)
  np.testing.assert_allclose(np.exp(entropy), 10.0, rtol=1e-3)


def test_joint_probabilities_symmetric_and_normalised():
  x, _ = _clusters(k=2, per=10, dim=3)
  p = np.asarray(tsne.joint_probabilities(tsne.squared_distances(x), 5.0), np.float64)
  np.testing.assert_allclose(p, p.T, atol=1e-9)
  assert p.sum() == pytest.approx(1.0, abs=1e-4)


def test_kl_gradient_matches_finite_differences():
  rng = np.random.default_rng(1)
  n = 6
  p = rng.random((n, n))
  p = p + p.T
  np.fill_diagonal(p, 0)
  p /= p.sum()
  y = rng.normal(size=(n, 2))

  def kl(y):
    d2 = ((y[:, None] - y[None]) ** 2).sum(-1)
    num = 1.0 / (1.0 + d2)
    np.fill_diagonal(num, 0)
    q = num / num.sum()
    mask = ~np.eye(n, dtype=bool)
    return np.sum(p[mask] * np.log(p[mask] / q[mask]))

  eps = 1e-6
  numeric = np.zeros_like(y)
  for i in range(n):
    for j in range(2):
      dy = np.zeros_like(y)
      dy[i, j] = eps
      numeric[i, j] = (kl(y + dy) - kl(y - dy)) / (2 * eps)
  got = np.asarray(tsne.kl_gradient(p.astype(np.float32), y.astype(np.float32)))
  np.testing.assert_allclose(got, numeric, rtol=1e-3, atol=1e-5)


def test_separated_clusters_stay_separated_and_run_is_deterministic():
  x, y = _clusters()
  emb = tsne.tsne(x, perplexity=15.0, n_iter=300, exaggeration_iters=100, seed=3)
  assert emb.shape == (len(x), 2) and np.all(np.isfinite(emb))
  assert _one_nn_accuracy(emb, y) > 0.95
  np.testing.assert_allclose(emb.mean(0), 0.0, atol=1e-3)
  again = tsne.tsne(x, perplexity=15.0, n_iter=300, exaggeration_iters=100, seed=3)
  np.testing.assert_array_equal(again, emb)


def test_subsample_indices_deterministic_and_sorted():
  idx = tsne.subsample_indices(1000, 50, seed=4)
  assert len(idx) == 50 and len(set(idx.tolist())) == 50 and np.all(np.diff(idx) > 0)
  np.testing.assert_array_equal(idx, tsne.subsample_indices(1000, 50, seed=4))
  assert not np.array_equal(idx, tsne.subsample_indices(1000, 50, seed=5))
  np.testing.assert_array_equal(tsne.subsample_indices(7, 50), np.arange(7))


def test_plot_tsne_writes_png(tmp_path):
  x, y = _clusters(k=3, per=20)
  path = tmp_path / "plots" / "tsne.png"
  points, idx = tsne.plot_tsne(x, y, str(path), class_names=["a", "b", "c"], title="t",
                               max_points=40, seed=0, perplexity=10.0, n_iter=150)
  assert points.shape == (40, 2) and idx.shape == (40,)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_embedding_many_classes_and_bad_input(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "many.png"
  tsne.plot_embedding_2d(rng.normal(size=(120, 2)), np.arange(120) % 60, str(path))
  assert path.stat().st_size > 0
  with pytest.raises(ValueError, match=r"\[n, 2\] points"):
    tsne.plot_embedding_2d(np.zeros((5, 3)), np.zeros(5), str(path))
  with pytest.raises(ValueError, match="n >= 3"):
    tsne.tsne(np.zeros((2, 4)))
  with pytest.raises(ValueError, match="sample 1 has non-finite"):
    tsne.tsne(np.array([[0.0, 1.0], [np.inf, 0.0], [1.0, 1.0]]))
