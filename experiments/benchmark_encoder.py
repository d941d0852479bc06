"""Throughput of the ST-GCN encoder formulations on the local device (docs/benchmarks.md).

For each formulation this measures, at a fixed batch, the samples/s of

* (a) the eval forward pass (`train=False`), and
* (b) forward + backward in train mode: `value_and_grad` of `sum(pooled ** 2)` with respect
  to the params, with `batch_stats` mutable and dropout on (the reference encoder, no optimizer),

both jitted, timed with `block_until_ready` after warm-up, median over iterations (and over
`--repeats` interleaved rounds). FLOPs come from XLA's `cost_analysis()` of the compiled
function; the reference-equivalent count of CrosSCLR net/st_gcn.py (dense adjacency, no tricks) is
printed as well, so formulations that do extra arithmetic are not flattered by their GFLOP/s.

Formulations (`--impls`, comma separated, each `<conv_impl>[/<gcn_impl>][+<option>...]`) are
all skel_jax.models.stgcn's `STGCN`, one parameter tree, checked against `matmul` with
`--check`:

* `matmul`, `conv`: `STGCN(conv_impl=...)` with its default graph convolution;
  `/aggregate_first` (the default), `/einsum`, `/dense`, `/dense_narrow` pick `gcn_impl` (the
  docs' "aggregate over the graph first" row is `matmul/aggregate_first`). The library's
  passes without a gradient run `conv/dense_narrow+wino`, those with one
  `matmul/aggregate_first+wino`.
* `+bf16`: `STGCN(dtype=jnp.bfloat16)`, bfloat16 operands with float32 accumulation.
* `+wino`: `STGCN(winograd=True)`, the stride-1 temporal convolutions by nested Winograd F(9, 9)
  (the library's default, `model.winograd`); without it, the direct form everywhere.
* `+shift`, `+convvjp`: the (9, 1) temporal convolutions computed by a prototype this
  script keeps because the library has no such formulation (rows of docs/benchmarks.md):
  - `shift`:   a sum of 9 shifted matmuls instead of one unfold;
  - `convvjp`: XLA convolution forward and input gradient, an unfold matmul for the weight
               gradient (a custom VJP).

Example (2-core CPU; the official code's speed is measured side by side, in the same run, by
experiments/benchmark_vs_official.py, whose figure `--official_eval` can draw into the plot):

  python experiments/benchmark_encoder.py --batch 64 --frames 50 --persons 2 --hidden 16 \
      --impls matmul,conv,matmul/einsum --iters 5 --repeats 3 --max_load 0.15 --json /tmp/bench.json

XLA flags must be set before jax starts, so `--xla_flag_sets 'A;B'` re-runs this script once per
flag set (in a subprocess with that `XLA_FLAGS`) and prints one combined table.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from skel_jax.models.stgcn import GCN_IMPLS, STGCN, TemporalConv, block_plan, count_params

CONV_IMPLS = ("matmul", "conv")
TEMPORAL_OPTIONS = ("shift", "convvjp")
OPTIONS = ("bf16", "wino") + TEMPORAL_OPTIONS


# --------------------------------------------------------------------------------------------
# Temporal-convolution formulations that the library does not have. They are kept only to
# reproduce rows of docs/benchmarks.md ("temporal conv as 9 shifted matmuls", "convvjp"),
# both measured slower than the library's unfold; they replace the computation of the
# library's (9, 1) `TemporalConv` through `flax.linen.intercept_methods`, so the model, its
# parameter tree and every other layer stay skel_jax.models.stgcn's.
# --------------------------------------------------------------------------------------------


def _mm(x, w, dtype):
  """`x @ w` with operands cast to `dtype` and a float32 result."""
  return jnp.matmul(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


def _taps(x, k: int, stride: int, t_out: int) -> list:
  """The k (strided) shifted frames `x_pad[s t' + i]`, i < k, of `[B, T, V, C]`, zero padding
  (k - 1) // 2 on both ends of time."""
  pad = (k - 1) // 2
  xp = jnp.pad(x, ((0, 0), (pad, pad), (0, 0), (0, 0)))
  last = stride * (t_out - 1) + 1
  return [jax.lax.slice_in_dim(xp, i, i + last, stride, axis=1) for i in range(k)]


