r"""Per-layer timings behind the encoder's formulation rules (docs/benchmarks.md).

    python experiments/benchmark_layers.py [--batch 128] [--iters 5] [--rounds 3]

Two tables, each layer jitted alone on random inputs at the shapes of the ST-GCN encoder's
blocks (persons folded into the batch: `--batch` 128 is 64 clips of two persons), timed
forward only (`eval`, what the passes without a gradient run) and forward + backward (`train`:
the gradient of `sum(y ** 2)` with respect to the input and the weights), median over
`--iters` calls per round, the formulations alternating within each of `--rounds` rounds:

* graph convolution (`skel_jax.models.stgcn.GraphConv`, ntu25 spatial graph, K = 3):
  `aggregate_first`, `einsum` and `dense` at C_in = C_out = 16, 32, 64, 256, with the
  multiply-add ratio of dense over aggregate-first (`dense_cost_ratio`): the evidence for
  `DENSE_MAX_COST_RATIO`;
* the (9, 1) temporal convolution, stride 1 (`TemporalConv`): XLA's convolution (`conv`,
  forward only: its weight gradient is what the matmul form avoids), the unfold-and-matmul
  (`matmul`), Winograd F(3, 3) (`winograd_temporal_conv`) and nested Winograd F(9, 9)
  (`nested_winograd_temporal_conv`), at the (C, T) of the h = 16 and h = 64 encoders' blocks
  (`--temporal_shapes`), with C_in C_out against `WINOGRAD_MIN_CHANNELS_PRODUCT`;
* the same at stride 2 (the blocks that halve T), the unfold-and-matmul against
  `strided_temporal_conv` (XLA's convolution forward and input gradient, a GEMM weight
  gradient; `model.strided_xla_conv`).

Runs with `skel_jax.main`'s allocator settings (skel_jax/allocator.py: restarts once with
glibc's heap tunables), as the per-call temporaries would otherwise be faulted in every call.

Prints markdown tables (`--tables` picks some of gcn, temporal, strided); `--json=PATH` also
writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import jax
import jax.numpy as jnp
from benchmark_pretrain import median_time  # this directory is on sys.path when run as a script

from skel_jax import allocator
from skel_jax.models import stgcn
from skel_jax.models.graph import build_adjacency

# (C, T) of the encoders' stride-1 blocks: h = 16 (16 @ 50, 32 @ 25, 64 @ 13, 256 @ 13) and
# h = 64 (64 @ 50, 128 @ 25, 256 @ 13).
GCN_WIDTHS = (16, 32, 64, 256)
TEMPORAL_SHAPES = ((16, 50), (32, 25), (64, 13), (256, 13), (64, 50), (128, 25))
# (C, input T) of the stride-2 temporal convolutions: h = 16 (32 @ 50, 64 @ 25) and h = 64
# (128 @ 64, 256 @ 32).
STRIDED_SHAPES = ((32, 50), (64, 25), (128, 64), (256, 32))


def _train_fn(apply):
  """The gradient of sum(y^2) w.r.t. (params, x): a layer's forward + backward."""
  return jax.jit(jax.grad(lambda p, x: jnp.sum(apply(p, x) ** 2), argnums=(0, 1)))


def graph_conv_cases(batch: int):
  adjacency = build_adjacency("ntu25", "stgcn")
  k, v, _ = adjacency.shape
  cases = []
  for c in GCN_WIDTHS:
    t = {16: 50, 32: 25}.get(c, 13)
    x = jax.random.normal(jax.random.key(0), (batch, t, v, c))
    row = {"C": c, "T": t, "cost_ratio": stgcn.dense_cost_ratio(k, v, c), "fns": {}}
    for impl in ("aggregate_first", "einsum", "dense"):
      module = stgcn.GraphConv(c, adjacency, gcn_impl=impl)
      params = module.init(jax.random.key(1), x)
      apply = module.apply
      row["fns"][f"{impl} eval"] = (jax.jit(apply), (params, x))
      row["fns"][f"{impl} train"] = (_train_fn(apply), (params, x))
    cases.append(row)
  return cases


def temporal_cases(batch: int, shapes=TEMPORAL_SHAPES):
  cases = []
  for c, t in shapes:
    x = jax.random.normal(jax.random.key(0), (batch, t, 25, c))
    row = {"C": c, "T": t, "channels_product": c * c, "fns": {}}
    for name, kwargs in (("conv", dict(conv_impl="conv")), ("matmul", dict(conv_impl="matmul")),
                         ("winograd", dict(conv_impl="matmul", winograd=True)),
                         ("nested", dict(conv_impl="matmul", winograd=True))):
      module = stgcn.TemporalConv(c, **kwargs)
      params = module.init(jax.random.key(1), x)
      # The Winograd forms are called directly, whatever the layer's rule would pick.
      if name == "winograd":
        apply = lambda p, x: stgcn.winograd_temporal_conv(x, p["params"]["kernel"])  # noqa: E731
      elif name == "nested":
        apply = lambda p, x: stgcn.nested_winograd_temporal_conv(  # noqa: E731
            x, p["params"]["kernel"])
      else:
        apply = module.apply
      row["fns"][f"{name} eval"] = (jax.jit(apply), (params, x))
      if name != "conv":
        row["fns"][f"{name} train"] = (_train_fn(apply), (params, x))
    cases.append(row)
  return cases


