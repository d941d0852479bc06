r"""One-pass vs two-pass BatchNorm variance: gradient error against float64, and step speed.

Error: the step-1 gradients of the AimCLR parity fixture (tests/fixtures/parity/aimclr, made
from the official code), as the l2 distance to the official float64 run, for skel_jax with
each variance formula, beside the official float32 run. Speed: the median wall time of one
jitted train-mode BatchNorm forward + backward on a block-0 sized input (batch 32, T 50,
h 16) with each formula, alternated twice.

    python experiments/bn_variance_check.py [--steps 30]

The formula is switched by rebinding the BatchNorm used by the encoder and the heads (the
library's choice is the two-pass default of skel_jax/models/batchnorm.py).
"""

from __future__ import annotations

import argparse
import functools
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.models import batchnorm, heads, stgcn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def use_formula(fast: bool) -> None:
  bn = functools.partial(batchnorm.BatchNorm, momentum=0.9, epsilon=1e-5,
                         scale_init=stgcn.bn_scale_init, fast_variance=fast)
  stgcn.BatchNorm = bn
  heads.BatchNorm = bn


def gradient_errors(fast: bool) -> dict:
  sys.path.insert(0, str(ROOT / "tests"))
  import test_step_parity as parity  # pylint: disable=g-import-not-at-top
  use_formula(fast)
  data, meta = parity.load_fixture("aimclr")
  _, grads, _ = parity.run_ours(data, meta)
  off64, off32 = parity.section(data, "f64/grad/"), parity.section(data, "f32/grad/")
  out = {}
  for key, ref in off64.items():
    out[key] = (float(np.linalg.norm(grads[key] - ref)), float(np.linalg.norm(off32[key] - ref)))
  return out


def bn_time(fast: bool, steps: int) -> float:
  """Median seconds of one BatchNorm's train-mode forward + backward on a block-0 sized input.

  `[3200, 25, 16]`: batch 32 x 2 persons x 50 frames, 25 joints, h 16 channels. The whole
  encoder step compiled too slowly on the shared machine to be timed in the session; the BN
  op is where the two formulas differ.
  """
  x = jax.random.normal(jax.random.key(0), (32 * 2 * 50, 25, 16)) + 3.0
  bn = batchnorm.BatchNorm(use_running_average=False, fast_variance=fast)
  variables = bn.init(jax.random.key(1), x)

  def loss(params, x):
    y, _ = bn.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                    mutable=["batch_stats"])
    return jnp.sum(y * y * 0.5 + y)

  fn = jax.jit(jax.grad(loss, argnums=(0, 1)))
  jax.block_until_ready(fn(variables["params"], x))
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(variables["params"], x))
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=30)
  args = parser.parse_args()
  errs = {fast: gradient_errors(fast) for fast in (True, False)}
  print("step-1 gradient l2 error vs official float64 (AimCLR fixture)")
  print(f"{'tensor':50s} {'one-pass':>10s} {'two-pass':>10s} {'official':>10s}")
  for key in errs[True]:
    if key.startswith("encoder_q.st_gcn_networks.0.") or key.startswith("encoder_q.data_bn"):
      print(f"{key:50s} {errs[True][key][0]:10.3g} {errs[False][key][0]:10.3g} "
            f"{errs[True][key][1]:10.3g}")
  for fast in (True, False):
    total = np.sqrt(sum(v[0] ** 2 for v in errs[fast].values()))
    print(f"all gradients ({'one' if fast else 'two'}-pass): {total:.3g}")
  print(f"all gradients (official float32): "
        f"{np.sqrt(sum(v[1] ** 2 for v in errs[True].values())):.3g}")
  for fast in (True, False, True, False):
    print(f"BN forward+backward on [3200, 25, 16], {'one' if fast else 'two'}-pass: "
          f"{1e3 * bn_time(fast, args.steps):.2f} ms (median of {args.steps})", flush=True)


if __name__ == "__main__":
  main()
