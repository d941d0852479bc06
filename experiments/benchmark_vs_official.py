r"""skel_jax against the official PyTorch code, side by side, alternating rounds in one run.

The official code is NOT part of this repository: pass each method's public checkout (the
commits of experiments/parity_reference.py) on the command line. It is imported from there
with parity_reference's CPU adaptations (`Tensor.cuda` is the identity, the enqueue writes at
the pointer of a single device, torchlight's `import_class` without h5py), the model is built
by `parity_reference.build_model` (SkeAttnCLR with the documented name fix: `predictor_s` /
`predictor_ns` registered as `predictor_p` / `predictor_c`, the names its forward calls) and
its loss computed by `parity_reference.step_losses`, as the method's processor does.

    PYTHONPATH=. python experiments/benchmark_vs_official.py \
        --skeletonclr_repo /path/to/CrosSCLR --aimclr_repo /path/to/AimCLR \
        --skelemixclr_repo /path/to/SkeleMixCLR --skeattnclr_repo /path/to/SkeAttnCLR \
        --rounds 5 --iters 3 --warmup 2 --threads 2 --gemm --json /tmp/vs_official.json

Benchmarks (`--benches`; those whose checkout is not given are skipped):

| bench        | official (checkout)                                | ours                         |
|--------------|----------------------------------------------------|------------------------------|
| encoder      | `net/st_gcn.py:Model`, eval mode, `torch.no_grad`, batch by batch | `evaluate.features.extract_features` (eval, no-grad formulation, empty persons once) |
| skeletonclr  | CrosSCLR `net/skeletonclr.py:SkeletonCLR` step      | `skel_jax.train.step.make_train_step` |
| aimclr       | AimCLR `net/aimclr.py:AimCLR`, `nnm=False`          | configs/aimclr.py, before mining |
| aimclr_nnm   | the same with `nnm=True, topk=1`                    | `aimclr.mining_epoch=0` (mining on) |
| skelemixclr  | SkeleMixCLR `net/skeletonclr_multi_swapv2.py`       | configs/skelemixclr.py (SkeleMixCLR+) |
| skeattnclr   | SkeAttnCLR `net/SkeAttnCLR.py:SkeAttnMask`, bone, mu 0.5 | configs/skeattnclr.py, stream bone |
| gemm (`--gemm`) | `torch.mm` (MKL / oneDNN)                        | `jnp.dot` on XLA:CPU          |

A train step is, on the official side, the processor's iteration on fixed views (forward
with the model's own mixing and queue, loss, `zero_grad`, `backward`, SGD momentum 0.9 with
weight decay 1e-4, SkeAttnCLR's momentum update after the step) and, on ours, the jitted
`train_step` that `skel_jax.main` runs (augmentation on the device included, key EMA,
optimiser, enqueue). The official augmentations run in its data-loader workers and are
not timed, so ours carries a few extra milliseconds per step.

Default shapes are the official pretraining configs: batch 128, K = 32768, feature 128,
hidden_dim 256, dropout 0.5; T = 50 and h = 16 for SkeletonCLR (CrosSCLR
`config/CrosSCLR/crossclr_3views_xview.yaml`, its repository ships no SkeletonCLR config;
the same values) and AimCLR (`config/ntu60/pretext/pretext_aimclr_xsub_joint.yaml`);
T = 64, h = 16, swap `[2, 3, 7, 11, 3, 1.]` for SkeleMixCLR+
(`config/CrosSCLR/skelemixclr_multi_swap_ntu.yaml`); T = 64, h = 64, parts 3-4, segments
4-7, 8 heads, lambda 2, bone stream, mu 0.5 for SkeAttnCLR
(`config/SkeAttnCLR/NTU60/bone/pretrain_xsub.yaml`). The encoder bench embeds
`--eval_batches` batches of 64 clips per timed call (T = 50, M = 2; the second person all
zero in a `--empty_second_person` share of them, at random) at the widths of
`--encoder_widths` (16: the linear-evaluation configs of SkeletonCLR / AimCLR / SkeleMixCLR;
64: SkeAttnCLR's and the original ST-GCN), as a linear evaluation embeds a split.

How the rounds run: per bench, two worker processes (one per side, started fresh with
`spawn`) build their model and run `--warmup` steps (compilation included), then the
driver asks them in turn for `--iters` timed steps, `--rounds` times, alternating which
side goes first (ABBA) so that a drift of the machine's load hits both. While a side runs,
the driver samples /proc: the load average, the share of all cores busy in other processes
(total busy jiffies minus the worker's and the driver's own) and the busiest other
processes, and the worker's CPU use (cores used on average, which checks the thread
budget).

Thread budget: each worker pins itself to `--threads` CPUs (`os.sched_setaffinity`) before
it imports its framework and sets OMP/MKL_NUM_THREADS; PyTorch also gets
`torch.set_num_threads(threads)`, and XLA:CPU sizes its intra-op thread pool from the CPUs
the process may run on (the affinity mask: one `tf_XLAEigen` thread per allowed CPU, which
each worker's `threads_by_name` in the JSON shows). With
`--threads 1` the JAX worker also gets
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`.
`JAX_PLATFORMS=cpu` keeps JAX on the CPU as the official code (`--jax_platform` changes it).

Output: a markdown table per bench (per round: load, others' CPU, absolute rate of each
side, ratio ours / official; median ratio), and `--json` with every sample.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import io
import json
import multiprocessing as mp
import os
import platform
import resource
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
# ctypes and os only (no JAX): the workers set each side's allocator before its framework loads.
from skel_jax import allocator  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position

# Per bench: which checkout it needs, and its official-config shapes.
BENCHES = {
    "encoder": dict(repo="skeletonclr", batch=64, frames=50),
    "skeletonclr": dict(repo="skeletonclr", batch=128, frames=50, hidden=16),
    "aimclr": dict(repo="aimclr", batch=128, frames=50, hidden=16),
    "aimclr_nnm": dict(repo="aimclr", batch=128, frames=50, hidden=16),
    "skelemixclr": dict(repo="skelemixclr", batch=128, frames=64, hidden=16),
    "skeattnclr": dict(repo="skeattnclr", batch=128, frames=64, hidden=64),
}
# Full-size settings of the official configs (the tiny parity settings are overridden).
OFFICIAL_SPEC = {
    "skelemixclr": dict(parts=(2, 3), segments=(7, 11), repeats=3),
    "skeattnclr": dict(parts=(3, 4), segments=(4, 7), heads=8, attn_lambda=2.0, mu=0.5,
                       stream="bone", iters_per_epoch=1000, epochs=300),
}
OURS_CONFIG = {  # config file and preset keys of our side
    "skeletonclr": ("skeletonclr", ""), "aimclr": ("aimclr", ""),
    "aimclr_nnm": ("aimclr", ""), "skelemixclr": ("skelemixclr", ""),
    "skeattnclr": ("skeattnclr", ",stream=bone"),
}
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --------------------------------------------------------------------------------------------
# /proc sampling (Linux; elsewhere only the load average is recorded).
# --------------------------------------------------------------------------------------------


def _cpu_jiffies() -> tuple[int, int]:
  """(busy, total) jiffies summed over all CPUs."""
  with open("/proc/stat") as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return sum(fields) - idle, sum(fields)


def _proc_jiffies(pid) -> tuple[str, int]:
  """(command name, utime + stime of all its threads) of a process; ('', 0) if gone."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      raw = f.read()
  except OSError:
    return "", 0
  name = raw[raw.index("(") + 1:raw.rindex(")")]
  rest = raw[raw.rindex(")") + 2:].split()
  return name, int(rest[11]) + int(rest[12])  # fields 14, 15: utime, stime


