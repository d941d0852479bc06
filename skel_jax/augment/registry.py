"""String-configured augmentation pipelines: ``"temporal_shift(6)|shear(0.5)"`` -> a batch fn.

A big_vision-style registry (``pp/registry.py``): ops register under a name with
``@register(name)``; a spec string is a ``|``-separated list of ``name`` or ``name(args)``
items whose arguments are Python literals read with ``ast.literal_eval`` (nothing is
evaluated). ``build(spec, layout)`` composes the ops in order into a pure, jit-compatible
``fn(rng, batch) -> batch`` on ``[N, M, T, V, C]``: op i gets key i of ``split(rng, n_ops)``,
which ``ops.batched`` splits again into one key per example and vmaps.

Ops that need the skeleton declare it when they register (``layout_args``); ``spatial_flip``
gets its joint permutation from ``layout.flip``, so the same spec string works for any layout.
Positional spec arguments fill the op's other parameters in order, so ``spatial_flip(0.5)``
sets ``p``.

The reference chains (CrosSCLR feeder/ntu_feeder.py ``Feeder_dual._aug``; AimCLR
feeder/ntu_feeder.py ``Feeder_triple._strong_aug``, current and first-commit versions) are
provided as ``NORMAL``, ``EXTREME`` and ``EXTREME_V0``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from skel_jax.augment import ops
from skel_jax.data import skeletons

# CrosSCLR `Feeder_dual._aug`: the SkeletonCLR view (both views of every method).
NORMAL = "temporal_shift(6)|shear(0.5)"
# AimCLR `Feeder_triple._strong_aug`, aug_method '12345': flip, rotate, noise, blur, axis mask.
EXTREME = NORMAL + "|spatial_flip(0.5)|rotate|gaussian_noise|gaussian_blur|axis_mask"
# The first public AimCLR commit (59fe004): temporal flip between rotate and noise.
EXTREME_V0 = (NORMAL + "|spatial_flip(0.5)|rotate|temporal_flip|gaussian_noise|gaussian_blur"
              "|axis_mask")


@dataclasses.dataclass(frozen=True)
class _Entry:
  """A registered op and the parameters it takes from the skeleton layout."""
  fn: Callable[..., jax.Array]
  layout_args: Mapping[str, Callable[[skeletons.SkeletonLayout], Any]]

  @property
  def params(self) -> list[inspect.Parameter]:
    """The op's parameters after ``(rng, x)``."""
    return list(inspect.signature(self.fn).parameters.values())[2:]

  @property
  def user_params(self) -> list[str]:
    """Parameters a spec string may set positionally (layout-provided ones excluded)."""
    return [p.name for p in self.params if p.name not in self.layout_args
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, *, layout_args: Mapping[str, Callable] | None = None,
             overwrite: bool = False):
  """Decorator registering a per-example op ``fn(rng, x, **kw) -> x`` under `name`.

  Args:
    name: the op's name in spec strings (an identifier).
    layout_args: parameter name -> ``fn(layout) -> value``, filled from the layout at build
      time unless the chain sets it.
    overwrite: allow replacing an op already registered under `name`.

  Returns:
    The decorator; it returns the op unchanged.

  Raises:
    ValueError: for a bad name, a duplicate name, or layout args the op does not take.
  """
  if not name.isidentifier():
    raise ValueError(f"augmentation op name must be an identifier, got {name!r}")

  def decorator(fn):
    if name in _REGISTRY and not overwrite:
      raise ValueError(f"augmentation op {name!r} is already registered")
    entry = _Entry(fn=fn, layout_args=dict(layout_args or {}))
    if len(inspect.signature(fn).parameters) < 2:
      raise ValueError(f"augmentation op {name!r} must take (rng, x, ...)")
    unknown = set(entry.layout_args) - {p.name for p in entry.params}
    if unknown:
      raise ValueError(f"augmentation op {name!r} has no parameter(s) {sorted(unknown)}")
    _REGISTRY[name] = entry
    return fn

  return decorator


