"""Full pretraining checkpoints of the reference PyTorch code <-> skel_jax train-state pieces.

The official pretraining models (CrosSCLR net/skeletonclr.py, AimCLR net/aimclr.py,
SkeleMixCLR net/skeletonclr_multi_swapv2.py, SkeAttnCLR net/SkeAttnCLR.py) save one state_dict
holding the query encoder, the key encoder, the heads, the predictors and the queues. This
module maps it onto the pieces of `skel_jax.train.step.TrainState` (params, batch_stats,
key_params, key_batch_stats, queues, queue_ptr) and back, for all four methods, so that
released weights can be evaluated and a reference run can be resumed in skel_jax.

Key layout (PyTorch layouts on the left; the ST-GCN part is the table of `stgcn_state_dict`):

MoCo family: SkeletonCLR, AimCLR, SkeleMixCLR(+); `E` is
`encoder_q` (-> params / batch_stats) or `encoder_k` (-> key_params / key_batch_stats):

| reference key                         | skel_jax                                         |
|---------------------------------------|--------------------------------------------------|
| E.<ST-GCN keys>, E.A                  | backbone (A: checked against our graph)           |
| E.fc.0.{weight,bias}  Linear [O, I]   | head/fc1 {kernel [I, O], bias}                    |
| E.fc.1.*  BatchNorm1d (BN head only)  | head/bn (params scale/bias, batch_stats mean/var) |
| E.fc.2.*  (plain head) / E.fc.3.* (BN)| head/fc2                                          |
| queue [D, K]                          | queues['z'] [K, D] (transposed)                   |
| queue_ptr [1] int64                   | queue_ptr int32 scalar                            |

SkeAttnCLR (net/SkeAttnCLR.py), modules named as in the reference's `EncoderObj` / `ObjectNeck_AM`
/ `MLP1D` (`MLP1D` keeps its layers in a Sequential `mlp`: 0 Conv1d, 1 BN, 2 ReLU, 3 Conv1d):

| reference key                          | skel_jax                                        |
|----------------------------------------|-------------------------------------------------|
| E.backbone.<ST-GCN keys>, E.backbone.A | backbone                                        |
| E.backbone.fc.*  (unused in pretraining)| not imported (see `unused_keys`)                |
| E.neck.proj.mlp.{0,1,3}  Conv1d [O,I,1]| neck/proj {fc1, bn, fc2} (kernels [I, O], no bias)|
| E.neck.norm0.{weight,bias} LayerNorm   | neck/attention/norm {scale, bias}               |
| E.neck.Attn.qkv.*, E.neck.Attn.proj.*  | neck/attention/qkv, neck/attention/proj (Linear)|
| E.neck.proj_obj.*  (unused)            | not imported                                    |
| predictor.mlp.*, predictor_p.mlp.*,    | predictor_global, predictor_salient,            |
| predictor_c.mlp.*  (query side only)   | predictor_nonsalient                            |
| queue_z, queue_p, queue_c [D, K]       | queues 'z', 's', 'ns' [K, D]                    |
| queue_ptr_z, queue_ptr_p, queue_ptr_c  | queue_ptr (one pointer; the three are equal)    |

The SkeAttnCLR names were taken from the reference's module
attribute names (`GitHubOfHyl97/SkeAttnCLR`, `net/SkeAttnCLR.py` and `net/utils/AttnMask.py`,
the version whose forward uses `predictor_p` / `predictor_c`). They live in the
tables `SKEATTN_NECK`, `SKEATTN_PREDICTORS`, `QUEUE_KEYS` and `POINTER_KEYS` below: adjust
those if a checkpoint names them differently. The key encoder of SkeAttnCLR has no predictors
in the reference; on import the key tree's (never used) predictors are copies of the query's.

Everything here is numpy on host arrays; `state_from_reference` / `reference_from_state` are
the entry points, `skel_jax.interop.init_from` puts the pieces into a TrainState.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

import numpy as np

from skel_jax.interop import stgcn_state_dict
from skel_jax.interop.stgcn_state_dict import StateDictError

ENCODERS = {"query": "encoder_q", "key": "encoder_k"}
# Reference module names of SkeAttnCLR's neck (`ObjectNeck_AM`): our path -> (key prefix, layer kind).
SKEATTN_NECK = {
    ("neck", "proj"): ("neck.proj.mlp", "mlp1d"),
    ("neck", "attention", "norm"): ("neck.norm0", "layernorm"),
    ("neck", "attention", "qkv"): ("neck.Attn.qkv", "linear"),
    ("neck", "attention", "proj"): ("neck.Attn.proj", "linear"),
}
# The query-side predictors (named as SkeAttnMask.forward calls them: predictor, predictor_p,
# predictor_c).
SKEATTN_PREDICTORS = {
    "predictor_global": "predictor.mlp",
    "predictor_salient": "predictor_p.mlp",
    "predictor_nonsalient": "predictor_c.mlp",
}
QUEUE_KEYS = {
    "moco": {"z": "queue"},
    "skeattn": {"z": "queue_z", "s": "queue_p", "ns": "queue_c"},
}
POINTER_KEYS = {
    "moco": ("queue_ptr",),
    "skeattn": ("queue_ptr_z", "queue_ptr_p", "queue_ptr_c"),
}
# Sequential indices of the layers of a two-layer head: plain Linear-ReLU-Linear (SkeletonCLR,
# AimCLR) or Linear-BN-ReLU-Linear (SkeleMixCLR+; also SkeAttnCLR's MLP1D).
_PLAIN_HEAD = {"fc1": "0", "fc2": "2"}
_BN_HEAD = {"fc1": "0", "bn": "1", "fc2": "3"}
_TRAIN_STATE_FIELDS = ("params", "batch_stats", "key_params", "key_batch_stats", "queues",
                       "queue_ptr")


class CheckpointError(StateDictError):
  """A checkpoint does not fit the config's model (a StateDictError with a readable message)."""

  def __str__(self) -> str:  # KeyError would print the repr of the message
    return str(self.args[0]) if self.args else ""