def _all_procs() -> dict[int, tuple[str, int]]:
  out = {}
  for entry in os.listdir("/proc"):
    if entry.isdigit():
      name, jiffies = _proc_jiffies(entry)
      if name:
        out[int(entry)] = (name, jiffies)
  return out


class LoadProbe:
  """What the machine did while one side ran: start() before, stop() after."""

  def __init__(self, worker_pid: int, top: int = 3):
    self.worker_pid = worker_pid
    self.top = top
    self.linux = os.path.exists("/proc/stat")

  def start(self):
    self.t0 = time.perf_counter()
    self.load0 = os.getloadavg()[0]
    if self.linux:
      self.cpu0 = _cpu_jiffies()
      self.procs0 = _all_procs()

  def stop(self) -> dict:
    wall = time.perf_counter() - self.t0
    out = {"wall_s": wall, "loadavg_1min": [self.load0, os.getloadavg()[0]]}
    if not self.linux:
      return out
    busy1, total1 = _cpu_jiffies()
    procs1 = _all_procs()
    ncpu = os.cpu_count() or 1
    d_total = max(total1 - self.cpu0[1], 1)
    d_busy = busy1 - self.cpu0[0]
    deltas = {pid: (name, j - self.procs0[pid][1]) for pid, (name, j) in procs1.items()
              if pid in self.procs0}
    mine = {self.worker_pid, os.getpid()}
    d_worker = deltas.get(self.worker_pid, ("", 0))[1]
    d_mine = sum(deltas.get(p, ("", 0))[1] for p in mine)
    others = sorted(((j, pid, name) for pid, (name, j) in deltas.items()
                     if pid not in mine and j > 0), reverse=True)[:self.top]
    # Shares in cores: jiffies / (wall jiffies per core).
    per_core = d_total / ncpu
    out.update(
        others_cores=max(d_busy - d_mine, 0) / per_core,
        worker_cores=d_worker / per_core,
        top_others=[{"pid": pid, "name": name, "cores": j / per_core} for j, pid, name in others])
    return out


