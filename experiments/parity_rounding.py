r"""Is a parity fixture's excess over the strict bound BatchNorm's float32 accumulation?

PyTorch's CPU BatchNorm accumulates its batch sums in float64 (ATen's acc_type of float);
ours are float32 sums. This runs a step-parity fixture (tests/fixtures/parity/<name>, made
from the official code by experiments/parity_reference.py) three ways and counts the tensors
beyond the strict per-tensor bound of tests/test_step_parity.py (2x the official float32
error against float64; 4x for BatchNorm tensors):

* `float32`: the library as it is;
* `float64_sums`: every BatchNorm sum (batch mean and variance forward, the two per-channel
  sums of the backward pass) accumulated in float64 and rounded to float32, PyTorch's
  arrangement (run with `jax_enable_x64`);
* `pairwise`: the same sums in float32, in blocks of about sqrt(n) and then over the blocks
  (another summation order of the same precision class as the library's).

    python experiments/parity_rounding.py --fixture=skeattnclr [--variants=float32,pairwise]

Each variant runs in its own process (x64 is a process-wide switch). The variants only
rebind `skel_jax.models.batchnorm.normalize_batch`; the library's BatchNorm is unchanged.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = ("float32", "float64_sums", "compensated", "pairwise")


def batchnorm_with_sums(total):
  """A training-mode BatchNorm (same maths and VJP as the library's) whose per-channel sums
  over the leading axes are `total(x)`."""
  import jax
  import jax.numpy as jnp

  @functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
  def normalize(x, scale, bias, epsilon, fast, compensated=False):
    return forward(x, scale, bias, epsilon, fast, compensated)[0]

  def forward(x, scale, bias, epsilon, fast, compensated):
    del fast, compensated  # two-pass, with `total`
    n = x.size // x.shape[-1]
    mean = total(x) / n
    var = total(jnp.square(x - mean)) / n
    inv_std = jax.lax.rsqrt(var + epsilon)
    y = (x - mean) * (inv_std * scale) + bias
    return (y, mean, var), (x, mean, inv_std, scale)

  def backward(epsilon, fast, compensated, residuals, cotangents):
    del epsilon, fast, compensated
    x, mean, inv_std, scale = residuals
    g, g_mean, g_var = cotangents
    n = x.size // x.shape[-1]
    centered = x - mean
    x_hat = centered * inv_std
    g_bias, g_scale = total(g), total(g * x_hat)
    g_x = (g - g_bias / n - x_hat * (g_scale / n)) * (inv_std * scale)
    return g_x + g_mean / n + centered * (2.0 * g_var / n), g_scale, g_bias

  normalize.defvjp(forward, backward)
  return normalize


def float64_sum(x):
  import jax.numpy as jnp
  return jnp.sum(x.astype(jnp.float64), tuple(range(x.ndim - 1))).astype(jnp.float32)


def pairwise_sum(x):
  import jax.numpy as jnp
  rows = x.reshape(-1, x.shape[-1])  # (n, C)
  block = 1 << max(0, (rows.shape[0] - 1).bit_length() // 2)  # about sqrt(n)
  rows = jnp.pad(rows, ((0, -rows.shape[0] % block), (0, 0)))
  return rows.reshape(-1, block, rows.shape[-1]).sum(1).sum(0)  # (n/block, block, C)


def measure(fixture: str, variant: str) -> dict:
  """Strict-bound counts of one variant (in this process)."""
  from skel_jax import parity
  from skel_jax.models import batchnorm
  if variant == "float64_sums":
    batchnorm.normalize_batch = batchnorm_with_sums(float64_sum)
  elif variant == "pairwise":
    batchnorm.normalize_batch = batchnorm_with_sums(pairwise_sum)
  data, meta = parity.load_fixture(ROOT / "tests" / "fixtures" / "parity" / fixture)
  # 'compensated' is the library's own option (model.bn_sums); the others rebind the default.
  losses, grads, final = parity.run_ours(
      data, meta, bn_sums="compensated" if variant == "compensated" else "float32")
  out = {}
  for part, ours in (("grad", grads), ("final", final)):
    off64 = {k: v for k, v in parity.section(data, f"f64/{part}/").items()
             if k in ours and not k.startswith("queue_ptr")}
    off32 = parity.section(data, f"f32/{part}/")
    errors = parity.tensor_errors(ours, off32, off64, parity.batchnorm_layers(data))
    ratios = {k: e / bound for k, (e, _, bound) in errors.items()}
    worst = max(ratios, key=ratios.get)
    out[part] = {"beyond": sum(r > 1 for r in ratios.values()), "of": len(ratios),
                 "worst": worst, "worst_of_bound": ratios[worst]}
  out["loss"] = {k: v[0] for k, v in parity.loss_errors(losses, data, meta).items()}
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--fixture", default="skeattnclr")
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--one", default="", help=argparse.SUPPRESS)  # a child process's variant
  args = parser.parse_args()
  if args.one:
    print(json.dumps(measure(args.fixture, args.one)))
    return
  for variant in args.variants.split(","):
    env = dict(os.environ, JAX_ENABLE_X64="1" if variant == "float64_sums" else "0")
    run = subprocess.run([sys.executable, __file__, f"--fixture={args.fixture}",
                          f"--one={variant}"], env=env, capture_output=True, text=True,
                         check=True, cwd=ROOT)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    for part in ("grad", "final"):
      r = result[part]
      print(f"{args.fixture} {variant:13s} {part:5s}: {r['beyond']:3d} of {r['of']} tensors "
            f"beyond the bound; worst {r['worst_of_bound']:.2f}x it ({r['worst']})")
    print(f"{args.fixture} {variant:13s} losses (max relative error over the steps): " +
          ", ".join(f"{k} {v:.1e}" for k, v in result["loss"].items()))


if __name__ == "__main__":
  main()
