r"""A/B of the encoder's no-gradient formulation rules on the whole eval forward.

    python experiments/ab_nograd_rules.py [--batch 64] [--frames 50] [--hidden 16] [--rounds 3]

The passes without a gradient (feature extraction, the key encoder) choose per layer between
XLA's convolution and the Winograd form (`stgcn.use_winograd`, threshold
`WINOGRAD_MIN_CHANNELS_PRODUCT` on C_in C_out) and between the dense and aggregate-first graph
convolution (`gcn_impl`). This script builds the eval forward of one randomly initialised
`STGCN` under each combination of `--gcn_impls` and `--thresholds` (log2 of the threshold),
checks that they agree with the first one, and times them alternating within each of
`--rounds` rounds (`--iters` calls each, median and minimum reported). Random clips `[B, 2, T,
25, 3]`, both persons present. The rule is read when the forward is traced, so each variant
is traced under its own threshold.

Runs with `skel_jax.main`'s allocator settings (skel_jax/allocator.py). The figures of the
fifth session of 2026-12-07 are in docs/benchmarks.md (No-gradient Winograd).
"""

from __future__ import annotations

import sys

from skel_jax import allocator

if __name__ == "__main__":
  allocator.reexec_with_heap_tunables(sys.argv)
  allocator.configure("heap")

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import itertools
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.models import stgcn


def build_variant(model: stgcn.STGCN, threshold: int, variables, x):
  """The eval forward of `model`, compiled (once, here) under `threshold` for these inputs."""
  forward = jax.jit(lambda variables, x: model.apply(variables, x, train=False)[0])
  saved = stgcn.WINOGRAD_MIN_CHANNELS_PRODUCT
  stgcn.WINOGRAD_MIN_CHANNELS_PRODUCT = threshold
  try:
    return forward.lower(variables, x).compile()
  finally:
    stgcn.WINOGRAD_MIN_CHANNELS_PRODUCT = saved


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--frames", type=int, default=50)
  parser.add_argument("--hidden", type=int, default=16)
  parser.add_argument("--gcn_impls", default="dense_narrow,aggregate_first")
  parser.add_argument("--thresholds", default="15,12,10", help="log2 of C_in C_out")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--iters", type=int, default=3)
  args = parser.parse_args()

  x = jax.random.normal(jax.random.key(0), (args.batch, 2, args.frames, 25, 3), jnp.float32)
  variants, variables = {}, None
  for gcn_impl, log2 in itertools.product(args.gcn_impls.split(","),
                                          [int(v) for v in args.thresholds.split(",")]):
    model = stgcn.STGCN(hidden=args.hidden, conv_impl="conv", gcn_impl=gcn_impl, winograd=True)
    if variables is None:
      variables = model.init({"params": jax.random.key(1), "dropout": jax.random.key(2)},
                             x[:2], train=False)
    variants[f"{gcn_impl}, 2^{log2}"] = build_variant(model, 2 ** log2, variables, x)

  reference = None
  for name, fn in variants.items():
    out = np.asarray(fn(variables, x))
    reference = out if reference is None else reference
    scale = float(np.max(np.abs(reference))) or 1.0
    print(f"{name:28s} max |difference| / max |output| against the first: "
          f"{float(np.max(np.abs(out - reference))) / scale:.2e}", flush=True)

  times = {name: [] for name in variants}
  for r in range(args.rounds):
    order = list(variants) if r % 2 == 0 else list(variants)[::-1]
    for name in order:
      for _ in range(args.iters):
        t0 = time.perf_counter()
        variants[name](variables, x).block_until_ready()
        times[name].append(time.perf_counter() - t0)

  print("\n| gcn_impl, Winograd threshold (C_in C_out) | median ms | clips/s | min ms |\n"
        "|---|---:|---:|---:|")
  for name, ts in times.items():
    median = statistics.median(ts)
    print(f"| {name} | {median * 1e3:.1f} | {args.batch / median:.1f} | {min(ts) * 1e3:.1f} |")


if __name__ == "__main__":
  main()
