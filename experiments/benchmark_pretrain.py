r"""Pretraining throughput: train-step samples/s per method, and where the time goes.

    python experiments/benchmark_pretrain.py --methods=skeletonclr,aimclr --batch=64 --frames=50

For every method the full-size reference config (configs/<method>.py:ntu60_xsub: K = 32768,
two persons; `--preset` picks another) is used with the batch, frames and width given by the
flags (0: the preset's). Timings are the median of `--iters` jitted steps after `--warmup`
steps (block_until_ready) of the training loop's step (`make_train_step`, donating the old
state, as `skel_jax.main` runs it). For each method the step is also split into its parts,
each jitted alone on the same inputs:

* views: device augmentation + stream conversion (`method.make_views`);
* loss+grad: every encoder pass and the loss, forward and backward;
* rest: the full step minus the two (optimiser update, key EMA, enqueue, metrics).

Runs with the allocator settings of `skel_jax.main` (`--malloc=heap`, skel_jax/allocator.py;
`--malloc=system`: glibc's defaults) and reports, per step, the page faults, the kernel (system)
time and the peak resident size beside the timings. Prints a markdown table; `--json=PATH`
also writes the figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import sys
import time

import jax
import numpy as np

from skel_jax import allocator, methods
from skel_jax.config_lib import load_config
from skel_jax.data.skeletons import get_layout
from skel_jax.train import pretrain
from skel_jax.train import step as step_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_time(fn, *args, warmup: int, iters: int) -> float:
  """Median seconds of `fn(*args)` after warm-up (which includes compilation)."""
  for _ in range(warmup):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(iters):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def benchmark_method(name: str, args) -> dict:
  config = load_config(os.path.join(REPO, "configs", f"{name}.py"), args.preset)
  if args.batch:
    config.optim.batch_size = args.batch
  if args.frames:
    config.data.num_frames = args.frames
  batch, frames = int(config.optim.batch_size), int(config.data.num_frames)
  joints = get_layout(config.data.layout).num_joints
  if args.hidden:
    config.model.hidden = args.hidden
  config.model.conv_impl = args.conv_impl
  config.model.dtype = args.dtype
  config.model.bn_sums = args.bn_sums
  method = methods.get_method(name)(config, config.data.layout)
  tx, lr_fn = pretrain.make_optimizer(config.optim, steps_per_epoch=100)
  momentum_fn = pretrain.make_momentum_fn(config.moco, 100, config.optim.epochs)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(batch, 2, frames, joints, 3)).astype(np.float32)
  x[batch // 2:, 1] = 0.0  # half the clips with an absent second person, as in NTU
  x = jax.device_put(x)
  init_state = jax.jit(functools.partial(step_lib.create_train_state, method, tx,
                                         queue_size=int(config.moco.queue_size),
                                         key_init=config.moco.key_init))

  def new_state():
    return init_state(jax.random.key(0), x)  # compiled once, a fresh state per call

  # The training loop's own step (skel_jax.main): jitted, donating the old state.
  step = step_lib.make_train_step(
      method, tx, momentum_fn=momentum_fn, lr_fn=lr_fn, steps_per_epoch=100,
      ema_order=config.moco.ema_order, ema_batch_stats=config.moco.ema_batch_stats)
  state, _ = step(new_state(), x)[:2]  # compiled before the system time is read
  calls = []  # per timed call: seconds, page faults, system seconds
  for i in range(args.warmup + args.iters):
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    state, metrics = step(state, x)[:2]
    jax.block_until_ready(metrics["loss"])
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    if i >= args.warmup:
      calls.append((seconds, after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime))
  t_step = statistics.median(c[0] for c in calls)
  row = {"method": name, "preset": args.preset, "batch": batch, "frames": frames,
         "dtype": args.dtype, "bn_sums": args.bn_sums,
         "hidden": int(config.model.hidden), "samples_per_s": batch / t_step,
         "step_ms": 1e3 * t_step, "malloc": args.malloc,
         "glibc_tunables": os.environ.get(allocator.TUNABLES_ENV, ""),
         # Per timed step (median): page faults and kernel time (fresh pages zeroed for the
         # temporaries); the per-call figures beside them.
         "page_faults": statistics.median(c[1] for c in calls),
         "system_s": statistics.median(c[2] for c in calls),
         "calls": [{"s": c[0], "page_faults": c[1], "system_s": c[2]} for c in calls],
         "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
  if not args.split:
    return row
  state = new_state()  # the split below reads a state that no step has donated

  views_fn = jax.jit(method.make_views)
  views = views_fn(jax.random.key(1), x)
  t_views = median_time(views_fn, jax.random.key(1), x, warmup=args.warmup, iters=args.iters)

  # Everything the loss reads is an argument: closed-over arrays would be constants to XLA,
  # which then spends minutes folding the key encoder's forward pass at compile time.
  def loss_fn(params, state, views, rng):
    return method.loss(params, state.batch_stats, state.key_params, state.key_batch_stats,
                       state.queues, views, rng, 1)

  grad_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
  t_grad = median_time(lambda p, s, v, r: grad_fn(p, s, v, r)[1], state.params, state, views,
                       jax.random.key(2), warmup=args.warmup, iters=args.iters)
  return {**row, "views_ms": 1e3 * t_views, "loss_grad_ms": 1e3 * t_grad,
          "rest_ms": 1e3 * max(t_step - t_views - t_grad, 0.0)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--methods", default="skeletonclr,aimclr,skelemixclr,skeattnclr")
  parser.add_argument("--preset", default="ntu60_xsub",
                      help="config preset (configs/<method>.py:<preset>)")
  parser.add_argument("--batch", type=int, default=64, help="0 = the preset's")
  parser.add_argument("--frames", type=int, default=50, help="0 = the preset's")
  parser.add_argument("--hidden", type=int, default=16, help="0 = the config's width")
  parser.add_argument("--conv_impl", default="matmul", choices=("matmul", "conv"))
  parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                      help="encoder matmul operand dtype (config model.dtype)")
  parser.add_argument("--bn_sums", default="float32", choices=("float32", "compensated"),
                      help="BatchNorm's accumulation (config model.bn_sums)")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--iters", type=int, default=5)
  parser.add_argument("--malloc", default="heap", choices=allocator.MODES,
                      help="allocator mode (skel_jax/allocator.py; heap: as skel_jax.main)")
  parser.add_argument("--trim_threshold", type=int, default=0,
                      help="heap mode: glibc's trim threshold in bytes (0: the allocator's "
                           "rule, allocator.heap_trim_threshold)")
  parser.add_argument("--split", action=argparse.BooleanOptionalAction, default=True,
                      help="also time the step's parts (views, loss+grad)")
  parser.add_argument("--json", default="")
  args = parser.parse_args()
  # As skel_jax.main: restart once with the heap mode's glibc tunables, then mallopt's rest.
  allocator.reexec_with_heap_tunables(sys.argv, mode=args.malloc,
                                      trim_threshold=args.trim_threshold or None)
  allocator.configure(args.malloc)  # before JAX's first computation
  print(f"devices: {jax.devices()}  preset {args.preset}, batch {args.batch or 'preset'}, "
        f"T {args.frames or 'preset'}, M 2, "
        f"h {args.hidden or 'config'}, conv_impl {args.conv_impl}, dtype {args.dtype}, "
        f"bn_sums {args.bn_sums}, malloc {args.malloc}, "
        f"{allocator.TUNABLES_ENV}={os.environ.get(allocator.TUNABLES_ENV, '')!r}")
  rows = [benchmark_method(name, args) for name in args.methods.split(",")]
  print("| method | h | samples/s | step ms | views ms | loss+grad ms | rest ms | "
        "page faults / step | system s / step | peak RSS GB |")
  print("|---|---|---|---|---|---|---|---|---|---|")
  for r in rows:
    split = (f"{r['views_ms']:.1f} | {r['loss_grad_ms']:.0f} | {r['rest_ms']:.0f}"
             if "views_ms" in r else "- | - | -")
    print(f"| {r['method']} | {r['hidden']} | {r['samples_per_s']:.1f} | {r['step_ms']:.0f} | "
          f"{split} | {r['page_faults']:.0f} | {r['system_s']:.2f} | {r['peak_rss_gb']:.1f} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"devices": str(jax.devices()), "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