def list_ops() -> list[str]:
  """Names of all registered ops, sorted."""
  return sorted(_REGISTRY)


def get_op(name: str) -> Callable[..., jax.Array]:
  """The per-example function registered under `name`.

  Raises:
    ValueError: for an unknown name, listing the known ones.
  """
  return _lookup(name).fn


def _lookup(name: str) -> _Entry:
  if name not in _REGISTRY:
    raise ValueError(f"unknown augmentation op {name!r}; known ops: {', '.join(list_ops())}")
  return _REGISTRY[name]


def _parse_item(item: str) -> tuple[str, tuple, dict]:
  """Parses ``name`` or ``name(literal, ..., key=literal)`` into (name, args, kwargs)."""
  try:
    node = ast.parse(item, mode="eval").body
  except SyntaxError as e:
    raise ValueError(f"augmentation spec item {item!r} is not 'name' or 'name(args)': {e.msg}"
                     ) from e
  if isinstance(node, ast.Name):
    return node.id, (), {}
  if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
    raise ValueError(f"augmentation spec item {item!r} is not 'name' or 'name(args)'")
  name = node.func.id
  try:
    args = tuple(ast.literal_eval(a) for a in node.args)
    kwargs = {}
    for kw in node.keywords:
      if kw.arg is None:
        raise ValueError("'**' is not allowed")
      kwargs[kw.arg] = ast.literal_eval(kw.value)
  except (ValueError, TypeError, SyntaxError) as e:
    raise ValueError(f"augmentation op {name!r}: arguments must be Python literals in "
                     f"{item!r} ({e})") from e
  return name, args, kwargs


def parse(spec: str) -> list[tuple[str, tuple, dict]]:
  """Splits a spec string into ``[(name, args, kwargs), ...]`` in order.

  ``""`` and ``"identity"`` give ``[]`` and ``[("identity", (), {})]``; empty items (``"a||b"``,
  surrounding spaces) are skipped. Names are not checked against the registry here.

  Args:
    spec: e.g. ``"temporal_shift(6)|shear(0.5)|gaussian_blur(normalize_kernel=True)"``.

  Returns:
    The parsed items.

  Raises:
    ValueError: for an item that is not ``name`` / ``name(literals)``.
  """
  if not isinstance(spec, str):
    raise ValueError(f"augmentation spec must be a string, got {type(spec).__name__}")
  return [_parse_item(item.strip()) for item in spec.split("|") if item.strip()]


