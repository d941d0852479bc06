"""SkeleMixCLR and SkeleMixCLR+: SkeleMix views, mask pooling and the extended pairs.

Official code: SkeleMixCLR (czhaneva/SkeleMixCLR) net/skeletonclr_multi_swapv2.py
`SkeletonCLR.forward` (SkeleMixCLR+; net/skeletonclr_swap.py for the original), mask pooling
in net/st_gcn_swap.py `Model._mask_pool`, the loss in
processor/pretrain_skeletonclr_multi_swapv2.py `SkeletonCLR_Processor.train`. Per step:

* Views (`make_views`): a normal query and key view, each converted to the stream
  (`view_gen`), then R independent SkeleMix batches of the query-stream batch (mixing happens
  after the stream conversion in SkeleMixCLR), with their partners and feature-grid masks.
* `q = n(f_q(x_q))`; for each mix r, one backbone pass on `x~_r` pooled over the pasted
  region and over the rest (`mask_pool`), each through the same head with its own BN batch
  statistics: `(p_r, c_r)`. The query encoder runs 1 + R times and its BN stats thread
  through the calls in that order, as in the reference.
* `k = n(f_k(x_k))`; the key encoder never sees mixed data.
* `skelemix_loss`: `L = w CE(z) + sum_r w_mix (0.5 CE(z_p^r) + 0.5 CE(z_c^r))`.
* Only k is enqueued.

SkeleMixCLR+ (the shipped config) uses R = 3 and w_mix = 1; the original SkeleMixCLR
(net/skeletonclr_swap.py) is R = 1 with `w_mix = alpha`, so
`L = L_ins + alpha (0.5 L_p + 0.5 L_c)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from skel_jax import config_lib
from skel_jax.augment import mixing
from skel_jax.methods import moco
from skel_jax.methods.skeletonclr import SkeletonCLR
from skel_jax.models.stgcn import block_plan, temporal_out_length


def mask_pool(fmap: jnp.ndarray, mask: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Means over the pasted region and over the rest, then over persons (`Model._mask_pool`).

  `p = sum_{t,v} F Mk / sum Mk`, `c = sum_{t,v} F (1 - Mk) / sum (1 - Mk)`, each averaged
  over M. An empty side (possible only when a layout's groups cover every joint and the
  segment the whole grid) divides by 1 and gives a zero vector instead of NaN.

  Args:
    fmap: `[N, M, T', V, D]` final feature map.
    mask: `[T', V]` 0/1 feature-resolution mask of the pasted region.

  Returns:
    (p, c), each `[N, D]`.
  """
  w = mask.astype(fmap.dtype)[None, None, :, :, None]  # [1, 1, T', V, 1]
  inside = jnp.sum(fmap * w, axis=(2, 3)) / jnp.maximum(jnp.sum(mask), 1.0)  # [N, M, D]
  outside = jnp.sum(fmap * (1.0 - w), axis=(2, 3)) / jnp.maximum(jnp.sum(1.0 - mask), 1.0)
  return inside.mean(axis=1), outside.mean(axis=1)


def _mask_pooled_features(module, x, mask, *, train: bool):
  """One backbone pass, mask pooling, and the head twice (p first, then c), unnormalised."""
  p, c = mask_pool(module.feature_map(x, train=train), mask)
  return module.project(p, train=train), module.project(c, train=train)


