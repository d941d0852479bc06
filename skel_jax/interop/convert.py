r"""Converts reference PyTorch checkpoints to `.npz` and back: `python -m skel_jax.interop.convert`.

    python -m skel_jax.interop.convert aimclr_joint_xsub.pt aimclr_joint_xsub.npz
    python -m skel_jax.interop.convert exported.npz exported.pt      # back to PyTorch

The direction follows the suffixes: a `.pt` / `.pth` / `.tar` / `.ckpt` input is read with
`torch.load` (safe `weights_only` mode unless `--trust_pickle`) and written as an `.npz` with
one array per state_dict key, in PyTorch layouts; an `.npz` input is written as a PyTorch
state_dict. Only this command needs PyTorch (`pip install -e '.[torch]'`); skel_jax reads the
`.npz` with numpy alone (skel_jax.interop.init_from, `config.init_from`,
`python -m skel_jax.released evaluate`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from absl import flags

from skel_jax import cli
from skel_jax.interop import state_dict_io
from skel_jax.interop.stgcn_state_dict import StateDictError

_DESCRIPTIONS = {
    "moco": "a SkeletonCLR / AimCLR / SkeleMixCLR pretraining model (encoder_q.*)",
    "skeattn": "a SkeAttnCLR pretraining model (encoder_q.backbone.*)",
    "stgcn": "a bare ST-GCN (st_gcn_networks.*)",
}


def describe(state_dict) -> str:
  """One line on what a state_dict holds (kind, keys, scalars), for the converter's output."""
  from skel_jax.interop import reference  # pylint: disable=g-import-not-at-top
  try:
    kind = _DESCRIPTIONS[reference.detect_kind(state_dict)]
  except StateDictError:
    kind = "not an ST-GCN model known to skel_jax"
  size = sum(int(np.asarray(v).size) for v in state_dict.values())
  return f"{len(state_dict)} arrays, {size:,} numbers: {kind}"


def convert(src: str, dst: str, *, trust_pickle: bool = False) -> dict[str, np.ndarray]:
  """Converts `src` to `dst` (`.pt` -> `.npz` or `.npz` -> `.pt`); returns the arrays.

  Raises:
    ValueError: the suffixes do not name one PyTorch and one `.npz` file.
    state_dict_io.TorchMissingError: PyTorch is not installed.
  """
  src_pt, dst_pt = state_dict_io.is_torch_file(src), state_dict_io.is_torch_file(dst)
  if src_pt and dst.lower().endswith(".npz"):
    sd = state_dict_io.read_torch_state_dict(src, weights_only=not trust_pickle)
    state_dict_io.save_npz_state_dict(sd, dst)
    return sd
  if src.lower().endswith(".npz") and dst_pt:
    sd = state_dict_io.load_npz_state_dict(src)
    state_dict_io.write_torch_state_dict(sd, dst)
    return sd
  raise ValueError(f"cannot convert {src!r} to {dst!r}: give a .pt/.pth file and an .npz file "
                   "(in either order)")


_PROG = "python -m skel_jax.interop.convert"
_FLAGS = flags.FlagValues()
_TRUST_PICKLE = flags.DEFINE_bool(
    "trust_pickle", False, "torch.load with weights_only=False (only for files you trust)",
    flag_values=_FLAGS)


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (arguments without the program name); returns the exit status."""
  files = cli.parse(_FLAGS, argv, _PROG, f"{_PROG} SRC DST: reference PyTorch checkpoint "
                    "(.pt/.pth) <-> numpy state_dict (.npz); the suffixes give the direction.")
  if len(files) != 2:
    raise SystemExit(cli.usage_error(f"give SRC and DST files; got {files}", _PROG))
  src, dst = files
  try:
    sd = convert(src, dst, trust_pickle=_TRUST_PICKLE.value)
  except state_dict_io.TorchMissingError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"wrote {dst}: {describe(sd)}")
  return 0


if __name__ == "__main__":
  cli.run_tool(main)