def method_family(method: str) -> str:
  """'skeattn' for SkeAttnCLR, 'moco' for SkeletonCLR / AimCLR / SkeleMixCLR."""
  return "skeattn" if method == "skeattnclr" else "moco"


@dataclasses.dataclass(frozen=True)
class ModelLayout:
  """What a config's model looks like, as far as the key mapping needs to know.

  Attributes:
    family: 'moco' or 'skeattn'.
    layout: skeleton layout name or path (for the graph check).
    graph: 'stgcn' or 'agcn'.
    head_bn: MoCo family: whether the head has a BatchNorm (SkeleMixCLR+).
  """

  family: str
  layout: str
  graph: str
  head_bn: bool = False

  @property
  def backbone_prefix(self) -> str:
    """Where the ST-GCN keys sit inside an encoder."""
    return "backbone." if self.family == "skeattn" else ""

  @classmethod
  def from_config(cls, config) -> ModelLayout:
    family = method_family(config.method)
    head_bn = bool(config.model.head_bn) if family == "moco" else True
    return cls(family=family, layout=config.data.layout, graph=config.model.graph,
               head_bn=head_bn)


# -- layer converters ----------------------------------------------------------------------


def _get(sd: Mapping, key: str) -> np.ndarray:
  if key not in sd:
    raise CheckpointError(f"state_dict misses key {key}")
  return np.asarray(sd[key])


def _f32(x) -> np.ndarray:
  return np.asarray(x, np.float32)


def _import_dense(sd, key: str, conv: bool) -> dict:
  """Linear `[O, I]` or Conv1d k=1 `[O, I, 1]` weight (+ bias) -> {'kernel' [I, O], 'bias'}."""
  w = _get(sd, f"{key}.weight")
  if conv:
    if w.ndim != 3 or w.shape[-1] != 1:
      raise CheckpointError(f"{key}.weight: expected a Conv1d kernel [out, in, 1], got {w.shape}")
    w = w[..., 0]
  elif w.ndim != 2:
    raise CheckpointError(f"{key}.weight: expected a Linear weight [out, in], got {w.shape}")
  out = {"kernel": _f32(w.T)}
  if f"{key}.bias" in sd:
    out["bias"] = _f32(sd[f"{key}.bias"])
  return out


