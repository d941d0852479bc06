r"""Memory of one jitted pretraining step: will a method fit on this machine at these shapes?

    python experiments/memory_profile.py --methods=skelemixclr,skeattnclr --batch=128 \
        --frames=64 --hidden=16

For every method the full-size reference config (configs/<method>.py:ntu60_xsub, K = 32768,
two persons) with the given batch, frames and width is lowered and compiled for the local
backend, without running it (abstract inputs from `jax.eval_shape`, so nothing of the size
of the step is allocated). Prints XLA's `memory_analysis()` of the step: the temporaries
(activations kept for the backward pass, and the workspace at the step's peak), the
arguments (train state and batch) and the outputs. The temporaries grow linearly with the
batch; a step fits when temporaries plus twice the arguments (state in and out) fit in the
device's memory.

`--dump_dir=DIR` also writes XLA's buffer assignment and live ranges there
(`--xla_dump_to`); its `*live-range.txt` names the operations alive at the peak
(docs/benchmarks.md, Memory, says what that showed).
"""

from __future__ import annotations

import argparse
import functools
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def step_memory(method_name: str, batch: int, frames: int, hidden: int,
                conv_impl: str | None = None) -> dict:
  """XLA's memory analysis (GB) of one compiled train step at these shapes."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from skel_jax import methods  # pylint: disable=g-import-not-at-top
  from skel_jax.config_lib import load_config  # pylint: disable=g-import-not-at-top
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  from skel_jax.train import step as step_lib  # pylint: disable=g-import-not-at-top

  config = load_config(os.path.join(REPO, "configs", f"{method_name}.py"),
                       f"ntu60_xsub,batch={batch},frames={frames},hidden={hidden}")
  if conv_impl:
    config.model.conv_impl = conv_impl
  method = methods.get_method(config.method)(config, config.data.layout)
  steps_per_epoch = 1000
  tx, lr_fn = pretrain.make_optimizer(config.optim, steps_per_epoch)
  momentum = pretrain.make_momentum_fn(config.moco, steps_per_epoch, config.optim.epochs)
  clips = jax.ShapeDtypeStruct((batch, 2, frames, 25, 3), np.float32)  # [N, M, T, V, C]
  create = functools.partial(step_lib.create_train_state, method, tx,
                             queue_size=int(config.moco.queue_size),
                             key_init=config.moco.key_init)
  state = jax.eval_shape(create, jax.random.key(0), clips)
  train_step = step_lib.make_train_step(
      method, tx, momentum_fn=momentum, lr_fn=lr_fn, steps_per_epoch=steps_per_epoch,
      ema_order=config.moco.ema_order, ema_batch_stats=config.moco.ema_batch_stats)
  analysis = train_step.lower(state, clips).compile().memory_analysis()
  if analysis is None:
    raise RuntimeError(f"the {jax.default_backend()} backend gives no memory analysis")
  return {"method": method_name, "batch": batch, "frames": frames, "hidden": hidden,
          "conv_impl": config.model.conv_impl, "backend": jax.default_backend(),
          "temp_gb": analysis.temp_size_in_bytes / 1e9,
          "argument_gb": analysis.argument_size_in_bytes / 1e9,
          "output_gb": analysis.output_size_in_bytes / 1e9}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--methods", default="skeletonclr,aimclr,skelemixclr,skeattnclr")
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--frames", type=int, default=64)
  parser.add_argument("--hidden", type=int, default=16)
  parser.add_argument("--conv_impl", default=None, help="override model.conv_impl")
  parser.add_argument("--dump_dir", default=None, help="also write XLA's buffer assignment")
  parser.add_argument("--json", default=None, help="write the rows here")
  args = parser.parse_args(argv)
  if args.dump_dir:  # before jax is imported
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_dump_to={args.dump_dir}"
                               " --xla_dump_hlo_as_text --xla_dump_hlo_pass_re=NONE").strip()
  rows = []
  print("| method | batch | T | h | conv_impl | temporaries GB | arguments GB | outputs GB |")
  print("|---|---:|---:|---:|---|---:|---:|---:|")
  for name in args.methods.split(","):
    row = step_memory(name, args.batch, args.frames, args.hidden, args.conv_impl)
    rows.append(row)
    print(f"| {name} | {row['batch']} | {row['frames']} | {row['hidden']} | {row['conv_impl']} | "
          f"{row['temp_gb']:.2f} | {row['argument_gb']:.3f} | {row['output_gb']:.3f} |",
          flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  main()
