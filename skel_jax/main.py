"""Command-line entry point (flags only; the work is in skel_jax.run).

    python -m skel_jax.main --config=configs/aimclr.py --workdir=/tmp/aimclr
    python -m skel_jax.main --config=configs/skeletonclr.py:nwucla,stream=bone \\
        --workdir=/tmp/sclr_bone --mode=pretrain --config.optim.epochs=10

Methods (configs/<method>.py): skeletonclr, aimclr, skelemixclr, skeattnclr.
Presets (after the colon): demo (default), smoke, nwucla, ntu60_xsub, ntu60_xview,
ntu120_xsub, ntu120_xset, pku1_xsub, pku1_xview, pku2_xsub, pku2_xview; then key=value pairs
(stream=joint|motion|bone, frames, epochs, batch, hidden, seed). Any config field can be set
with --config.<field>=<value>.

SIGTERM or Ctrl-C stops pretraining after the current step with a checkpoint and exit status
0; the same command resumes. An error the user can fix (a missing dataset, a bad file, a
config typo) prints one short message and exits with status 1 (2 for a bad flag);
--verbose shows the traceback instead.
"""

from __future__ import annotations

import sys

from skel_jax import allocator

if __name__ == "__main__":
  # First thing, before the heavy imports: restart once with glibc's heap tunables, which
  # glibc only reads at process start (skel_jax/allocator.py; SKEL_JAX_MALLOC=system: no
  # restart). Here rather than below app.run, so the restart does not import JAX twice.
  allocator.reexec_with_heap_tunables(["-m", "skel_jax.main", *sys.argv[1:]])

# ruff: noqa: E402 (the imports below come after the restart on purpose)
import json
import logging
import os

import jax
from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from skel_jax import config_lib
from skel_jax import run as run_lib
from skel_jax.data.errors import DataError
from skel_jax.evaluate import seeds as seeds_lib
from skel_jax.train import checkpoint as ckpt_lib
from skel_jax.train import preemption, sharding

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/<method>.py"
                                          "[:preset,key=value]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (checkpoints, logs, results);"
                               " default: workdirs/<method>_<preset>.")
_MODE = flags.DEFINE_enum("mode", "all", run_lib.MODES, "Which stage(s) to run.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Multi-process run: call jax.distributed.initialize() first (see "
    "docs/devices.md). The three flags below default to JAX's detection (TPU pods, SLURM, "
    "Open MPI); setting any of them implies --multihost.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0's coordination service, the same for "
    "every process (default: detected, or $JAX_COORDINATOR_ADDRESS).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes in the run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's id, 0 .. "
                                   "num_processes - 1 (process 0 writes results and logs).")
_SEEDS = flags.DEFINE_string(
    "seeds", "", "Run once per seed (e.g. 0,1,2 or 0-4) in WORKDIR/seed_<s> and report the "
    "mean, standard deviation and worst seed in WORKDIR/results.md; overrides config.seed.")