def _export_dense(p: Mapping, key: str, conv: bool) -> dict:
  w = np.asarray(p["kernel"]).T  # [O, I]
  out = {f"{key}.weight": _f32(w[..., None] if conv else w)}
  if "bias" in p:
    out[f"{key}.bias"] = _f32(p["bias"])
  return out


def _import_bn(sd, key: str) -> tuple[dict, dict]:
  params = {"scale": _f32(_get(sd, f"{key}.weight")), "bias": _f32(_get(sd, f"{key}.bias"))}
  stats = {"mean": _f32(_get(sd, f"{key}.running_mean")),
           "var": _f32(_get(sd, f"{key}.running_var"))}
  return params, stats


def _export_bn(p: Mapping, s: Mapping, key: str) -> dict:
  return {f"{key}.weight": _f32(p["scale"]), f"{key}.bias": _f32(p["bias"]),
          f"{key}.running_mean": _f32(s["mean"]), f"{key}.running_var": _f32(s["var"]),
          f"{key}.num_batches_tracked": np.zeros((), np.int64)}


def _import_head(sd, key: str, with_bn: bool, conv: bool) -> tuple[dict, dict]:
  """A two-layer head (`fc1`, optional `bn`, `fc2`) from Sequential indices under `key`."""
  names = _BN_HEAD if with_bn else _PLAIN_HEAD
  params = {"fc1": _import_dense(sd, f"{key}.{names['fc1']}", conv),
            "fc2": _import_dense(sd, f"{key}.{names['fc2']}", conv)}
  stats = {}
  if with_bn:
    params["bn"], stats["bn"] = _import_bn(sd, f"{key}.{names['bn']}")
  return params, stats


def _export_head(p: Mapping, s: Mapping, key: str, conv: bool) -> dict:
  with_bn = "bn" in p
  names = _BN_HEAD if with_bn else _PLAIN_HEAD
  out = {}
  out.update(_export_dense(p["fc1"], f"{key}.{names['fc1']}", conv))
  if with_bn:
    out.update(_export_bn(p["bn"], s["bn"], f"{key}.{names['bn']}"))
  out.update(_export_dense(p["fc2"], f"{key}.{names['fc2']}", conv))
  return out


def _import_module(sd, key: str, kind: str) -> tuple[dict, dict]:
  if kind == "linear":
    return _import_dense(sd, key, conv=False), {}
  if kind == "layernorm":
    return {"scale": _f32(_get(sd, f"{key}.weight")), "bias": _f32(_get(sd, f"{key}.bias"))}, {}
  if kind == "mlp1d":
    return _import_head(sd, key, with_bn=True, conv=True)
  raise ValueError(f"unknown layer kind {kind!r}")


def _export_module(p: Mapping, s: Mapping, key: str, kind: str) -> dict:
  if kind == "linear":
    return _export_dense(p, key, conv=False)
  if kind == "layernorm":
    return {f"{key}.weight": _f32(p["scale"]), f"{key}.bias": _f32(p["bias"])}
  if kind == "mlp1d":
    return _export_head(p, s, key, conv=True)
  raise ValueError(f"unknown layer kind {kind!r}")


def _nested_get(tree: Mapping, path: tuple[str, ...]):
  for name in path:
    tree = tree[name]
  return tree


def _nested_set(tree: dict, path: tuple[str, ...], value) -> None:
  for name in path[:-1]:
    tree = tree.setdefault(name, {})
  tree[path[-1]] = value


# -- the graph buffer ---------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _adjacency(layout: str, graph: str) -> np.ndarray:
  from skel_jax.models.graph import build_adjacency  # pylint: disable=g-import-not-at-top
  return np.asarray(build_adjacency(layout, graph), np.float32)


