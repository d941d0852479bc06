"""AimCLR: extreme augmentations, EADM, the D3M loss and nearest-neighbour mining.

Official code: AimCLR (Levigty/AimCLR) net/aimclr.py `AimCLR.forward` and
`nearest_neighbors_mining`, net/att_drop.py `Simam_Drop`, and the loss in
processor/pretrain_aimclr.py `AimCLR_Processor.train`. Per step, three views of every clip
(feeder/ntu_feeder.py `Feeder_triple`): an extreme view (normal + extreme augmentations), a
normal query view and a normal key view, each converted to the chosen stream.

* `q = n(f_q(x_q))`; one backbone pass on the extreme view gives the plain pooled feature and
  the EADM-dropped one, both through the same head: `q_e`, `q_ed`.
* `k = n(f_k(x_k))` with the momentum encoder (EMA done by the generic step before this).
* D3M: the normal view's distribution `p = softmax([q·k | q·Q]/tau)` is the
  stop-gradient target of the extreme ones: `L_d = H(p, p_e)`, `L_dd = H(p, p_ed)`.
* Total: `CE(z, 0) + (L_d + L_dd)/2` up to `mining_epoch`, then the InfoNCE term becomes the
  NNM loss: the positives are column 0 plus the union of the top-1 queue entries of q, q_e and
  q_ed, and `L_info = -mean_n mean_{j in P_n} log softmax(z_n)_j`.
* Only k is enqueued.
* `aimclr.d3m_warmup_epochs` (0 in the reference) ramps the D3M terms' weight from 0 to 1
  over the first epochs (`d3m_ramp`); the small presets use half of the run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from skel_jax import config_lib
from skel_jax.augment import registry as aug_registry
from skel_jax.methods import moco
from skel_jax.methods.skeletonclr import SkeletonCLR
from skel_jax.models.stgcn import global_pool

EADM_MODES = ("fixed", "noop")


def eadm_energy(fmap: jnp.ndarray, lam: float = 1e-4) -> jnp.ndarray:
  """SimAM energy attention A in [0.622, 1) of a feature map `[N, M, T', V, D]` (`Simam_Drop`).

  Per (sequence, channel): `d = (F - mean_{T',V} F)^2`, `A = sigmoid(d / (4 (sum d / n + lam))
  + 0.5)` with `n = T' V - 1`.
  """
  t, v = fmap.shape[2], fmap.shape[3]
  mu = fmap.mean(axis=(2, 3), keepdims=True)
  d = (fmap - mu) ** 2
  var = d.sum(axis=(2, 3), keepdims=True) / (t * v - 1)
  return jax.nn.sigmoid(d / (4.0 * (var + lam)) + 0.5)


def eadm(fmap: jnp.ndarray, keep_prob: float = 0.7, mode: str = "fixed") -> jnp.ndarray:
  """Energy-based attention-guided drop (EADM, `Simam_Drop.forward`) on `[N, M, T', V, D]`.

  Drops the highest-attention joints (mean of A over channels and frames >= keep_prob), then
  the highest-attention elements (A >= keep_prob), each followed by a rescale by
  count / kept-count over the whole batch. The masks carry no gradient. `mode='noop'` is the
  first public commit, whose thresholding left both masks at one (docs/fidelity.md).
  """
  if mode == "noop":
    return fmap
  if mode != "fixed":
    raise ValueError(f"unknown eadm_mode {mode!r}; known: {EADM_MODES}")
  attention = jax.lax.stop_gradient(eadm_energy(fmap))
  joint_score = attention.mean(axis=(2, 4))  # [N, M, V]: mean over (T', D)
  joint_mask = (joint_score < keep_prob).astype(fmap.dtype)
  joint_scale = joint_mask.size / jnp.maximum(joint_mask.sum(), 1.0)
  dropped = fmap * joint_mask[:, :, None, :, None] * joint_scale
  element_mask = (attention < keep_prob).astype(fmap.dtype)
  element_scale = element_mask.size / jnp.maximum(element_mask.sum(), 1.0)
  return dropped * element_mask * element_scale


def d3m_loss(target_logits: jnp.ndarray, student_logits: jnp.ndarray) -> jnp.ndarray:
  """`-(1/N) sum_n sum_j p_nj log softmax(student)_nj` with `p = sg(softmax(target))`."""
  p = jax.lax.stop_gradient(jax.nn.softmax(target_logits, axis=-1))
  return -jnp.mean(jnp.sum(p * jax.nn.log_softmax(student_logits, axis=-1), axis=-1))


def nnm_positive_mask(queue_scores: list[jnp.ndarray], topk: int = 1) -> jnp.ndarray:
  """`[N, 1 + K]` 0/1 mask: column 0 plus the union of each score's top-k queue columns."""
  n, k = queue_scores[0].shape
  mask = jnp.zeros((n, k), jnp.float32)
  for scores in queue_scores:
    _, idx = jax.lax.top_k(jax.lax.stop_gradient(scores), topk)
    mask = jnp.maximum(mask, jax.nn.one_hot(idx, k).max(axis=1))
  return jnp.concatenate([jnp.ones((n, 1), jnp.float32), mask], axis=-1)


def nnm_infonce(logits: jnp.ndarray, positive_mask: jnp.ndarray) -> jnp.ndarray:
  """AimCLR's multi-positive loss: mean over rows of the mean log-prob of the positives."""
  logp = jax.nn.log_softmax(logits, axis=-1)
  per_row = jnp.sum(logp * positive_mask, axis=-1) / jnp.sum(positive_mask, axis=-1)
  return -jnp.mean(per_row)


