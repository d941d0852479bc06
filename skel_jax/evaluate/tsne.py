"""Exact t-SNE in JAX and a PNG scatter plot of the 2-D embedding (docs/usage.md, outputs).

Our own implementation of exact t-SNE (van der Maaten and Hinton, JMLR 2008), for the feature
plots that the papers show; no sklearn dependency. At the plot's sizes it is as fast as
scikit-learn's Barnes-Hut `sklearn.manifold.TSNE` and at least as faithful (docs/benchmarks.md,
experiments/benchmark_tsne.py), so it stays:

1. optional PCA to `pca_dims` dimensions (numpy SVD), then squared Euclidean distances;
2. per point, the Gaussian bandwidth whose conditional distribution `p_{j|i}` has the
   requested perplexity `2^H = perplexity`, found by a vectorised bisection on log(beta);
3. symmetric joint probabilities `P = (P_cond + P_condᵀ) / (2n)`;
4. gradient descent on KL(P || Q) with the Student-t kernel `q_ij ∝ (1 + |y_i - y_j|²)^-1`,
   early exaggeration (x12 for the first 250 iterations), momentum 0.5 then 0.8, and the
   delta-bar-delta gains of the original implementation; the whole descent is one jitted
   `lax.fori_loop`.

Exact t-SNE costs O(n²) memory and time per iteration: it is meant for up to ~2000 points
(`plot_tsne` subsamples deterministically to `max_points`).
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np


def subsample_indices(num: int, max_points: int, seed: int = 0) -> np.ndarray:
  """Sorted indices of a deterministic random subset of size `min(num, max_points)`.

  Args:
    num: number of available points.
    max_points: the largest subset to keep.
    seed: seed of the `np.random.Generator` that draws the subset.

  Returns:
    int64 indices, sorted, without repetition (all of `range(num)` when `num <= max_points`).
  """
  if num <= max_points:
    return np.arange(num)
  rng = np.random.default_rng(seed)
  return np.sort(rng.choice(num, size=max_points, replace=False))


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
  x = x - x.mean(axis=0, keepdims=True)
  if x.shape[1] <= dims:
    return x
  # The signs of the singular vectors are arbitrary but distances do not depend on them.
  _, s, vt = np.linalg.svd(x, full_matrices=False)
  return x @ vt[:dims].T  # [n, dims]


def squared_distances(x: np.ndarray) -> np.ndarray:
  """Pairwise squared Euclidean distances `[n, n]` in float64, clipped at 0."""
  x = np.asarray(x, np.float64)
  sq = np.sum(x * x, axis=1)
  return np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)


@functools.partial(jax.jit, static_argnames=("iters",))
def conditional_probabilities(sq_dists: jax.Array, perplexity: float,
                              iters: int = 50) -> jax.Array:
  """Row-wise `p_{j|i}` with Gaussian bandwidths calibrated to `perplexity`.

  For each row, `p_{j|i} ∝ exp(-beta_i d_ij)` (j ≠ i) and beta_i is found by bisection on
  log(beta) so that `exp(H_i) = perplexity`, H the Shannon entropy in nats (equivalently
  `2^{H in bits}`). Distances are shifted by the row minimum and divided by the row mean before
  the search, which leaves the family of distributions unchanged but makes the bracket
  `log(beta) ∈ [-30, 30]` valid for any feature scale.

  Args:
    sq_dists: `[n, n]` squared distances.
    perplexity: target perplexity, in `(1, n - 1)`.
    iters: bisection steps.

  Returns:
    float32 `[n, n]`, rows summing to 1, zero diagonal.
  """
  n = sq_dists.shape[0]
  d = jnp.asarray(sq_dists, jnp.float32)
  off_diag = ~jnp.eye(n, dtype=bool)
  d_min = jnp.min(jnp.where(off_diag, d, jnp.inf), axis=1, keepdims=True)
  d = jnp.where(off_diag, d - d_min, 0.0)
  d = d / jnp.maximum(jnp.sum(d, axis=1, keepdims=True) / (n - 1), 1e-12)
  target = jnp.log(perplexity)

  def weights(log_beta):
    beta = jnp.exp(log_beta)[:, None]  # [n, 1]
    return beta, jnp.where(off_diag, jnp.exp(-beta * d), 0.0)  # [n, n]

  def bisect(_, bounds):
    lo, hi = bounds
    mid = 0.5 * (lo + hi)
    beta, w = weights(mid)
    z = jnp.sum(w, axis=1)
    # H = log Z + beta E_p[d] for p = w / Z: one exp per entry and no log of tiny p.
    h = jnp.log(z) + beta[:, 0] * jnp.sum(d * w, axis=1) / z
    too_flat = h > target  # the entropy decreases as beta grows
    return jnp.where(too_flat, mid, lo), jnp.where(too_flat, hi, mid)

  lo, hi = jax.lax.fori_loop(0, iters, bisect, (jnp.full((n,), -30.0), jnp.full((n,), 30.0)))
  _, w = weights(0.5 * (lo + hi))
  return w / jnp.sum(w, axis=1, keepdims=True)


def joint_probabilities(sq_dists, perplexity: float) -> jax.Array:
  """Symmetric t-SNE affinities `max((P_cond + P_condᵀ) / (2n), 1e-12)`, `[n, n]`."""
  p = conditional_probabilities(jnp.asarray(sq_dists, jnp.float32), perplexity)
  n = p.shape[0]
  p = (p + p.T) / (2.0 * n)
  return jnp.where(jnp.eye(n, dtype=bool), 0.0, jnp.maximum(p, 1e-12))


def kl_gradient(p: jax.Array, y: jax.Array, exaggeration: float = 1.0) -> jax.Array:
  """Gradient of KL(exaggeration·P || Q) with respect to the embedding `y` `[n, 2]`.

  `dC/dy_i = 4 Σ_j (e·p_ij − q_ij)(1 + |y_i − y_j|²)^-1 (y_i − y_j)` (JMLR 2008, eq. 5).
  """
  n = y.shape[0]
  # Differences per coordinate rather than |y|² + |y|² − 2 y·yᵀ: exact for close points and,
  # with only 2 columns, faster on CPU than a K = 2 matmul (10 vs 16 ms at n = 2000).
  d2 = (y[:, None, 0] - y[None, :, 0]) ** 2 + (y[:, None, 1] - y[None, :, 1]) ** 2  # [n, n]
  num = jnp.where(jnp.eye(n, dtype=bool), 0.0, 1.0 / (1.0 + d2))
  w = (exaggeration * p - num / jnp.sum(num)) * num  # [n, n]
  return 4.0 * (jnp.sum(w, axis=1, keepdims=True) * y - w @ y)


@functools.partial(jax.jit, static_argnames=("n_iter", "exaggeration_iters"))
def _descend(p, y0, learning_rate, early_exaggeration, *, n_iter: int, exaggeration_iters: int):
  def body(i, carry):
    y, update, gains = carry
    early = i < exaggeration_iters
    grad = kl_gradient(p, y, jnp.where(early, early_exaggeration, 1.0))
    # Delta-bar-delta: grow the gain where the gradient reverses the running update.
    gains = jnp.where(jnp.sign(grad) != jnp.sign(update), gains + 0.2, gains * 0.8)
    gains = jnp.maximum(gains, 0.01)
    update = jnp.where(early, 0.5, 0.8) * update - learning_rate * gains * grad
    return y + update, update, gains

  y, _, _ = jax.lax.fori_loop(0, n_iter, body, (y0, jnp.zeros_like(y0), jnp.ones_like(y0)))
  return y - jnp.mean(y, axis=0, keepdims=True)


def tsne(x, *, perplexity: float = 30.0, n_iter: int = 1000, early_exaggeration: float = 12.0,
         exaggeration_iters: int = 250, learning_rate: float | None = None, pca_dims: int = 50,
         seed: int = 0) -> np.ndarray:
  """Exact t-SNE of `[n, D]` features to 2-D.

  Args:
    x: `[n, D]` features (n >= 3).
    perplexity: effective number of neighbours; clamped to `(n - 1) / 3` for small n (a
      perplexity near n has no solution).
    n_iter: gradient-descent iterations.
    early_exaggeration: factor on P during the first `exaggeration_iters` iterations.
    exaggeration_iters: length of the early-exaggeration phase (momentum 0.5 there, 0.8 after).
    learning_rate: step size; None for `max(n / early_exaggeration / 4, 50)`.
    pca_dims: reduce to this many principal components first (0 disables).
    seed: seed of the initial embedding `1e-4 · N(0, I)` (a JAX key).

  Returns:
    float32 `[n, 2]` embedding, centred at the origin.

  Raises:
    ValueError: for a non-2-D input, fewer than 3 points, or non-finite values.
  """
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or x.shape[0] < 3:
    raise ValueError(f"t-SNE needs [n, D] features with n >= 3, got shape {x.shape}")
  bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
  if bad.size:
    raise ValueError(f"t-SNE input: sample {bad[0]} has non-finite features "
                     f"({bad.size} such samples)")
  n = x.shape[0]
  perplexity = float(max(1.5, min(perplexity, (n - 1) / 3.0)))
  if pca_dims:
    x = _pca(x, pca_dims)
  p = joint_probabilities(squared_distances(x), perplexity)
  if learning_rate is None:
    learning_rate = max(n / early_exaggeration / 4.0, 50.0)
  y0 = 1e-4 * jax.random.normal(jax.random.key(seed), (n, 2), jnp.float32)
  y = _descend(p, y0, jnp.float32(learning_rate), jnp.float32(early_exaggeration),
               n_iter=n_iter, exaggeration_iters=exaggeration_iters)
  return np.asarray(y)


def plot_embedding_2d(points, labels, path: str, class_names=None, title: str = "") -> str:
  """Saves a scatter plot of 2-D points coloured by label as a PNG.

  Uses a matplotlib `Figure` with the Agg canvas directly, so it works headless and leaves the
  global pyplot backend alone. A legend is drawn for at most 20 classes.

  Args:
    points: `[n, 2]` coordinates.
    labels: `[n]` integer labels.
    path: output file (parent folders are created).
    class_names: optional sequence mapping a label to its name, for the legend.
    title: figure title.

  Returns:
    `path`.

  Raises:
    ValueError: when the shapes do not match.
  """
  import matplotlib
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  points = np.asarray(points)
  labels = np.asarray(labels)
  if points.ndim != 2 or points.shape[1] != 2 or labels.shape != (points.shape[0],):
    raise ValueError(f"expected [n, 2] points and [n] labels, got {points.shape} and "
                     f"{labels.shape}")
  classes = np.unique(labels)
  fig = Figure(figsize=(7, 7), dpi=100)
  FigureCanvasAgg(fig)
  ax = fig.add_subplot(1, 1, 1)
  cmap_name = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "turbo"
  cmap = matplotlib.colormaps[cmap_name]
  for i, c in enumerate(classes):
    colour = cmap(i if len(classes) <= 20 else i / max(len(classes) - 1, 1))
    name = class_names[int(c)] if class_names is not None else str(int(c))
    mask = labels == c
    ax.scatter(points[mask, 0], points[mask, 1], s=6, color=colour, label=name, linewidths=0)
  if len(classes) <= 20:
    ax.legend(loc="best", fontsize=7, markerscale=2, frameon=False)
  ax.set_xticks([])
  ax.set_yticks([])
  if title:
    ax.set_title(title)
  fig.tight_layout()
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  fig.savefig(path, format="png")
  return path


def plot_tsne(features, labels, path: str, class_names=None, title: str = "", *,
              max_points: int = 2000, seed: int = 0, perplexity: float = 30.0,
              n_iter: int = 1000) -> tuple[np.ndarray, np.ndarray]:
  """t-SNE of (a deterministic subsample of) features, saved as a coloured PNG scatter plot.

  Args:
    features: `[N, D]` features.
    labels: `[N]` integer labels.
    path: output PNG path.
    class_names: optional names indexed by label.
    title: figure title.
    max_points: subsample size (drawn with `np.random.default_rng(seed)`).
    seed: seeds the subsample and the t-SNE initialisation.
    perplexity: t-SNE perplexity.
    n_iter: t-SNE iterations.

  Returns:
    `(points [n, 2], indices [n])`: the embedding and which input rows it shows.

  Raises:
    ValueError: for mismatched features and labels, or see `tsne`.
  """
  features = np.asarray(features)
  labels = np.asarray(labels)
  if features.ndim != 2 or labels.shape != (features.shape[0],):
    raise ValueError(f"expected [N, D] features and [N] labels, got {features.shape} and "
                     f"{labels.shape}")
  idx = subsample_indices(features.shape[0], max_points, seed)
  points = tsne(features[idx], perplexity=perplexity, n_iter=n_iter, seed=seed)
  plot_embedding_2d(points, labels[idx], path, class_names=class_names, title=title)
  return points, idx