def check_graph_buffer(a: np.ndarray, key: str, layout: str, graph: str) -> None:
  """Raises StateDictError if a checkpoint's `A` buffer is not our graph of that kind.

  The reference stores its adjacency subsets as the buffer `A` (net/st_gcn.py `Model`): a checkpoint
  trained on the 2s-AGCN graph loaded into an 'stgcn' config (or the reverse) would run with
  the wrong graph without any error, so the mismatch is caught here.
  """
  ours = _adjacency(layout, graph)
  a = np.asarray(a, np.float32)
  if a.shape == ours.shape and np.allclose(a, ours, atol=1e-5):
    return
  other = "agcn" if graph == "stgcn" else "stgcn"
  hint = ""
  if a.shape == ours.shape and np.allclose(a, _adjacency(layout, other), atol=1e-5):
    hint = f"; it is the {other!r} graph: set --config.model.graph={other}"
  raise CheckpointError(
      f"{key} {a.shape} is not the {graph!r} graph of layout {layout!r} {ours.shape}{hint} "
      "(pass check_graph=False to skip this check)")


# -- encoders -----------------------------------------------------------------------------


def _import_encoder(sd: Mapping, prefix: str, model: ModelLayout, check_graph: bool
                    ) -> tuple[dict, dict]:
  """One encoder (`encoder_q.` or `encoder_k.`) -> (params, batch_stats), predictors excluded."""
  bprefix = prefix + model.backbone_prefix
  if check_graph and f"{bprefix}A" in sd:
    check_graph_buffer(sd[f"{bprefix}A"], f"{bprefix}A", model.layout, model.graph)
  backbone = stgcn_state_dict.stgcn_variables_from_state_dict(sd, prefix=bprefix)
  params = {"backbone": backbone["params"]}
  stats = {"backbone": backbone["batch_stats"]}
  if model.family == "moco":
    params["backbone"].pop("fc", None)  # a single-Linear head (mlp=False) is refused below
    if f"{prefix}fc.weight" in sd:
      raise CheckpointError(f"{prefix}fc is a single Linear (the reference's mlp=False): skel_jax"
                            " models always have a two-layer projection head")
    has_bn = f"{prefix}fc.1.weight" in sd
    if has_bn != model.head_bn:
      what = "has a" if has_bn else "has no"
      raise CheckpointError(f"the checkpoint's head {what} BatchNorm ({prefix}fc.1.*) but the "
                            f"config says model.head_bn={model.head_bn}")
    params["head"], head_stats = _import_head(sd, f"{prefix}fc", has_bn, conv=False)
    if head_stats:
      stats["head"] = head_stats
  else:
    params["backbone"].pop("fc", None)  # the backbone's classifier is unused in pretraining
    for path, (key, kind) in SKEATTN_NECK.items():
      p, s = _import_module(sd, f"{prefix}{key}", kind)
      _nested_set(params, path, p)
      if s:
        _nested_set(stats, path, s)
  return params, stats


def _export_encoder(params: Mapping, stats: Mapping, prefix: str, model: ModelLayout,
                    include_graph: bool) -> dict:
  bprefix = prefix + model.backbone_prefix
  sd = {}
  if include_graph:
    sd[f"{bprefix}A"] = _adjacency(model.layout, model.graph).copy()
  sd.update(stgcn_state_dict.stgcn_variables_to_state_dict(
      {"params": params["backbone"], "batch_stats": stats["backbone"]}, prefix=bprefix))
  if model.family == "moco":
    sd.update(_export_head(params["head"], stats.get("head", {}), f"{prefix}fc", conv=False))
  else:
    for path, (key, kind) in SKEATTN_NECK.items():
      s = _nested_get(stats, path) if kind == "mlp1d" else {}
      sd.update(_export_module(_nested_get(params, path), s, f"{prefix}{key}", kind))
  return sd


def _import_predictors(sd: Mapping, params: dict, stats: dict) -> None:
  for ours, key in SKEATTN_PREDICTORS.items():
    params[ours], stats[ours] = _import_head(sd, key, with_bn=True, conv=True)


# -- queues -------------------------------------------------------------------------------