def _bind(name: str, entry: _Entry, args: tuple, kwargs: dict,
          layout: skeletons.SkeletonLayout | None) -> dict:
  """Turns spec arguments (+ layout-provided ones) into the op's keyword arguments."""
  user_params = entry.user_params
  known = {p.name for p in entry.params}
  signature = ", ".join(user_params) or "no arguments"
  if len(args) > len(user_params):
    raise ValueError(f"augmentation op {name!r} takes at most {len(user_params)} argument(s) "
                     f"({signature}), got {len(args)}: {args}")
  bound = dict(zip(user_params, args))
  for key, value in kwargs.items():
    if key not in known:
      raise ValueError(f"augmentation op {name!r} has no argument {key!r} (takes {signature})")
    if key in bound:
      raise ValueError(f"augmentation op {name!r}: argument {key!r} given twice")
    bound[key] = value
  for key, from_layout in entry.layout_args.items():
    if key not in bound:
      if layout is None:
        raise ValueError(f"augmentation op {name!r} needs a skeleton layout for {key!r}; "
                         "pass layout= to build()")
      bound[key] = from_layout(layout)
  missing = [p.name for p in entry.params
             if p.default is inspect.Parameter.empty and p.name not in bound
             and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
  if missing:
    raise ValueError(f"augmentation op {name!r} misses argument(s) {missing}")
  return bound


def _check_trace(name: str, fn: Callable, kwargs: dict, num_joints: int,
                 shown: Mapping[str, Any]) -> None:
  """Traces the op once on a dummy clip so bad argument values fail now, naming the op."""
  clip = jax.ShapeDtypeStruct((2, 64, num_joints, 3), jnp.float32)
  try:
    jax.eval_shape(lambda key, x: fn(key, x, **kwargs), jax.random.key(0), clip)
  except (ValueError, TypeError) as e:
    raise ValueError(f"augmentation op {name!r}: bad arguments {dict(shown)}: {e}") from e


def build(spec: str, layout: skeletons.SkeletonLayout | str | None = None,
          ) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """Builds the batch augmentation ``fn(rng, batch) -> batch`` described by `spec`.

  The ops run in the order written; op i uses key i of ``jax.random.split(rng, n_ops)`` and
  is vmapped over the batch with one key per example (``ops.batched``). The result is pure
  and can be jitted or called inside a jitted train step; it keeps the batch shape
  `[N, M, T, V, C]`.

  Args:
    spec: ``|``-separated ops, e.g. ``NORMAL`` or ``"rotate(30, 1)|axis_mask(p=0.3)"``;
      ``""`` or ``"identity"`` gives the identity.
    layout: a ``SkeletonLayout`` or a layout name/path (``skeletons.get_layout``); needed by
      ops that take layout arguments (``spatial_flip``).

  Returns:
    The pipeline function, with the parsed items as its ``.items`` attribute.

  Raises:
    ValueError: for an unknown op (listing the known ones) or bad arguments (naming the op).
  """
  if layout is not None:
    layout = skeletons.get_layout(layout)
  num_joints = layout.num_joints if layout is not None else 25  # dummy V for the trace check
  steps = []
  items = parse(spec)
  for name, args, kwargs in items:
    entry = _lookup(name)
    bound = _bind(name, entry, args, kwargs, layout)
    shown = {k: v for k, v in bound.items() if k not in entry.layout_args or k in kwargs}
    # Without a layout the joint count is unknown; a layout-type argument given explicitly
    # (e.g. spatial_flip(perm=...)) can then only be checked on the real batch.
    if layout is not None or not entry.layout_args:
      _check_trace(name, entry.fn, bound, num_joints, shown)
    steps.append((ops.batched(entry.fn), bound))

  def pipeline(rng: jax.Array, batch: jax.Array) -> jax.Array:
    if batch.ndim != 5:
      raise ValueError(f"augmentation {spec!r}: expected a batch [N, M, T, V, C], got shape "
                       f"{tuple(batch.shape)}")
    if layout is not None and batch.shape[3] != layout.num_joints:
      raise ValueError(f"augmentation {spec!r}: batch has {batch.shape[3]} joints but layout "
                       f"{layout.name!r} has {layout.num_joints}")
    if not steps:
      return batch
    keys = jax.random.split(rng, len(steps))
    for key, (fn, kwargs) in zip(keys, steps):
      batch = fn(key, batch, **kwargs)
    return batch

  pipeline.items = items
  pipeline.__doc__ = f"Augmentation pipeline {spec!r} on [N, M, T, V, C] batches."
  return pipeline


# The built-in ops (ops.py stays free of registry imports).
register("identity")(ops.identity)
register("temporal_shift")(ops.temporal_shift)
# The spatial ops act on the layout's coordinate channels (2D or 3D, confidence untouched).
_COORDS = {"coords": lambda layout: layout.num_coords}
register("shear", layout_args=_COORDS)(ops.shear)
register("spatial_flip", layout_args={"perm": lambda layout: layout.flip})(ops.spatial_flip)
register("rotate", layout_args=_COORDS)(ops.rotate)
register("gaussian_noise")(ops.gaussian_noise)
register("gaussian_blur")(ops.gaussian_blur)
register("axis_mask", layout_args=_COORDS)(ops.axis_mask)
register("temporal_flip")(ops.temporal_flip)
register("view_rotate", layout_args=_COORDS)(ops.view_rotate)
register("random_scale", layout_args=_COORDS)(ops.random_scale)
register("crop_resize")(ops.crop_resize)