def skelemix_loss(q, k, queue, p, c, partner, temperature: float, *,
                  instance_weight: float = 1.0, mix_weight: float = 1.0):
  """The SkeleMixCLR loss on normalised features.

  Logits (all divided by tau; sg = stop-gradient):
    `z = [q·k | q·Q]`,
    `z_p^r = [p_r·k[pi_r] | p_r·Q | p_r·sg(c_r)]` (the donor's key is the positive),
    `z_c^r = [c_r·k | c_r·Q | c_r·sg(p_r)]` (the sample's own key is the positive),
  and `L = w CE(z) + sum_r w_mix (0.5 CE(z_p^r) + 0.5 CE(z_c^r))`, summed (not averaged) over
  the R repeats; CE is the batch mean of the cross-entropy with target 0.

  Args:
    q: `[N, D]` query features.
    k: `[N, D]` key features (constants).
    queue: `[K, D]` negatives.
    p: `[R, N, D]` pasted-region features of the R mixes.
    c: `[R, N, D]` complement features.
    partner: int32 `[R, N]` donor index of every row of every mix.
    temperature: tau.
    instance_weight: w.
    mix_weight: w_mix (alpha of the original SkeleMixCLR).

  Returns:
    (loss, metrics) with metrics loss_info, loss_p / loss_c (mean over the repeats), pos_acc,
    pos_acc_p, pos_acc_c.
  """
  k = jax.lax.stop_gradient(k)
  z = moco.contrastive_logits(q, k, queue, temperature)
  loss_info = moco.infonce(z)
  # All repeats at once: contrastive_logits works on the trailing axes of [R, N, D].
  donor_keys = jnp.take(k, partner, axis=0)  # [R, N, D]
  z_p = moco.contrastive_logits(p, donor_keys, queue, temperature,
                                extra_negatives=jax.lax.stop_gradient(c))  # [R, N, 1 + K + 1]
  z_c = moco.contrastive_logits(c, k, queue, temperature,
                                extra_negatives=jax.lax.stop_gradient(p))
  loss_p = -jnp.mean(jax.nn.log_softmax(z_p, axis=-1)[..., 0], axis=-1)  # [R]
  loss_c = -jnp.mean(jax.nn.log_softmax(z_c, axis=-1)[..., 0], axis=-1)
  loss = instance_weight * loss_info + mix_weight * jnp.sum(0.5 * loss_p + 0.5 * loss_c)
  metrics = {"loss": loss, "loss_info": loss_info, "loss_p": loss_p.mean(),
             "loss_c": loss_c.mean(), "pos_acc": moco.positive_accuracy(z),
             "pos_acc_p": moco.positive_accuracy(z_p), "pos_acc_c": moco.positive_accuracy(z_c)}
  return loss, metrics


def resolve_half(epochs_setting: int, epochs: int) -> int:
  """`epochs_setting`, or half of the run's `epochs` (at least 1) when it is negative."""
  return config_lib.half_of(epochs) if int(epochs_setting) < 0 else int(epochs_setting)


def encoder_strides(config: ml_collections.ConfigDict) -> tuple[int, ...]:
  """Temporal strides of the encoder's blocks, from the model's block plan."""
  m = config.model
  return tuple(int(s) for _, s, _, _ in block_plan(m.hidden, m.out_dim, m.dropout))