def _import_queues(sd: Mapping, family: str) -> tuple[dict | None, np.ndarray | None]:
  names = QUEUE_KEYS[family]
  present = [k for k in names.values() if k in sd]
  if not present:
    return None, None
  if len(present) != len(names):
    missing = sorted(set(names.values()) - set(present))
    raise CheckpointError(f"state_dict has queues {present} but misses {missing}")
  queues = {}
  for ours, key in names.items():
    q = np.asarray(sd[key])
    if q.ndim != 2:
      raise CheckpointError(f"{key}: expected a queue [feature_dim, K], got {q.shape}")
    queues[ours] = _f32(q.T)  # the reference stores [D, K]; ours is [K, D]
  pointers = [int(np.asarray(sd[k]).reshape(-1)[0]) for k in POINTER_KEYS[family] if k in sd]
  if pointers and len(set(pointers)) != 1:
    raise CheckpointError(f"queue pointers {POINTER_KEYS[family]} differ: {pointers}; skel_jax "
                          "keeps one pointer for all queues")
  ptr = np.asarray(pointers[0] if pointers else 0, np.int32)
  return queues, ptr


def _export_queues(queues: Mapping, ptr, family: str) -> dict:
  sd = {}
  for ours, key in QUEUE_KEYS[family].items():
    if ours not in queues:
      raise KeyError(f"the state has no queue {ours!r} (has {sorted(queues)})")
    sd[key] = _f32(np.asarray(queues[ours]).T)
  for key in POINTER_KEYS[family]:
    sd[key] = np.asarray([int(np.asarray(ptr))], np.int64)
  return sd


# -- entry points ---------------------------------------------------------------------------


def detect_kind(state_dict: Mapping) -> str:
  """What a state_dict holds, from its keys.

  Returns:
    'skeattn' (a SkeAttnCLR model: `encoder_q.backbone.*`), 'moco' (SkeletonCLR / AimCLR /
    SkeleMixCLR: `encoder_q.*`) or 'stgcn' (a bare ST-GCN: `st_gcn_networks.*`).

  Raises:
    StateDictError: none of them (the message shows a few keys).
  """
  keys = list(state_dict)
  if any(k.startswith("encoder_q.backbone.st_gcn_networks.") for k in keys):
    return "skeattn"
  if any(k.startswith("encoder_q.st_gcn_networks.") for k in keys):
    return "moco"
  if any(k.startswith("st_gcn_networks.") for k in keys):
    return "stgcn"
  raise CheckpointError(f"not an ST-GCN state_dict of the reference models; first keys: "
                        f"{keys[:8]}")


def state_from_reference(state_dict: Mapping[str, np.ndarray], config, *,
                         check_graph: bool = True) -> dict:
  """A reference pretraining state_dict -> the TrainState pieces it holds.

  Args:
    state_dict: key -> numpy array (e.g. `load_npz_state_dict('aimclr.npz')`).
    config: the skel_jax config the weights are for (`config.method`, `config.model`,
      `config.data.layout`); its widths must match the checkpoint's.
    check_graph: compare the checkpoint's graph buffer `A` with the config's graph.

  Returns:
    A dict with the TrainState fields present in the checkpoint: 'params', 'batch_stats'
    (always), 'key_params', 'key_batch_stats' (always: a copy of the query's when the
    checkpoint has no `encoder_k.*`), and 'queues' {name: [K, D]} / 'queue_ptr' (int32) when it
    has the queues. The optimiser state is not in a reference checkpoint: start it fresh.

  Raises:
    StateDictError: a missing key, a head or graph that does not fit the config, or a
      checkpoint of another method family (the message names the key or the mismatch).
  """
  try:
    return _state_from_reference(state_dict, config, check_graph)
  except CheckpointError:
    raise
  except StateDictError as e:  # from stgcn_state_dict: give it the readable form
    raise CheckpointError(e.args[0]) from e


