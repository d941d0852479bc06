r"""Exports a skel_jax pretraining checkpoint as a reference-layout state_dict.

    python -m skel_jax.interop.export --config=configs/aimclr.py:ntu60_xsub \
        --workdir=/tmp/aimclr_ntu60 --out=/tmp/aimclr_ntu60.npz [--step=N]

The latest (or `--step`) orbax checkpoint of the workdir is restored and written in the
layout of the reference PyTorch model of its method (skel_jax.interop.reference): `encoder_q.*`,
`encoder_k.*`, heads, predictors, queues and pointers. `--out` ending in `.npz` needs numpy
only; `.pt` needs PyTorch (or convert the `.npz` later with skel_jax.interop.convert). In
PyTorch, a SkeAttnCLR export loads with `load_state_dict(sd, strict=False)`: the reference's
modules that pretraining never runs (`backbone.fc`, `neck.proj_obj`) are not in it.
"""

from __future__ import annotations

import os

import numpy as np

from skel_jax.interop import reference, state_dict_io


def export_checkpoint(config, workdir: str, out: str, step: int | None = None
                      ) -> dict[str, np.ndarray]:
  """Writes the checkpoint of `workdir` to `out` (`.npz` or `.pt`); returns the state_dict."""
  from skel_jax.train import pretrain  # pylint: disable=g-import-not-at-top
  sd = reference.reference_from_state(pretrain.restore_checkpoint(config, workdir, step), config)
  if state_dict_io.is_torch_file(out):
    state_dict_io.write_torch_state_dict(sd, out)
  else:
    state_dict_io.save_npz_state_dict(sd, out)
  return sd


def _run_cli() -> None:
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flag = config_flags.DEFINE_config_file("config", None, "The run's config file.",
                                                lock_config=True)
  workdir_flag = flags.DEFINE_string("workdir", None, "The run's workdir.")
  out_flag = flags.DEFINE_string("out", None, "Output file (.npz, or .pt with PyTorch).")
  step_flag = flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).")

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    sd = export_checkpoint(config_flag.value, workdir_flag.value, out_flag.value,
                           step_flag.value)
    print(f"wrote {os.path.abspath(out_flag.value)}: {len(sd)} arrays")

  flags.mark_flags_as_required(["config", "workdir", "out"])
  app.run(main)


if __name__ == "__main__":
  _run_cli()
