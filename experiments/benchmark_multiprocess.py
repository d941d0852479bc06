r"""Pretraining samples/s with the same devices split over 1, 2 or 4 processes.

    python experiments/benchmark_multiprocess.py --processes=1,2,4 --devices=4 \
        --config=configs/skeletonclr.py:smoke --batch=32 --steps=20

For each process count N the script starts N coordinated processes on this machine
(skel_jax.launch_local: jax.distributed on localhost, gloo collectives on CPU), each with
devices / N forced CPU devices, so every layout trains on the same 4 devices and the same
global batch: what changes is only how the cross-device reductions travel (inside one process,
or between processes through gloo). Each process runs the real input path (its own rows,
`make_array_from_process_local_data`) and train step, compiled before the clock starts;
`--warmup` steps are excluded, then `--steps` steps are timed on process 0 up to the last
loss being on the host.

Prints a markdown table (samples/s, ms per step, relative to 1 process); `--json=PATH` also
writes the figures. On a CPU the processes share the machine's cores: the figures show the
overhead of the collectives there, not the scaling of real multi-host hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def worker(args) -> None:
  """One process of a timed run (started by `main` through launch_local)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from skel_jax.config_lib import load_config  # pylint: disable=g-import-not-at-top
  from skel_jax.data import (
    pipeline,  # pylint: disable=g-import-not-at-top
    registry,  # pylint: disable=g-import-not-at-top
  )
  from skel_jax.train import pretrain, sharding  # pylint: disable=g-import-not-at-top
  from skel_jax.train import step as step_lib  # pylint: disable=g-import-not-at-top

  if args.num_processes > 1:
    sharding.initialize_distributed(args.coordinator_address, args.num_processes,
                                    args.process_id)
  path, _, preset = args.config.partition(":")
  config = load_config(os.path.join(REPO, path), preset or "smoke")
  config.optim.batch_size = args.batch
  config.moco.queue_size = max(int(config.moco.queue_size), args.batch) // args.batch * args.batch
  config.data.num_train = max(int(config.data.num_train), args.batch * 4)
  train, _ = registry.load_splits(config)
  trainer = pretrain.Pretrainer(config, tempfile.mkdtemp(), train)
  step_fn = step_lib.make_train_step(
      trainer.method, trainer.tx, momentum_fn=trainer.momentum_fn, lr_fn=trainer.lr_fn,
      steps_per_epoch=trainer.steps_per_epoch, ema_order=config.moco.ema_order,
      ema_batch_stats=config.moco.ema_batch_stats, state_sharding=trainer.state_sharding,
      batch_sharding=trainer.batch_sharding)
  state = trainer.init_state()
  with jax.set_mesh(trainer.mesh):
    step_fn = trainer.compile_together(step_fn, state)  # all processes start together

  def run(start: int, stop: int) -> float:
    """Steps [start, stop); the last loss, once the device is done."""
    nonlocal state
    for step in range(start, stop):
      batch = trainer.put(pipeline.gather(train.x, trainer.batcher.local_indices(step)))
      with jax.set_mesh(trainer.mesh):
        state, metrics = step_fn(state, batch)
    return float(np.asarray(metrics["loss"]))  # waits for the device

  run(0, args.warmup)
  t0 = time.perf_counter()
  loss = run(args.warmup, args.warmup + args.steps)
  seconds = time.perf_counter() - t0
  if jax.process_index() == 0:
    print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                      "local_devices": jax.local_device_count(), "batch": args.batch,
                      "steps": args.steps, "seconds": seconds,
                      "samples_per_s": args.batch * args.steps / seconds,
                      "ms_per_step": 1e3 * seconds / args.steps, "loss": loss}))
  sharding.wait_for_all("benchmark_done")


def measure(processes: int, args) -> dict:
  """Launches one timed run with `processes` processes; returns process 0's figures."""
  from skel_jax import launch_local  # pylint: disable=g-import-not-at-top
  if args.devices % processes:
    raise ValueError(f"--devices={args.devices} does not split over {processes} processes")
  flags = [f"--config={args.config}", f"--batch={args.batch}", f"--steps={args.steps}",
           f"--warmup={args.warmup}"]
  logs = tempfile.mkdtemp(prefix=f"bench_{processes}p_")
  results = launch_local.launch(flags, processes=processes,
                                devices_per_process=args.devices // processes, log_dir=logs,
                                timeout=args.timeout, cwd=REPO,
                                program=[sys.executable, os.path.abspath(__file__), "--worker"])
  failed = [r for r in results if r.returncode]
  if failed:
    raise RuntimeError(f"process {failed[0].process_id} failed:\n{failed[0].stderr[-3000:]}")
  return json.loads([line for line in results[0].stdout.splitlines()
                     if line.startswith("{")][-1])


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--processes", default="1,2,4", help="process counts to compare")
  parser.add_argument("--devices", type=int, default=4, help="CPU devices in all")
  parser.add_argument("--config", default="configs/skeletonclr.py:smoke")
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--timeout", type=float, default=1800)
  parser.add_argument("--json", default="")
  # Set by `measure` for the processes it starts.
  parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--num_processes", type=int, default=1, help=argparse.SUPPRESS)
  parser.add_argument("--coordinator_address", default=None, help=argparse.SUPPRESS)
  parser.add_argument("--process_id", type=int, default=0, help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def main():
  args = parse_args()
  if args.worker:
    worker(args)
    return
  rows = [measure(int(n), args) for n in args.processes.split(",")]
  base = rows[0]["samples_per_s"]
  print(f"{args.config}, global batch {args.batch}, {args.devices} CPU devices in all, "
        f"{args.steps} timed steps after {args.warmup}; {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}")
  print("| processes x devices | samples/s | ms / step | vs 1 process |")
  print("|---|---|---|---|")
  for r in rows:
    print(f"| {r['processes']} x {r['local_devices']} | {r['samples_per_s']:.1f} | "
          f"{r['ms_per_step']:.0f} | {r['samples_per_s'] / base:.2f} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"args": vars(args), "rows": rows}, f, indent=2)


if __name__ == "__main__":
  main()
