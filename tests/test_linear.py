"""Tests for skel_jax.evaluate.linear: linear evaluation on frozen features."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax.evaluate import linear


def _torch_sgd_reference(x, y, kernel, bias, *, seed, epochs, base_lr, lr_steps, steps, batch,
                         momentum, nesterov, wd):
  """float64 numpy transcription of the reference's loop: torch SGD + per-epoch step lr + CE."""
  w, b = kernel.astype(np.float64), bias.astype(np.float64)
  buf_w, buf_b = np.zeros_like(w), np.zeros_like(b)
  x = x.astype(np.float64)
  for epoch in range(1, epochs + 1):
    lr = base_lr * 0.1 ** sum(epoch > s for s in lr_steps)
    idx = np.asarray(linear.epoch_batches(linear.epoch_key(seed, epoch), len(x), steps, batch))
    for bidx in idx:
      xb, yb = x[bidx], y[bidx]
      logits = xb @ w + b
      p = np.exp(logits - logits.max(1, keepdims=True))
      p /= p.sum(1, keepdims=True)
      p[np.arange(len(yb)), yb] -= 1.0
      p /= len(yb)  # d(mean CE)/d logits
      gw, gb = xb.T @ p + wd * w, p.sum(0) + wd * b
      buf_w, buf_b = momentum * buf_w + gw, momentum * buf_b + gb
      dw, db = (gw + momentum * buf_w, gb + momentum * buf_b) if nesterov else (buf_w, buf_b)
      w, b = w - lr * dw, b - lr * db
  return w, b


def _blobs(rng, n_per_class, num_classes, dim, spread=0.3, centres=None):
  if centres is None:
    centres = rng.normal(size=(num_classes, dim))
  y = np.repeat(np.arange(num_classes), n_per_class)
  x = centres[y] + spread * rng.normal(size=(len(y), dim))
  return x.astype(np.float32), y.astype(np.int32)


@pytest.mark.parametrize("nesterov,wd", [(False, 0.0), (False, 0.05), (True, 0.05)])
def test_matches_float64_torch_sgd_transcription(nesterov, wd):
  rng = np.random.default_rng(0)
  x, y = _blobs(rng, 5, 3, 6, spread=1.0)  # N = 15, batch 4 -> 3 steps, 3 samples dropped
  init = {"kernel": rng.normal(scale=0.3, size=(6, 3)).astype(np.float32),
          "bias": rng.normal(scale=0.1, size=3).astype(np.float32)}
  out = linear.train_linear(x, y, x, y, num_classes=3, epochs=4, lr=0.5, lr_steps=(2, 3),
                            batch_size=4, nesterov=nesterov, weight_decay=wd, eval_every=2,
                            seed=7, init_params=init)
  w, b = _torch_sgd_reference(x, y, init["kernel"], init["bias"], seed=7, epochs=4, base_lr=0.5,
                              lr_steps=(2, 3), steps=3, batch=4, momentum=0.9,
                              nesterov=nesterov, wd=wd)
  np.testing.assert_allclose(out["params"]["kernel"], w, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out["params"]["bias"], b, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(out["test_logits"], x.astype(np.float64) @ w + b, rtol=1e-4,
                             atol=1e-4)


def test_dataset_smaller_than_batch_uses_whole_set_each_epoch():
  assert linear.batch_layout(3, 128) == (1, 3)
  assert linear.batch_layout(300, 128) == (2, 128)
  rng = np.random.default_rng(1)
  x, y = _blobs(rng, 1, 3, 4)
  init = {"kernel": np.zeros((4, 3), np.float32), "bias": np.zeros(3, np.float32)}
  out = linear.train_linear(x, y, x, y, num_classes=3, epochs=2, lr=0.1, lr_steps=(),
                            batch_size=128, eval_every=1, init_params=init)
  w, b = _torch_sgd_reference(x, y, init["kernel"], init["bias"], seed=0, epochs=2, base_lr=0.1,
                              lr_steps=(), steps=1, batch=3, momentum=0.9, nesterov=False,
                              wd=0.0)
  np.testing.assert_allclose(out["params"]["kernel"], w, rtol=1e-5, atol=1e-6)
  # Epoch 1 from a zero classifier: uniform softmax, CE = log(3) whatever the order.
  assert out["history"][0][3] == pytest.approx(np.log(3.0), rel=1e-5)


def test_learns_separable_blobs_and_reports_consistently():
  rng = np.random.default_rng(2)
  centres = rng.normal(size=(6, 16))
  x, y = _blobs(rng, 40, 6, 16, centres=centres)
  xt, yt = _blobs(rng, 40, 6, 16, centres=centres)  # held-out draws around the same centres
  seen = []
  out = linear.train_linear(x, y, xt, yt, num_classes=6, epochs=12, lr=3.0, lr_steps=(8,),
                            batch_size=32, eval_every=5, progress=seen.append)
  assert [h[0] for h in out["history"]] == [5, 10, 12]
  assert out["final_top1"] == 100.0 and out["final_top5"] == 100.0
  assert out["best_top1"] == max(h[1] for h in out["history"]) >= out["final_top1"]
  assert out["best_epoch"] == next(h[0] for h in out["history"] if h[1] == out["best_top1"])
  assert out["test_logits"].shape == (240, 6)
  assert out["params"]["kernel"].shape == (16, 6) and out["params"]["bias"].shape == (6,)
  acc = (out["test_logits"].argmax(1) == yt).mean() * 100
  assert acc == pytest.approx(out["final_top1"])
  assert [s["epoch"] for s in seen] == list(range(1, 13))
  assert [s["lr"] for s in seen[7:9]] == pytest.approx([3.0, 0.3])
  assert "top1" in seen[4] and "top1" not in seen[5]
  # Same seed, same result; the whole run is deterministic.
  again = linear.train_linear(x, y, xt, yt, num_classes=6, epochs=12, lr=3.0, lr_steps=(8,),
                              batch_size=32, eval_every=5)
  np.testing.assert_array_equal(again["test_logits"], out["test_logits"])


def test_default_init_is_spec_distribution():
  params = linear.init_classifier(jax.random.key(0), 256, 60)
  assert np.all(np.asarray(params["bias"]) == 0)
  assert np.std(np.asarray(params["kernel"])) == pytest.approx(0.02, rel=0.05)


def test_topk_accuracy_hand_case():
  logits = np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3], [0.2, 0.2, 0.1]], np.float32)
  labels = np.array([1, 2, 1])
  assert linear.topk_accuracy(logits, labels, 1) == pytest.approx(100 / 3)  # tie -> class 0
  assert linear.topk_accuracy(logits, labels, 2) == pytest.approx(100.0)
  assert linear.topk_accuracy(logits, labels, 5) == 100.0  # k clamped to C


