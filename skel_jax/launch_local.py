"""Starts a multi-process run on this machine: N processes of `skel_jax.main`, each with its own
CPU devices, joined by jax.distributed through a coordinator on a free localhost port.

    python -m skel_jax.launch_local --processes=2 --devices_per_process=2 -- \\
        --config=configs/skeletonclr.py:smoke --workdir=/tmp/sclr_2x2 --mode=pretrain

This is the multi-host path of a cluster (docs/devices.md) on one machine, without a cluster:
the tests use it to check that 2 processes x 2 devices compute what 1 process x 4 devices
computes, and experiments/benchmark_pretrain.py --processes=N to time the cross-process
collectives (gloo on CPU). Each process's output goes to `{log_dir}/process_<i>.{out,err}`
(default: the workdir); the exit status is the first non-zero status of the processes.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time

from absl import app, flags

_PROCESSES = flags.DEFINE_integer("processes", 2, "Number of processes.")
_DEVICES = flags.DEFINE_integer("devices_per_process", 1, "CPU devices of each process.")
_LOG_DIR = flags.DEFINE_string("process_logs", None, "Where each process's stdout / stderr go; "
                               "default: the --workdir passed on.")
_TIMEOUT = flags.DEFINE_float("timeout", 0, "Kill the processes after this many seconds "
                              "(0: no limit).")


@dataclasses.dataclass
class ProcessResult:
  """How one launched process ended."""
  process_id: int
  returncode: int
  stdout: str
  stderr: str


def free_port() -> int:
  """A TCP port that is free on localhost now (the coordinator binds it moments later)."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def process_env(devices: int, base: dict | None = None) -> dict:
  """The environment of one process: the CPU platform with `devices` devices."""
  env = dict(os.environ if base is None else base)
  flags_ = [f for f in env.get("XLA_FLAGS", "").split()
            if not f.startswith("--xla_force_host_platform_device_count")]
  env["XLA_FLAGS"] = " ".join(flags_ + [f"--xla_force_host_platform_device_count={devices}"])
  env["JAX_PLATFORMS"] = "cpu"
  return env


def process_command(main_args: list[str], process_id: int, processes: int,
                    coordinator: str, program: list[str] | None = None) -> list[str]:
  """The command line of process `process_id` (one process: no distributed flags)."""
  cmd = [*(program or [sys.executable, "-m", "skel_jax.main"]), *main_args]
  if processes > 1:
    cmd += [f"--coordinator_address={coordinator}", f"--num_processes={processes}",
            f"--process_id={process_id}"]
  return cmd


def launch(main_args: list[str], *, processes: int, devices_per_process: int,
           log_dir: str, timeout: float = 0, env: dict | None = None, cwd: str | None = None,
           program: list[str] | None = None) -> list[ProcessResult]:
  """Runs `program main_args` (default program: `python -m skel_jax.main`) as `processes`
  coordinated processes and waits; the program must take skel_jax.main's
  --coordinator_address, --num_processes and --process_id flags.

  On a timeout (or when any process fails) the processes still running are killed, so a run
  whose peer died does not wait for the coordination service's heartbeat timeout.
  """
  os.makedirs(log_dir, exist_ok=True)
  coordinator = f"127.0.0.1:{free_port()}"
  procs, files = [], []
  for i in range(processes):
    out = open(os.path.join(log_dir, f"process_{i}.out"), "w")  # pylint: disable=consider-using-with
    err = open(os.path.join(log_dir, f"process_{i}.err"), "w")  # pylint: disable=consider-using-with
    files += [out, err]
    procs.append(subprocess.Popen(
        process_command(main_args, i, processes, coordinator, program),
        stdout=out, stderr=err, env=process_env(devices_per_process, env), cwd=cwd))
  deadline = time.time() + timeout if timeout > 0 else None
  try:
    while any(p.poll() is None for p in procs):
      failed = any(p.returncode not in (None, 0) for p in procs)
      if failed or (deadline is not None and time.time() > deadline):
        break
      time.sleep(0.1)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
    for f in files:
      f.close()
  results = []
  for i, p in enumerate(procs):
    with open(os.path.join(log_dir, f"process_{i}.out")) as out, \
        open(os.path.join(log_dir, f"process_{i}.err")) as err:
      results.append(ProcessResult(i, p.returncode, out.read(), err.read()))
  return results


def _workdir(args: list[str]) -> str | None:
  given = [a.split("=", 1)[1] for a in args if a.startswith("--workdir=")]
  return given[-1] if given else None


def main(argv):
  main_args = argv[1:]
  log_dir = _LOG_DIR.value or _workdir(main_args)
  if not log_dir:
    raise app.UsageError("pass --process_logs or a --workdir=... for skel_jax.main after --")
  results = launch(main_args, processes=_PROCESSES.value,
                   devices_per_process=_DEVICES.value, log_dir=log_dir,
                   timeout=_TIMEOUT.value)
  for r in results:
    print(f"process {r.process_id}: exit status {r.returncode}; output in "
          f"{os.path.join(log_dir, f'process_{r.process_id}.out')} / .err")
  sys.stdout.write(results[0].stdout)
  failed = [r.returncode for r in results if r.returncode]
  sys.exit(failed[0] if failed else 0)


if __name__ == "__main__":
  app.run(main)
