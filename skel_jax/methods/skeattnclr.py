"""SkeAttnCLR: attention-mask salient / non-salient contrast.

Official code: SkeAttnCLR (GitHubOfHyl97/SkeAttnCLR) net/SkeAttnCLR.py `SkeAttnMask.forward`
and processor/pretrain_SkeAttnLWL.py `SkeletonCLR_Processor.train`. Per step:

1. Two normal views `x_q`, `x_k` (`Feeder_dual`) and a mixed view `x~ = SkeleMix(x_q)` on joint
   coordinates (`SkeAttnMask.ske_swap`: parts U{3, 4}, segments U{4..7}, start
   `U{0..ceil(T/4) - Ct}`, one repeat); the region mask and the partner index are thrown away:
   mixing is only a hard augmentation here. Then all three views go to the chosen stream
   (`SkeAttnMask.view_gen`).
2. Query side: `q_z = n(predictor_global(z_x(x_q)))`; the mixed view through the attention
   branch gives `q_s = n(predictor_salient(z_s))`, `q_ns = n(predictor_nonsalient(z_ns))` and the
   soft mask Mt (models/attention.py).
3. Key side, no gradient: `(k_z, k_s, k_ns) = n(f_k(x_k, mask = sg(Mt)))`, pooled with the
   query's mask from the mixed view, row by row (sample, person).
4. `L_z = CE([q_z·k_z | q_z·Q_z]/tau)`,
   `L_s = CE([q_s·k_s | q_s·Q_z | q_s·sg(q_ns)]/tau)`,
   `L_ns = CE([q_ns·k_ns | q_ns·Q_z | q_ns·sg(q_s)]/tau)`, all with the one queue Q_z;
   `L = L_z + mu L_s + (1 - mu) L_ns` (mu = 1 for NTU-60 joint, 0.5 otherwise: the configs).
5. Enqueue k_z, k_s and k_ns into Q_z, Q_s and Q_ns; only Q_z is ever read.

The key update of `SkeAttnMask.momentum_update` (EMA after the optimiser step, BN running statistics
included, momentum cosine-annealed from m0 towards 1) is the generic step's, selected by the config
(`moco.ema_order='after_update'`, `moco.ema_batch_stats=True`, `moco.momentum_schedule='cosine'`).
The key encoder has the query's parameter tree, predictors included: the EMA maps over identical
trees and the key's predictors are simply never called.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from skel_jax.augment import mixing
from skel_jax.methods import moco
from skel_jax.methods.base import Method
from skel_jax.models import stgcn
from skel_jax.models.attention import SkeAttnEncoder


def build_skeattn_encoder(config: ml_collections.ConfigDict, layout: str, *,
                          no_grad: bool = False, **overrides) -> SkeAttnEncoder:
  """The query/key encoder of `config.model` (backbone, neck and predictors).

  `model.head_hidden` is the neck's hidden width, `model.feature_dim` its output,
  `model.predictor_hidden` the predictors' hidden width, `model.attn_heads` / `attn_lambda` the
  attention's heads and sigmoid sharpness.
  """
  m = config.model
  kwargs = dict(layout=layout, **stgcn.backbone_kwargs(m, no_grad=no_grad),
                neck_hidden=m.head_hidden,
                feature_dim=m.feature_dim, predictor_hidden=m.predictor_hidden,
                num_heads=m.attn_heads, attn_lambda=m.attn_lambda,
                head_init=m.get("head_init", "reference"),
                attn_init=m.get("attn_init", "reference"),
                predictor_residual=m.get("predictor_residual", False))
  kwargs.update(overrides)
  return SkeAttnEncoder(**kwargs)


# The configs' `mu`: 1.0 for NTU-60 on the joint stream, 0.5 for every other setting.
_MU_ONE = ("ntu60_xsub", "ntu60_xview")


def reference_mu(dataset: str, stream: str) -> float:
  """The reference's salient-loss weight mu for a dataset and stream.

  From the `mu` of SkeAttnCLR's config/SkeAttnCLR/*/ pretraining configs."""
  return 1.0 if dataset in _MU_ONE and stream == "joint" else 0.5


