"""BatchNorm with PyTorch's statistics (`torch.nn.BatchNorm{1,2}d`; docs/fidelity.md).

`flax.linen.BatchNorm` differs from `torch.nn.BatchNorm{1,2}d` in two ways that matter for
fidelity; this module keeps flax's variable names (params `scale`, `bias`; batch_stats `mean`,
`var`) and call convention (features on the last axis, statistics over all other axes), so
checkpoints and the interop tables are unchanged, and fixes both:

* **Running variance.** PyTorch moves the running variance towards the *unbiased* batch
  variance, `var * n / (n - 1)` with n the number of values per channel, while normalising
  the batch with the biased one. flax uses the biased variance for both, so its running
  variance is low by the factor (n - 1) / n (6e-4 after three AimCLR steps on data_bn), and
  every eval-mode feature (linear and k-NN evaluation) inherits the error.
* **Two-pass variance.** flax computes `E[x^2] - E[x]^2` (`use_fast_variance`), which cancels
  on channels whose mean is large against their spread; float32 gradients of the first blocks
  then sit about 10x further from a float64 run than PyTorch's float32 gradients do.
  `mean((x - mean)^2)` is the accurate form; docs/fidelity.md has the error and speed
  measurement behind the default.

One rounding difference is left by default: PyTorch's CPU BatchNorm accumulates its
per-channel sums (batch mean and variance, and the two sums of its backward pass) in float64
and rounds the result to float32, while ours are float32 reductions. `sums="compensated"`
carries each float32 sum with its rounding error (Knuth's TwoSum), which gives the correctly
rounded float32 sum as a float64 accumulator does, without float64 (TPUs have none). It costs
about three times the BatchNorm's own time (11-14 % of a SkeletonCLR train step on the CPU,
docs/benchmarks.md); the parity tests use it (docs/fidelity.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

# `BatchNorm.sums`: how the per-channel sums are accumulated.
SUMS = ("float32", "compensated")


class BatchNorm(nn.Module):
  """BatchNorm over all axes but the last, with PyTorch's running statistics.

  Attributes:
    use_running_average: eval mode (normalise with the running statistics).
    momentum: flax convention, `running = momentum * running + (1 - momentum) * batch`
      (PyTorch's momentum 0.1 is 0.9 here).
    epsilon: added to the variance.
    unbiased_running_var: update the running variance with the unbiased batch variance, as
      PyTorch does (False: flax's biased update).
    fast_variance: the one-pass `E[x^2] - E[x]^2` of flax (False: two-pass).
    sums: how the per-channel sums are accumulated, 'float32' or 'compensated' (`SUMS`).
    scale_init, bias_init: initialisers of the affine parameters.
  """

  use_running_average: bool | None = None
  momentum: float = 0.9
  epsilon: float = 1e-5
  unbiased_running_var: bool = True
  fast_variance: bool = False
  sums: str = "float32"
  scale_init: Callable = nn.initializers.ones
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jnp.ndarray, use_running_average: bool | None = None) -> jnp.ndarray:
    use_ra = nn.merge_param("use_running_average", self.use_running_average,
                            use_running_average)
    # At least float32 (bfloat16 activations are normalised in float32, as flax does).
    x = jnp.asarray(x, jnp.promote_types(x.dtype, jnp.float32))
    features = x.shape[-1]
    ra_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros((features,), jnp.float32))
    ra_var = self.variable("batch_stats", "var", lambda: jnp.ones((features,), jnp.float32))
    scale = self.param("scale", self.scale_init, (features,), jnp.float32)
    bias = self.param("bias", self.bias_init, (features,), jnp.float32)
    if use_ra:
      # flax's order of operations: (x - mean) * (scale * rsqrt(var + eps)) + bias.
      mul = jax.lax.rsqrt(ra_var.value + self.epsilon) * scale
      return (x - ra_mean.value) * mul + bias
    if self.sums not in SUMS:
      raise ValueError(f"unknown BatchNorm sums {self.sums!r}; known: {SUMS}")
    y, mean, var = normalize_batch(x, scale, bias, self.epsilon, self.fast_variance,
                                   self.sums == "compensated")
    if not self.is_initializing():
      n = x.size // features
      running = var * (n / (n - 1)) if self.unbiased_running_var and n > 1 else var
      ra_mean.value = self.momentum * ra_mean.value + (1.0 - self.momentum) * mean
      ra_var.value = self.momentum * ra_var.value + (1.0 - self.momentum) * running
    return y


def _two_sum_combine(a, b):
  """Adds two (sum, error) pairs: Knuth's TwoSum of the sums, whose rounding error is exact in
  float32, joins the errors."""
  (s1, e1), (s2, e2) = a, b
  s = s1 + s2
  s2_seen = s - s1
  rounding = (s1 - (s - s2_seen)) + (s2 - s2_seen)
  return s, e1 + e2 + rounding


def compensated_sum(x: jnp.ndarray, axes: tuple[int, ...]) -> jnp.ndarray:
  """`sum(x, axes)` correctly rounded up to O(n eps^2): each partial sum carries its rounding
  error, as a float64 accumulator would, in float32 arithmetic (one variadic reduction)."""
  zero = jnp.zeros((), x.dtype)
  total, error = jax.lax.reduce((x, jnp.zeros_like(x)), (zero, zero), _two_sum_combine, axes)
  return total + error


def channel_sum(x: jnp.ndarray, compensated: bool) -> jnp.ndarray:
  """Per-channel sum over all axes but the last."""
  axes = tuple(range(x.ndim - 1))
  return compensated_sum(x, axes) if compensated else jnp.sum(x, axes)


def batch_moments(x: jnp.ndarray, axes: tuple[int, ...], *, fast: bool,
                  compensated: bool = False) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Per-channel mean and biased variance over `axes` (one-pass when `fast`; `compensated`
  sums, `compensated_sum`)."""
  if compensated:
    n = math.prod(x.shape[a] for a in axes)
    average = lambda v: compensated_sum(v, axes) / n  # noqa: E731
  else:
    average = lambda v: jnp.mean(v, axes)  # noqa: E731
  mean = average(x)
  if fast:
    var = jnp.maximum(average(jnp.square(x)) - jnp.square(mean), 0.0)
  else:
    var = average(jnp.square(x - mean))
  return mean, var


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def normalize_batch(x: jnp.ndarray, scale: jnp.ndarray, bias: jnp.ndarray, epsilon: float,
                    fast: bool, compensated: bool = False
                    ) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """Training-mode BatchNorm: `(y, mean, var)` with the batch's per-channel moments.

  The backward pass is the closed form PyTorch's BatchNorm uses (in its order of operations),
  `dx = (g - mean(g) - x_hat mean(g x_hat)) scale / sqrt(var + eps)`, from the input
  and two per-channel vectors. Autodiff of the forward instead keeps several full-size
  intermediates (`x - mean`, its square, the normalised input) of every BatchNorm alive
  until the backward pass, which made the mixing methods' train steps run out of memory at
  the official shapes (docs/benchmarks.md, Memory).
  """
  return _normalize_batch_fwd(x, scale, bias, epsilon, fast, compensated)[0]


def _normalize_batch_fwd(x, scale, bias, epsilon, fast, compensated):
  axes = tuple(range(x.ndim - 1))
  mean, var = batch_moments(x, axes, fast=fast, compensated=compensated)
  inv_std = jax.lax.rsqrt(var + epsilon)
  # flax's order of operations: (x - mean) * (scale * rsqrt(var + eps)) + bias.
  y = (x - mean) * (inv_std * scale) + bias
  return (y, mean, var), (x, mean, inv_std, scale)


def _normalize_batch_bwd(epsilon, fast, compensated, residuals, cotangents):
  del epsilon, fast
  x, mean, inv_std, scale = residuals
  g, g_mean, g_var = cotangents
  n = x.size // x.shape[-1]
  centered = x - mean
  x_hat = centered * inv_std
  g_bias, g_scale = channel_sum(g, compensated), channel_sum(g * x_hat, compensated)
  g_x = (g - g_bias / n - x_hat * (g_scale / n)) * (inv_std * scale)
  # The returned moments feed the running statistics only; their cotangents are zero in a
  # train step, but are carried exactly (d mean / dx = 1/n, d var / dx = 2 (x - mean) / n).
  g_x = g_x + g_mean / n + centered * (2.0 * g_var / n)
  return g_x, g_scale, g_bias


normalize_batch.defvjp(_normalize_batch_fwd, _normalize_batch_bwd)