def strided_cases(batch: int):
  cases = []
  for c, t in STRIDED_SHAPES:
    x = jax.random.normal(jax.random.key(0), (batch, t, 25, c))
    row = {"C": c, "T": t, "fns": {}}
    for name, kwargs in (("conv", dict(conv_impl="conv")), ("matmul", dict(conv_impl="matmul")),
                         ("strided_xla", dict(conv_impl="matmul", strided_xla_conv=True))):
      module = stgcn.TemporalConv(c, stride=2, **kwargs)
      params = module.init(jax.random.key(1), x)
      row["fns"][f"{name} eval"] = (jax.jit(module.apply), (params, x))
      if name != "conv":
        row["fns"][f"{name} train"] = (_train_fn(module.apply), (params, x))
    cases.append(row)
  return cases


def measure(cases, rounds: int, iters: int) -> None:
  """Fills each case's 'ms' with the median over rounds of the per-round medians."""
  for row in cases:
    for fn, args in row["fns"].values():  # compile and warm up
      jax.block_until_ready(fn(*args))
    samples = {name: [] for name in row["fns"]}
    for _ in range(rounds):
      for name, (fn, args) in row["fns"].items():
        samples[name].append(median_time(fn, *args, warmup=0, iters=iters))
    row["ms"] = {name: 1e3 * statistics.median(s) for name, s in samples.items()}
    print(f"  C {row['C']}, T {row['T']}: "
          + ", ".join(f"{n} {ms:.1f} ms" for n, ms in row["ms"].items()), flush=True)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=128, help="clips x persons")
  p.add_argument("--iters", type=int, default=5)
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--tables", default="gcn,temporal,strided")
  p.add_argument("--temporal_shapes", default=",".join(f"{c}x{t}" for c, t in TEMPORAL_SHAPES),
                 help="CxT of the temporal table, comma-separated")
  p.add_argument("--json", default=None)
  args = p.parse_args()
  tables = set(args.tables.split(","))
  shapes = [tuple(int(v) for v in s.split("x")) for s in args.temporal_shapes.split(",")]
  allocator.reexec_with_heap_tunables(sys.argv)
  allocator.configure()
  print(f"batch {args.batch}, V 25, {jax.devices()[0].platform}; median over {args.rounds} "
        f"rounds of the median of {args.iters} calls", flush=True)
  gcn = graph_conv_cases(args.batch) if "gcn" in tables else []
  temporal = temporal_cases(args.batch, shapes) if "temporal" in tables else []
  strided = strided_cases(args.batch) if "strided" in tables else []
  measure(gcn, args.rounds, args.iters)
  measure(temporal, args.rounds, args.iters)
  measure(strided, args.rounds, args.iters)

  impls = ("aggregate_first", "einsum", "dense")
  lines = ["| C_in = C_out | T | dense / aggregate-first multiply-adds | "
           + " | ".join(f"{i} eval / train ms" for i in impls) + " |",
           "|---:|---:|---:|" + "---:|" * len(impls)]
  for row in gcn:
    ms = row["ms"]
    lines.append(f"| {row['C']} | {row['T']} | {row['cost_ratio']:.1f} | " + " | ".join(
        f"{ms[i + ' eval']:.1f} / {ms[i + ' train']:.1f}" for i in impls) + " |")
  lines += ["", f"| C_in = C_out | T | C_in C_out (threshold "
            f"{stgcn.WINOGRAD_MIN_CHANNELS_PRODUCT}) | "
            "conv eval ms | matmul eval / train ms | winograd eval / train ms | "
            "nested eval / train ms |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
  for row in temporal:
    ms = row["ms"]
    lines.append(f"| {row['C']} | {row['T']} | {row['channels_product']} | "
                 f"{ms['conv eval']:.1f} | "
                 f"{ms['matmul eval']:.1f} / {ms['matmul train']:.1f} | "
                 f"{ms['winograd eval']:.1f} / {ms['winograd train']:.1f} | "
                 f"{ms['nested eval']:.1f} / {ms['nested train']:.1f} |")
  lines += ["", "| C_in = C_out, stride 2 | input T | conv eval ms | matmul eval / train ms | "
            "strided_xla eval / train ms |", "|---:|---:|---:|---:|---:|"]
  for row in strided:
    ms = row["ms"]
    lines.append(f"| {row['C']} | {row['T']} | {ms['conv eval']:.1f} | "
                 f"{ms['matmul eval']:.1f} / {ms['matmul train']:.1f} | "
                 f"{ms['strided_xla eval']:.1f} / {ms['strided_xla train']:.1f} |")
  print("\n".join(lines))
  if args.json:
    out = {"args": vars(args),
           "graph_conv": [{k: v for k, v in r.items() if k != "fns"} for r in gcn],
           "temporal": [{k: v for k, v in r.items() if k != "fns"} for r in temporal],
           "strided": [{k: v for k, v in r.items() if k != "fns"} for r in strided]}
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
