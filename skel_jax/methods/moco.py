"""MoCo machinery shared by every method (CrosSCLR net/skeletonclr.py `SkeletonCLR`).

Pure functions on arrays: L2 normalisation, the negatives queue, InfoNCE logits and losses,
and the key-encoder momentum (EMA) update. Shapes: queries and keys `[N, D]`, queue `[K, D]`
(one row per stored key; the reference stores the transpose).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


def l2_normalize(x: jnp.ndarray, axis: int = -1, eps: float = 1e-12) -> jnp.ndarray:
  """`x / max(||x||, eps)`, as `torch.nn.functional.normalize`."""
  norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
  return x / jnp.maximum(norm, eps)


def init_queue(rng: jax.Array, size: int, dim: int) -> jnp.ndarray:
  """`[K, D]` standard-normal rows normalised to unit length (`SkeletonCLR.__init__`)."""
  return l2_normalize(jax.random.normal(rng, (size, dim), jnp.float32))


def enqueue(queue: jnp.ndarray, ptr: jnp.ndarray, keys: jnp.ndarray) -> jnp.ndarray:
  """Writes `keys` `[N, D]` at rows `[ptr, ptr + N)`; requires K % N == 0 (asserted at start)."""
  # The column index has the pointer's integer type (int64 literals under jax_enable_x64).
  return jax.lax.dynamic_update_slice(queue, keys.astype(queue.dtype), (ptr, jnp.zeros_like(ptr)))


def advance(ptr: jnp.ndarray, batch: int, size: int) -> jnp.ndarray:
  """The pointer after enqueueing `batch` keys: `(ptr + N) mod K`."""
  return (ptr + batch) % size


def contrastive_logits(q: jnp.ndarray, positive: jnp.ndarray, queue: jnp.ndarray,
                       temperature: float, extra_negatives: jnp.ndarray | None = None):
  """`[q·pos | q·Q (| q·extra)] / tau`, shape `[N, 1 + K (+ 1)]` (`SkeletonCLR.forward`).

  `positive` and `extra_negatives` are `[N, D]` (one per row); the queue is a constant.
  """
  pos = jnp.sum(q * positive, axis=-1, keepdims=True)  # [N, 1]
  neg = q @ jax.lax.stop_gradient(queue).T  # [N, K]
  parts = [pos, neg]
  if extra_negatives is not None:
    parts.append(jnp.sum(q * extra_negatives, axis=-1, keepdims=True))
  return jnp.concatenate(parts, axis=-1) / temperature


def infonce(logits: jnp.ndarray) -> jnp.ndarray:
  """Mean cross-entropy with target 0 (the positive is column 0)."""
  return -jnp.mean(jax.nn.log_softmax(logits, axis=-1)[:, 0])


def positive_accuracy(logits: jnp.ndarray) -> jnp.ndarray:
  """Fraction of rows whose largest logit is the positive (column 0)."""
  return jnp.mean(jnp.argmax(logits, axis=-1) == 0)


class KeyMomentum(NamedTuple):
  """A key momentum m computed on the device, with its complement `1 - m` computed without
  cancellation (a float32 `1 - m` near m = 1 keeps only a few significant bits).

  `float()` gives m, so it reads as the momentum it stands for.
  """

  value: jax.Array  # m, float32
  complement: jax.Array  # 1 - m, float32, to a few ulp

  def __float__(self) -> float:
    return float(self.value)


def ema(target, online, momentum):
  """`target <- m * target + (1 - m) * online` on matching pytrees.

  (`SkeletonCLR._momentum_update_key_encoder`.) `momentum`: a Python float (1 - m then
  comes from double precision, as in the reference), a `KeyMomentum` (both factors as
  given, as the reference's float32 roundings of a double m and of 1 - m), or an array.
  """
  if isinstance(momentum, KeyMomentum):
    return jax.tree.map(lambda t, o: t * momentum.value + o * momentum.complement, target,
                        online)
  return optax.incremental_update(online, target, step_size=1.0 - momentum)


def warmup_weight(epoch, warmup_epochs: int) -> jnp.ndarray:
  """A loss term's weight at a 1-based `epoch`: `min(1, (epoch - 1) / warmup_epochs)`, and 1
  throughout without a warm-up (`warmup_epochs <= 0`, the reference's setting).

  The small presets ramp in the auxiliary terms of AimCLR (D3M) and SkeleMixCLR (the mixed
  views) this way: those terms match one embedding to another's distribution or region, and
  while the embeddings still sit in a narrow cone at the start, matching them deepens the
  collapse instead of teaching anything (docs/small_data.md).
  """
  if warmup_epochs <= 0:
    return jnp.float32(1.0)
  return jnp.clip((jnp.asarray(epoch, jnp.float32) - 1.0) / warmup_epochs, 0.0, 1.0)


def cosine_momentum(step, base: float, steps_per_epoch: int, total_epochs: int) -> KeyMomentum:
  """SkeAttnCLR's key momentum: `1 - (1 - m0) (cos(pi t / t_max) + 1) / 2`.

  SkeAttnCLR net/SkeAttnCLR.py `SkeAttnMask.momentum_update`.

  With `t = e * I + i` (e the 1-based epoch, i the 0-based iteration) = `step + I` and
  `t_max = I * total_epochs`; no clamp, as in the reference. The reference computes m in
  double precision and the EMA multiplies by the float32 roundings of m and of `1 - m`; here
  `1 - m = (1 - m0) (cos + 1) / 2` is computed directly (its float32 error is a few ulp of
  itself, where `1 - float32(m)` would be off by up to 2e-5 of it at m0 = 0.996), and m from it.
  """
  t = jnp.asarray(step, jnp.float32) + steps_per_epoch
  t_max = float(steps_per_epoch * total_epochs)
  complement = (1.0 - base) * (jnp.cos(jnp.pi * t / t_max) + 1.0) / 2.0
  return KeyMomentum(value=1.0 - complement, complement=complement)


def embedding_metrics(q: jnp.ndarray, k: jnp.ndarray) -> dict[str, jnp.ndarray]:
  """Diagnostics of the L2-normalised query and key embeddings `[N, D]` of one batch.

  * `alignment`: mean ``||q_i - k_i||^2`` of the positive pairs (Wang & Isola, ICML 2020);
    0 when the two views map to the same point.
  * `uniformity`: ``log mean_{i != j} exp(-2 ||q_i - q_j||^2)``; about -4 for points spread
    over the sphere, 0 for a collapse onto one point.
  * `embed_std`: the per-dimension standard deviation of q over the batch times sqrt(D),
    averaged over dimensions (SimSiam's collapse indicator): about 1 when spread, 0 when
    collapsed.
  * `effective_rank`: ``exp(entropy(s / sum(s)))`` of the singular values s of the centred
    q (Roy & Vetterli, 2007): how many directions the batch actually uses, from 1 to min(N, D).

  The values are computed without gradient.
  """
  q, k = jax.lax.stop_gradient(q), jax.lax.stop_gradient(k)
  n, d = q.shape
  alignment = jnp.mean(jnp.sum((q - k) ** 2, axis=-1))
  # Squared distances from the Gram matrix: no [N, N, D] difference tensor in the step.
  norms = jnp.sum(q * q, axis=-1)  # [N]
  gram = jnp.dot(q, q.T, precision=jax.lax.Precision.HIGHEST)  # [N, N]
  sq = jnp.maximum(norms[:, None] + norms[None, :] - 2.0 * gram, 0.0)
  off = ~jnp.eye(n, dtype=bool)
  kernel = jnp.where(off, jnp.exp(-2.0 * sq), 0.0)
  uniformity = jnp.log(jnp.sum(kernel) / jnp.maximum(n * (n - 1), 1))
  embed_std = jnp.mean(jnp.std(q, axis=0)) * jnp.sqrt(d)
  s = jnp.linalg.svd(q - q.mean(0), compute_uv=False)
  p = s / jnp.maximum(jnp.sum(s), 1e-12)
  entropy = -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))
  return {"alignment": alignment, "uniformity": uniformity, "embed_std": embed_std,
          "effective_rank": jnp.exp(entropy)}