def shift_temporal_conv(x, kernel, stride: int, dtype):
  """(k, 1) convolution as the sum of k matmuls of the shifted frames (no k-fold unfold)."""
  k = kernel.shape[0]
  t_out = (x.shape[1] - 1) // stride + 1
  return sum(_mm(tap, kernel[i], dtype) for i, tap in enumerate(_taps(x, k, stride, t_out)))


def _lax_temporal_conv(x, kernel, stride: int, dtype):
  """(k, 1) convolution, padding k//2, through `lax.conv_general_dilated`."""
  pad = (kernel.shape[0] - 1) // 2
  return jax.lax.conv_general_dilated(
      x.astype(dtype), kernel[:, None].astype(dtype), window_strides=(stride, 1),
      padding=((pad, pad), (0, 0)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
      preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def convvjp_temporal_conv(x, kernel, stride: int, dtype):
  """(k, 1) convolution: `lax` convolution forward and for dx, an unfold matmul for dW.

  On XLA:CPU the forward convolution and its input gradient (a transposed convolution) are
  fast, only the weight gradient is slow (docs/benchmarks.md); dW = unfold(x)^T dy instead.
  """
  return _lax_temporal_conv(x, kernel, stride, dtype)


def _convvjp_fwd(x, kernel, stride, dtype):
  return convvjp_temporal_conv(x, kernel, stride, dtype), (x, kernel)


def _convvjp_bwd(stride, dtype, res, dy):
  x, kernel = res
  k, c_in, c_out = kernel.shape
  _, x_vjp = jax.vjp(lambda x_: _lax_temporal_conv(x_, kernel, stride, dtype), x)
  (dx,) = x_vjp(dy.astype(jnp.float32))
  unfolded = jnp.concatenate(_taps(x, k, stride, dy.shape[1]), axis=-1)  # [B, T', V, k C_in]
  dw = jnp.einsum("...i,...o->io", unfolded.astype(dtype), dy.astype(dtype),
                  preferred_element_type=jnp.float32).reshape(k, c_in, c_out)
  return dx, dw


convvjp_temporal_conv.defvjp(_convvjp_fwd, _convvjp_bwd)

TEMPORAL_CONVS = {"shift": shift_temporal_conv, "convvjp": convvjp_temporal_conv}


class Formulation:
  """skel_jax.models.stgcn's `STGCN`, optionally with a prototype temporal convolution.

  Quacks like the module for `init` / `apply`; `apply` runs the library's module with its
  (9, 1) `TemporalConv` calls intercepted when `temporal` names a prototype.
  """

  def __init__(self, model: nn.Module, temporal: str | None = None):
    self.model, self.temporal = model, temporal

  def _intercept(self, next_fun, args, kwargs, context):
    module = context.module
    if (context.method_name != "__call__" or not isinstance(module, TemporalConv)
        or module.kernel_size == 1):
      return next_fun(*args, **kwargs)
    dtype = module.dtype or jnp.float32
    kernel = module.get_variable("params", "kernel")
    bias = module.get_variable("params", "bias")
    return TEMPORAL_CONVS[self.temporal](args[0], kernel, module.stride, dtype) + bias

  def init(self, *args, **kwargs):
    return self.model.init(*args, **kwargs)

  def apply(self, *args, **kwargs):
    if self.temporal is None:
      return self.model.apply(*args, **kwargs)
    with nn.intercept_methods(self._intercept):
      return self.model.apply(*args, **kwargs)


def make_model(impl: str, hidden: int, dropout: float = 0.5) -> Formulation:
  """The model for a formulation name `<conv_impl>[/<gcn_impl>][+<option>...]`, e.g.
  `matmul`, `conv/einsum`, `matmul/einsum+bf16`, `matmul/einsum+shift` (module docstring).

  Raises:
    ValueError: for an unknown name or option.
  """
  head, *options = impl.split("+")
  conv_impl, _, gcn_impl = head.partition("/")
  unknown = set(options) - set(OPTIONS)
  if conv_impl not in CONV_IMPLS or (gcn_impl and gcn_impl not in GCN_IMPLS) or unknown:
    raise ValueError(f"unknown formulation {impl!r}: expected <conv_impl>[/<gcn_impl>]"
                     f"[+<option>...] with conv_impl in {CONV_IMPLS}, gcn_impl in {GCN_IMPLS}"
                     f", options in {OPTIONS}")
  temporal = [o for o in options if o in TEMPORAL_OPTIONS]
  if len(temporal) > 1:
    raise ValueError(f"{impl!r}: at most one of {TEMPORAL_OPTIONS}")
  model = STGCN(hidden=hidden, dropout=dropout, conv_impl=conv_impl,
                gcn_impl=gcn_impl or "aggregate_first",
                dtype=jnp.bfloat16 if "bf16" in options else None, winograd="wino" in options)
  return Formulation(model, temporal[0] if temporal else None)


# --------------------------------------------------------------------------------------------
# FLOP estimate, jitted functions, timing.
# --------------------------------------------------------------------------------------------


def reference_flops(frames: int, persons: int, hidden: int, num_subsets: int = 3,
                    num_joints: int = 25, in_channels: int = 3, out_dim: int = 256) -> float:
  """Multiply-add FLOPs (x2) of one sample's forward pass as the reference computes it.

  Counts the 1x1 convs, the dense adjacency einsum, the (9, 1) temporal convs and the residual
  convs of the ten blocks (CrosSCLR net/st_gcn.py); BatchNorm, ReLU and pooling are ignored.
  """
  v, k, t, c_in, total = num_joints, num_subsets, frames, in_channels, 0.0
  for i, (c_out, stride, _, _) in enumerate(block_plan(hidden, out_dim, 0.0)):
    t_out = (t - 1) // stride + 1
    total += 2 * t * v * c_in * k * c_out  # gcn 1x1 conv
    total += 2 * t * k * v * v * c_out  # adjacency
    total += 2 * t_out * v * 9 * c_out * c_out  # temporal conv
    if i > 0 and (c_in != c_out or stride != 1):
      total += 2 * t_out * v * c_in * c_out  # residual conv
    t, c_in = t_out, c_out
  return total * persons


def make_fns(model: nn.Module):
  """Jitted `(eval_fn(variables, x), train_fn(params, batch_stats, x, key))`."""

  def eval_fn(variables, x):
    return model.apply(variables, x, train=False)[0]

  def loss_fn(params, batch_stats, x, key):
    (pooled, _), state = model.apply({"params": params, "batch_stats": batch_stats}, x,
                                     train=True, mutable=["batch_stats"],
                                     rngs={"dropout": key})
    return jnp.sum(pooled ** 2), state["batch_stats"]

  def train_fn(params, batch_stats, x, key):
    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, batch_stats, x, key)
    return loss, grads, new_stats

  return jax.jit(eval_fn), jax.jit(train_fn)


def compile_with_flops(jitted, *args):
  """Ahead-of-time compiled `jitted` for `args`, and its FLOPs per call from XLA's cost
  analysis (None when the backend has none)."""
  compiled = jitted.lower(*args).compile()
  try:
    cost = compiled.cost_analysis()
  except Exception:  # noqa: BLE001 - a backend without cost analysis is not an error here
    cost = None
  if isinstance(cost, list | tuple):
    cost = cost[0] if cost else None
  flops = (cost or {}).get("flops")
  return compiled, (float(flops) if flops and flops > 0 else None)


def _cpu_times() -> tuple[int, int]:
  """(busy, total) jiffies of all CPUs from /proc/stat."""
  with open("/proc/stat") as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return sum(fields) - idle, sum(fields)


def other_cpu_load(window_s: float = 2.0) -> float:
  """Busy fraction of all cores over `window_s` while this process sleeps (others' load).

  Uses /proc/stat where it exists; elsewhere the 1-minute load average per core.
  """
  if not os.path.exists("/proc/stat"):
    return os.getloadavg()[0] / (os.cpu_count() or 1)
  busy0, total0 = _cpu_times()
  time.sleep(window_s)
  busy1, total1 = _cpu_times()
  return (busy1 - busy0) / max(total1 - total0, 1)


def wait_for_low_load(max_load: float, max_wait_s: float) -> float:
  """Waits until other processes use less than `max_load` of the cores (or time runs out).

  Returns:
    The busy fraction measured last (0 = idle machine, 1 = all cores busy).
  """
  deadline = time.monotonic() + max_wait_s
  load = other_cpu_load()
  while load > max_load and time.monotonic() < deadline:
    load = other_cpu_load()
  return load


def time_calls(fn, args, iters: int) -> tuple[list[float], list[float]]:
  """Wall seconds and process CPU seconds (all threads) of `iters` calls, each waited for.

  CPU time is less disturbed by other processes than wall time on a shared machine: on a
  quiet machine wall ~ CPU / cores when XLA keeps every core busy.
  """
  wall, cpu = [], []
  for _ in range(iters):
    start, start_cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn(*args))
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return wall, cpu


