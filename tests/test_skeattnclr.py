"""SkeAttnCLR method: losses, views, key momentum, config, one step."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.data import streams
from skel_jax.methods import moco, skeattnclr
from skel_jax.models.attention import SkeAttnEncoder
from skel_jax.train import pretrain
from skel_jax.train import step as step_lib
from tests.conftest import REPO_ROOT, load_script

CONFIGS = load_script(REPO_ROOT / "configs" / "skeattnclr.py", "skeattnclr_config")


# -- losses (`SkeAttnMask.forward`) ----------------------------------------------------------------

def _unit(rng, shape):
  v = rng.normal(size=shape)
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _ce0(logits):
  """Float64 mean cross-entropy with target 0."""
  m = logits.max(-1, keepdims=True)
  lse = np.log(np.exp(logits - m).sum(-1)) + m[:, 0]
  return float(np.mean(lse - logits[:, 0]))


def _loss_inputs():
  rng = np.random.default_rng(0)
  q_z, q_s, q_ns, k_z, k_s, k_ns = (_unit(rng, (2, 3)) for _ in range(6))
  queue = _unit(rng, (4, 3))
  return q_z, q_s, q_ns, k_z, k_s, k_ns, queue


@pytest.mark.parametrize("mu,mix_weight", [(0.5, 1.0), (1.0, 1.0), (0.0, 1.0), (0.5, 0.25)])
def test_losses_exact_values(mu, mix_weight):
  q_z, q_s, q_ns, k_z, k_s, k_ns, queue = _loss_inputs()
  tau = 0.2
  pos = lambda a, b: (a * b).sum(-1, keepdims=True)  # noqa: E731
  l_z = _ce0(np.concatenate([pos(q_z, k_z), q_z @ queue.T], -1) / tau)
  # Both branches use queue Q_z and the other branch's prediction as one extra negative.
  l_s = _ce0(np.concatenate([pos(q_s, k_s), q_s @ queue.T, pos(q_s, q_ns)], -1) / tau)
  l_ns = _ce0(np.concatenate([pos(q_ns, k_ns), q_ns @ queue.T, pos(q_ns, q_s)], -1) / tau)
  args = [jnp.asarray(a, jnp.float32) for a in (q_z, q_s, q_ns, k_z, k_s, k_ns, queue)]
  loss, parts = skeattnclr.skeattn_losses(*args, temperature=tau, mu=mu, mix_weight=mix_weight)
  assert parts["logits_z"].shape == (2, 5)
  assert parts["logits_s"].shape == parts["logits_ns"].shape == (2, 6)
  np.testing.assert_allclose(parts["loss_z"], l_z, rtol=1e-5)
  np.testing.assert_allclose(parts["loss_s"], l_s, rtol=1e-5)
  np.testing.assert_allclose(parts["loss_ns"], l_ns, rtol=1e-5)
  np.testing.assert_allclose(loss, l_z + mix_weight * (mu * l_s + (1 - mu) * l_ns), rtol=1e-5)


def test_loss_gradients_respect_the_stop_gradients():
  args = [jnp.asarray(a, jnp.float32) for a in _loss_inputs()]

  @jax.jit
  def all_grads(mu):
    fn = lambda *a: skeattnclr.skeattn_losses(*a, temperature=0.2, mu=mu)[0]  # noqa: E731
    return jax.grad(fn, argnums=tuple(range(7)))(*args)

  def grads(mu):
    return all_grads(jnp.float32(mu))

  g = grads(1.0)
  # mu = 1 (NTU-60 joint): L_ns has weight 0 and q_ns is a stop-gradient negative in L_s.
  np.testing.assert_array_equal(g[2], 0.0)
  assert float(jnp.abs(g[1]).max()) > 0 and float(jnp.abs(g[0]).max()) > 0
  g = grads(0.0)
  np.testing.assert_array_equal(g[1], 0.0)  # likewise for q_s when mu = 0
  for mu in (0.0, 0.5, 1.0):
    g = grads(mu)
    for i in range(3, 7):  # keys and queue are constants
      np.testing.assert_array_equal(g[i], 0.0)


# -- key momentum (`SkeAttnMask.momentum_update`) --------------------------------------------------

def test_momentum_schedule_follows_spec_formula():
  c = CONFIGS.get_config("ntu60_xsub")
  assert (c.moco.momentum, c.moco.momentum_schedule) == (0.996, "cosine")
  assert (c.moco.ema_order, c.moco.ema_batch_stats) == ("after_update", True)
  iters, epochs = 7, c.optim.epochs
  assert epochs == 300
  fn = pretrain.make_momentum_fn(c.moco, iters, epochs)
  t_max = iters * epochs

  def spec_m(e, i):  # e 1-based epoch, i 0-based iteration: t = e * I + i
    return 1 - (1 - 0.996) * (math.cos(math.pi * (e * iters + i) / t_max) + 1) / 2

  for e, i in [(1, 0), (1, 3), (2, 0), (150, 6), (299, 6), (300, 0), (300, 6)]:
    step = (e - 1) * iters + i  # the generic step counter
    np.testing.assert_allclose(float(fn(step)), spec_m(e, i), rtol=0, atol=2e-7)
  assert 0.996 < float(fn(0)) < 0.99601  # just above m0 (one epoch offset)
  assert float(fn(299 * iters)) == 1.0  # t = t_max at the start of epoch 300
  # No clamp: m dips below 1 again during the last epoch (visible on a short schedule).
  short = pretrain.make_momentum_fn(c.moco, iters, 4)
  assert float(short(3 * iters)) == pytest.approx(1.0, abs=1e-7)
  np.testing.assert_allclose(float(short(4 * iters - 1)),
                             1 - 0.004 * (math.cos(math.pi * 34 / 28) + 1) / 2, atol=2e-7)
  assert float(short(4 * iters - 1)) < 0.9996


def test_cosine_momentum_ema_uses_an_accurate_one_minus_m():
  # The reference computes m in double precision and updates k * m + q * (1 - m) with both
  # factors rounded to float32. 1 - float32(m) would be off by up to 2e-5 of 1 - m = 0.004.
  c = CONFIGS.get_config("ntu60_xsub")
  iters, epochs = 7, c.optim.epochs
  fn = pretrain.make_momentum_fn(c.moco, iters, epochs)
  k = jnp.asarray(np.random.default_rng(0).normal(size=1000), jnp.float32)
  q = jnp.asarray(np.random.default_rng(1).normal(size=1000), jnp.float32)
  worst = old = 0.0
  for step in (0, 5, 700, 1049, 1500):
    m = fn(jnp.int32(step))
    t = step + iters
    exact = (1 - 0.996) * (math.cos(math.pi * t / (iters * epochs)) + 1) / 2  # 1 - m, double
    worst = max(worst, abs(float(m.complement) - exact) / exact)
    out = np.asarray(jax.jit(lambda k, q, m=m: moco.ema(k, q, m))(k, q), np.float64)
    expected = (np.float32(1 - exact) * np.asarray(k, np.float64)
                + np.float32(exact) * np.asarray(q, np.float64))
    np.testing.assert_allclose(out, expected, rtol=0, atol=3e-7 * np.abs(expected).max())
    # The online factor itself: an EMA of zeros towards ones is 1 - m.
    ones = np.asarray(moco.ema(jnp.zeros(3), jnp.ones(3), m))
    np.testing.assert_allclose(ones, exact, rtol=5e-7)
    old = max(old, abs((1 - float(np.float32(m.value))) - exact) / exact)
  assert worst < 5e-7  # a few ulp, where 1 - float32(m) is this far off:
  assert old > 3e-6


# -- config ----------------------------------------------------------------------------------------

def test_full_size_config_matches_the_reference():
  c = CONFIGS.get_config("ntu60_xview")
  assert c.method == "skeattnclr"
  assert (c.model.graph, c.model.hidden, c.model.out_dim) == ("agcn", 64, 256)
  assert (c.model.head_hidden, c.model.feature_dim, c.model.predictor_hidden) == (256, 128, 256)
  assert (c.model.head_bn, c.model.head_bias) == (True, False)
  assert (c.model.attn_heads, c.model.attn_lambda) == (8, 2.0)
  assert (c.data.num_frames, c.moco.queue_size, c.moco.temperature) == (64, 32768, 0.2)
  assert (c.optim.lr, tuple(c.optim.lr_steps), c.optim.epochs, c.optim.batch_size) == (
      0.1, (250,), 300, 128)
  s = c.skeattn
  assert (tuple(s.mix_parts), tuple(s.mix_segments), s.mix_ratio, s.mix_start_rule) == (
      (3, 4), (4, 7), 4, "ceil")
  assert (c.eval.linear.epochs, tuple(c.eval.linear.lr_steps)) == (150, (60, 100))
  assert c.optim.clip_grad_norm == 0.0  # the reference does not clip


@pytest.mark.parametrize("preset", ["demo", "smoke", "nwucla"])
def test_small_presets_clip_the_gradient(preset):
  assert CONFIGS.get_config(preset).optim.clip_grad_norm == 1.0


@pytest.mark.parametrize("arg, mu", [
    ("ntu60_xsub", 1.0), ("ntu60_xview,stream=joint", 1.0), ("ntu60_xsub,stream=motion", 0.5),
    ("ntu60_xview,stream=bone", 0.5), ("ntu120_xsub", 0.5), ("pku2_xview", 0.5),
    ("nwucla", 0.5), ("demo", 0.5), ("", 0.5)])
def test_mu_per_setting(arg, mu):
  c = CONFIGS.get_config(arg)
  assert c.skeattn.mu == mu  # derived from dataset and stream (a FieldReference)
  assert skeattnclr.reference_mu(c.data.dataset, c.data.stream) == mu


def test_mu_follows_a_stream_override():
  c = CONFIGS.get_config("smoke")
  c.data.dataset = "ntu60_xsub"
  assert skeattnclr.SkeAttnCLR(c, c.data.layout).mu == 1.0
  c.data.stream = "bone"  # as --config.data.stream=bone would
  assert skeattnclr.SkeAttnCLR(c, c.data.layout).mu == 0.5
  c.skeattn.mu = 0.25
  assert skeattnclr.SkeAttnCLR(c, c.data.layout).mu == 0.25


def test_small_presets_are_small():
  demo, smoke = CONFIGS.get_config(None), CONFIGS.get_config("smoke")
  assert demo.preset == "demo" and demo.model.hidden == 8 and demo.model.predictor_hidden == 64
  assert smoke.model.hidden == 4 and smoke.model.predictor_hidden == 16
  assert CONFIGS.get_config("nwucla").data.layout == "kinect_v1_20"


@pytest.mark.parametrize("preset", ["demo", "nwucla", "custom"])
def test_small_data_presets_start_the_predictors_as_the_identity(preset):
  c = CONFIGS.get_config(preset)
  assert c.model.predictor_residual and c.model.graph == "stgcn" and c.moco.temperature == 0.07
  full = CONFIGS.get_config("ntu60_xsub")
  assert not full.model.predictor_residual and full.model.graph == "agcn"
  assert full.moco.temperature == 0.2


def test_residual_predictors_map_a_query_onto_its_key_at_init():
  """With identity predictors q_z = z_x(x): at init the query of a clip equals its key (the
  key encoder is a copy), so the positive pair starts aligned."""
  encoder = SkeAttnEncoder(layout="ntu25", graph="stgcn", hidden=4, out_dim=16, neck_hidden=16,
                           feature_dim=8, predictor_hidden=16, num_heads=2, dropout=0.0,
                           head_init="lecun", predictor_residual=True)
  x = jax.random.normal(jax.random.key(0), (3, 2, 8, 25, 3))
  variables = encoder.init(jax.random.key(1), x, train=False)
  q = encoder.apply(variables, x, train=False, method=encoder.encode_query)
  fmap = encoder.apply(variables, x, train=False, method=encoder.feature_map)
  mask = jnp.ones((3 * 2, fmap.shape[2] * 25, 16))
  k, _, _ = encoder.apply(variables, x, mask, train=False, method=encoder.encode_key)
  np.testing.assert_allclose(q, k, rtol=1e-6, atol=1e-6)


# -- views (`SkeAttnMask.forward`) -----------------------------------------------------------------

def _smoke_config(stream="joint"):
  c = CONFIGS.get_config(f"smoke,stream={stream}")
  c.optim.batch_size = 4
  c.moco.queue_size = 16
  return c


def test_views_mix_joint_coordinates_then_convert_the_stream():
  c = _smoke_config("bone")
  c.aug.normal = ""  # identity, so the query view is the raw clip
  method = skeattnclr.SkeAttnCLR(c, "ntu25", mix_fn=lambda rng, x: x ** 2)
  x = jax.random.normal(jax.random.key(0), (4, 2, 16, 25, 3))
  views = method.make_views(jax.random.key(1), x)
  np.testing.assert_allclose(views["query"], streams.bone(x, "ntu25"), rtol=1e-6)
  # bone(x^2), not bone(x)^2: the mix sees joint coordinates.
  np.testing.assert_allclose(views["mixed"], streams.bone(x ** 2, "ntu25"), rtol=1e-6)


def test_views_with_skelemix():
  c = _smoke_config("joint")
  method = skeattnclr.SkeAttnCLR(c, "ntu25")
  x = jax.random.normal(jax.random.key(0), (4, 2, 16, 25, 3))
  views = jax.jit(method.make_views)(jax.random.key(1), x)
  q, mixed = np.asarray(views["query"]), np.asarray(views["mixed"])
  assert set(views) == {"query", "key", "mixed"} and mixed.shape == q.shape
  changed = np.any(q != mixed, axis=(0, 1, 4))  # [T, V]
  assert changed.any() and not changed.all()
  # Where a clip changed, it holds another clip of the same query batch (the partner).
  diff = np.argwhere(changed)
  t, v = diff[0]
  for i in range(4):
    donors = [j for j in range(4) if np.array_equal(mixed[i, :, t, v], q[j, :, t, v])]
    assert donors and i not in donors


# -- one train step (through the generic step) -----------------------------------------------------

def test_train_step_updates_queues_and_key_encoder():
  c = _smoke_config()
  method = skeattnclr.SkeAttnCLR(c, "ntu25")
  # A one-block backbone keeps the compile short; the neck and predictors are the real ones.
  small = dict(layout="ntu25", graph="agcn", hidden=4, out_dim=16, neck_hidden=16,
               feature_dim=8, predictor_hidden=16, num_heads=8, widths=(16,), strides=(4,))
  method.model = method.key_model = SkeAttnEncoder(**small)
  steps_per_epoch = 10
  tx, lr_fn = pretrain.make_optimizer(c.optim, steps_per_epoch)
  momentum_fn = pretrain.make_momentum_fn(c.moco, steps_per_epoch, c.optim.epochs)
  x = jax.random.normal(jax.random.key(0), (4, 2, 16, 25, 3))
  state = jax.jit(lambda r, x: step_lib.create_train_state(
      method, tx, r, x, queue_size=16, key_init="copy"))(jax.random.key(1), x)
  step_fn = step_lib.make_train_step(
      method, tx, momentum_fn=momentum_fn, lr_fn=lr_fn, steps_per_epoch=steps_per_epoch,
      ema_order=c.moco.ema_order, ema_batch_stats=c.moco.ema_batch_stats)
  old = jax.device_get(state)  # the step donates its input
  new, metrics = jax.device_get(step_fn(state, x))

  assert set(old.queues) == {"z", "s", "ns"}
  for name in ("loss", "loss_z", "loss_s", "loss_ns", "pos_acc", "mask_mean"):
    assert np.isfinite(metrics[name]), name
  np.testing.assert_allclose(metrics["loss"], metrics["loss_z"] + 0.5 * metrics["loss_s"]
                             + 0.5 * metrics["loss_ns"], rtol=1e-5)
  # Queues: rows [0, 4) replaced by unit-norm keys, the rest untouched, pointer advanced.
  for name in ("z", "s", "ns"):
    np.testing.assert_array_equal(new.queues[name][4:], old.queues[name][4:])
    np.testing.assert_allclose(np.linalg.norm(new.queues[name][:4], axis=-1), 1.0, rtol=1e-5)
  assert not np.allclose(new.queues["z"][:4], new.queues["s"][:4])
  assert int(new.queue_ptr) == 4
  # Key update after the optimiser step, over identical trees.
  m = float(momentum_fn(0))
  assert m == pytest.approx(1 - 0.1 * (math.cos(math.pi * 10 / 20) + 1) / 2)
  assert jax.tree_util.tree_structure(new.key_params) == jax.tree_util.tree_structure(new.params)
  jax.tree_util.tree_map(
      lambda k, k0, p: np.testing.assert_allclose(k, m * k0 + (1 - m) * p, rtol=1e-5, atol=1e-7),
      new.key_params, old.key_params, new.params)
  # The key never calls its predictors, so their BN statistics move only by the EMA.
  for name in ("predictor_global", "predictor_salient", "predictor_nonsalient"):
    jax.tree_util.tree_map(
        lambda k, k0, q: np.testing.assert_allclose(k, m * k0 + (1 - m) * q, rtol=1e-5,
                                                    atol=1e-7),
        new.key_batch_stats[name], old.key_batch_stats[name], new.batch_stats[name])
  # The query's predictor BN statistics moved (each predictor ran in train mode).
  assert not np.allclose(new.batch_stats["predictor_salient"]["bn"]["mean"],
                         old.batch_stats["predictor_salient"]["bn"]["mean"])


def test_mu_outside_unit_interval_is_an_error():
  c = _smoke_config()
  c.skeattn.mu = 1.5
  with pytest.raises(ValueError, match=r"skeattn.mu must lie in \[0, 1\], got 1.5"):
    skeattnclr.SkeAttnCLR(c, "ntu25")


def test_mu_is_a_derived_config_value():
  c = CONFIGS.get_config("ntu60_xsub")
  assert c.skeattn.mu == 1.0
  c.data.stream = "bone"  # as --config.data.stream=bone would
  assert c.skeattn.mu == 0.5 and c.copy_and_resolve_references().skeattn.mu == 0.5
  c.skeattn.mu = 0.25  # a value set by hand replaces the rule
  c.data.stream = "joint"
  assert c.skeattn.mu == 0.25
