"""Starting skel_jax from reference weights: `config.init_from`, released-weight evaluation.

* `load_init_variables(path, config)`: the TrainState pieces in a weights file (`.npz` from
  `python -m skel_jax.interop.convert`, or `.pt` when PyTorch is installed), checked against
  the model the config builds. A reference pretraining checkpoint gives everything needed to
  resume its pretraining (query and key encoders, heads, predictors, queues and pointer); a
  bare ST-GCN state_dict gives the backbone of both encoders only.
* `replace_state(state, pieces)`: puts those pieces into a freshly initialised TrainState (the
  optimiser state and the step stay fresh: a reference checkpoint has no optax state),
  keeping each array's sharding.
* `load_backbone_variables(path, config)`: the query encoder's ST-GCN (params + BN running
  statistics) of any of these files, for the frozen-feature protocols
  (processor/linear_evaluation.py of the official code).

Pretraining honours `config.init_from` in `Pretrainer.init_state` (only when the workdir has no
checkpoint of its own, big_vision's order: own checkpoint, then init_from, then scratch).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax import files
from skel_jax.interop import reference, state_dict_io, stgcn_state_dict
from skel_jax.interop.reference import CheckpointError
from skel_jax.interop.stgcn_state_dict import StateDictError

log = logging.getLogger(__name__)

_ENCODER_FIELDS = (("params", "batch_stats"), ("key_params", "key_batch_stats"))


def _sample_shape(config) -> tuple[int, ...]:
  """A one-clip input `[1, 1, T, V, C]`; parameter shapes depend on V and C only."""
  from skel_jax.data import skeletons  # pylint: disable=g-import-not-at-top
  num_joints = skeletons.get_layout(config.data.layout).num_joints
  return (1, 1, int(config.data.num_frames), num_joints, 3)


def expected_variables(config) -> dict:
  """Shapes of the query encoder's variables for `config` (`jax.ShapeDtypeStruct` leaves)."""
  from skel_jax import methods  # pylint: disable=g-import-not-at-top
  model = methods.get_method(config.method)(config, config.data.layout).model
  x = jax.ShapeDtypeStruct(_sample_shape(config), jnp.float32)
  return jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), x)


def expected_backbone_variables(config) -> dict:
  """Shapes of the bare ST-GCN backbone variables (no classifier) for `config`."""
  from skel_jax.evaluate import features  # pylint: disable=g-import-not-at-top
  backbone = features.backbone_from_encoder_config(config.model, config.data.layout)
  x = jax.ShapeDtypeStruct(_sample_shape(config), jnp.float32)
  return jax.eval_shape(functools.partial(backbone.init, train=False), jax.random.key(0), x)


def _flat(tree: Mapping) -> dict[str, tuple[int, ...]]:
  """`{'a': {'b': x}}` -> `{'a/b': shape of x}` (x may be an abstract `ShapeDtypeStruct`)."""
  return files.flatten(tree, leaf=lambda v: tuple(np.shape(v)))


def check_against(tree: Mapping, template: Mapping, what: str, *, complete: bool = True) -> None:
  """Raises StateDictError unless `tree` has the template's leaves with the template's shapes.

  Args:
    tree: imported variables (nested dicts of arrays).
    template: the expected ones (nested dicts of arrays or ShapeDtypeStructs).
    what: a name for the error message ('params', 'key_batch_stats', ...).
    complete: also require every template leaf (False: `tree` may cover a part of it).
  """
  got, want = _flat(tree), _flat(template)
  problems = [f"unexpected {what}/{p} {s}" for p, s in got.items() if p not in want]
  problems += [f"{what}/{p}: checkpoint {s}, model {want[p]}" for p, s in got.items()
               if p in want and s != want[p]]
  if complete:
    problems += [f"missing {what}/{p} {s}" for p, s in want.items() if p not in got]
  if problems:
    shown = "\n  ".join(problems[:12])
    more = f"\n  ... and {len(problems) - 12} more" if len(problems) > 12 else ""
    raise CheckpointError(f"the weights do not fit the model of this config (widths, graph, "
                          f"head or method differ):\n  {shown}{more}")


def _as_state_dict(source) -> tuple[dict[str, np.ndarray], str]:
  if isinstance(source, Mapping):
    return {k: np.asarray(v) for k, v in source.items()}, "<state_dict>"
  return state_dict_io.load_state_dict(source), os.fspath(source)


def _with_name(name: str, fn, *args, **kwargs):
  try:
    return fn(*args, **kwargs)
  except StateDictError as e:
    raise CheckpointError(f"{name}: {e.args[0]}") from e


def _bare_backbone(sd: Mapping, config, check_graph: bool) -> dict:
  if check_graph and "A" in sd:
    reference.check_graph_buffer(sd["A"], "A", config.data.layout, config.model.graph)
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  variables["params"].pop("fc", None)  # a classifier is never part of the encoder
  return variables


