"""Fine-tuning: optimiser, clipping, BN modes, reference settings."""

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from skel_jax.config_lib import load_config
from skel_jax.evaluate import finetune, linear, reference_settings
from skel_jax.models.stgcn import STGCN

# A two-block ST-GCN: the real layers, cheap to compile.
BACKBONE = STGCN(layout="ntu25", hidden=4, out_dim=8, widths=(4, 8), strides=(1, 2))
NUM_CLASSES = 3


def _data(n, seed):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 1, 8, 25, 3)).astype(np.float32)
  y = (np.arange(n) % NUM_CLASSES).astype(np.int32)
  return x, y


def _pretrained():
  """Backbone variables with non-trivial BN running statistics (as after pretraining)."""
  x, _ = _data(12, 0)
  variables = BACKBONE.init(jax.random.key(1), x, train=False)
  stats = jax.tree.map(lambda a: a + 0.3 if a.ndim else a, variables["batch_stats"])
  return {"params": variables["params"], "batch_stats": stats}


def _updates(settings, grads_seq, params, steps_per_epoch=1):
  tx, _ = finetune.make_optimizer(settings, steps_per_epoch)
  state = tx.init(params)
  out = []
  for g in grads_seq:
    u, state = tx.update(g, state, params)
    params = optax.apply_updates(params, u)
    out.append(np.asarray(u["w"], np.float64))
  return out


def test_clipping_acts_on_the_raw_gradient_before_decay_and_momentum():
  s = finetune.FinetuneSettings(lr=0.5, momentum=0.9, weight_decay=0.1, max_grad_norm=5.0)
  theta = np.array([1.0, -2.0])
  g = np.array([30.0, 40.0])  # norm 50 -> clipped to norm 5: [3, 4]
  u1, u2 = _updates(s, [{"w": jnp.asarray(g)}] * 2, {"w": jnp.asarray(theta)})
  d1 = np.array([3.0, 4.0]) + 0.1 * theta  # torch: clip, then g + wd θ
  np.testing.assert_allclose(u1, -0.5 * d1, rtol=1e-6)
  theta1 = theta - 0.5 * d1
  buf = 0.9 * d1 + (np.array([3.0, 4.0]) + 0.1 * theta1)
  np.testing.assert_allclose(u2, -0.5 * buf, rtol=1e-6)
  # Below the threshold, or with clipping off, the gradient is untouched.
  small = np.array([0.3, 0.4])
  (u,) = _updates(s, [{"w": jnp.asarray(small)}], {"w": jnp.asarray(theta)})
  np.testing.assert_allclose(u, -0.5 * (small + 0.1 * theta), rtol=1e-6)
  off = dataclasses.replace(s, clip_grad=False, weight_decay=0.0)
  (u,) = _updates(off, [{"w": jnp.asarray(g)}], {"w": jnp.asarray(theta)})
  np.testing.assert_allclose(u, -0.5 * g, rtol=1e-6)


def test_warmup_step_schedule_and_nesterov():
  s = finetune.FinetuneSettings(epochs=6, lr=0.3, lr_steps=(4,), warmup_epochs=3, momentum=0.0,
                                clip_grad=False)
  ones = {"w": jnp.ones(1)}
  got = [-u[0] for u in _updates(s, [ones] * 12, {"w": jnp.zeros(1)}, steps_per_epoch=2)]
  # The reference warm-up: epochs 1, 2 warm up (0.1, 0.2); 3, 4 at base; 5, 6 after the step at 4.
  expected = [0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.03, 0.03, 0.03, 0.03]
  np.testing.assert_allclose(got, expected, rtol=1e-6)
  nesterov = finetune.FinetuneSettings(lr=0.1, momentum=0.9, nesterov=True, clip_grad=False)
  (u,) = _updates(nesterov, [ones], {"w": jnp.zeros(1)})
  np.testing.assert_allclose(u, [-0.1 * 1.9], rtol=1e-6)  # -lr (g + mu buf), buf = g


