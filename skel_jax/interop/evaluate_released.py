r"""Evaluates released reference weights with skel_jax's protocols (linear, KNN, t-SNE).

    python -m skel_jax.interop.convert aimclr_xsub_joint.pt /tmp/aimclr_xsub_joint.npz  # torch
    python -m skel_jax.interop.evaluate_released --weights=/tmp/aimclr_xsub_joint.npz \
        --config=configs/aimclr.py:ntu60_xsub --config.data.data_dir=/data/skel_jax \
        --workdir=/tmp/aimclr_released [--protocols=linear,knn,tsne]

The weights are any `.npz` the converter wrote (or a `.pt` when PyTorch is installed): a
pretraining checkpoint of one of the four methods (its `encoder_q` backbone is used, as the
reference's linear evaluation does, spec 1.8) or a bare ST-GCN. The config supplies the dataset,
the stream, the model widths and graph (checked against the weights) and the protocol settings;
results go to `{workdir}/results.json` / `results.md` under the tag `released`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence

from absl import app, flags
from ml_collections import config_flags

PROTOCOLS = ("linear", "knn", "tsne")

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
  from skel_jax.evaluate import protocols as protocols_lib  # pylint: disable=g-import-not-at-top
  from skel_jax.interop import init_from  # pylint: disable=g-import-not-at-top
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  unknown = sorted(set(protocols) - set(PROTOCOLS))
  if unknown:
    raise ValueError(f"unknown protocols {unknown}; known: {PROTOCOLS}")
  variables = init_from.load_backbone_variables(weights, config)
  train, test = pretrain.load_splits(config)
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))
  with open(os.path.join(workdir, "released_weights.txt"), "w") as f:
    f.write(os.path.abspath(weights) + "\n")
  return protocols_lib.evaluate_variables(config, workdir, variables, train, test,
                                          protocols=tuple(protocols), tag="released")


def _run_cli() -> None:
  """Defines the flags (only when run as a program: importing must not add absl flags, which
  would clash with skel_jax.main's `--config` in the same process) and runs."""
  config_flag = config_flags.DEFINE_config_file(
      "config", None, "Config file (configs/<method>.py[:preset,key=value]) matching the "
      "weights.", lock_config=True)
  weights_flag = flags.DEFINE_string("weights", None, "The .npz (or .pt) weights to evaluate.")
  workdir_flag = flags.DEFINE_string("workdir", None, "Output directory for results and plots.")
  protocols_flag = flags.DEFINE_list("protocols", list(PROTOCOLS), "Protocols to run.")

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.getLogger().setLevel(logging.INFO)
    config = config_flag.value
    workdir = workdir_flag.value or os.path.join(
        "workdirs", f"released_{config.method}_{config.get('preset', 'run')}_"
        f"{config.data.stream}")
    results = evaluate_released(config, weights_flag.value, workdir, protocols_flag.value)
    shown = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    print(json.dumps(shown, indent=2, sort_keys=True))
    print(f"results in {workdir}")

  flags.mark_flags_as_required(["config", "weights"])
  app.run(main)


if __name__ == "__main__":
  _run_cli()