def setup_impl(impl: str, args, x, key) -> dict:
  """Compiled eval / train functions of one formulation with their arguments, warmed up."""
  model = make_model(impl, args.hidden)
  # Shared initialisation: every formulation sees the same parameter values.
  variables = jax.jit(lambda: STGCN(hidden=args.hidden).init(key, x[:1], train=False))()
  eval_fn, train_fn = make_fns(model)
  setup = {"params": count_params(variables["params"])}
  for mode, fn, fn_args in (
      ("eval", eval_fn, (variables, x)),
      ("train", train_fn, (variables["params"], variables["batch_stats"], x,
                           jax.random.fold_in(key, 1)))):
    start = time.perf_counter()
    compiled, flops = compile_with_flops(fn, *fn_args)
    setup[f"{mode}_compile_s"] = time.perf_counter() - start
    for _ in range(args.warmup):
      jax.block_until_ready(compiled(*fn_args))
    setup[mode] = (compiled, fn_args)
    setup[f"{mode}_flops"] = flops
  return setup


def run_benchmark(args) -> list[dict]:
  """Measures every formulation in `args.impls`; returns one result dict per formulation."""
  key = jax.random.key(args.seed)
  x = jax.random.normal(key, (args.batch, args.persons, args.frames, 25, 3), jnp.float32)
  impls = [s for s in args.impls.split(",") if s]
  setups = {}
  for impl in impls:
    setups[impl] = setup_impl(impl, args, x, key)
    print(f"  {impl}: compiled in {setups[impl]['eval_compile_s']:.0f} s (eval), "
          f"{setups[impl]['train_compile_s']:.0f} s (train)", flush=True)
  times = {(impl, mode): [] for impl in impls for mode in ("eval", "train")}
  cpu_times = {(impl, mode): [] for impl in impls for mode in ("eval", "train")}
  loads = {impl: [] for impl in impls}
  # Rounds interleave the formulations so that a load spike hits them all alike.
  for _ in range(args.repeats):
    for impl in impls:
      for mode in ("eval", "train"):
        loads[impl].append(wait_for_low_load(args.max_load, args.max_wait_s))
        fn, fn_args = setups[impl][mode]
        t, t_cpu = time_calls(fn, fn_args, args.iters)
        times[(impl, mode)] += t
        cpu_times[(impl, mode)] += t_cpu
        print(f"  {impl} {mode}: {args.batch / statistics.median(t):.1f} samples/s, "
              f"{1e3 * statistics.median(t_cpu):.0f} CPU-ms/step "
              f"(others' CPU use {100 * loads[impl][-1]:.0f}%)", flush=True)
  results = []
  for impl in impls:
    s = setups[impl]
    row = {"impl": impl, "xla_flags": os.environ.get("XLA_FLAGS", ""), "batch": args.batch,
           "params": s["params"], "compile_s": {m: s[f"{m}_compile_s"] for m in ("eval", "train")},
           "other_cpu_load": loads[impl]}
    for mode in ("eval", "train"):
      t = times[(impl, mode)]
      med = statistics.median(t)
      flops = s[f"{mode}_flops"]
      row[mode] = {"median_s": med, "min_s": min(t), "times_s": t,
                   "cpu_s": cpu_times[(impl, mode)],
                   "median_cpu_s": statistics.median(cpu_times[(impl, mode)]),
                   "samples_per_s": args.batch / med, "xla_flops": flops,
                   "xla_gflops_per_s": flops / med / 1e9 if flops else None}
    results.append(row)
  return results