def _state_from_reference(state_dict: Mapping[str, np.ndarray], config, check_graph: bool
                          ) -> dict:
  model = ModelLayout.from_config(config)
  kind = detect_kind(state_dict)
  if kind == "stgcn":
    raise CheckpointError("a bare ST-GCN state_dict has no pretraining model; use "
                          "skel_jax.interop.init_from.load_init_variables for backbone weights")
  if kind != model.family:
    raise CheckpointError(f"the checkpoint is a {kind!r}-family model but config.method is "
                          f"{config.method!r} ({model.family!r} family)")
  params, stats = _import_encoder(state_dict, "encoder_q.", model, check_graph)
  if model.family == "skeattn":
    _import_predictors(state_dict, params, stats)
  if any(k.startswith("encoder_k.") for k in state_dict):
    key_params, key_stats = _import_encoder(state_dict, "encoder_k.", model, check_graph)
    if model.family == "skeattn":  # the reference key encoder has no predictors
      for name in SKEATTN_PREDICTORS:
        key_params[name], key_stats[name] = params[name], stats[name]
  else:
    key_params, key_stats = params, stats
  out = {"params": params, "batch_stats": stats,
         "key_params": _copy_tree(key_params), "key_batch_stats": _copy_tree(key_stats)}
  queues, ptr = _import_queues(state_dict, model.family)
  if queues is not None:
    out["queues"], out["queue_ptr"] = queues, ptr
  return out


def reference_from_state(state, config, *, include_graph: bool = True,
                         extra: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
  """TrainState pieces -> a state_dict in the reference layout (numpy, PyTorch layouts).

  Args:
    state: a `TrainState`, or a dict with its fields ('params', 'batch_stats', optionally
      'key_params', 'key_batch_stats', 'queues', 'queue_ptr'); device arrays are fetched.
    config: the run's config.
    include_graph: write the graph buffers `A` (the reference registers them).
    extra: arrays to carry over, e.g. the state_dict the weights came from: its keys that this
      export does not produce (the reference's unused modules: SkeAttnCLR's `backbone.fc`,
      `neck.proj_obj`) are added, and its `num_batches_tracked` counters replace the zeros
      written otherwise, so that reference -> skel_jax -> reference is lossless.

  Returns:
    key -> numpy array. Without `extra`, a SkeAttnCLR export lacks the unused modules: load it
    in PyTorch with `load_state_dict(sd, strict=False)`.
  """
  import jax  # pylint: disable=g-import-not-at-top
  fields = state if isinstance(state, Mapping) else {
      f: getattr(state, f) for f in _TRAIN_STATE_FIELDS}
  fields = jax.device_get({k: v for k, v in fields.items() if v is not None})
  model = ModelLayout.from_config(config)
  sd = _export_encoder(fields["params"], fields["batch_stats"], "encoder_q.", model,
                       include_graph)
  if "key_params" in fields:
    sd.update(_export_encoder(fields["key_params"], fields["key_batch_stats"], "encoder_k.",
                              model, include_graph))
  if model.family == "skeattn":
    for ours, key in SKEATTN_PREDICTORS.items():
      sd.update(_export_head(fields["params"][ours], fields["batch_stats"][ours], key, conv=True))
  if "queues" in fields:
    sd.update(_export_queues(fields["queues"], fields.get("queue_ptr", 0), model.family))
  if extra:
    for key, value in extra.items():
      if key not in sd or key.endswith("num_batches_tracked"):
        sd[key] = np.asarray(value)
  return sd


def unused_keys(state_dict: Mapping[str, np.ndarray], config) -> list[str]:
  """The keys of a reference state_dict that `state_from_reference` does not import.

  For the reference checkpoints these are the modules unused in pretraining (SkeAttnCLR's
  `backbone.fc` and `neck.proj_obj`); anything else listed here means the checkpoint has
  modules skel_jax does not know. (BatchNorm `num_batches_tracked` counters are not imported
  either: nothing in the reference's maths reads them.)
  """
  pieces = state_from_reference(state_dict, config, check_graph=False)
  produced = reference_from_state(pieces, config)
  return sorted(k for k in state_dict if k not in produced)


def _copy_tree(tree):
  if isinstance(tree, Mapping):
    return {k: _copy_tree(v) for k, v in tree.items()}
  return np.array(tree, copy=True)