class SkeleMixCLR(SkeletonCLR):
  """SkeleMixCLR / SkeleMixCLR+ (docs/methods.md); `config.skelemix` holds the mixing settings.

  config.skelemix fields: parts_range, segments_range (scaled to short clips with
  `mixing.fit_segments`), repeats R, spatial_mode ('semantic' | 'random'),
  random_joints_range, start_rule ('floor'), instance_weight w, mix_weight w_mix.
  """

  name = "skelemixclr"

  def __init__(self, config: ml_collections.ConfigDict, layout: str):
    super().__init__(config, layout)
    s = config.skelemix
    self.repeats = int(s.repeats)
    self.parts_range = tuple(int(v) for v in s.parts_range)
    self.segments_range = tuple(int(v) for v in s.segments_range)
    self.spatial_mode = str(s.spatial_mode)
    self.random_joints_range = tuple(int(v) for v in s.random_joints_range)
    self.start_rule = str(s.get("start_rule", "floor"))
    self.instance_weight = float(s.instance_weight)
    self.mix_weight = float(s.mix_weight)
    # 0 in the reference; a negative value means half of the run (the small presets).
    self.mix_warmup_epochs = resolve_half(s.get("mix_warmup_epochs", 0), config.optim.epochs)
    self.unroll = bool(s.get("unroll", True))
    self.strides = encoder_strides(config)
    # The input region follows the grid of the encoder's total stride (4 in the reference).
    self.ratio = int(np.prod(self.strides))
    if self.repeats < 1:
      raise ValueError(f"config.skelemix.repeats must be >= 1, got {self.repeats}")

  def mix(self, rng: jax.Array, x: jnp.ndarray) -> mixing.MixResult:
    """R independent SkeleMix batches of `x` `[N, M, T, V, C]` (leading `[R]` on each field)."""
    segments = mixing.fit_segments(self.segments_range, x.shape[2], self.ratio, self.start_rule)
    return mixing.skelemix_repeats(
        rng, x, self.layout, self.repeats, parts_range=self.parts_range,
        segments_range=segments, ratio=self.ratio, spatial_mode=self.spatial_mode,
        random_joints_range=self.random_joints_range, start_rule=self.start_rule)

  def make_views(self, rng: jax.Array, x: jnp.ndarray) -> dict[str, jnp.ndarray]:
    r_q, r_k, r_mix = jax.random.split(rng, 3)
    query = self.to_stream(self.normal_aug(r_q, x))
    key = self.to_stream(self.normal_aug(r_k, x))
    # Mixing is done on the stream, after its conversion (as in the reference), without gradient.
    return self.views_from_mix(query, key, self.mix(r_mix, query))

  def views_from_mix(self, query, key, mix: mixing.MixResult) -> dict[str, jnp.ndarray]:
    """The step's views from the stream-converted query and key and R mixes of the query.

    `make_views` draws the mixes; given draws (`mixing.skelemix_repeats_with_draws`) feed the
    step the official code's mixes (tests/test_step_parity.py).
    """
    mask = mixing.feature_mask(mix.region, self.ratio)  # [R, T', V]
    # The mask pools the encoder's feature map: it must have the map's length.
    assert mask.shape[-2] == temporal_out_length(query.shape[2], self.strides), mask.shape
    return {"query": query, "key": key, "mixed": mix.mixed,  # [R, N, M, T, V, C]
            "partner": mix.partner, "mask": mask}  # [R, N], [R, T', V]

  def loss(self, params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch):
    keys = jax.random.split(rng, 2 + self.repeats)
    q, batch_stats = self.apply(params, batch_stats, None, views["query"], rng=keys[0])
    q = moco.l2_normalize(q)

    def mixed_pass(stats, inputs):
      # One encoder call per mix: its own BN batch statistics, running stats threaded
      # mix 1, 2, 3 in order, as in the reference.
      mixed, mask, key = inputs
      (p, c), stats = self.apply(params, stats, _mask_pooled_features, mixed, mask, rng=key)
      return stats, (moco.l2_normalize(p), moco.l2_normalize(c))

    mixed, masks, mix_keys = views["mixed"], views["mask"], keys[2:]
    if self.unroll:
      # On XLA:CPU the scan's stacked residuals made loss + grad 1.23x slower (17.4 against
      # 14.2 s at batch 64, T 64, h 16); unrolled, the step needs 22 % more temporaries
      # (docs/benchmarks.md), hence `skelemix.unroll`.
      outputs = []
      for r in range(self.repeats):
        batch_stats, out = mixed_pass(batch_stats, (mixed[r], masks[r], mix_keys[r]))
        outputs.append(out)
      p, c = (jnp.stack(parts) for parts in zip(*outputs))  # [R, N, D] each
    else:
      batch_stats, (p, c) = jax.lax.scan(
          mixed_pass, batch_stats, (mixed, masks, mix_keys))  # p, c: [R, N, D]
    k, key_batch_stats = self.encode_keys(key_params, key_batch_stats, views["key"], keys[1])
    mix_weight = self.mix_weight * moco.warmup_weight(epoch, self.mix_warmup_epochs)
    loss, metrics = skelemix_loss(q, k, queues["z"], p, c, views["partner"], self.temperature,
                                  instance_weight=self.instance_weight, mix_weight=mix_weight)
    metrics = {**metrics, **moco.embedding_metrics(q, k), "mix_weight": mix_weight}
    aux = {"batch_stats": batch_stats, "key_batch_stats": key_batch_stats,
           "enqueue": {"z": k}, "metrics": metrics}
    return loss, aux
