"""Reading and writing reference state_dicts as files: `.npz` (numpy only) and `.pt` (PyTorch).

skel_jax keeps a PyTorch state_dict as an `.npz` with one array per key, in PyTorch layouts
(the form of the reference fixtures in ../shared/fixtures). Reading and writing `.npz` needs only
numpy; `.pt` files need PyTorch, an optional extra (`pip install -e .[torch]`), used by the
converter `python -m skel_jax.interop.convert`.

A `.pt` checkpoint may wrap the state_dict (`{'state_dict': ...}`, `{'model': ...}`) and may carry
DataParallel's `module.` prefix; `to_numpy_state_dict` unwraps both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from skel_jax import files

TORCH_HINT = ("reading or writing .pt files needs PyTorch, an optional extra of skel_jax:\n"
              "  pip install -e '.[torch]'   (from the skel_jax checkout; or: pip install torch)")
# Keys under which training scripts commonly nest the model's state_dict.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")
_PT_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt", ".bin")


class TorchMissingError(ImportError):
  """PyTorch is needed for a `.pt` file but is not installed."""


def is_torch_file(path: str | os.PathLike) -> bool:
  """Whether `path` names a PyTorch checkpoint (by its suffix)."""
  return os.fspath(path).lower().endswith(_PT_SUFFIXES)


def _is_array_like(value) -> bool:
  return isinstance(value, np.ndarray) or hasattr(value, "detach") or np.isscalar(value)


def _to_numpy(value) -> np.ndarray:
  """A torch tensor (duck-typed: `.detach()`), numpy array or scalar -> numpy array."""
  if hasattr(value, "detach"):
    value = value.detach().cpu()
    if str(getattr(value, "dtype", "")) == "torch.bfloat16":  # numpy has no bfloat16
      value = value.float()
    return np.asarray(value.numpy())
  return np.asarray(value)


def unwrap_state_dict(obj) -> Mapping:
  """The state_dict inside a loaded checkpoint object.

  Args:
    obj: what `torch.load` returned: a state_dict, or a dict holding one under 'state_dict',
      'model_state_dict', 'model', 'net' or 'weights'.

  Returns:
    The mapping of names to tensors.

  Raises:
    ValueError: when no state_dict is found (the message lists the top-level keys).
  """
  if not isinstance(obj, Mapping):
    raise ValueError(f"expected a state_dict (a mapping of names to tensors), got "
                     f"{type(obj).__name__}; save model.state_dict(), not the model")
  if obj and all(_is_array_like(v) for v in obj.values()):
    return obj
  for key in _WRAPPER_KEYS:
    if isinstance(obj.get(key), Mapping):
      return unwrap_state_dict(obj[key])
  raise ValueError(f"no state_dict found: top-level keys {sorted(obj)[:20]} hold no tensors and "
                   f"none of {_WRAPPER_KEYS} holds a state_dict")


def to_numpy_state_dict(obj) -> dict[str, np.ndarray]:
  """A (possibly wrapped) PyTorch state_dict as `{key: numpy array}`.

  Tensors become numpy arrays of the same dtype (bfloat16 becomes float32); non-array entries
  are dropped; a `module.` prefix shared by every key (nn.DataParallel) is removed.

  Args:
    obj: a state_dict or a checkpoint dict wrapping one (see `unwrap_state_dict`).

  Returns:
    The arrays by key, in the state_dict's order.
  """
  sd = unwrap_state_dict(obj)
  out = {str(k): _to_numpy(v) for k, v in sd.items() if _is_array_like(v)}
  if out and all(k.startswith("module.") for k in out):
    out = {k[len("module."):]: v for k, v in out.items()}
  return out


def import_torch():
  """`import torch`, or TorchMissingError with the install hint."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise TorchMissingError(TORCH_HINT) from e
  return torch


def read_torch_state_dict(path: str | os.PathLike, *, weights_only: bool = True
                          ) -> dict[str, np.ndarray]:
  """Reads a `.pt` checkpoint into numpy arrays (needs PyTorch).

  Args:
    path: the checkpoint file.
    weights_only: torch.load's safe mode (tensors and plain containers only). Pass False only
      for files you trust: it unpickles arbitrary objects.

  Raises:
    TorchMissingError: PyTorch is not installed (the message says how to install it).
    FileNotFoundError: the file does not exist.
  """
  torch = import_torch()
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such checkpoint file")
  try:
    obj = torch.load(path, map_location="cpu", weights_only=weights_only)
  except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
    hint = (" (if you trust the file: --trust_pickle, i.e. weights_only=False)"
            if weights_only else "")
    raise ValueError(f"{path}: torch.load failed: {e}{hint}") from e
  try:
    return to_numpy_state_dict(obj)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from e


def write_torch_state_dict(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
  """Writes numpy arrays as a PyTorch state_dict (`torch.save` of an OrderedDict of tensors)."""
  torch = import_torch()
  import collections  # pylint: disable=g-import-not-at-top
  tensors = collections.OrderedDict(
      (k, torch.from_numpy(np.ascontiguousarray(v))) for k, v in state_dict.items())
  files.atomic_write(path, lambda f: torch.save(tensors, f))


def load_npz_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Reads a state_dict stored as `.npz` (one array per key); numpy only.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is not a readable `.npz` (the message names it).
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such state_dict file")
  try:
    with np.load(path, allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  except (OSError, ValueError) as e:
    raise ValueError(f"{path}: not a readable .npz state_dict ({e})") from e


def save_npz_state_dict(state_dict: Mapping[str, np.ndarray], path: str | os.PathLike) -> None:
  """Writes a state_dict as `.npz` (uncompressed), atomically: a temporary file, then a rename."""
  arrays = {str(k): np.asarray(v) for k, v in state_dict.items()}
  files.atomic_write(path, lambda f: np.savez(f, **arrays))


def load_state_dict(path: str | os.PathLike, **torch_kwargs) -> dict[str, np.ndarray]:
  """An `.npz` state_dict, or a `.pt` one when PyTorch is installed, as numpy arrays."""
  if is_torch_file(path):
    return read_torch_state_dict(path, **torch_kwargs)
  return load_npz_state_dict(path)
