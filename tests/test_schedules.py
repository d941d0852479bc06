"""Tests for skel_jax.train.schedules: the per-epoch learning rates of the reference."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from skel_jax.train import schedules


def test_step_lr_matches_spec_example():
  # The reference pretraining: steps [250], base 0.1 -> 0.1 for epochs 1-250, 0.01 for 251-300.
  assert schedules.step_lr(0.1, 1, [250]) == 0.1
  assert schedules.step_lr(0.1, 250, [250]) == 0.1
  assert schedules.step_lr(0.1, 251, [250]) == pytest.approx(0.01, rel=1e-15)
  assert schedules.step_lr(0.1, 300, [250]) == pytest.approx(0.01, rel=1e-15)


def test_step_lr_multiple_steps_and_none():
  lrs = [schedules.step_lr(3.0, e, [60, 100]) for e in (1, 60, 61, 100, 101, 150)]
  assert lrs == pytest.approx([3.0, 3.0, 0.3, 0.3, 0.03, 0.03], rel=1e-14)
  assert schedules.step_lr(3.0, 1000, ()) == 3.0


def test_cosine_lr_values():
  assert schedules.cosine_lr(1.0, 0, 10) == 1.0
  assert schedules.cosine_lr(1.0, 5, 10) == pytest.approx(0.5, abs=1e-15)
  assert schedules.cosine_lr(1.0, 10, 10) == pytest.approx(0.0, abs=1e-15)
  assert schedules.cosine_lr(2.0, 1, 4) == pytest.approx(1.0 + math.cos(math.pi / 4), rel=1e-15)


def test_warmup_replaces_schedule_value_before_warmup_epoch():
  # SkeleMixCLR fine-tune: base 0.1, warm-up 10 epochs.
  assert schedules.warmup(0.1, 0.1, 1, 10) == pytest.approx(0.01, rel=1e-15)
  assert schedules.warmup(0.1, 0.1, 9, 10) == pytest.approx(0.09, rel=1e-15)
  assert schedules.warmup(0.1, 0.1, 10, 10) == 0.1
  assert schedules.warmup(0.05, 0.1, 3, 0) == 0.05


def test_lr_at_epoch_combines_kind_and_warmup():
  assert schedules.lr_at_epoch("step", 0.1, 5, total_epochs=110, lr_steps=[50, 70, 90],
                               warmup_epochs=10) == pytest.approx(0.05)
  assert schedules.lr_at_epoch("step", 0.1, 71, total_epochs=110, lr_steps=[50, 70, 90],
                               warmup_epochs=10) == pytest.approx(0.001)
  assert schedules.lr_at_epoch("constant", 0.2, 7, total_epochs=10) == 0.2
  with pytest.raises(ValueError, match="unknown learning-rate schedule"):
    schedules.lr_at_epoch("linear", 0.1, 1, total_epochs=10)


@pytest.mark.parametrize("kind,lr_steps,warm", [
    ("step", (3, 5), 0), ("step", (2,), 3), ("cosine", (), 0), ("cosine", (), 2),
    ("constant", (), 4)])
def test_epoch_schedule_equals_scalar_helpers(kind, lr_steps, warm):
  steps_per_epoch, total = 3, 7
  sched = schedules.epoch_schedule(kind, 0.4, steps_per_epoch, total, lr_steps, warm)
  counts = jnp.arange(steps_per_epoch * total)
  got = np.asarray(jax.jit(jax.vmap(sched))(counts))
  want = [schedules.lr_at_epoch(kind, 0.4, int(c) // steps_per_epoch + 1, total_epochs=total,
                                lr_steps=lr_steps, warmup_epochs=warm) for c in counts]
  np.testing.assert_allclose(got, np.asarray(want, np.float32), rtol=1e-6, atol=1e-7)


def test_epoch_schedule_drives_optax_sgd_per_epoch():
  # Two updates per epoch, decay after epoch 1: the updates are -lr * g with lr 1, 1, 0.1, 0.1.
  tx = optax.sgd(schedules.epoch_schedule("step", 1.0, 2, 2, lr_steps=(1,)))
  params = jnp.zeros(())
  state = tx.init(params)
  updates = []
  for _ in range(4):
    u, state = tx.update(jnp.ones(()), state, params)
    updates.append(float(u))
  np.testing.assert_allclose(updates, [-1.0, -1.0, -0.1, -0.1], rtol=1e-6)


def test_epoch_schedule_rejects_bad_arguments():
  with pytest.raises(ValueError, match="steps_per_epoch"):
    schedules.epoch_schedule("step", 0.1, 0, 10)
  with pytest.raises(ValueError, match="unknown"):
    schedules.epoch_schedule("poly", 0.1, 1, 10)


def _pretrain_optim(clip: float):
  import ml_collections
  return ml_collections.ConfigDict(dict(
      schedule="constant", lr=0.5, epochs=1, lr_steps=(), warmup_epochs=0, momentum=0.9,
      nesterov=False, weight_decay=0.1, clip_grad_norm=clip))


def test_pretrain_optimizer_clips_the_loss_gradient_before_weight_decay():
  from skel_jax.train import pretrain
  params = {"w": jnp.array([1.0, -2.0])}
  grads = {"w": jnp.array([3.0, 4.0])}  # norm 5
  for clip, scale in ((0.0, 1.0), (10.0, 1.0), (1.0, 0.2)):
    tx, _ = pretrain.make_optimizer(_pretrain_optim(clip), steps_per_epoch=1)
    updates, _ = tx.update(grads, tx.init(params), params)
    # First SGD step: -lr * (clip(g) + wd * theta), the decay term never clipped.
    expected = -0.5 * (np.array([3.0, 4.0]) * scale + 0.1 * np.array([1.0, -2.0]))
    np.testing.assert_allclose(updates["w"], expected, rtol=1e-6)


def test_pretrain_optimizer_adaptive_clip_is_per_unit_relative_to_the_weights():
  from skel_jax.train import pretrain
  optim = _pretrain_optim(0.1)
  optim.clip_mode = "adaptive"
  optim.weight_decay = 0.0
  # Two output units (columns): unit 0 has a gradient 10x its weight norm, unit 1 a tiny one.
  params = {"w": jnp.array([[3.0, 1.0], [4.0, 0.0]])}  # column norms 5 and 1
  grads = {"w": jnp.array([[30.0, 0.01], [40.0, 0.0]])}  # column norms 50 and 0.01
  tx, _ = pretrain.make_optimizer(optim, steps_per_epoch=1)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Unit 0 is scaled to norm 0.1 * 5 = 0.5 (factor 0.01); unit 1 is left alone.
  expected = -0.5 * np.array([[0.3, 0.01], [0.4, 0.0]])
  np.testing.assert_allclose(updates["w"], expected, rtol=1e-5)
  optim.clip_mode = "layerwise"
  with pytest.raises(ValueError, match="unknown optim.clip_mode 'layerwise'"):
    pretrain.make_optimizer(optim, steps_per_epoch=1)