# --------------------------------------------------------------------------------------------
# Workers: one process per side and bench.
# --------------------------------------------------------------------------------------------


def _pin(threads: int) -> list[int]:
  """Restricts this process to `threads` CPUs and sets the thread variables (before imports)."""
  cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
  if cpus:
    cpus = cpus[:threads]
    os.sched_setaffinity(0, cpus)
  for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(threads)
  return cpus


def _thread_names() -> dict[str, int]:
  """How many threads of each name this process runs (XLA's intra-op pool: tf_XLAEigen)."""
  names: dict[str, int] = {}
  if os.path.isdir("/proc/self/task"):
    for tid in os.listdir("/proc/self/task"):
      try:
        with open(f"/proc/self/task/{tid}/comm") as f:
          name = f.read().strip()
      except OSError:
        continue
      names[name] = names.get(name, 0) + 1
  return names


def _random_clips(n: int, t: int, seed: int = 0, empty_fraction: float = 0.5):
  """`[N, M, T, V, C]` float32 clips; the second person is all zero in `round(empty_fraction
  N)` of them, drawn at random (half by default; NTU-60 has about 80 %)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  x = rng.normal(0.0, 0.5, (n, 2, t, 25, 3)).astype(np.float32)
  x[rng.permutation(n)[:int(round(empty_fraction * n))], 1] = 0.0
  return x


def build_official(bench: str, opts: dict):
  """Returns (step function, work per step, info) for the official side."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(opts["threads"])
  torch.manual_seed(0)
  info = {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
          "torch_parallel_info": torch.__config__.parallel_info().splitlines()[:8]}
  if bench == "gemm":  # no official code: PyTorch's own GEMM (MKL or oneDNN)
    n = opts["gemm_size"]
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: torch.mm(a, b)), 2 * n ** 3 / 1e9, info
  sys.path.insert(0, HERE)
  import parity_reference as pr  # pylint: disable=g-import-not-at-top
  pr.import_official(opts["repo_path"])
  if bench == "encoder":
    import importlib  # pylint: disable=g-import-not-at-top
    model_cls = importlib.import_module("net.st_gcn").Model
    model = model_cls(in_channels=3, hidden_channels=opts["hidden"], hidden_dim=256,
                      num_class=60, graph_args=pr.STGCN_GRAPH, edge_importance_weighting=True,
                      dropout=0.5)
    model.apply(lambda m: pr.reference_init(torch, m))
    model.eval()
    batch, n = opts["batch"], opts["batch"] * opts["eval_batches"]
    clips = _random_clips(n, opts["frames"], empty_fraction=opts["empty_fraction"])
    x = torch.from_numpy(clips.transpose(0, 4, 2, 3, 1).copy())  # [N, C, T, V, M]

    def forward():  # the official linear evaluation's loop: every clip, batch by batch
      with torch.no_grad():
        return [model(x[i:i + batch]) for i in range(0, n, batch)]

    return forward, n, info
  spec = dict(pr.METHODS[bench])
  spec.update(OFFICIAL_SPEC.get(bench, {}))
  if opts.get("segments"):
    spec["segments"] = opts["segments"]
  s = dict(pr.SETTINGS)
  s.update(batch=opts["batch"], frames=opts["frames"], hidden=opts["hidden"], hidden_dim=256,
           feature_dim=128, queue_size=opts["queue"], queue_ptr=0, steps=1, dropout=0.5)
  model = pr.build_model(torch, bench, spec, s)
  model.train()
  params = [p for p in model.parameters() if p.requires_grad]
  opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4)
  views = {k: torch.from_numpy(v) for k, v in pr.make_views(spec, s)[0].items()}
  counter = [0]

  def step():
    loss, _ = pr.step_losses(torch, bench, model, views, spec)
    opt.zero_grad()
    loss.backward()
    opt.step()
    pr.after_step(bench, model, spec, counter[0])
    counter[0] += 1
    return loss

  info["params"] = sum(p.numel() for p in params)
  return step, opts["batch"], info


