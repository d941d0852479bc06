"""SkeletonCLR: MoCo v2 on skeletons, one stream (CrosSCLR net/skeletonclr.py `SkeletonCLR`).

Two normal views (feeder/ntu_feeder.py `Feeder_dual`); `q = n(f_q(x_q))`, `k = n(f_k(x_k))`; InfoNCE
over `[q·k | q·Q] / tau`; the keys of the global batch are enqueued.
"""

from __future__ import annotations

import jax

from skel_jax.methods import moco
from skel_jax.methods.base import Method


class SkeletonCLR(Method):
  """The base method; AimCLR, SkeleMixCLR and SkeAttnCLR extend its views and loss."""

  name = "skeletonclr"

  def loss(self, params, batch_stats, key_params, key_batch_stats, queues, views, rng, epoch):
    del epoch
    r_q, r_k = jax.random.split(rng)
    q, batch_stats = self.apply(params, batch_stats, None, views["query"], rng=r_q)
    q = moco.l2_normalize(q)
    k, key_batch_stats = self.encode_keys(key_params, key_batch_stats, views["key"], r_k)
    logits = moco.contrastive_logits(q, k, queues["z"], self.temperature)
    loss = moco.infonce(logits)
    metrics = {"loss": loss, "loss_info": loss, "pos_acc": moco.positive_accuracy(logits),
               **moco.embedding_metrics(q, k)}
    aux = {"batch_stats": batch_stats, "key_batch_stats": key_batch_stats,
           "enqueue": {"z": k}, "metrics": metrics}
    return loss, aux
