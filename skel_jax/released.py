r"""Released reference weights evaluated with our protocols, and our runs exported for PyTorch.

    python -m skel_jax.interop.convert aimclr_xsub_joint.pt /tmp/aimclr_xsub_joint.npz  # torch
    python -m skel_jax.released evaluate --weights=/tmp/aimclr_xsub_joint.npz \
        --config=configs/aimclr.py:ntu60_xsub --config.data.data_dir=/data/skel_jax \
        --workdir=/tmp/aimclr_released [--protocols=linear,knn,tsne]
    python -m skel_jax.released export --config=configs/aimclr.py:ntu60_xsub \
        --workdir=/tmp/aimclr_ntu60 --out=/tmp/aimclr_ntu60.npz [--step=N]

`evaluate`: the weights are any `.npz` the converter wrote (or a `.pt` when PyTorch is
installed): a pretraining checkpoint of one of the four methods (its `encoder_q` backbone is
used, as the reference's linear evaluation does: `processor/linear_evaluation.py` loads the
weights without `encoder_q.fc`, `encoder_k` and the queue) or a bare ST-GCN. The config
supplies the dataset, the stream, the model widths and graph (checked against the weights) and
the protocol settings; results go to `{workdir}/results.json` / `results.md` under the tag
`released`.

`export`: the latest (or `--step`) orbax checkpoint of the workdir is restored and written in
the layout of the reference PyTorch model of its method (skel_jax.interop.reference):
`encoder_q.*`, `encoder_k.*`, heads, predictors, queues and pointers. `--out` ending in `.npz`
needs numpy only; `.pt` needs PyTorch (or convert the `.npz` later with
skel_jax.interop.convert). In PyTorch, a SkeAttnCLR export loads with
`load_state_dict(sd, strict=False)`: the reference's modules that pretraining never runs
(`backbone.fc`, `neck.proj_obj`) are not in it.

These run the trainer and the evaluation, so they live here, beside skel_jax.run;
skel_jax.interop only converts formats.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence

import numpy as np

from skel_jax.interop import init_from, reference, state_dict_io

PROTOCOLS = ("linear", "knn", "tsne")
COMMANDS = ("evaluate", "export")


def evaluate_released(config, weights: str, workdir: str,
                      protocols: Sequence[str] = PROTOCOLS) -> dict:
  """Runs the frozen-feature protocols on the query backbone stored in `weights`.

  Args:
    config: a skel_jax config whose model matches the weights.
    weights: path of the `.npz` / `.pt` state_dict.
    workdir: where results.json, results.md, the logits and the t-SNE plot go.
    protocols: any of 'linear', 'knn', 'tsne'.

  Returns:
    The results dict of `skel_jax.evaluate.protocols.evaluate_variables`.

  Raises:
    ValueError: an unknown protocol.
    skel_jax.interop.stgcn_state_dict.StateDictError: the weights do not fit the config.
  """
  # Imported here: the data and evaluation stacks are heavy, and --help should stay fast.
  from skel_jax.data import registry  # pylint: disable=g-import-not-at-top
  from skel_jax.evaluate import protocols as protocols_lib  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(protocols) - set(PROTOCOLS))
  if unknown:
    raise ValueError(f"unknown protocols {unknown}; known: {PROTOCOLS}")
  variables = init_from.load_backbone_variables(weights, config)
  train, test = registry.load_splits(config)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  with open(os.path.join(workdir, "released_weights.txt"), "w") as f:
    f.write(os.path.abspath(weights) + "\n")
  return protocols_lib.evaluate_variables(config, workdir, variables, train, test,
                                          protocols=tuple(protocols), tag="released")


def export_checkpoint(config, workdir: str, out: str, step: int | None = None
                      ) -> dict[str, np.ndarray]:
  """Writes the checkpoint of `workdir` to `out` (`.npz` or `.pt`); returns the state_dict.

  Raises:
    FileNotFoundError: the workdir has no checkpoint.
  """
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  state = pretrain.restore_checkpoint(config, workdir, step)
  sd = reference.reference_from_state(state, config)
  if state_dict_io.is_torch_file(out):
    state_dict_io.write_torch_state_dict(sd, out)
  else:
    state_dict_io.save_npz_state_dict(sd, out)
  return sd


def _define_flags():
  """The flags of both commands, in absl's global FLAGS: only when run as a program, since
  importing must not add a `--config` flag that would clash with skel_jax.main's."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  return dict(
      config=config_flags.DEFINE_config_file(
          "config", None, "Config file (configs/<method>.py[:preset,key=value]) of the run, "
          "or matching the weights.", lock_config=True),
      workdir=flags.DEFINE_string("workdir", None, "evaluate: output directory for results and "
                                  "plots; export: the run's workdir."),
      weights=flags.DEFINE_string("weights", None, "evaluate: the .npz (or .pt) weights."),
      protocols=flags.DEFINE_list("protocols", list(PROTOCOLS), "evaluate: protocols to run."),
      out=flags.DEFINE_string("out", None, "export: output file (.npz, or .pt with PyTorch)."),
      step=flags.DEFINE_integer("step", None, "export: checkpoint step (default: latest)."))


def _evaluate_command(values: dict) -> None:
  logging.getLogger().setLevel(logging.INFO)
  config = values["config"]
  workdir = values["workdir"] or os.path.join(
      "workdirs", f"released_{config.method}_{config.get('preset', 'run')}_"
      f"{config.data.stream}")
  results = evaluate_released(config, values["weights"], workdir, values["protocols"])
  shown = {k: v for k, v in results.items() if isinstance(v, (int, float))}
  print(json.dumps(shown, indent=2, sort_keys=True))
  print(f"results in {workdir}")


def _export_command(values: dict) -> None:
  sd = export_checkpoint(values["config"], values["workdir"], values["out"], values["step"])
  print(f"wrote {os.path.abspath(values['out'])}: {len(sd)} arrays")


_REQUIRED = {"evaluate": ("config", "weights"), "export": ("config", "workdir", "out")}


def run_cli(command: str | None = None) -> None:
  """Runs `python -m skel_jax.released COMMAND --flags` (COMMAND given: the old entry points).
  """
  from absl import app  # pylint: disable=g-import-not-at-top

  from skel_jax import config_lib  # pylint: disable=g-import-not-at-top
  holders = _define_flags()

  def main(argv):
    args = argv[1:] if command is None else [command] + argv[1:]
    if len(args) != 1 or args[0] not in COMMANDS:
      raise app.UsageError(f"give one command among {COMMANDS}; got {args}")
    values = {name: holder.value for name, holder in holders.items()}
    missing = [f"--{name}" for name in _REQUIRED[args[0]] if values[name] is None]
    if missing:
      raise app.UsageError(f"{args[0]} needs {', '.join(missing)}")
    (_evaluate_command if args[0] == "evaluate" else _export_command)(values)

  app.run(main, argv=config_lib.resolve_config_argv(sys.argv))


if __name__ == "__main__":
  run_cli()