def build_ours(bench: str, opts: dict):
  """Returns (step function, work per step, info) for skel_jax."""
  import functools  # pylint: disable=g-import-not-at-top

  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  info = {"jax": jax.__version__, "devices": str(jax.devices()),
          "xla_flags": os.environ.get("XLA_FLAGS", "")}
  if bench == "gemm":
    n = opts["gemm_size"]
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    return (lambda: dot(a, b).block_until_ready()), 2 * n ** 3 / 1e9, info

  from skel_jax import methods  # pylint: disable=g-import-not-at-top
  from skel_jax.config_lib import load_config  # pylint: disable=g-import-not-at-top
  from skel_jax.models import stgcn  # pylint: disable=g-import-not-at-top
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  from skel_jax.train import step as step_lib  # pylint: disable=g-import-not-at-top
  x = jax.device_put(_random_clips(opts["batch"], opts["frames"]))
  if bench == "encoder":
    # Our evaluation path: `extract_features` on host clips, which embeds each non-empty
    # person once and the empty person's constant once (the official forward runs every
    # person; both give the pooled features, the official also its 60-way fc).
    from skel_jax.evaluate import features  # pylint: disable=g-import-not-at-top
    n = opts["batch"] * opts["eval_batches"]
    clips = _random_clips(n, opts["frames"], empty_fraction=opts["empty_fraction"])
    config = load_config(os.path.join(REPO, "configs", "skeletonclr.py"),
                         f"ntu60_xsub,hidden={opts['hidden']}")
    backbone = features.backbone_from_encoder_config(config.model, config.data.layout,
                                                     no_grad=True)
    variables = jax.jit(functools.partial(backbone.init, train=False))(jax.random.key(0), x)

    def forward():
      with contextlib.redirect_stderr(io.StringIO()):  # its progress bar, once per call
        return features.extract_features(backbone, variables, clips, stream="joint",
                                         layout=config.data.layout, batch_size=opts["batch"])

    info.update(conv_impl=backbone.conv_impl, gcn_impl=backbone.gcn_impl,
                winograd=backbone.winograd, empty_second_person=opts["empty_fraction"])
    return forward, n, info

  name, keys = OURS_CONFIG[bench]
  config = load_config(
      os.path.join(REPO, "configs", f"{name}.py"),
      f"ntu60_xsub,batch={opts['batch']},frames={opts['frames']},hidden={opts['hidden']}{keys}")
  config.moco.queue_size = opts["queue"]
  if bench == "aimclr_nnm":
    config.aimclr.mining_epoch = 0  # mining from the first epoch
  if opts.get("segments") and bench == "skelemixclr":
    config.skelemix.segments_range = opts["segments"]
  elif opts.get("segments") and bench == "skeattnclr":
    config.skeattn.mix_segments = opts["segments"]
  method = methods.get_method(config.method)(config, config.data.layout)
  steps_per_epoch = 1000  # epoch 1 throughout
  tx, lr_fn = pretrain.make_optimizer(config.optim, steps_per_epoch)
  momentum_fn = pretrain.make_momentum_fn(config.moco, steps_per_epoch, config.optim.epochs)
  create = functools.partial(step_lib.create_train_state, method, tx,
                             queue_size=int(config.moco.queue_size),
                             key_init=config.moco.key_init)
  state = [jax.jit(create)(jax.random.key(config.seed), x)]
  step_fn = step_lib.make_train_step(
      method, tx, momentum_fn=momentum_fn, lr_fn=lr_fn, steps_per_epoch=steps_per_epoch,
      ema_order=config.moco.ema_order, ema_batch_stats=config.moco.ema_batch_stats)

  def step():
    state[0], metrics = step_fn(state[0], x)
    return metrics["loss"].block_until_ready()

  nograd = stgcn.backbone_kwargs(config.model, no_grad=True)
  info.update(conv_impl=config.model.conv_impl, nograd_conv_impl=nograd["conv_impl"],
              gcn_impl=config.model.gcn_impl, nograd_gcn_impl=nograd["gcn_impl"],
              winograd=nograd["winograd"], stream=config.data.stream)
  return step, opts["batch"], info


