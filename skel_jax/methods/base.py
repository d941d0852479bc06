"""What every contrastive method provides to the generic train step.

A method owns its model, its augmented views and its loss; the train step (skel_jax.train.step)
owns the optimiser, the key-encoder EMA, the queues and the sharding. The contract:

* `make_views(rng, x) -> dict[str, [N, M, T, V, C]]`: device-side augmentation and the stream
  conversion (streams are computed after augmentation, for every view, as in CrosSCLR
  processor/pretrain_skeletonclr.py `SkeletonCLR_Processor.train`).
* `loss(params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch)` ->
  `(loss, aux)` with aux = {'batch_stats', 'key_batch_stats', 'enqueue': {queue: [N, D]},
  'metrics': {...}}. The gradient is taken with respect to `params` only; everything computed
  with the key encoder is wrapped in stop_gradient.
* `queue_names`: the queues in the train state, each `[K, feature_dim]`, one shared pointer.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from skel_jax.augment import registry as aug_registry
from skel_jax.data import skeletons, streams
from skel_jax.methods import moco
from skel_jax.models import stgcn
from skel_jax.models.contrastive import ContrastiveEncoder


def build_encoder(config: ml_collections.ConfigDict, layout: str, *, no_grad: bool = False,
                  **overrides) -> ContrastiveEncoder:
  """The query/key encoder of `config.model` (backbone and head, docs/methods.md);
  `no_grad=True` for the key encoder (`stgcn.backbone_kwargs`)."""
  m = config.model
  kwargs = dict(layout=layout, **stgcn.backbone_kwargs(m, no_grad=no_grad),
                head_hidden=m.head_hidden,
                feature_dim=m.feature_dim, head_bn=m.head_bn, head_bias=m.get("head_bias", True),
                head_init=m.get("head_init", "reference"))
  kwargs.update(overrides)
  return ContrastiveEncoder(**kwargs)


class Method:
  """Base class: SkeletonCLR's two-view MoCo; subclasses override views and loss."""

  name = "base"
  queue_names: tuple[str, ...] = ("z",)

  def __init__(self, config: ml_collections.ConfigDict, layout: str):
    self.config = config
    self.layout = skeletons.get_layout(layout)
    self.layout_name = layout
    self.model = build_encoder(config, layout)
    # The reference runs the key encoder in train mode with dropout on (docs/fidelity.md).
    # It takes no gradient, so it runs the forward-only formulation (same parameter tree).
    self.key_model = build_encoder(
        config, layout, no_grad=True, **({} if config.moco.key_dropout else {"dropout": 0.0}))
    self.temperature = float(config.moco.temperature)
    self.feature_dim = int(config.model.feature_dim)
    self.stream = config.data.stream
    self.normal_aug = aug_registry.build(config.aug.normal, self.layout)

  # -- helpers shared by the methods ------------------------------------------------------
  def to_stream(self, x: jnp.ndarray) -> jnp.ndarray:
    return streams.to_stream(x, self.stream, self.layout)

  def apply(self, params, batch_stats, fn: Callable | None, *args, rng, train: bool = True,
            key_side: bool = False):
    """Runs `fn(module, *args)` (or the module) in train mode; returns (out, batch_stats)."""
    model = self.key_model if key_side else self.model
    variables = {"params": params, "batch_stats": batch_stats}
    kwargs = dict(train=train, rngs={"dropout": rng})
    if fn is None:
      out, mutated = model.apply(variables, *args, mutable=["batch_stats"], **kwargs)
    else:
      out, mutated = model.apply(variables, *args, method=fn, mutable=["batch_stats"], **kwargs)
    return out, mutated["batch_stats"]

  def encode_keys(self, key_params, key_batch_stats, x, rng):
    """Normalised key features `[N, D]` (no gradient) and the key encoder's new BN stats."""
    k, key_batch_stats = self.apply(key_params, key_batch_stats, None, x, rng=rng, key_side=True)
    return jax.lax.stop_gradient(moco.l2_normalize(k)), key_batch_stats

  # -- the contract -------------------------------------------------------------------------
  def make_views(self, rng: jax.Array, x: jnp.ndarray) -> dict[str, jnp.ndarray]:
    r_q, r_k = jax.random.split(rng)
    return {"query": self.to_stream(self.normal_aug(r_q, x)),
            "key": self.to_stream(self.normal_aug(r_k, x))}

  def loss(self, params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch):
    raise NotImplementedError