def skeattn_losses(q_z, q_s, q_ns, k_z, k_s, k_ns, queue, temperature: float, mu: float,
                   mix_weight=1.0):
  """The three InfoNCE terms of `SkeAttnMask.forward` and their weighted sum (`mu`).

  Args:
    q_z, q_s, q_ns: `[N, D]` normalised query predictions (global, salient, non-salient).
    k_z, k_s, k_ns: `[N, D]` normalised key features (treated as constants).
    queue: `[K, D]` the global queue Q_z, the negatives of all three terms.
    temperature: tau.
    mu: weight of the salient term; the non-salient one gets `1 - mu`.
    mix_weight: a factor on both mixed-view terms (1 in the reference; the small presets ramp
      it in, `skeattn.mix_warmup_epochs`).

  Returns:
    `(loss, parts)`, parts = {'loss_z', 'loss_s', 'loss_ns': scalars; 'logits_z' `[N, 1+K]`,
    'logits_s', 'logits_ns' `[N, 1+K+1]`}. The other branch's prediction is the extra
    negative, under stop_gradient.
  """
  k_z, k_s, k_ns = (jax.lax.stop_gradient(k) for k in (k_z, k_s, k_ns))
  logits_z = moco.contrastive_logits(q_z, k_z, queue, temperature)
  logits_s = moco.contrastive_logits(q_s, k_s, queue, temperature,
                                     extra_negatives=jax.lax.stop_gradient(q_ns))
  logits_ns = moco.contrastive_logits(q_ns, k_ns, queue, temperature,
                                      extra_negatives=jax.lax.stop_gradient(q_s))
  parts = {"loss_z": moco.infonce(logits_z), "loss_s": moco.infonce(logits_s),
           "loss_ns": moco.infonce(logits_ns), "logits_z": logits_z, "logits_s": logits_s,
           "logits_ns": logits_ns}
  loss = parts["loss_z"] + mix_weight * (mu * parts["loss_s"] + (1.0 - mu) * parts["loss_ns"])
  return loss, parts


def make_skelemix(config: ml_collections.ConfigDict, layout) -> Callable:
  """`fn(rng, x) -> mixed x` with SkeAttnCLR's SkeleMix settings (`SkeAttnMask.ske_swap`).

  One mix per step; the region and the partner are thrown away. A segment range longer than
  the clip's grid is scaled to it by `mixing.fit_segments` (unchanged at the reference's 64
  frames).
  """
  s = config.skeattn
  ratio, start_rule, segments_range = int(s.mix_ratio), s.mix_start_rule, tuple(s.mix_segments)
  kwargs = dict(parts_range=tuple(s.mix_parts), ratio=ratio, spatial_mode=s.mix_spatial_mode,
                start_rule=start_rule)

  def mix(rng, x):
    segments = mixing.fit_segments(segments_range, x.shape[2], ratio, start_rule)
    return mixing.skelemix(rng, x, layout, segments_range=segments, **kwargs).mixed

  return mix