def _eval_mode_start_and_grads(variables, x, y, seed=0):
  """The classifier model's starting variables (fresh `fc` from `linear.init_key(seed)`) and
  the eval-mode cross-entropy gradient of its params on the full batch."""
  model, start = finetune.classifier_model(BACKBONE, variables, NUM_CLASSES,
                                           linear.init_key(seed))

  def loss(params):
    logits, _ = model.apply({"params": params, "batch_stats": start["batch_stats"]}, x,
                            train=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  return start, jax.grad(loss)(start["params"])


def test_eval_mode_epoch_is_one_sgd_step_with_frozen_bn_statistics():
  """Full batch, momentum 0: the epoch must equal `θ - lr ∇θ CE` with the model in eval mode
  (running statistics, no dropout), and leave the running statistics untouched."""
  x, y = _data(12, 0)
  xt, yt = _data(6, 1)
  variables = _pretrained()
  s = finetune.FinetuneSettings(epochs=1, lr=0.2, lr_steps=(), batch_size=64, momentum=0.0,
                                clip_grad=False, eval_every=1, bn_mode="eval")
  out = finetune.finetune(BACKBONE, variables, x, y, xt, yt, num_classes=NUM_CLASSES,
                          settings=s, seed=0)
  start, grads = _eval_mode_start_and_grads(variables, x, y)
  expected = jax.tree.map(lambda p, g: p - 0.2 * g, start["params"], grads)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               out["variables"]["params"], expected)
  jax.tree.map(np.testing.assert_array_equal, out["variables"]["batch_stats"],
               variables["batch_stats"])
  assert out["variables"]["params"]["fc"]["kernel"].shape == (8, NUM_CLASSES)
  assert out["steps_per_epoch"] == 1 and out["batch_size"] == 12
  assert out["test_logits"].shape == (6, NUM_CLASSES)
  assert out["history"][0][0] == 1 and out["final_top1"] == out["best_top1"]


def test_backbone_lr_scale_scales_every_update_outside_the_classifier():
  """Full batch, momentum 0, weight decay: the backbone moves by `scale * lr (g + wd θ)`, the
  classifier by `lr (g + wd θ)` (one epoch = one step, as the eval-mode test above)."""
  x, y = _data(12, 0)
  xt, yt = _data(6, 1)
  variables = _pretrained()
  s = finetune.FinetuneSettings(epochs=1, lr=0.2, lr_steps=(), batch_size=64, momentum=0.0,
                                weight_decay=0.01, clip_grad=False, eval_every=1,
                                bn_mode="eval", backbone_lr_scale=0.1)
  out = finetune.finetune(BACKBONE, variables, x, y, xt, yt, num_classes=NUM_CLASSES,
                          settings=s, seed=0)
  start, grads = _eval_mode_start_and_grads(variables, x, y)
  for name, sub in start["params"].items():
    lr = 0.2 if name == "fc" else 0.02
    expected = jax.tree.map(lambda p, g, lr=lr: p - lr * (g + 0.01 * p), sub, grads[name])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
                 out["variables"]["params"][name], expected)
  with pytest.raises(ValueError, match="backbone_lr_scale"):
    finetune.FinetuneSettings(backbone_lr_scale=-1.0)


def test_augmented_epoch_steps_on_the_augmented_stream_of_the_shuffled_batch():
  """With `augment`, each minibatch is augmented (key fold_in(fold_in(key(seed), 3), step))
  and then converted to its stream inside the step; full batch, eval mode, momentum 0: one
  SGD step on exactly that input."""
  from skel_jax.augment import registry
  from skel_jax.data import streams

  x, y = _data(12, 0)
  xt, yt = _data(6, 1)
  variables = _pretrained()
  spec = "shear(0.5)|view_rotate(60.0,10.0)"
  s = finetune.FinetuneSettings(epochs=1, lr=0.2, lr_steps=(), batch_size=64, momentum=0.0,
                                clip_grad=False, eval_every=1, bn_mode="eval", augment=spec)
  out = finetune.finetune(BACKBONE, variables, x, y, xt, yt, num_classes=NUM_CLASSES,
                          settings=s, seed=5, stream="bone")
  model, start = finetune.classifier_model(BACKBONE, variables, NUM_CLASSES,
                                           linear.init_key(5))
  idx = linear.epoch_batches(linear.epoch_key(5, jnp.int32(1)), 12, 1, 12)[0]
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(5), 3), 0)
  xb = streams.to_stream(registry.build(spec, "ntu25")(key, jnp.asarray(x)[idx]), "bone",
                         "ntu25")
  assert not np.allclose(xb, streams.to_stream(x[np.asarray(idx)], "bone", "ntu25"))

  def loss(params):
    logits, _ = model.apply({"params": params, "batch_stats": start["batch_stats"]}, xb,
                            train=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y[np.asarray(idx)]).mean()

  expected = jax.tree.map(lambda p, g: p - 0.2 * g, start["params"],
                          jax.grad(loss)(start["params"]))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
               out["variables"]["params"], expected)


