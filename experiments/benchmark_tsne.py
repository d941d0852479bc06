"""Our exact t-SNE (skel_jax/evaluate/tsne.py) against scikit-learn's Barnes-Hut `TSNE`.

Times one embedding (process start-up excluded, JIT compilation included: a plot is one call)
and scores it: trustworthiness@10 (`sklearn.manifold.trustworthiness`), the fraction of the 10
nearest 2-D neighbours with the same class, and KL(P || Q) with the exact joint P of our
implementation, the objective both minimise. Both start from the same 50 principal components,
with perplexity 30, 1000 iterations, learning rate max(n / 48, 50) (sklearn's 'auto') and 250
iterations of x12 early exaggeration (sklearn's `TSNE` defaults; docs/benchmarks.md).

Needs scikit-learn, which skel_jax does not depend on (`pip install scikit-learn`). Run one
method per process and alternate, so that a load change on a shared machine hits both:

  for m in sklearn ours sklearn ours; do
    OMP_NUM_THREADS=1 python experiments/benchmark_tsne.py --n 2000 --method $m; done

The data are a mixture of 10 Gaussians in 64-d (centres N(0, 1.5^2 I), unit noise).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.manifold import TSNE, trustworthiness
from sklearn.neighbors import NearestNeighbors

from skel_jax.evaluate import tsne as ours


def mixture(n: int, dims: int = 64, classes: int = 10, seed: int = 0):
  """`(features [n, dims] float32, labels [n])` of a Gaussian mixture."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(classes, dims)) * 1.5
  labels = rng.integers(0, classes, n)
  return (centres[labels] + rng.normal(size=(n, dims))).astype(np.float32), labels


def knn_agreement(points, labels, k: int = 10) -> float:
  """Mean fraction of each point's k nearest neighbours (itself excluded) with its label."""
  nn = NearestNeighbors(n_neighbors=k + 1).fit(points)
  idx = nn.kneighbors(points, return_distance=False)[:, 1:]
  return float(np.mean(labels[idx] == labels[:, None]))


def exact_kl(x, points, perplexity: float) -> float:
  """KL(P || Q) of an embedding, P the exact t-SNE affinities of the PCA-50 input."""
  sq = ours.squared_distances(ours._pca(np.asarray(x, np.float64), 50))
  p = np.asarray(ours.joint_probabilities(sq, perplexity), np.float64)
  d2 = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
  q = 1.0 / (1.0 + d2)
  np.fill_diagonal(q, 0.0)
  q /= q.sum()
  keep = p > 1e-11  # the 1e-12 floor of the joint probabilities
  return float(np.sum(p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-12))))


def embed(method: str, x, perplexity: float, n_iter: int):
  """`(points [n, 2] float64, wall s, process CPU s)` of one t-SNE run."""
  start, start_cpu = time.perf_counter(), time.process_time()
  if method == "ours":
    points = ours.tsne(x, perplexity=perplexity, n_iter=n_iter, seed=0)
  else:
    pcs = ours._pca(np.asarray(x, np.float64), 50).astype(np.float32)
    points = TSNE(2, perplexity=perplexity, max_iter=n_iter, init="pca", learning_rate="auto",
                  random_state=0).fit_transform(pcs)
  return (np.asarray(points, np.float64), time.perf_counter() - start,
          time.process_time() - start_cpu)


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--n", type=int, default=2000)
  p.add_argument("--method", choices=("ours", "sklearn"), default="ours")
  p.add_argument("--perplexity", type=float, default=30.0)
  p.add_argument("--n_iter", type=int, default=1000)
  args = p.parse_args()
  x, y = mixture(args.n)
  points, wall, cpu = embed(args.method, x, args.perplexity, args.n_iter)
  print(f"n={args.n} {args.method}: wall {wall:.1f} s, CPU {cpu:.1f} s, "
        f"trustworthiness@10 {trustworthiness(x, points, n_neighbors=10):.4f}, "
        f"kNN@10 agreement {knn_agreement(points, y):.4f}, "
        f"KL {exact_kl(x, points, args.perplexity):.4f}", flush=True)


if __name__ == "__main__":
  main()
