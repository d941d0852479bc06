r"""Where the ST-GCN encoder's time goes: each of the ten blocks timed alone (docs/benchmarks.md).

    python experiments/profile_blocks.py --batch 64 --frames 50 --hidden 16 --persons 2

For every block of the reference encoder (input shape as inside the encoder, persons folded into the
batch) this times, jitted and after warm-up, in the formulations the library runs
(`stgcn.backbone_kwargs` of the default config; before the sixth session of 2026-12-07 the
blocks' own defaults, the unfold and matmul everywhere), (a) the eval forward (the
no-gradient formulation) and (b) forward + backward in train mode (value_and_grad of sum(y^2) w.r.t. params and input, BN batch statistics,
dropout on), and prints the reference-equivalent GFLOP (1x1 conv, dense graph aggregation,
(9, 1) temporal conv, residual conv) with the GFLOP/s each block reaches. The sum of the
block times is close to the whole encoder's (the data BN and pooling are cheap), so the table
shows which layers are compute bound (wide channels) and which are memory bound (C = 16).
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
from benchmark_pretrain import median_time  # this directory is on sys.path when run as a script

from skel_jax import allocator, config_lib
from skel_jax.models import stgcn
from skel_jax.models.graph import build_adjacency
from skel_jax.models.stgcn import STGCNBlock, block_plan

# The formulations each pass runs in the library (config defaults, `stgcn.backbone_kwargs`).
_BLOCK_KEYS = ("conv_impl", "gcn_impl", "bn_sums", "winograd", "strided_xla_conv")


def block_kwargs(no_grad: bool) -> dict:
  """STGCNBlock keyword arguments of the library's passes with (False) or without a gradient."""
  kwargs = stgcn.backbone_kwargs(config_lib.base_config().model, no_grad=no_grad)
  return {key: kwargs[key] for key in _BLOCK_KEYS}


def block_macs(c_in: int, c_out: int, stride: int, t_in: int, v: int, k: int,
               residual: str) -> int:
  """Multiply-accumulates of one block per person (reference formulation, net/st_gcn.py)."""
  t_out = (t_in - 1) // stride + 1
  gcn = t_in * v * (c_in * k * c_out + k * v * c_out)  # 1x1 conv to K*C_out, then A_k
  tcn = t_out * v * 9 * c_out * c_out
  res = t_out * v * c_in * c_out if residual == "conv" else 0
  return gcn + tcn + res


def profile(batch: int, frames: int, persons: int, hidden: int, layout: str, warmup: int,
            iters: int) -> list[dict]:
  adjacency = build_adjacency(layout, "stgcn")
  k, v, _ = adjacency.shape
  rows, t, c = [], frames, 3
  b = batch * persons  # [N*M, T, V, C] inside the encoder
  for i, (width, stride, residual, drop) in enumerate(block_plan(hidden, 256, 0.5)):
    block = STGCNBlock(width, adjacency, stride=stride, residual=residual, dropout=drop,
                       **block_kwargs(no_grad=False))
    eval_block = STGCNBlock(width, adjacency, stride=stride, residual=residual, dropout=drop,
                            **block_kwargs(no_grad=True))  # the same parameters
    x = jnp.asarray(np.random.default_rng(i).standard_normal((b, t, v, c), np.float32))
    variables = block.init(jax.random.key(0), x, train=False)

    def loss(params, x, rng, block=block, variables=variables):
      y, _ = block.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                         train=True, rngs={"dropout": rng}, mutable=["batch_stats"])
      return jnp.sum(y * y)

    def forward(params, x, block=eval_block, variables=variables):
      return block.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                         train=False)

    train_fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    eval_fn = jax.jit(forward)
    rng = jax.random.key(1)
    t_train = median_time(train_fn, variables["params"], x, rng, warmup=warmup, iters=iters)
    t_eval = median_time(eval_fn, variables["params"], x, warmup=warmup, iters=iters)
    res_kind = residual if residual != "auto" else (
        "identity" if (c == width and stride == 1) else "conv")
    gflop = 2 * b * block_macs(c, width, stride, t, v, k, res_kind) / 1e9
    rows.append({"block": i, "c_in": c, "c_out": width, "stride": stride, "frames": t,
                 "gflop_fwd": gflop, "eval_ms": 1e3 * t_eval, "train_ms": 1e3 * t_train,
                 "eval_gflops": gflop / t_eval, "train_gflops": 3 * gflop / t_train})
    t, c = (t - 1) // stride + 1, width
  return rows


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--frames", type=int, default=50)
  p.add_argument("--persons", type=int, default=2)
  p.add_argument("--hidden", type=int, default=16)
  p.add_argument("--layout", default="ntu25")
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--iters", type=int, default=5)
  args = p.parse_args()
  # skel_jax.main's allocator settings (skel_jax/allocator.py): restarts once with glibc's heap
  # tunables, as the per-call temporaries would otherwise be faulted in every call.
  allocator.reexec_with_heap_tunables(sys.argv)
  allocator.configure()
  rows = profile(args.batch, args.frames, args.persons, args.hidden, args.layout, args.warmup,
                 args.iters)
  total = {key: sum(r[key] for r in rows) for key in ("gflop_fwd", "eval_ms", "train_ms")}
  print(f"batch {args.batch} x {args.persons} persons, T={args.frames}, h={args.hidden}, "
        f"{jax.devices()[0].platform}")
  print("| block | C_in -> C_out | stride | T | GFLOP fwd | eval ms | train ms | "
        "eval GFLOP/s | train GFLOP/s | share of train |")
  print("|---|---|---|---|---:|---:|---:|---:|---:|---:|")
  for r in rows:
    print(f"| {r['block']} | {r['c_in']} -> {r['c_out']} | {r['stride']} | {r['frames']} | "
          f"{r['gflop_fwd']:.1f} | {r['eval_ms']:.0f} | {r['train_ms']:.0f} | "
          f"{r['eval_gflops']:.0f} | {r['train_gflops']:.0f} | "
          f"{100 * r['train_ms'] / total['train_ms']:.0f}% |")
  print(f"| all | | | | {total['gflop_fwd']:.1f} | {total['eval_ms']:.0f} | "
        f"{total['train_ms']:.0f} | {total['gflop_fwd'] / total['eval_ms'] * 1e3:.0f} | "
        f"{3 * total['gflop_fwd'] / total['train_ms'] * 1e3:.0f} | 100% |")


if __name__ == "__main__":
  main()