_VERBOSE = flags.DEFINE_bool("verbose", False, "Show the full traceback of an error instead "
                             "of a one-line message.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Before JAX's first computation: XLA:CPU's temporaries reuse freed memory instead of
  # page-faulting it in again every call (skel_jax/allocator.py; SKEL_JAX_MALLOC=system: off;
  # a no-op where the restart at the top put the tunables in force).
  allocator.configure()
  # Library chatter (orbax logs every file it renames) at WARNING; our own messages at INFO.
  absl_logging.set_verbosity(absl_logging.WARNING)
  ours = logging.getLogger("skel_jax")
  ours.setLevel(logging.INFO)
  if not ours.handlers:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    ours.addHandler(handler)
    ours.propagate = False
  distributed = {"coordinator_address": _COORDINATOR.value,
                 "num_processes": _NUM_PROCESSES.value, "process_id": _PROCESS_ID.value}
  sharding.maybe_initialize_distributed(
      _MULTIHOST.value or any(v is not None for v in distributed.values()), **distributed)
  if jax.process_index() != 0:
    # Progress and messages once, from process 0; the others still print warnings.
    ours.setLevel(logging.WARNING)
  _run(_CONFIG.value)
  # Process 0 evaluates and writes after the collective work; the others wait for it rather
  # than leave the run (their shutdown would time out during a long evaluation). Not on an
  # error: a process that dies ends the others through the coordination service.
  sharding.wait_for_all("skel_jax_main_done")


def _run(config) -> None:
  """Runs the configured job (the seeds of --seeds, or one run) and prints its results."""
  workdir = _WORKDIR.value or os.path.join(
      "workdirs", f"{config.method}_{config.get('preset', 'run')}_{config.data.stream}")
  if _SEEDS.value:
    seeds = seeds_lib.parse_seeds(_SEEDS.value)
    agg = run_lib.run_seeds(config, workdir, _MODE.value, seeds)
    if agg:
      print(seeds_lib.format_markdown(workdir, agg, seeds))
      print(f"results in {os.path.join(workdir, 'results.md')}")
    return
  results = run_lib.run(config, workdir, _MODE.value)
  if results:
    shown = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    print(json.dumps(shown, indent=2, sort_keys=True))
    print(f"results in {os.path.join(workdir, 'results.md')}")


# Errors with a message that tells the user what to fix: bad or missing data, an unreadable
# checkpoint, a file system problem, a config value out of range.
_USER_ERRORS = (DataError, ckpt_lib.UnreadableCheckpointError, OSError, ValueError)


def main_with_errors(argv):
  """`main`, with preemption as a clean exit and user errors as one short message."""
  try:
    main(argv)
  except preemption.Preempted:
    return  # already logged where it stopped; exit status 0 so schedulers do not retry
  except _USER_ERRORS as e:
    if _VERBOSE.value:
      raise
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad flag or config override as a short message (exit 2)."""
  try:
    _check_config_file(argv)
    return flags.FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    if "--verbose" in argv:
      raise
    print(f"error: {flag_error_message(e, argv)}\nsee: python -m skel_jax.main --help",
          file=sys.stderr)
    sys.exit(2)


def _check_config_file(argv: list[str]) -> None:
  """A missing --config or config file, found before ml_collections defers the error."""
  if any(a in ("-h", "--help", "--helpshort", "--helpfull", "-?") for a in argv):
    return
  given = [a.split("=", 1)[1] for a in argv if a.startswith("--config=")]
  if not given or not given[-1]:
    raise app.UsageError("--config is required, e.g. --config=configs/skeletonclr.py:demo")
  path = given[-1].split(":", 1)[0]
  if not os.path.isfile(path):
    raise app.UsageError(f"--config={given[-1]}: config file {path} not found; use "
                         "configs/<method>.py with a method of skeletonclr, aimclr, "
                         "skelemixclr, skeattnclr")


def flag_error_message(e: BaseException, argv: list[str]) -> str:
  """A readable message for a flag parsing error.

  ml_collections reports a misspelt `--config.a.b` override as an AttributeError wrapping a
  KeyError whose text is the repr of another message; unwrap it and name the flag.
  """
  while e.args and isinstance(e.args[0], BaseException):
    e = e.args[0]
  text = str(e.args[0]) if e.args else str(e)
  if "Traceback (most recent call last)" in text:
    # ml_collections puts the config file's traceback in the message: keep its last line,
    # the exception the config raised, after the flag it came from.
    configs = [a for a in argv if a.startswith("--config=")]
    flag = configs[-1] if configs else "--config"
    last = [line for line in text.splitlines() if line.strip()][-1]
    return f"{flag}: {last.split(': ', 1)[-1]}"
  if isinstance(e, (KeyError, AttributeError)):
    key, _, hint = text.partition("\n")
    key = key.strip("'\"")
    overrides = [a.split("=", 1)[0] for a in argv if a.startswith("--config.")]
    named = [a for a in overrides if a.split(".")[-1] == key or f".{key}." in a]
    where = named[0] if named else "--config"
    return f"{where}: the config has no field {key!r}." + (f" {hint}" if hint else "")
  return text


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  # configs/<method>.py resolves from any directory and from an installed package.
  app.run(main_with_errors, argv=config_lib.resolve_config_argv(sys.argv),
          flags_parser=parse_flags)