def _release_free_memory(settle_s: float = 0.25, max_tries: int = 40) -> None:
  """Hands the heap's free pages back to the system (glibc `malloc_trim`; elsewhere a no-op).

  Both sides live at once and take turns; a side's step temporaries (about 15 GB for
  SkeleMixCLR+ at the official shapes) stay mapped by the allocator after the step unless
  released, and the two sides together then exceed a 24 GiB machine. XLA:CPU frees a call's
  temporaries just *after* its outputs are ready, so one trim right after the last step can
  come too early (SkeAttnCLR's worker kept 18 GB and was killed for memory in the official
  side's turn): trim until the resident size stops falling.
  """
  try:
    trim = ctypes.CDLL("libc.so.6").malloc_trim
  except (OSError, AttributeError):
    return
  previous = float("inf")
  for _ in range(max_tries):
    trim(0)
    current = _rss_bytes()
    if current >= previous:
      return
    previous = current
    time.sleep(settle_s)


def _rss_bytes() -> float:
  """This process's resident memory now (Linux `/proc/self/statm`; 0 elsewhere)."""
  try:
    with open("/proc/self/statm") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return 0.0


def _receive(bench: str, side: str, proc, conn):
  """The worker's next message; a clear error, instead of waiting forever, if it died."""
  while not conn.poll(1.0) and proc.is_alive():
    pass
  try:
    return conn.recv()
  except EOFError:  # the pipe closed: the worker is gone
    proc.join(timeout=10)
    code = proc.exitcode
    why = " (killed: SIGKILL, most likely out of memory)" if code == -9 else ""
    raise RuntimeError(f"[{bench}] the {side} worker died, exit code {code}{why}") from None