def load_init_variables(path, config, *, check_graph: bool = True) -> dict:
  """The TrainState pieces stored in a weights file, checked against `config`'s model.

  Args:
    path: an `.npz` state_dict (see skel_jax.interop.convert), a `.pt` file (needs PyTorch), or
      an already loaded mapping of key -> array.
    config: the run's config (method, model widths, graph, layout).
    check_graph: compare the checkpoint's graph buffer `A` with `config.model.graph`.

  Returns:
    A dict of TrainState fields for `replace_state`: a reference pretraining checkpoint gives
    'params', 'batch_stats', 'key_params', 'key_batch_stats' (complete trees) and, when saved,
    'queues' and 'queue_ptr'; a bare ST-GCN state_dict gives the 'backbone' subtree of the four
    variable fields only (heads, neck and predictors keep their fresh initialisation).

  Raises:
    StateDictError: keys or shapes do not fit the config (the message names file and leaf).
    FileNotFoundError, ValueError: the file is missing or unreadable.
  """
  sd, name = _as_state_dict(path)
  kind = _with_name(name, reference.detect_kind, sd)
  if kind == "stgcn":
    variables = _with_name(name, _bare_backbone, sd, config, check_graph)
    template = expected_backbone_variables(config)
    for field in ("params", "batch_stats"):
      _with_name(name, check_against, variables[field], template[field], f"backbone/{field}")
    pieces = {}
    for params_field, stats_field in _ENCODER_FIELDS:
      pieces[params_field] = {"backbone": variables["params"]}
      pieces[stats_field] = {"backbone": variables["batch_stats"]}
    return pieces
  pieces = _with_name(name, reference.state_from_reference, sd, config, check_graph=check_graph)
  template = expected_variables(config)
  for params_field, stats_field in _ENCODER_FIELDS:
    _with_name(name, check_against, pieces[params_field], template["params"], params_field)
    _with_name(name, check_against, pieces[stats_field], template["batch_stats"], stats_field)
  ignored = reference.unused_keys(sd, config)
  if ignored:
    log.info("%s: %d keys not used by skel_jax (e.g. %s)", name, len(ignored), ignored[:4])
  return pieces


def load_backbone_variables(path, config=None, *, check_graph: bool = True) -> dict:
  """The query encoder's ST-GCN variables `{'params', 'batch_stats'}` from a weights file.

  Reads a bare ST-GCN state_dict or any of the four methods' pretraining checkpoints (its
  `encoder_q` backbone); a classifier `fc` is dropped. With a config, the shapes and the graph
  are checked against `config.model`.

  Args:
    path: `.npz` / `.pt` file, or a loaded mapping of key -> array.
    config: optional config to check against.
    check_graph: with a config, compare the graph buffer `A` with `config.model.graph`.

  Raises:
    StateDictError: not an ST-GCN checkpoint, or it does not fit the config.
  """
  sd, name = _as_state_dict(path)
  kind = _with_name(name, reference.detect_kind, sd)
  prefix = {"stgcn": "", "moco": "encoder_q.", "skeattn": "encoder_q.backbone."}[kind]
  if config is not None and check_graph and f"{prefix}A" in sd:
    _with_name(name, reference.check_graph_buffer, sd[f"{prefix}A"], f"{prefix}A",
               config.data.layout, config.model.graph)
  variables = _with_name(name, stgcn_state_dict.stgcn_variables_from_state_dict, sd,
                         prefix=prefix)
  variables["params"].pop("fc", None)
  if config is not None:
    template = expected_backbone_variables(config)
    for field in ("params", "batch_stats"):
      _with_name(name, check_against, variables[field], template[field], field)
  return variables


def _merge(old, new, path: str):
  """`new` laid over `old` (nested dicts); each new leaf takes the old leaf's sharding/dtype."""
  if isinstance(new, Mapping):
    if not isinstance(old, Mapping):
      raise CheckpointError(f"{path}: the weights hold a subtree where the state has an array")
    out = dict(old)
    for k, v in new.items():
      if k not in old:
        raise CheckpointError(f"{path}/{k}: not in the train state (has {sorted(old)})")
      out[k] = _merge(old[k], v, f"{path}/{k}")
    return out
  value = np.asarray(new)
  if value.shape != tuple(old.shape):
    raise CheckpointError(f"{path}: the weights have shape {value.shape}, the train state "
                          f"{tuple(old.shape)}")
  value = value.astype(old.dtype)
  sharding = getattr(old, "sharding", None)
  return jax.device_put(value, sharding) if sharding is not None else jnp.asarray(value)


def replace_state(state, pieces: Mapping):
  """Returns `state` with the given TrainState pieces laid over it (shapes must match).

  Args:
    state: a freshly initialised `skel_jax.train.step.TrainState`.
    pieces: from `load_init_variables` (or `reference.state_from_reference`).

  Raises:
    StateDictError: a piece does not fit the state, e.g. the checkpoint's queue holds a
      different number of keys than `config.moco.queue_size` (the message says so).
  """
  updates = {}
  for field, value in pieces.items():
    if field == "queues":
      have = {k: tuple(v.shape) for k, v in state.queues.items()}
      want = {k: tuple(np.shape(v)) for k, v in value.items()}
      if set(want) != set(have) or any(want[k] != have[k] for k in want):
        raise CheckpointError(f"the checkpoint's queues {want} do not fit the state's {have}: set "
                              "config.moco.queue_size (and model.feature_dim) to the checkpoint's")
    updates[field] = _merge(getattr(state, field), value, field)
  return state.replace(**updates)