def extreme_spec(config) -> str:
  """The extreme view's augmentation string, with the config's fidelity switches applied."""
  a = config.aimclr
  spec = aug_registry.EXTREME_V0 if a.temporal_flip else config.aug.extreme
  if a.normalize_blur_kernel:
    items = []
    for name, args, kwargs in aug_registry.parse(spec):
      if name == "gaussian_blur":
        kwargs = {**kwargs, "normalize_kernel": True}
      arg_text = ", ".join([repr(v) for v in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
      items.append(f"{name}({arg_text})" if arg_text else name)
    spec = "|".join(items)
  return spec


def resolve_mining_epoch(mining_epoch: int, epochs: int) -> int:
  """The last epoch before nearest-neighbour mining starts (`mining_epoch`).

  A negative `mining_epoch` means half of the pretraining epochs, the reference's proportion
  (150 of 300), as the configs written before the small presets derived it from `optim.epochs`
  (configs/aimclr.py) held; the D3M warm-up (`aimclr.d3m_warmup_epochs`) is resolved the same
  way.
  """
  mining_epoch = int(mining_epoch)
  return config_lib.half_of(epochs) if mining_epoch < 0 else mining_epoch


def d3m_ramp(epoch, warmup_epochs: int) -> jnp.ndarray:
  """The weight of the D3M terms at a 1-based `epoch` (`moco.warmup_weight`).

  Why a warm-up on small data: D3M's target is the normal view's distribution over
  [key | queue], which is near uniform while the embeddings are still collapsed at the start;
  matching the extreme views to a uniform target pulls every embedding toward equal
  similarity with the whole queue, which deepens the collapse (NW-UCLA, docs/small_data.md:
  L_d, L_dd sit at ln(K + 1) for half the run). The ramp lets InfoNCE spread the embeddings
  first.
  """
  return moco.warmup_weight(epoch, warmup_epochs)


class AimCLR(SkeletonCLR):
  """AimCLR on one stream (docs/methods.md)."""

  name = "aimclr"

  def __init__(self, config, layout):
    super().__init__(config, layout)
    a = config.aimclr
    self.extreme_aug = aug_registry.build(extreme_spec(config), self.layout)
    self.mining_epoch = resolve_mining_epoch(a.mining_epoch, config.optim.epochs)
    self.topk = int(a.topk)
    self.d3m_warmup_epochs = resolve_mining_epoch(a.get("d3m_warmup_epochs", 0),
                                                  config.optim.epochs)
    self.eadm_mode = a.eadm_mode
    self.keep_prob = float(a.eadm_keep_prob)
    if self.eadm_mode not in EADM_MODES:
      raise ValueError(f"unknown aimclr.eadm_mode {self.eadm_mode!r}; known: {EADM_MODES}")

  def make_views(self, rng, x):
    r_e, r_q, r_k = jax.random.split(rng, 3)
    return {"extreme": self.to_stream(self.extreme_aug(r_e, x)),
            "query": self.to_stream(self.normal_aug(r_q, x)),
            "key": self.to_stream(self.normal_aug(r_k, x))}

  def _extreme_forward(self, module, x, *, train):
    """One backbone pass, two heads: plain and EADM-dropped pooled features."""
    fmap = module.feature_map(x, train=train)
    plain = module.project(global_pool(fmap), train=train)
    dropped = module.project(global_pool(eadm(fmap, self.keep_prob, self.eadm_mode)),
                             train=train)
    return plain, dropped

  def loss(self, params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch):
    r_q, r_e, r_k = jax.random.split(rng, 3)
    # BN statistics thread through the query pass, then the extreme pass (the reference's order).
    q, batch_stats = self.apply(params, batch_stats, None, views["query"], rng=r_q)
    (q_e, q_ed), batch_stats = self.apply(params, batch_stats, self._extreme_forward,
                                          views["extreme"], rng=r_e)
    q, q_e, q_ed = (moco.l2_normalize(v) for v in (q, q_e, q_ed))
    k, key_batch_stats = self.encode_keys(key_params, key_batch_stats, views["key"], r_k)
    queue = queues["z"]
    z = moco.contrastive_logits(q, k, queue, self.temperature)
    z_e = moco.contrastive_logits(q_e, k, queue, self.temperature)
    z_ed = moco.contrastive_logits(q_ed, k, queue, self.temperature)
    loss_d = d3m_loss(z, z_e)
    loss_dd = d3m_loss(z, z_ed)
    loss_ce = moco.infonce(z)
    # NNM from mining_epoch on (epoch is 1-based; mining when epoch > mining_epoch).
    mask = nnm_positive_mask([z[:, 1:], z_e[:, 1:], z_ed[:, 1:]], self.topk)
    loss_nnm = nnm_infonce(z, mask)
    mining = jnp.asarray(epoch) > self.mining_epoch
    loss_info = jnp.where(mining, loss_nnm, loss_ce)
    d3m_weight = d3m_ramp(epoch, self.d3m_warmup_epochs)
    loss = loss_info + d3m_weight * (loss_d + loss_dd) / 2.0
    metrics = {"loss_info": loss_info, "loss_d": loss_d, "loss_dd": loss_dd,
               "pos_acc": moco.positive_accuracy(z), "pos_acc_extreme": moco.positive_accuracy(z_e),
               "nnm_positives": jnp.mean(mask.sum(-1)), "mining": mining.astype(jnp.float32),
               "d3m_weight": d3m_weight,
               **moco.embedding_metrics(q, k)}
    aux = {"batch_stats": batch_stats, "key_batch_stats": key_batch_stats,
           "enqueue": {"z": k}, "metrics": metrics}
    return loss, aux