def check_formulations(args) -> None:
  """Prints the deviation of each formulation from `matmul` (eval out, train-mode grads).

  Dropout is off here: a layout change draws a different mask from the same key. The train
  gradient is sensitive (ReLU on/off flips): the first line gives its noise floor, the change
  of the `matmul` gradient when the input is scaled by 1 + 1e-6.
  """
  key = jax.random.key(args.seed + 1)
  x = jax.random.normal(key, (4, args.persons, args.frames, 25, 3), jnp.float32)
  variables = STGCN(hidden=args.hidden).init(key, x, train=False)

  def run(impl, inputs):
    eval_fn, train_fn = make_fns(make_model(impl, args.hidden, dropout=0.0))
    _, grads, _ = train_fn(variables["params"], variables["batch_stats"], inputs, key)
    flat = jnp.concatenate([g.ravel() for g in jax.tree_util.tree_leaves(grads)])
    return eval_fn(variables, inputs), flat

  ref_out, ref_grads = run("matmul", x)
  impls = [("matmul, input x (1 + 1e-6)", "matmul", x * (1 + 1e-6))] + [
      (impl, impl, x) for impl in args.impls.split(",") if impl and impl != "matmul"]
  for label, impl, inputs in impls:
    out, grads = run(impl, inputs)
    out_err = float(jnp.max(jnp.abs(out - ref_out)) / jnp.max(jnp.abs(ref_out)))
    # One relative L2 error over the whole gradient: the biases right before a BatchNorm have
    # a true gradient of zero, so leaf-wise relative errors would compare round-off.
    grad_err = float(jnp.linalg.norm(grads - ref_grads) / jnp.linalg.norm(ref_grads))
    print(f"check {label:>26}: rel. deviation from matmul: eval out (max) {out_err:.1e}, "
          f"train grads (L2) {grad_err:.1e}")


