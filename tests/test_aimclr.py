"""AimCLR: EADM against the reference fixture, D3M and NNM exact values, one train step."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.config_lib import load_config
from skel_jax.interop import stgcn_state_dict
from skel_jax.methods import aimclr
from skel_jax.models import stgcn
from skel_jax.models.contrastive import global_pool
from skel_jax.train import pretrain
from skel_jax.train import step as step_lib


def _np_log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_eadm_matches_reference_fixture(reference_fixture_dir):
  sd = dict(np.load(reference_fixture_dir / "stgcn_state_dict.npz"))
  x = np.load(reference_fixture_dir / "input_x.npz")["x"].transpose(0, 4, 2, 3, 1)
  expected = np.load(reference_fixture_dir / "stgcn_eval_output.npz")["out_drop_branch_dropped"]
  variables = stgcn_state_dict.stgcn_variables_from_state_dict(sd)
  model = stgcn.STGCN(hidden=16, num_classes=128)
  _, aux = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  fmap = np.asarray(aux["feature_map"], np.float64)
  w, b = (np.asarray(variables["params"]["fc"][k], np.float64) for k in ("kernel", "bias"))

  out = np.asarray(global_pool(aimclr.eadm(jnp.asarray(fmap, jnp.float32))), np.float64) @ w + b
  scale = np.abs(expected).max()
  # Attention values within float32 rounding of the threshold decide their mask bit by
  # rounding noise (our feature map equals the reference's to ~5e-7, not bit for bit).
  attention = np.asarray(aimclr.eadm_energy(jnp.asarray(fmap, jnp.float32)), np.float64)
  near = np.argwhere(np.abs(attention - 0.7) < 1e-6)
  undecided = set(near[:, 0])
  for n in range(len(x)):
    if n not in undecided:
      assert np.abs(out[n] - expected[n]).max() / scale < 1e-4, n
  # With those few bits flipped one way or the other, every sample matches to 1e-5.
  element_mask = (attention < 0.7).astype(np.float64)
  joint_mask = (attention.mean(axis=(2, 4)) < 0.7).astype(np.float64)
  assert joint_mask.all()  # no joint dropped in this fixture, only elements
  best = np.inf
  for r in range(len(near) + 1):
    for flip in itertools.combinations(range(len(near)), r):
      mask = element_mask.copy()
      for i in flip:
        mask[tuple(near[i])] = 1 - mask[tuple(near[i])]
      dropped = fmap * mask * (mask.size / mask.sum())
      rel = np.abs(dropped.mean((2, 3)).mean(1) @ w + b - expected).max() / scale
      best = min(best, rel)
  assert best < 1e-5, best
  assert len(near) <= 8


def test_eadm_numpy_formula_and_no_gradient_through_masks():
  fmap = jax.random.normal(jax.random.key(0), (3, 2, 5, 4, 6)) * jnp.arange(1, 7)
  f = np.asarray(fmap, np.float64)
  mu = f.mean((2, 3), keepdims=True)
  d = (f - mu) ** 2
  a = 1 / (1 + np.exp(-(d / (4 * (d.sum((2, 3), keepdims=True) / (5 * 4 - 1) + 1e-4)) + 0.5)))
  assert a.min() > 0.622 and a.max() < 1
  np.testing.assert_allclose(aimclr.eadm_energy(fmap), a, rtol=1e-5)
  jm = (a.mean((2, 4)) < 0.7).astype(float)
  f1 = f * jm[:, :, None, :, None] * (jm.size / jm.sum())
  em = (a < 0.7).astype(float)
  expected = f1 * em * (em.size / em.sum())
  np.testing.assert_allclose(aimclr.eadm(fmap), expected, rtol=1e-5, atol=1e-6)
  grad = jax.grad(lambda x: aimclr.eadm(x).sum())(fmap)
  np.testing.assert_allclose(grad, (jm[:, :, None, :, None] * (jm.size / jm.sum()))
                             * em * (em.size / em.sum()), rtol=1e-5)
  np.testing.assert_array_equal(aimclr.eadm(fmap, mode="noop"), fmap)


def test_d3m_loss_exact_values():
  target = np.array([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
  student = np.array([[1.0, 1.0, 0.0], [-2.0, 0.5, 0.25]])
  p = np.exp(_np_log_softmax(target))
  expected = -np.mean(np.sum(p * _np_log_softmax(student), -1))
  got = aimclr.d3m_loss(jnp.asarray(target), jnp.asarray(student))
  assert float(got) == pytest.approx(expected, rel=1e-6)
  # The target is a stop-gradient constant: no gradient flows into it.
  g = jax.grad(lambda t: aimclr.d3m_loss(t, jnp.asarray(student)))(jnp.asarray(target))
  np.testing.assert_array_equal(g, 0)


def test_nnm_mask_and_loss_exact_values():
  # Two rows, queue of 4. Top-1 columns: row 0 -> 2, 2, 0 (union {0, 2}); row 1 -> 3 each.
  s_q = jnp.array([[0.1, 0.2, 0.9, 0.0], [0.0, 0.1, 0.2, 0.8]])
  s_e = jnp.array([[0.0, 0.1, 0.7, 0.3], [0.3, 0.0, 0.1, 0.9]])
  s_ed = jnp.array([[0.6, 0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4]])
  mask = aimclr.nnm_positive_mask([s_q, s_e, s_ed])
  np.testing.assert_array_equal(mask, [[1, 1, 0, 1, 0], [1, 0, 0, 0, 1]])
  logits = np.array([[1.0, 0.1, 0.2, 0.9, 0.0], [0.5, 0.0, 0.1, 0.2, 0.8]]) / 0.07
  lp = _np_log_softmax(logits)
  expected = -np.mean([(lp[0, 0] + lp[0, 1] + lp[0, 3]) / 3, (lp[1, 0] + lp[1, 4]) / 2])
  got = aimclr.nnm_infonce(jnp.asarray(logits), mask)
  assert float(got) == pytest.approx(expected, rel=1e-6)


def test_extreme_spec_switches():
  config = load_config("configs/aimclr.py", "smoke")
  assert aimclr.extreme_spec(config) == config.aug.extreme
  config.aimclr.normalize_blur_kernel = True
  assert "gaussian_blur(normalize_kernel=True)" in aimclr.extreme_spec(config)
  config.aimclr.temporal_flip = True
  assert "rotate|temporal_flip|gaussian_noise" in aimclr.extreme_spec(config)


def test_mining_starts_half_way_through_the_actual_schedule():
  assert load_config("configs/aimclr.py", "ntu60_xsub").aimclr.mining_epoch == 150
  assert aimclr.resolve_mining_epoch(150, 300) == 150  # explicit values are kept
  config = load_config("configs/aimclr.py", "demo,epochs=30")
  assert aimclr.resolve_mining_epoch(config.aimclr.mining_epoch, config.optim.epochs) == 15
  config.optim.epochs = 7  # a command-line override after the preset
  assert aimclr.resolve_mining_epoch(config.aimclr.mining_epoch, config.optim.epochs) == 3
  assert aimclr.resolve_mining_epoch(-1, 1) == 1


def test_train_steps_switch_to_mining():
  config = load_config("configs/aimclr.py", "smoke")
  config.aimclr.mining_epoch = 1
  state, step, x = _one_epoch_per_step(config)
  state, m1 = step(state, x)
  state, m2 = step(state, x)
  assert float(m1["mining"]) == 0.0 and float(m2["mining"]) == 1.0
  assert float(m2["nnm_positives"]) >= 2.0
  for m in (m1, m2):
    expected = m["loss_info"] + (m["loss_d"] + m["loss_dd"]) / 2
    assert float(m["loss"]) == pytest.approx(float(expected), rel=1e-5)
    assert np.isfinite(float(m["loss"]))
  np.testing.assert_array_equal(int(state.queue_ptr), 2 * config.optim.batch_size)


def test_d3m_warmup_ramps_the_weight_from_zero_per_epoch():
  assert float(aimclr.d3m_ramp(1, 0)) == 1.0 and float(aimclr.d3m_ramp(300, 0)) == 1.0
  np.testing.assert_allclose([float(aimclr.d3m_ramp(e, 4)) for e in range(1, 8)],
                             [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
  config = load_config("configs/aimclr.py", "smoke")
  config.aimclr.d3m_warmup_epochs = 2
  state, step, x = _one_epoch_per_step(config)
  for weight in (0.0, 0.5, 1.0):  # epochs 1, 2, 3
    state, m = step(state, x)
    assert float(m["d3m_weight"]) == weight
    expected = m["loss_info"] + weight * (m["loss_d"] + m["loss_dd"]) / 2
    assert float(m["loss"]) == pytest.approx(float(expected), rel=1e-5)


def _one_epoch_per_step(config):
  """(initial state, jitted train step with one step per epoch, one batch) of `config`."""
  trainer = pretrain.Pretrainer(config, "/tmp/unused", train=_tiny_train(config))
  step = jax.jit(lambda s, x: step_lib.train_step(
      s, x, method=trainer.method, tx=trainer.tx, momentum_fn=trainer.momentum_fn,
      lr_fn=trainer.lr_fn, steps_per_epoch=1))
  return trainer.init_state(), step, jnp.asarray(trainer.train.x[:config.optim.batch_size])


def _tiny_train(config):
  from skel_jax.data import synthetic
  return synthetic.make_synthetic(config.optim.batch_size, num_frames=config.data.num_frames)


def test_derived_epochs_follow_a_command_line_override():
  config = load_config("configs/aimclr.py", "nwucla")
  config.optim.epochs = 40  # as --config.optim.epochs=40 would
  assert (config.aimclr.mining_epoch, config.aimclr.d3m_warmup_epochs) == (20, 20)
  assert load_config("configs/aimclr.py", "smoke").aimclr.d3m_warmup_epochs == 0
  with pytest.raises(ValueError, match="unknown config argument 'variant'"):
    load_config("configs/aimclr.py", "smoke,variant=original")
