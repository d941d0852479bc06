"""Tests for SkeleMixCLR(+): mask pooling, the loss and its config."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from skel_jax import methods
from skel_jax.methods import skelemixclr
from skel_jax.models.contrastive import global_pool
from skel_jax.train import step as step_lib
from tests.conftest import REPO_ROOT, load_script

jax.config.update("jax_disable_most_optimizations", True)


CONFIG = load_script(REPO_ROOT / "configs" / "skelemixclr.py", "skelemixclr_config")


def _unit(rng, *shape):
  v = rng.normal(size=shape)
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def np_ce0(logits):
  """Batch mean of -log softmax(logits)[:, 0] in float64."""
  logits = np.asarray(logits, np.float64)
  m = logits.max(axis=1, keepdims=True)
  lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
  return float(np.mean(lse - logits[:, 0]))


def np_skelemix_loss(q, k, queue, p, c, partner, tau, w=1.0, w_mix=1.0):
  """The reference loss written out in float64 numpy."""
  z = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], 1) / tau
  total = w * np_ce0(z)
  for r in range(p.shape[0]):
    z_p = np.concatenate([np.sum(p[r] * k[partner[r]], 1, keepdims=True), p[r] @ queue.T,
                          np.sum(p[r] * c[r], 1, keepdims=True)], 1) / tau
    z_c = np.concatenate([np.sum(c[r] * k, 1, keepdims=True), c[r] @ queue.T,
                          np.sum(c[r] * p[r], 1, keepdims=True)], 1) / tau
    total += w_mix * (0.5 * np_ce0(z_p) + 0.5 * np_ce0(z_c))
  return total


def _features(seed=0, r=2, n=4, d=3, k=5):
  rng = np.random.default_rng(seed)
  return dict(q=_unit(rng, n, d), k=_unit(rng, n, d), queue=_unit(rng, k, d),
              p=_unit(rng, r, n, d), c=_unit(rng, r, n, d),
              partner=np.stack([(np.arange(n) + s) % n for s in (1, 2, 1)[:r]]).astype(np.int32))


@pytest.mark.parametrize("r,tau,w,w_mix", [(2, 0.2, 1.0, 1.0), (1, 0.07, 1.0, 0.5),
                                           (3, 0.5, 0.3, 2.0)])
def test_loss_equals_numpy_formula(r, tau, w, w_mix):
  f = _features(seed=r, r=r)
  loss, metrics = skelemixclr.skelemix_loss(
      *(jnp.asarray(f[n], jnp.float32) for n in ("q", "k", "queue", "p", "c")), f["partner"], tau,
      instance_weight=w, mix_weight=w_mix)
  expected = np_skelemix_loss(f["q"], f["k"], f["queue"], f["p"], f["c"], f["partner"], tau,
                              w, w_mix)
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  np.testing.assert_allclose(float(metrics["loss_info"]), np_skelemix_loss(
      f["q"], f["k"], f["queue"], f["p"][:0], f["c"][:0], f["partner"], tau), rtol=1e-5)


def test_mixed_terms_are_summed_over_repeats():
  f = _features(seed=5, r=3)
  args = [jnp.asarray(f[n], jnp.float32) for n in ("q", "k", "queue")]
  total, metrics = skelemixclr.skelemix_loss(*args, f["p"], f["c"], f["partner"], 0.2)
  singles = [float(skelemixclr.skelemix_loss(*args, f["p"][r:r + 1], f["c"][r:r + 1],
                                             f["partner"][r:r + 1], 0.2)[0]) for r in range(3)]
  info = float(metrics["loss_info"])
  np.testing.assert_allclose(float(total), info + sum(s - info for s in singles), rtol=1e-5)
  # The logged per-mix losses are means over the repeats: L = L_info + 3 (L_p + L_c) / 2.
  np.testing.assert_allclose(float(total), info + 1.5 * float(metrics["loss_p"] + metrics["loss_c"]),
                             rtol=1e-5)


def _loss_no_sg(q, k, queue, p, c, p_extra, c_extra, partner, tau):
  """The same loss with the extra negatives as separate inputs (jnp, no stop-gradient)."""
  def ce(z):
    return -jnp.mean(jax.nn.log_softmax(z, axis=1)[:, 0])
  z = jnp.concatenate([jnp.sum(q * k, 1, keepdims=True), q @ queue.T], 1) / tau
  total = ce(z)
  for r in range(p.shape[0]):
    z_p = jnp.concatenate([jnp.sum(p[r] * k[partner[r]], 1, keepdims=True), p[r] @ queue.T,
                           jnp.sum(p[r] * c_extra[r], 1, keepdims=True)], 1) / tau
    z_c = jnp.concatenate([jnp.sum(c[r] * k, 1, keepdims=True), c[r] @ queue.T,
                           jnp.sum(c[r] * p_extra[r], 1, keepdims=True)], 1) / tau
    total = total + 0.5 * ce(z_p) + 0.5 * ce(z_c)
  return total


def test_no_gradient_flows_into_the_extra_negatives_or_the_keys():
  f = {n: jnp.asarray(v) for n, v in _features(seed=7, r=2).items()}
  f["q"], f["k"], f["queue"], f["p"], f["c"] = (f[n].astype(jnp.float32)
                                                for n in ("q", "k", "queue", "p", "c"))

  def ours(q, k, queue, p, c):
    return skelemixclr.skelemix_loss(q, k, queue, p, c, f["partner"], 0.2)[0]

  grads = jax.grad(ours, argnums=(0, 1, 2, 3, 4))(f["q"], f["k"], f["queue"], f["p"], f["c"])
  # d/dp and d/dc only through their own logits: the extra-negative inputs are held constant.
  direct = jax.grad(_loss_no_sg, argnums=(3, 4))(f["q"], f["k"], f["queue"], f["p"], f["c"],
                                                 f["p"], f["c"], f["partner"], 0.2)
  np.testing.assert_allclose(grads[3], direct[0], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(grads[4], direct[1], rtol=1e-5, atol=1e-7)
  # Without the stop-gradient the gradient would differ: the test can tell the two apart.
  full = jax.grad(lambda p, c: _loss_no_sg(f["q"], f["k"], f["queue"], p, c, p, c, f["partner"],
                                           0.2), argnums=(0, 1))(f["p"], f["c"])
  assert not np.allclose(grads[3], full[0], atol=1e-4)
  np.testing.assert_array_equal(grads[1], 0.0)  # keys are constants
  np.testing.assert_array_equal(grads[2], 0.0)  # so is the queue


def test_mask_pool_exact_and_consistent_with_the_global_pool():
  rng = np.random.default_rng(0)
  fmap = rng.normal(size=(3, 2, 4, 25, 6)).astype(np.float32)
  mask = np.zeros((4, 25), np.float32)
  mask[1:3, [0, 1, 2, 3, 20]] = 1
  p, c = skelemixclr.mask_pool(jnp.asarray(fmap), jnp.asarray(mask))
  f64 = fmap.astype(np.float64)
  exp_p = (f64 * mask[None, None, :, :, None]).sum(axis=(2, 3)).mean(axis=1) / mask.sum()
  exp_c = (f64 * (1 - mask)[None, None, :, :, None]).sum(axis=(2, 3)).mean(axis=1) / (
      1 - mask).sum()
  np.testing.assert_allclose(p, exp_p, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c, exp_c, rtol=1e-5, atol=1e-6)
  frac = mask.mean()
  np.testing.assert_allclose(frac * p + (1 - frac) * c, global_pool(jnp.asarray(fmap)),
                             rtol=1e-5, atol=1e-6)


def _smoke_method(arg="smoke"):
  config = CONFIG.get_config(arg)
  return config, methods.get_method(config.method)(config, config.data.layout)


class _FakeEncoder:
  """Stands in for ContrastiveEncoder: a fixed feature map and a batch-standardising head."""

  def __init__(self, fmap):
    self.fmap = fmap
    self.calls = []

  def feature_map(self, x, *, train):
    del x, train
    return self.fmap

  def project(self, pooled, *, train):
    del train
    self.calls.append(pooled)
    return (pooled - pooled.mean(axis=0)) / pooled.std(axis=0)  # batch statistics, as BN


def test_each_head_call_uses_its_own_batch_statistics():
  fmap = jnp.asarray(np.random.default_rng(1).normal(size=(4, 2, 4, 25, 6)), jnp.float32)
  mask = jnp.zeros((4, 25)).at[1:3, :5].set(1.0)
  module = _FakeEncoder(fmap)
  p, c = skelemixclr._mask_pooled_features(module, None, mask, train=True)
  exp_p, exp_c = skelemixclr.mask_pool(fmap, mask)
  assert len(module.calls) == 2  # two head calls, p first, each on its own [N, D] batch
  np.testing.assert_array_equal(module.calls[0], exp_p)
  np.testing.assert_array_equal(module.calls[1], exp_c)
  np.testing.assert_allclose(p, (exp_p - exp_p.mean(0)) / exp_p.std(0), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(c, (exp_c - exp_c.mean(0)) / exp_c.std(0), rtol=1e-5, atol=1e-6)


def test_configs():
  plus = CONFIG.get_config("ntu60_xview")
  assert (plus.model.graph, plus.model.head_bn, plus.moco.temperature) == ("agcn", True, 0.2)
  assert (plus.data.num_frames, plus.optim.schedule, plus.optim.lr) == (64, "constant", 0.1)
  s = plus.skelemix
  assert (s.parts_range, s.segments_range, s.repeats, s.mix_weight) == ((2, 3), (7, 11), 3, 1.0)
  orig = CONFIG.get_config("ntu60_xsub,variant=original,stream=motion")
  s = orig.skelemix
  assert (s.parts_range, s.segments_range, s.repeats, orig.moco.temperature) == (
      (1, 4), (1, 15), 1, 0.07)
  assert orig.data.stream == "motion"
  demo = CONFIG.get_config(None)
  assert demo.preset == "demo" and demo.skelemix.segments_range == (3, 6)
  ucla = CONFIG.get_config("nwucla,spatial=random")
  # The small-data recipe's 32 frames: the segment range scaled as for the demo.
  assert ucla.data.layout == "kinect_v1_20" and ucla.data.num_frames == 32
  assert ucla.skelemix.spatial_mode == "random" and ucla.skelemix.segments_range == (3, 6)
  assert CONFIG.get_config("smoke").skelemix.segments_range == (1, 3)
  with pytest.raises(ValueError, match="variant"):
    CONFIG.get_config("smoke,variant=plusplus")


def test_views_at_50_frames_on_kinect_v1_20():
  config, method = _smoke_method("smoke,frames=50")
  method = type(method)(config, "kinect_v1_20")
  x = jnp.zeros((4, 2, 50, 20, 3))
  views = jax.eval_shape(method.make_views, jax.random.key(0), x)
  assert views["mixed"].shape == (3, 4, 2, 50, 20, 3)
  assert views["mask"].shape == (3, 13, 20) and views["partner"].shape == (3, 4)


def test_one_train_step_with_the_smoke_preset():
  config, method = _smoke_method("smoke,stream=bone")
  n = config.optim.batch_size
  x = jnp.asarray(np.random.default_rng(0).normal(size=(n, 2, 16, 25, 3)), jnp.float32)
  tx = optax.sgd(0.1, momentum=0.9)
  # Jitted as the pretrain loop does, so that the copied key encoder gets its own buffers.
  state = jax.jit(lambda r, y: step_lib.create_train_state(
      method, tx, r, y, queue_size=config.moco.queue_size))(jax.random.key(0), x)
  step = step_lib.make_train_step(method, tx, momentum_fn=lambda s: 0.9, lr_fn=lambda s: 0.1,
                                  steps_per_epoch=4, ema_order="before_forward",
                                  ema_batch_stats=False)
  views = jax.eval_shape(method.make_views, jax.random.key(0), x)
  assert views["mixed"].shape == (3, n, 2, 16, 25, 3) and views["mask"].shape == (3, 4, 25)
  old_queue = np.asarray(state.queues["z"])
  old_stats = jax.tree.map(np.asarray, state.batch_stats)
  new, metrics = step(state, x)
  assert int(new.step) == 1 and int(new.queue_ptr) == n
  for name in ("loss", "loss_info", "loss_p", "loss_c", "pos_acc", "pos_acc_p", "pos_acc_c"):
    assert np.isfinite(float(metrics[name])), name
  # L = L_info + sum over 3 repeats of (L_p + L_c) / 2, with the per-repeat means logged.
  np.testing.assert_allclose(
      float(metrics["loss"]),
      float(metrics["loss_info"]) + 1.5 * (float(metrics["loss_p"]) + float(metrics["loss_c"])),
      rtol=1e-5)
  queue = np.asarray(new.queues["z"])
  np.testing.assert_array_equal(queue[n:], old_queue[n:])
  np.testing.assert_allclose(np.linalg.norm(queue[:n], axis=1), 1.0, rtol=1e-5)
  assert not np.allclose(queue[:n], old_queue[:n])
  head_mean = new.batch_stats["head"]["bn"]["mean"]
  assert not np.allclose(head_mean, old_stats["head"]["bn"]["mean"])


def test_unrolled_and_scanned_mixed_passes_agree():
  config, method = _smoke_method("smoke")
  config.skelemix.unroll = False
  scanned = type(method)(config, config.data.layout)
  assert method.unroll and not scanned.unroll
  n = config.optim.batch_size
  x = jnp.asarray(np.random.default_rng(1).normal(size=(n, 2, 16, 25, 3)), jnp.float32)
  state = jax.jit(lambda r, y: step_lib.create_train_state(
      method, optax.sgd(0.1), r, y, queue_size=config.moco.queue_size))(jax.random.key(0), x)
  views = method.make_views(jax.random.key(3), x)

  def loss_and_grad(m):
    def loss(params):
      return m.loss(params, state.batch_stats, state.key_params, state.key_batch_stats,
                    state.queues, views, jax.random.key(4), 1)
    return jax.jit(jax.value_and_grad(loss, has_aux=True))(state.params)

  (loss_u, aux_u), grads_u = loss_and_grad(method)
  (loss_s, aux_s), grads_s = loss_and_grad(scanned)
  np.testing.assert_allclose(float(loss_u), float(loss_s), rtol=1e-6)
  for name in ("loss_p", "loss_c", "pos_acc_p"):
    np.testing.assert_allclose(float(aux_u["metrics"][name]), float(aux_s["metrics"][name]),
                               rtol=1e-6, err_msg=name)
  # Running statistics threaded through the three mixes in the same order.
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               aux_u["batch_stats"], aux_s["batch_stats"])
  # Gradients agree up to float32 rounding, which the smoke batch's BatchNorm backward passes
  # amplify: in norm, per leaf and overall (measured 8.8e-4 of the gradient's norm; the
  # unrolled step jitted against run eagerly: 2.4e-4).
  # (Leaves whose exact gradient is 0, biases followed by BatchNorm, hold rounding noise only:
  # their floor is relative to the whole gradient.)
  pairs = [(np.asarray(a, np.float64), np.asarray(b, np.float64))
           for a, b in zip(jax.tree.leaves(grads_u), jax.tree.leaves(grads_s))]
  total = np.sqrt(sum(np.sum(a ** 2) for a, _ in pairs))
  for a, b in pairs:
    assert np.linalg.norm(a - b) <= 1e-2 * np.linalg.norm(a) + 1e-5 * total
  assert np.sqrt(sum(np.sum((a - b) ** 2) for a, b in pairs)) <= 5e-3 * total


def test_mix_warmup_ramps_the_mixed_terms_per_epoch():
  config = CONFIG.get_config("smoke")
  config.skelemix.mix_warmup_epochs = 2
  method = methods.get_method(config.method)(config, config.data.layout)
  n = config.optim.batch_size
  x = jnp.asarray(np.random.default_rng(0).normal(size=(n, 2, 16, 25, 3)), jnp.float32)
  tx = optax.sgd(0.01, momentum=0.9)
  state = jax.jit(lambda r, y: step_lib.create_train_state(
      method, tx, r, y, queue_size=config.moco.queue_size))(jax.random.key(0), x)
  step = jax.jit(step_lib.make_train_step(
      method, tx, momentum_fn=lambda s: 0.9, lr_fn=lambda s: 0.01, steps_per_epoch=1,
      ema_order="before_forward", ema_batch_stats=False))
  for weight in (0.0, 0.5, 1.0):  # epochs 1, 2, 3: min(1, (epoch - 1) / 2)
    state, m = step(state, x)
    assert float(m["mix_weight"]) == weight
    np.testing.assert_allclose(
        float(m["loss"]), float(m["loss_info"]) + weight * 1.5 * (
            float(m["loss_p"]) + float(m["loss_c"])), rtol=1e-5)
  assert skelemixclr.resolve_half(-1, 30) == 15 and skelemixclr.resolve_half(4, 30) == 4
