"""Contrastive methods: one module per method with its views, loss and extra state.

`get_method(name)` returns the class; unknown names raise an error listing the known ones.
"""

from __future__ import annotations

import importlib

_METHODS = {
    "skeletonclr": ("skel_jax.methods.skeletonclr", "SkeletonCLR"),
    "aimclr": ("skel_jax.methods.aimclr", "AimCLR"),
    "skelemixclr": ("skel_jax.methods.skelemixclr", "SkeleMixCLR"),
    "skeattnclr": ("skel_jax.methods.skeattnclr", "SkeAttnCLR"),
}


def known_methods() -> list[str]:
  return sorted(_METHODS)


def get_method(name: str):
  """The Method class registered under `name`."""
  if name not in _METHODS:
    raise ValueError(f"unknown method {name!r}; known: {known_methods()}")
  module, cls = _METHODS[name]
  return getattr(importlib.import_module(module), cls)