def test_device_hit_count_agrees_with_the_host_accuracy_ties_included():
  rng = np.random.default_rng(0)
  logits = rng.integers(0, 3, size=(200, 7)).astype(np.float32)  # many ties
  labels = rng.integers(0, 7, size=200)
  for k in (1, 2, 5):
    hits = int(linear._topk_hits(jnp.asarray(logits), jnp.asarray(labels), k).sum())
    assert 100.0 * hits / 200 == pytest.approx(linear.topk_accuracy(logits, labels, k), abs=1e-12)


def test_bad_input_raises_clear_errors():
  x = np.zeros((4, 3), np.float32)
  with pytest.raises(ValueError, match="train_y: sample 2 has label 5"):
    linear.train_linear(x, np.array([0, 1, 5, 0]), x, np.zeros(4, int), num_classes=3)
  with pytest.raises(ValueError, match="feature dimension 2"):
    linear.train_linear(x, np.zeros(4, int), x[:, :2], np.zeros(4, int), num_classes=3)
  bad = x.copy()
  bad[1, 0] = np.nan
  with pytest.raises(ValueError, match="test_x: sample 1 has non-finite"):
    linear.train_linear(x, np.zeros(4, int), bad, np.zeros(4, int), num_classes=3)
  with pytest.raises(ValueError, match="must be \\[N, D\\]"):
    linear.train_linear(x[0], np.zeros(4, int), x, np.zeros(4, int), num_classes=3)



def test_standardize_uses_training_statistics_in_float64():
  rng = np.random.default_rng(0)
  train, test = rng.normal(3.0, 2.0, (50, 4)), rng.normal(3.0, 2.0, (7, 4))
  train[:, 3] = 5.0  # a constant dimension
  s_train, s_test = linear.standardize(train, test)
  mean, var = train.mean(0), train.var(0)
  floor = 1e-5 * var.mean()
  np.testing.assert_allclose(s_train, (train - mean) / np.sqrt(var + floor), rtol=1e-6)
  np.testing.assert_allclose(s_test, (test - mean) / np.sqrt(var + floor), rtol=1e-6)
  assert s_train.dtype == np.float32 and np.all(s_train[:, 3] == 0)
  np.testing.assert_allclose(s_train[:, :3].std(0), 1.0, rtol=1e-4)


def test_standardized_probe_is_scale_invariant():
  rng = np.random.default_rng(1)
  centres = rng.normal(size=(3, 8))
  y = np.repeat(np.arange(3), 40)
  x = centres[y] + 0.5 * rng.normal(size=(120, 8))
  runs = []
  for scale in (1.0, 1e-8):
    s_train, s_test = linear.standardize(scale * x[:90], scale * x[90:])
    runs.append(linear.train_linear(s_train, y[:90], s_test, y[90:], num_classes=3, epochs=10,
                                    lr=0.1, lr_steps=(), schedule="cosine", batch_size=30))
  np.testing.assert_allclose(runs[0]["test_logits"], runs[1]["test_logits"], rtol=1e-4,
                             atol=1e-5)
  assert runs[0]["final_top1"] == runs[1]["final_top1"] > 80