class SkeAttnCLR(Method):
  """SkeAttnCLR on one stream (docs/methods.md)."""

  name = "skeattnclr"
  # As `SkeAttnMask._dequeue_and_enqueue`: all three are filled, only 'z' is read.
  queue_names = ("z", "s", "ns")

  def __init__(self, config: ml_collections.ConfigDict, layout: str,
               mix_fn: Callable | None = None):
    """Builds the encoders and the views.

    Args:
      config: a configs/skeattnclr.py config.
      layout: the skeleton layout name or path.
      mix_fn: optional `fn(rng, x) -> x` replacing SkeleMix (tests).

    Raises:
      ValueError: if `skeattn.mu` is outside [0, 1] (a negative value means the reference's
        value for the dataset and stream).
    """
    super().__init__(config, layout)
    self.model = build_skeattn_encoder(config, layout)
    # The reference runs the key encoder in train mode with dropout on (docs/fidelity.md).
    # It takes no gradient, so it runs the forward-only formulation (same parameter tree).
    self.key_model = build_skeattn_encoder(
        config, layout, no_grad=True, **({} if config.moco.key_dropout else {"dropout": 0.0}))
    self.mu = float(config.skeattn.mu)
    if self.mu < 0:  # -1 in configs stored before mu became a FieldReference (configs/)
      self.mu = reference_mu(config.data.dataset, config.data.stream)
    if not 0.0 <= self.mu <= 1.0:
      raise ValueError(f"skeattn.mu must lie in [0, 1], got {self.mu}")
    # 0 in the reference: the mixed-view terms at full weight from the first step.
    self.mix_warmup_epochs = int(config.skeattn.get("mix_warmup_epochs", 0))
    self.mix = mix_fn if mix_fn is not None else make_skelemix(config, self.layout)

  def make_views(self, rng, x):
    r_q, r_k, r_mix = jax.random.split(rng, 3)
    x_q = self.normal_aug(r_q, x)
    x_k = self.normal_aug(r_k, x)
    return self.views_from_clips(x_q, x_k, self.mix(r_mix, x_q))

  def views_from_clips(self, x_q, x_k, mixed) -> dict[str, jnp.ndarray]:
    """The step's views from the augmented joint clips and the mix of the query clip.

    As `SkeAttnMask.forward`: the mixing is done on joint coordinates, then every view goes to the
    stream. `make_views` draws the mix; a mix with given draws (`mixing.skelemix_with_draws`)
    feeds the step the official code's mix (tests/test_step_parity.py).
    """
    return {"query": self.to_stream(x_q), "key": self.to_stream(x_k),
            "mixed": self.to_stream(mixed)}

  def loss(self, params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch):
    r_q, r_mix, r_k = jax.random.split(rng, 3)
    # BN statistics thread through the query pass, then the mixed pass (the reference's order).
    q_z, batch_stats = self.apply(params, batch_stats, SkeAttnEncoder.encode_query,
                                  views["query"], rng=r_q)
    mixed, batch_stats = self.apply(params, batch_stats, SkeAttnEncoder.encode_mixed,
                                    views["mixed"], rng=r_mix)
    q_z, q_s, q_ns = (moco.l2_normalize(v) for v in (q_z, mixed["s"], mixed["ns"]))
    mask = jax.lax.stop_gradient(mixed["mask"])
    keys, key_batch_stats = self.apply(key_params, key_batch_stats, SkeAttnEncoder.encode_key,
                                       views["key"], mask, rng=r_k, key_side=True)
    k_z, k_s, k_ns = (jax.lax.stop_gradient(moco.l2_normalize(k)) for k in keys)
    mix_weight = moco.warmup_weight(epoch, self.mix_warmup_epochs)
    loss, parts = skeattn_losses(q_z, q_s, q_ns, k_z, k_s, k_ns, queues["z"],
                                 self.temperature, self.mu, mix_weight)
    metrics = {"loss_z": parts["loss_z"], "loss_s": parts["loss_s"],
               "loss_ns": parts["loss_ns"],
               "pos_acc": moco.positive_accuracy(parts["logits_z"]),
               "pos_acc_salient": moco.positive_accuracy(parts["logits_s"]),
               "pos_acc_nonsalient": moco.positive_accuracy(parts["logits_ns"]),
               "mask_mean": jnp.mean(mask), "mix_weight": mix_weight,
               **moco.embedding_metrics(q_z, k_z)}
    aux = {"batch_stats": batch_stats, "key_batch_stats": key_batch_stats,
           "enqueue": {"z": k_z, "s": k_s, "ns": k_ns}, "metrics": metrics}
    return loss, aux