def test_train_mode_updates_bn_statistics_and_logs_every_epoch():
  x, y = _data(12, 0)
  xt, yt = _data(6, 1)
  variables = _pretrained()
  s = finetune.FinetuneSettings(epochs=3, lr=0.1, lr_steps=(2,), batch_size=6, eval_every=2,
                                bn_mode="train")
  seen = []
  out = finetune.finetune(BACKBONE, variables, x, y, xt, yt, num_classes=NUM_CLASSES,
                          settings=s, seed=0, stream="bone", progress=seen.append)
  assert [h[0] for h in out["history"]] == [2, 3]  # every 2 epochs and the last one
  assert [e["epoch"] for e in seen] == [1, 2, 3] and "top1" in seen[1]
  np.testing.assert_allclose([row[1] for row in out["epoch_log"]], [0.1, 0.1, 0.01])
  assert all(np.isfinite(row[2]) and row[4] > 0 for row in out["epoch_log"])
  before = variables["batch_stats"]["data_bn"]["mean"]
  assert not np.allclose(out["variables"]["batch_stats"]["data_bn"]["mean"], before)
  assert out["best_top1"] >= out["final_top1"] and 0 <= out["final_top5"] <= 100


def test_bad_input_raises():
  x, y = _data(6, 0)
  with pytest.raises(ValueError, match="bn_mode"):
    finetune.FinetuneSettings(bn_mode="frozen")
  with pytest.raises(ValueError, match="label 7"):
    finetune.finetune(BACKBONE, _pretrained(), x, np.full(6, 7, np.int32), x, y,
                      num_classes=NUM_CLASSES, settings=finetune.FinetuneSettings())


def test_semi_settings_per_fraction():
  base = finetune.FinetuneSettings(batch_size=32, bn_mode="train")
  semi = ml_collections.ConfigDict(dict(
      fractions=(0.01, 0.1), epochs=150, lr=(0.05, 0.1), lr_steps=((40,), (80,)),
      weight_decay=(0.0,), warmup_epochs=0, nesterov=False))
  s1 = finetune.settings_for_semi(base, semi, 1)
  assert (s1.lr, s1.lr_steps, s1.weight_decay, s1.epochs) == (0.1, (80,), 0.0, 150)
  assert (s1.batch_size, s1.bn_mode) == (32, "train")  # from the fine-tune settings
  semi.batch_size = 16  # its own minibatch: a small labelled subset still takes many steps
  assert finetune.settings_for_semi(base, semi, 1).batch_size == 16
  semi.lr = (0.1, 0.2, 0.3)
  with pytest.raises(ValueError, match="one per fraction"):
    finetune.settings_for_semi(base, semi, 0)


def test_reference_settings_per_method():
  ft = load_config("configs/skelemixclr.py", "ntu60_xsub").eval.finetune
  assert (ft.lr, ft.nesterov, ft.weight_decay, tuple(ft.lr_steps), ft.warmup_epochs,
          ft.epochs) == (0.1, True, 1e-4, (50, 70, 90), 10, 110)
  c = load_config("configs/skeattnclr.py", "ntu60_xview,stream=motion")
  assert (c.eval.finetune.lr, tuple(c.eval.finetune.lr_steps), c.eval.finetune.epochs) == (
      0.003, (60, 100), 150)
  assert tuple(c.eval.semi.lr) == (0.02, 0.003)
  assert tuple(c.eval.semi.lr_steps) == ((25, 90), (60, 100))
  aim = load_config("configs/aimclr.py", "ntu60_xsub")
  assert (aim.eval.finetune.lr, tuple(aim.eval.finetune.lr_steps)) == (0.1, (80,))
  assert aim.eval.finetune.bn_mode == "eval" and aim.eval.finetune.clip_grad
  assert aim.eval.finetune.max_grad_norm == 35.0
  assert tuple(aim.eval.semi.lr) == (0.05, 0.1)  # SkeleMixCLR's semi configs
  assert reference_settings.scale_steps((50, 70, 90), 110, 20) == (9, 13, 16)