def _peak_rss_gb() -> float:
  """This process's peak resident memory so far, in GB (Linux reports kB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def worker(side: str, bench: str, opts: dict, conn) -> None:
  """Builds one side, warms it up, then runs timed rounds on request."""
  cpus = _pin(opts["threads"])
  # Each side's allocator before its framework allocates: ours as `skel_jax.main` runs it.
  heap = allocator.configure(opts["malloc"][side])
  if side == "ours":
    os.environ["JAX_PLATFORMS"] = opts["jax_platform"]
    if opts["threads"] == 1:
      flags = os.environ.get("XLA_FLAGS", "")
      os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                 "intra_op_parallelism_threads=1").strip()
  try:
    t0 = time.perf_counter()
    fn, work, info = (build_ours if side == "ours" else build_official)(bench, opts)
    for _ in range(opts["warmup"]):
      fn()
    _release_free_memory()
    info.update(malloc=opts["malloc"][side], malloc_heap_settings=heap,
                glibc_tunables=os.environ.get(allocator.TUNABLES_ENV, ""), cpus=cpus,
                build_and_warmup_s=time.perf_counter() - t0,
                threads_by_name=_thread_names(), peak_rss_gb=_peak_rss_gb())
    conn.send(("ready", work, info))
  except Exception as e:  # noqa: BLE001 - reported to the driver, which skips the bench
    import traceback  # pylint: disable=g-import-not-at-top
    conn.send(("error", repr(e), traceback.format_exc()))
    return
  while True:
    try:
      msg = conn.recv()
    except EOFError:  # the driver is gone
      return
    if msg[0] == "stop":
      return
    times = []
    for _ in range(msg[1]):
      t = time.perf_counter()
      fn()
      times.append(time.perf_counter() - t)
    _release_free_memory()
    conn.send(("times", times))


# --------------------------------------------------------------------------------------------
# Driver.
# --------------------------------------------------------------------------------------------


def round_rate(work: float, times: list[float]) -> float:
  """Work per second of one round: work / median step time."""
  return work / statistics.median(times)


def summarize(rounds: list[dict]) -> dict:
  """Median rates and ratio over rounds (each round: {'ours': {...}, 'official': {...}})."""
  ratios = [r["ratio"] for r in rounds]
  return {"median_ratio": statistics.median(ratios), "min_ratio": min(ratios),
          "max_ratio": max(ratios),
          "median_ours": statistics.median(r["ours"]["rate"] for r in rounds),
          "median_official": statistics.median(r["official"]["rate"] for r in rounds)}


def run_bench(bench: str, opts: dict, args) -> dict | None:
  ctx = mp.get_context("spawn")
  sides, ready, rounds, error = {}, {}, [], None
  try:
    # One side at a time builds and warms up (then hands its free memory back): at their
    # warm-up peaks both sides together can exceed the machine's memory (SkeAttnCLR at h 64,
    # with the heap tunables on both sides, was killed for memory when they overlapped).
    for side in ("official", "ours"):
      parent, child = ctx.Pipe()
      proc = ctx.Process(target=worker, args=(side, bench, opts, child), daemon=True)
      # The heap mode's glibc tunables reach a process only through its starting
      # environment (skel_jax/allocator.py): given to the side that runs it, as
      # `skel_jax.main` does.
      saved = os.environ.copy()
      if opts["malloc"][side] == "heap":
        os.environ.update(allocator.heap_tunables_env())
      else:
        os.environ.pop(allocator.TUNABLES_ENV, None)
      try:
        proc.start()
      finally:
        os.environ.clear()
        os.environ.update(saved)
      child.close()  # the worker holds its end; ours would keep a dead worker's pipe open
      sides[side] = (proc, parent)
      msg = _receive(bench, side, proc, parent)
      if msg[0] == "error":
        print(f"[{bench}] {side} failed to build: {msg[1]}\n{msg[2]}", file=sys.stderr)
        return None
      ready[side] = {"work": msg[1], "info": msg[2]}
      print(f"[{bench}] {side} ready ({msg[2]['build_and_warmup_s']:.0f} s build + warm-up, "
            f"peak resident memory {msg[2]['peak_rss_gb']:.1f} GB)",
            flush=True)
    for i in range(args.rounds):
      order = ("ours", "official") if i % 4 in (0, 3) else ("official", "ours")  # ABBA
      entry = {"round": i, "order": list(order)}
      for side in order:
        proc, conn = sides[side]
        probe = LoadProbe(proc.pid)
        probe.start()
        conn.send(("round", args.iters))
        msg = _receive(bench, side, proc, conn)
        load = probe.stop()
        times = msg[1]
        entry[side] = {"times_s": times, "rate": round_rate(ready[side]["work"], times), **load}
      entry["ratio"] = entry["ours"]["rate"] / entry["official"]["rate"]
      rounds.append(entry)
      print(f"[{bench}] round {i}: ours {entry['ours']['rate']:.2f}, official "
            f"{entry['official']['rate']:.2f}, ratio {entry['ratio']:.2f}, others' CPU "
            f"{entry['ours'].get('others_cores', float('nan')):.2f} / "
            f"{entry['official'].get('others_cores', float('nan')):.2f} cores", flush=True)
  except RuntimeError as e:  # a worker died (`_receive`): keep the rounds it finished
    error = str(e)
    print(error, file=sys.stderr, flush=True)
  finally:
    for proc, conn in sides.values():
      if proc.is_alive():
        try:
          conn.send(("stop",))
        except OSError:
          pass
      proc.join(timeout=30)
      if proc.is_alive():
        proc.terminate()
  if not rounds:
    return None
  unit = "GFLOP/s" if bench == "gemm" else "samples/s"
  shapes = {k: opts[k] for k in ("batch", "frames", "hidden", "queue", "gemm_size") if k in opts}
  return {"bench": bench, "unit": unit, "shapes": shapes, "repo": opts.get("repo_path"),
          "info": {s: r["info"] for s, r in ready.items()}, "rounds": rounds,
          "summary": summarize(rounds), "error": error}


def markdown(result: dict) -> str:
  """One table per bench: a row per round, then the medians."""
  unit = result["unit"]
  lines = [f"### {result['bench']} ({unit}; {result['shapes']})", "",
           "| round | order | load 1 min | others' CPU, cores (ours / official run) | ours | "
           "official | ours / official |",
           "|---:|---|---:|---:|---:|---:|---:|"]
  for r in result["rounds"]:
    load = max(r["ours"]["loadavg_1min"] + r["official"]["loadavg_1min"])
    oc = (f"{r['ours'].get('others_cores', float('nan')):.2f} / "
          f"{r['official'].get('others_cores', float('nan')):.2f}")
    lines.append(f"| {r['round']} | {r['order'][0]} first | {load:.2f} | {oc} | "
                 f"{r['ours']['rate']:.2f} | {r['official']['rate']:.2f} | {r['ratio']:.2f} |")
  s = result["summary"]
  lines.append(f"| median | | | | {s['median_ours']:.2f} | {s['median_official']:.2f} | "
               f"**{s['median_ratio']:.2f}** ({s['min_ratio']:.2f}-{s['max_ratio']:.2f}) |")
  return "\n".join(lines)


def bench_options(bench: str, args, width: int | None = None) -> dict:
  base = BENCHES.get(bench, {})
  opts = {"threads": args.threads, "warmup": args.warmup, "jax_platform": args.jax_platform,
          "malloc": {"ours": args.our_malloc, "official": args.official_malloc}}
  if bench == "gemm":
    opts.update(gemm_size=args.gemm_size)
    return opts
  opts.update(batch=args.batch or base["batch"], frames=args.frames or base["frames"],
              repo_path=getattr(args, f"{base['repo']}_repo"))
  if bench == "encoder":
    opts.update(hidden=width, empty_fraction=args.empty_second_person,
                eval_batches=args.eval_batches)
  else:
    opts.update(hidden=args.hidden or base["hidden"], queue=args.queue)
    if args.mix_segments and bench in ("skelemixclr", "skeattnclr"):
      opts["segments"] = tuple(int(v) for v in args.mix_segments.split(","))
  return opts


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  for name, repo in (("skeletonclr", "LinguoLi/CrosSCLR"), ("aimclr", "Levigty/AimCLR"),
                     ("skelemixclr", "czhaneva/SkeleMixCLR"),
                     ("skeattnclr", "GitHubOfHyl97/SkeAttnCLR")):
    p.add_argument(f"--{name}_repo", default="", help=f"checkout of {repo}")
  p.add_argument("--benches", default=",".join(BENCHES),
                 help="comma-separated subset of " + ", ".join(BENCHES))
  p.add_argument("--gemm", action="store_true", help="also the float32 GEMM ceiling")
  p.add_argument("--gemm_only", action="store_true", help="only the GEMM ceiling")
  p.add_argument("--gemm_size", type=int, default=4096)
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--iters", type=int, default=3, help="timed steps per side and round")
  p.add_argument("--warmup", type=int, default=2, help="untimed steps (compilation included)")
  p.add_argument("--threads", type=int, default=2,
                 help="CPUs / threads of each side (affinity, torch and XLA pools)")
  p.add_argument("--batch", type=int, default=0, help="0: the official config's value")
  p.add_argument("--frames", type=int, default=0, help="0: the official config's value")
  p.add_argument("--hidden", type=int, default=0,
                 help="train-step encoder width h; 0: the official config's value")
  p.add_argument("--queue", type=int, default=32768, help="K (a multiple of the batch)")
  p.add_argument("--mix_segments", default="",
                 help="LO,HI segments of the mixing methods on both sides (short clips); "
                      "default: the official configs' 7,11 (SkeleMixCLR+) and 4,7 (SkeAttnCLR)")
  p.add_argument("--encoder_widths", default="16,64", help="h of the encoder bench")
  p.add_argument("--empty_second_person", type=float, default=0.5,
                 help="encoder bench: fraction of clips whose second person is all zero "
                      "(0.5: the benchmark input; NTU-60 has about 0.8)")
  p.add_argument("--eval_batches", type=int, default=8,
                 help="encoder bench: batches of clips per timed call (a split's features)")
  p.add_argument("--jax_platform", default="cpu", help="JAX_PLATFORMS of our side")
  p.add_argument("--our_malloc", default="heap", choices=allocator.MODES,
                 help="our side's allocator mode (skel_jax/allocator.py; heap: as "
                      "skel_jax.main runs)")
  p.add_argument("--official_malloc", default="system", choices=allocator.MODES,
                 help="the official side's (system: as it ships; heap: the same mallopt "
                      "settings as ours)")
  p.add_argument("--json", default="", help="write every sample here")
  args = p.parse_args(argv)
  # SIGTERM (e.g. `timeout`) unwinds like Ctrl-C, so the workers are stopped on the way out.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

  benches = [] if args.gemm_only else [b for b in args.benches.split(",") if b]
  unknown = set(benches) - set(BENCHES)
  if unknown:
    p.error(f"unknown benches {sorted(unknown)}")
  if args.gemm or args.gemm_only:
    benches.append("gemm")
  jobs = []
  for bench in benches:
    if bench != "gemm" and not getattr(args, f"{BENCHES[bench]['repo']}_repo"):
      print(f"[{bench}] skipped: no --{BENCHES[bench]['repo']}_repo", file=sys.stderr)
      continue
    widths = [int(w) for w in args.encoder_widths.split(",")] if bench == "encoder" else [None]
    jobs += [(bench, bench_options(bench, args, w)) for w in widths]

  header = {"host": platform.node(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": sys.version.split()[0], "argv": sys.argv, "started": time.time(),
            "loadavg_start": os.getloadavg()}
  results = []
  for bench, opts in jobs:
    result = run_bench(bench, opts, args)
    if result is not None:
      results.append(result)
      print("\n" + markdown(result) + "\n", flush=True)
  header["loadavg_end"] = os.getloadavg()
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"header": header, "results": results}, f, indent=1)
    print(f"wrote {args.json}")
  print("## Summary (median over rounds)\n")
  print("| bench | shapes | ours | official | ours / official |")
  print("|---|---|---:|---:|---:|")
  for r in results:
    s = r["summary"]
    print(f"| {r['bench']} | {r['shapes']} | {s['median_ours']:.2f} {r['unit']} | "
          f"{s['median_official']:.2f} {r['unit']} | {s['median_ratio']:.2f} |")


if __name__ == "__main__":
  main()
