"""Plain ST-GCN PyTorch state_dicts <-> skel_jax variables (the layout of net/st_gcn.py).

The reference `net.st_gcn.Model` state_dict (AimCLR, SkeletonCLR/CrosSCLR and SkeleMixCLR use
the same keys, prefixed by ``encoder_q.`` / ``encoder_k.`` in the pretraining checkpoints) maps
onto `skel_jax.models.stgcn.STGCN` as follows (PyTorch layouts on the left):

| state_dict key                               | skel_jax variable                          |
|----------------------------------------------|--------------------------------------------|
| data_bn.{weight,bias,running_mean,running_var}| data_bn {scale,bias} / batch_stats {mean,var}|
| st_gcn_networks.i.gcn.conv.weight [K*O,I,1,1]| block{i}/gcn/conv/kernel [1, I, K*O]        |
| st_gcn_networks.i.tcn.0.*  (BN)              | block{i}/tcn_bn1                           |
| st_gcn_networks.i.tcn.2.weight [O,O,9,1]     | block{i}/tcn_conv/kernel [9, O, O]         |
| st_gcn_networks.i.tcn.3.*  (BN)              | block{i}/tcn_bn2                           |
| st_gcn_networks.i.residual.0.weight [O,I,1,1]| block{i}/residual_conv/kernel [1, I, O]    |
| st_gcn_networks.i.residual.1.*  (BN)         | block{i}/residual_bn                       |
| edge_importance.i [K,V,V]                    | block{i}/gcn/edge_importance               |
| fc.weight [out, D], fc.bias                  | fc/kernel [D, out], fc/bias                |

Only numpy is needed; reading `.pt` files is the job of the converter (needs PyTorch).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

_BN_FIELDS = (("weight", "params", "scale"), ("bias", "params", "bias"),
              ("running_mean", "batch_stats", "mean"), ("running_var", "batch_stats", "var"))


class StateDictError(KeyError):
  """A state_dict does not have the expected ST-GCN keys or shapes."""


def _conv_kernel(w: np.ndarray) -> np.ndarray:
  """PyTorch conv weight `[O, I, kt, 1]` (or Linear `[O, I]`) -> our `[kt, I, O]`."""
  if w.ndim == 2:
    return w.T[None]
  return np.transpose(w[..., 0], (2, 1, 0))


def _set(tree: dict, path: tuple[str, ...], value: np.ndarray) -> None:
  for name in path[:-1]:
    tree = tree.setdefault(name, {})
  tree[path[-1]] = np.asarray(value, np.float32)


def _bn(sd, key, out, path):
  for torch_name, collection, ours in _BN_FIELDS:
    _set(out[collection], (*path, ours), sd[f"{key}.{torch_name}"])


def stgcn_variables_from_state_dict(state_dict: Mapping[str, np.ndarray],
                                    prefix: str = "") -> dict:
  """Converts an ST-GCN state_dict (numpy arrays) to `{'params', 'batch_stats'}`.

  Args:
    state_dict: key -> array, e.g. `dict(np.load('stgcn_state_dict.npz'))`.
    prefix: key prefix to strip, e.g. 'encoder_q.' for a pretraining checkpoint.

  Returns:
    Variables for `STGCN(...)` with the same widths; `fc` is included when present.

  Raises:
    StateDictError: when a required key is missing (the message names it).
  """
  sd = {k[len(prefix):]: np.asarray(v) for k, v in state_dict.items() if k.startswith(prefix)}
  out = {"params": {}, "batch_stats": {}}
  try:
    _bn(sd, "data_bn", out, ("data_bn",))
    blocks = sorted({int(m.group(1)) for k in sd
                     if (m := re.match(r"st_gcn_networks\.(\d+)\.", k))})
    if not blocks:
      raise StateDictError(f"no 'st_gcn_networks.*' keys under prefix {prefix!r}")
    for i in blocks:
      key, path = f"st_gcn_networks.{i}", (f"block{i}",)
      _set(out["params"], (*path, "gcn", "conv", "kernel"),
           _conv_kernel(sd[f"{key}.gcn.conv.weight"]))
      _set(out["params"], (*path, "gcn", "conv", "bias"), sd[f"{key}.gcn.conv.bias"])
      importance = sd.get(f"edge_importance.{i}")
      if importance is None:  # edge_importance_weighting=False: a fixed mask of ones
        importance = np.ones_like(sd["A"]) if "A" in sd else None
      if importance is None:
        raise StateDictError(f"neither 'edge_importance.{i}' nor 'A' in the state_dict")
      _set(out["params"], (*path, "gcn", "edge_importance"), importance)
      _bn(sd, f"{key}.tcn.0", out, (*path, "tcn_bn1"))
      _set(out["params"], (*path, "tcn_conv", "kernel"), _conv_kernel(sd[f"{key}.tcn.2.weight"]))
      _set(out["params"], (*path, "tcn_conv", "bias"), sd[f"{key}.tcn.2.bias"])
      _bn(sd, f"{key}.tcn.3", out, (*path, "tcn_bn2"))
      if f"{key}.residual.0.weight" in sd:
        _set(out["params"], (*path, "residual_conv", "kernel"),
             _conv_kernel(sd[f"{key}.residual.0.weight"]))
        _set(out["params"], (*path, "residual_conv", "bias"), sd[f"{key}.residual.0.bias"])
        _bn(sd, f"{key}.residual.1", out, (*path, "residual_bn"))
    if "fc.weight" in sd:
      _set(out["params"], ("fc", "kernel"), sd["fc.weight"].T)
      _set(out["params"], ("fc", "bias"), sd["fc.bias"])
  except KeyError as e:
    raise StateDictError(f"state_dict misses key {prefix}{e.args[0]}") from e
  return out


def stgcn_variables_to_state_dict(variables: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
  """The inverse of `stgcn_variables_from_state_dict` (PyTorch layouts, numpy arrays)."""
  params, stats = variables["params"], variables.get("batch_stats", {})
  sd: dict[str, np.ndarray] = {}

  def bn(key, name, block=None):
    p = params[block][name] if block else params[name]
    s = stats[block][name] if block else stats[name]
    sd[f"{prefix}{key}.weight"] = np.asarray(p["scale"])
    sd[f"{prefix}{key}.bias"] = np.asarray(p["bias"])
    sd[f"{prefix}{key}.running_mean"] = np.asarray(s["mean"])
    sd[f"{prefix}{key}.running_var"] = np.asarray(s["var"])
    sd[f"{prefix}{key}.num_batches_tracked"] = np.zeros((), np.int64)

  def conv(w):  # our [kt, I, O] -> PyTorch [O, I, kt, 1]
    return np.transpose(np.asarray(w), (2, 1, 0))[..., None]

  bn("data_bn", "data_bn")
  blocks = sorted(int(k[5:]) for k in params if k.startswith("block"))
  for i in blocks:
    b, key = params[f"block{i}"], f"st_gcn_networks.{i}"
    sd[f"{prefix}{key}.gcn.conv.weight"] = conv(b["gcn"]["conv"]["kernel"])
    sd[f"{prefix}{key}.gcn.conv.bias"] = np.asarray(b["gcn"]["conv"]["bias"])
    bn(f"{key}.tcn.0", "tcn_bn1", f"block{i}")
    sd[f"{prefix}{key}.tcn.2.weight"] = conv(b["tcn_conv"]["kernel"])
    sd[f"{prefix}{key}.tcn.2.bias"] = np.asarray(b["tcn_conv"]["bias"])
    bn(f"{key}.tcn.3", "tcn_bn2", f"block{i}")
    if "residual_conv" in b:
      sd[f"{prefix}{key}.residual.0.weight"] = conv(b["residual_conv"]["kernel"])
      sd[f"{prefix}{key}.residual.0.bias"] = np.asarray(b["residual_conv"]["bias"])
      bn(f"{key}.residual.1", "residual_bn", f"block{i}")
    sd[f"{prefix}edge_importance.{i}"] = np.asarray(b["gcn"]["edge_importance"])
  if "fc" in params:
    sd[f"{prefix}fc.weight"] = np.asarray(params["fc"]["kernel"]).T
    sd[f"{prefix}fc.bias"] = np.asarray(params["fc"]["bias"])
  return sd