def test_small_presets_shorten_the_methods_own_fine_tune_schedule():
  # SkeleMixCLR+'s 110-epoch schedule (x0.1 at 50, 70, 90; 10 warm-up epochs) moved to 100.
  ft = load_config("configs/skelemixclr.py", "nwucla").eval.finetune
  assert (ft.epochs, tuple(ft.lr_steps), ft.warmup_epochs, ft.nesterov) == (
      100, (45, 64, 82), 9, True)
  demo = load_config("configs/aimclr.py", "demo").eval
  assert (demo.finetune.epochs, tuple(demo.finetune.lr_steps), demo.semi.epochs) == (
      20, (16,), 100)
  smoke = load_config("configs/skeletonclr.py", "smoke").eval.finetune
  assert (smoke.epochs, smoke.batch_size, smoke.eval_every) == (2, 16, 1)
  # The presets config_lib treats as small are the ones with a shortened evaluation.
  from skel_jax import config_lib  # pylint: disable=g-import-not-at-top
  assert set(config_lib.SMALL_PRESETS) == set(reference_settings.SMALL_PRESETS)


def test_small_presets_fine_tune_skeattnclr_as_the_other_methods():
  """Its own lr is tuned for 150 epochs; the small presets fine-tune every method alike."""
  attn, aim = (load_config(f"configs/{m}.py", "nwucla") for m in ("skeattnclr", "aimclr"))
  for section in ("finetune", "semi"):
    assert attn.eval[section].to_dict() == aim.eval[section].to_dict()
  assert attn.eval.finetune.lr == 0.1 and tuple(attn.eval.finetune.lr_steps) == (80,)
  demo = load_config("configs/skeattnclr.py", "demo").eval.finetune
  assert (demo.epochs, tuple(demo.lr_steps)) == (20, (16,))


def test_stream_dependent_settings_follow_the_stream_but_keep_hand_set_values():
  from skel_jax import fusion_run  # pylint: disable=g-import-not-at-top
  c = load_config("configs/skeattnclr.py", "ntu60_xsub")
  assert (c.eval.finetune.lr, tuple(c.eval.semi.lr), c.skeattn.mu) == (0.008, (0.005, 0.01), 1.0)
  c.eval.finetune.epochs = 7  # set by hand: kept
  bone = fusion_run.stream_config(c, "bone")
  assert (bone.eval.finetune.lr, bone.eval.finetune.epochs, bone.skeattn.mu) == (0.005, 7, 0.5)
  assert tuple(bone.eval.semi.lr) == (0.02, 0.005)
  assert tuple(bone.eval.semi.lr_steps) == ((13, 80, 120), (60, 100))
  assert c.data.stream == "joint" and c.eval.finetune.lr == 0.008  # the original is untouched
  # As --config.data.stream=motion would: the values follow without a copy too.
  c.data.stream = "motion"
  assert (c.eval.finetune.lr, tuple(c.eval.semi.lr)) == (0.003, (0.025, 0.003))
  c.eval.finetune.lr = 0.02  # set by hand: no longer follows
  assert fusion_run.stream_config(c, "joint").eval.finetune.lr == 0.02


def test_semi_settings_follow_the_fractions_and_the_epochs():
  c = load_config("configs/aimclr.py", "ntu60_xsub")
  assert (tuple(c.eval.semi.lr), tuple(c.eval.semi.lr_steps)) == ((0.05, 0.1), ((40,), (80,)))
  c.eval.semi.fractions = (0.1, 0.02, 0.08)  # the nearer of the reference's 1 % and 10 %
  assert tuple(c.eval.semi.lr) == (0.1, 0.05, 0.1)
  assert tuple(c.eval.semi.weight_decay) == (1e-4, 0.0, 1e-4)
  c.eval.semi.epochs = 75  # the steps of the 150-epoch schedule move proportionally
  assert tuple(c.eval.semi.lr_steps) == ((40,), (20,), (40,))
  # The small presets: one fraction (10 %), 100 epochs.
  small = load_config("configs/skeletonclr.py", "nwucla").eval.semi
  assert (tuple(small.fractions), small.epochs, tuple(small.lr), tuple(small.lr_steps),
          tuple(small.weight_decay)) == ((0.1,), 100, (0.1,), ((53,),), (1e-4,))


def test_runs_with_a_scaled_backbone_lr_get_their_own_result_name():
  from skel_jax.evaluate import protocols
  c = load_config("configs/skeattnclr.py", "nwucla")
  assert protocols.result_name(c, "semi_10pct") == "semi_10pct_bntrain_aug"
  c.eval.finetune.backbone_lr_scale = 0.1
  assert protocols.result_name(c, "semi_10pct") == "semi_10pct_bntrain_aug_blr0.1"
  assert protocols.result_name(c, "finetune") == "finetune_bntrain_aug_blr0.1"
  assert protocols.result_name(c, "linear") == "linear"
  assert protocols.semi_runs(c)[0][1].backbone_lr_scale == 0.1  # semi inherits it
