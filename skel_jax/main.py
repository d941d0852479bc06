"""Command-line entry point (flags only; the work is in skel_jax.run).

    python -m skel_jax.main --config=configs/aimclr.py --workdir=/tmp/aimclr
    python -m skel_jax.main --config=configs/skeletonclr.py:nwucla,stream=bone \\
        --workdir=/tmp/sclr_bone --mode=pretrain --config.optim.epochs=10
"""

from __future__ import annotations

import json
import logging
import os
import sys

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from skel_jax import config_lib
from skel_jax import run as run_lib
from skel_jax.train import sharding

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/<method>.py"
                                          "[:preset,key=value]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (checkpoints, logs, results);"
                               " default: workdirs/<method>_<preset>.")
_MODE = flags.DEFINE_enum("mode", "all", run_lib.MODES, "Which stage(s) to run.")
_MULTIHOST = flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Library chatter (orbax logs every file it renames) at WARNING; our own messages at INFO.
  absl_logging.set_verbosity(absl_logging.WARNING)
  ours = logging.getLogger("skel_jax")
  ours.setLevel(logging.INFO)
  if not ours.handlers:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    ours.addHandler(handler)
    ours.propagate = False
  sharding.maybe_initialize_distributed(_MULTIHOST.value)
  config = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join(
      "workdirs", f"{config.method}_{config.get('preset', 'run')}_{config.data.stream}")
  results = run_lib.run(config, workdir, _MODE.value)
  if results:
    shown = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    print(json.dumps(shown, indent=2, sort_keys=True))
    print(f"results in {os.path.join(workdir, 'results.md')}")


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  # configs/<method>.py resolves from any directory and from an installed package.
  app.run(main, argv=config_lib.resolve_config_argv(sys.argv))