# --------------------------------------------------------------------------------------------
# Reporting.
# --------------------------------------------------------------------------------------------


def environment() -> dict:
  """Device, versions and the thread-related settings of this process."""
  env_keys = ("XLA_FLAGS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
              "JAX_PLATFORMS")
  cpu_model = ""
  if os.path.exists("/proc/cpuinfo"):
    with open("/proc/cpuinfo") as f:
      cpu_model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       "")
  return {
      "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
      "cpu_model": cpu_model or platform.processor(), "os_cpu_count": os.cpu_count(),
      "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
      "env": {k: os.environ.get(k) for k in env_keys if os.environ.get(k) is not None},
      "jax_cpu_enable_async_dispatch": jax.config.values.get("jax_cpu_enable_async_dispatch"),
  }


def _fmt(value, spec: str) -> str:
  return "n/a" if value is None else format(value, spec)


def markdown_table(results: list[dict], sample_gflop: float) -> str:
  """The results as a markdown table (one row per formulation and XLA flag set)."""
  lines = [
      "| formulation | eval fwd samples/s (best) | train fwd+bwd samples/s (best) "
      "| ms/step eval / train | CPU-ms/step eval / train "
      "| XLA GFLOP/s eval / train | ref-equiv. GFLOP/s eval / train | others' CPU use |",
      "|---|---:|---:|---:|---:|---:|---:|---:|"]
  for r in results:
    name = r["impl"] + (f" [{r['xla_flags']}]" if r["xla_flags"] else "")
    ev, tr = r["eval"], r["train"]
    # Reference-equivalent: forward FLOPs of the reference encoder (x3 for forward + backward).
    ref_ev = sample_gflop * ev["samples_per_s"]
    ref_tr = 3 * sample_gflop * tr["samples_per_s"]
    lines.append(
        f"| {name} | {ev['samples_per_s']:.1f} ({r['batch'] / ev['min_s']:.1f}) "
        f"| {tr['samples_per_s']:.1f} ({r['batch'] / tr['min_s']:.1f}) "
        f"| {1e3 * ev['median_s']:.0f} / {1e3 * tr['median_s']:.0f} "
        f"| {1e3 * ev['median_cpu_s']:.0f} / {1e3 * tr['median_cpu_s']:.0f} "
        f"| {_fmt(ev['xla_gflops_per_s'], '.0f')} / {_fmt(tr['xla_gflops_per_s'], '.0f')} "
        f"| {ref_ev:.0f} / {ref_tr:.0f} | <= {100 * max(r['other_cpu_load']):.0f}% |")
  return "\n".join(lines)


def plot_results(results: list[dict], path: str, official_eval: float | None = None) -> None:
  """Bar chart of eval and train samples/s per formulation, with the official code's eval
  samples/s as a line when given (measured side by side, not a constant of this script)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  names = [r["impl"] + (f"\n{r['xla_flags']}" if r["xla_flags"] else "") for r in results]
  pos = np.arange(len(results))
  fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(results)), 3.6))
  ax.bar(pos - 0.2, [r["eval"]["samples_per_s"] for r in results], 0.4, label="eval forward")
  ax.bar(pos + 0.2, [r["train"]["samples_per_s"] for r in results], 0.4,
         label="train forward+backward")
  if official_eval:
    ax.axhline(official_eval, color="k", ls="--", lw=1, label="official code, eval (given)")
  ax.set_xticks(pos, names, fontsize=7)
  ax.set_ylabel("samples / s")
  ax.set_title(f"ST-GCN encoder, batch {results[0]['batch']}, {jax.devices()[0].platform}")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def sweep_xla_flags(args, argv: list[str]) -> list[dict]:
  """Re-runs this script once per XLA flag set; returns all their results."""
  results = []
  for flags in [s.strip() for s in args.xla_flag_sets.split(";")]:
    with tempfile.TemporaryDirectory() as tmp:
      out = os.path.join(tmp, "r.json")
      child = [a for a in argv if not a.startswith(("--xla_flag_sets", "--json", "--plot"))]
      cmd = [sys.executable, os.path.abspath(__file__), *child, "--json", out]
      env = dict(os.environ, XLA_FLAGS=flags)
      print(f"== XLA_FLAGS={flags!r}", flush=True)
      subprocess.run(cmd, env=env, check=True)
      with open(out) as f:
        results += json.load(f)["results"]
  return results


def parse_args(argv: list[str]) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--frames", type=int, default=50)
  p.add_argument("--persons", type=int, default=2)
  p.add_argument("--hidden", type=int, default=16)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--iters", type=int, default=5, help="timed calls per round and mode")
  p.add_argument("--repeats", type=int, default=1, help="interleaved rounds over formulations")
  p.add_argument("--impls", default="matmul,conv",
                 help="comma-separated <conv_impl>[/<gcn_impl>][+<option>...]: conv_impl in "
                      f"{CONV_IMPLS}, gcn_impl in {GCN_IMPLS}, options in {OPTIONS}")
  p.add_argument("--check", action="store_true",
                 help="first compare every formulation with 'matmul' on a small batch")
  p.add_argument("--max_load", type=float, default=1.0,
                 help="before each measurement, wait until other processes keep less than this "
                      "fraction of the cores busy (0.1 = quiet machine; 1.0 = never wait)")
  p.add_argument("--max_wait_s", type=float, default=120.0,
                 help="longest wait for a quiet machine before one measurement")
  p.add_argument("--xla_flag_sets", default=None,
                 help="';'-separated XLA_FLAGS strings to sweep in subprocesses ('' = none)")
  p.add_argument("--cache_dir", default=None,
                 help="persistent XLA compilation cache (reruns skip the slow CPU compiles)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", default=None, help="write environment and results here")
  p.add_argument("--plot", default=None, help="write a PNG bar chart here")
  p.add_argument("--official_eval", type=float, default=None,
                 help="the official encoder's eval samples/s at the same shapes, measured by "
                      "experiments/benchmark_vs_official.py in the same session: drawn as a line")
  return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
  argv = sys.argv[1:] if argv is None else argv
  args = parse_args(argv)
  if args.cache_dir:
    jax.config.update("jax_compilation_cache_dir", args.cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  env = environment()
  print(json.dumps(env, indent=1))
  if args.check:
    check_formulations(args)
  results = sweep_xla_flags(args, argv) if args.xla_flag_sets is not None else (
      run_benchmark(args))
  sample_gflop = reference_flops(args.frames, args.persons, args.hidden) / 1e9
  print(f"\nbatch {args.batch}, T={args.frames}, V=25, M={args.persons}, h={args.hidden}; "
        f"reference-equivalent forward cost {sample_gflop:.2f} GFLOP/sample; "
        f"median over {args.iters} x {args.repeats} calls")
  print(markdown_table(results, sample_gflop))
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"environment": env, "args": vars(args), "sample_gflop": sample_gflop,
                 "results": results}, f, indent=1)
  if args.plot:
    plot_results(results, args.plot, args.official_eval)


if __name__ == "__main__":
  main()
