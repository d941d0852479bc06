"""Tests for skel_jax.evaluate.knn: the weighted k-NN monitor (SkeleMixCLR `knn_predict`)."""

import numpy as np
import pytest

from skel_jax.evaluate import knn


def _numpy_knn(bank, bank_y, queries, num_classes, k, t):
  """float64 loop as `knn_predict`: normalise, s = f·Bankᵀ, top-k, exp(s/t), argmax."""
  bank = bank.astype(np.float64)
  bank = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
  preds = []
  for q in queries.astype(np.float64):
    q = q / max(np.linalg.norm(q), 1e-12)
    s = bank @ q
    top = np.argsort(-s, kind="stable")[:k]
    votes = np.zeros(num_classes)
    for j in top:
      votes[bank_y[j]] += np.exp(s[j] / t)
    preds.append(int(np.argmax(votes)))
  return np.array(preds)


def test_matches_float64_loop_on_random_features():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(5, 12))
  bank_y = rng.integers(0, 5, 300)
  bank = centres[bank_y] + 1.5 * rng.normal(size=(300, 12))
  qy = rng.integers(0, 5, 77)
  queries = centres[qy] + 1.5 * rng.normal(size=(77, 12))
  preds = knn.knn_predict_multi(bank, bank_y, queries, num_classes=5, ks=(1, 10, 40), chunk=16)
  for k in (1, 10, 40):
    np.testing.assert_array_equal(preds[k], _numpy_knn(bank, bank_y, queries, 5, k, 0.1))
  acc = knn.knn_accuracy(bank, bank_y, queries, qy, num_classes=5, ks=(10, 40), chunk=16)
  assert set(acc) == {"knn_top1@10", "knn_top1@40"}
  assert acc["knn_top1@10"] == pytest.approx(100.0 * np.mean(preds[10] == qy))


def test_chunk_size_does_not_change_predictions():
  rng = np.random.default_rng(1)
  bank, bank_y, queries = rng.normal(size=(50, 4)), rng.integers(0, 3, 50), rng.normal(size=(10, 4))
  full = knn.knn_classify(bank, bank_y, queries, num_classes=3, k=7)
  np.testing.assert_array_equal(knn.knn_classify(bank, bank_y, queries, num_classes=3, k=7,
                                                 chunk=3), full)  # 10 = 3 + 3 + 3 + 1 padded


def test_query_equal_to_bank_point_with_k1_takes_its_label():
  bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  bank_y = np.array([2, 0, 1])
  preds = knn.knn_classify(bank, bank_y, 3.0 * bank, num_classes=3, k=1)  # scale is normalised
  np.testing.assert_array_equal(preds, bank_y)


def test_weights_follow_similarity_and_temperature():
  # One neighbour of class 2 at s = 1, two of class 0 at s = 0.8 (same direction, norms differ).
  c = 0.8
  bank = np.array([[1.0, 0.0], [c, np.sqrt(1 - c**2)], [2 * c, 2 * np.sqrt(1 - c**2)]])
  bank_y = np.array([2, 0, 0])
  query = np.array([[1.0, 0.0]])
  # t = 0.1: e^10 = 22026 > 2 e^8 = 5962, the single closest neighbour wins.
  assert knn.knn_classify(bank, bank_y, query, num_classes=3, k=3, t=0.1)[0] == 2
  # t = 1: e^1 = 2.72 < 2 e^0.8 = 4.45, the majority wins.
  assert knn.knn_classify(bank, bank_y, query, num_classes=3, k=3, t=1.0)[0] == 0
  # k = 1 sees only the closest.
  assert knn.knn_classify(bank, bank_y, query, num_classes=3, k=1, t=1.0)[0] == 2


def test_ties_go_to_lower_bank_index_and_lower_class():
  bank = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  query = np.array([[1.0, 0.0]])
  # Two identical neighbours with classes 1 and 0: k = 1 takes bank index 0 (class 1).
  assert knn.knn_classify(bank, np.array([1, 0, 2]), query, num_classes=3, k=1)[0] == 1
  # k = 2: equal votes for classes 1 and 0 -> the lower class, 0.
  assert knn.knn_classify(bank, np.array([1, 0, 2]), query, num_classes=3, k=2)[0] == 0


def test_k_larger_than_bank_is_clamped():
  rng = np.random.default_rng(2)
  bank, bank_y, queries = rng.normal(size=(6, 3)), rng.integers(0, 2, 6), rng.normal(size=(4, 3))
  preds = knn.knn_predict_multi(bank, bank_y, queries, num_classes=2, ks=(6, 40))
  np.testing.assert_array_equal(preds[40], preds[6])
  np.testing.assert_array_equal(preds[40], _numpy_knn(bank, bank_y, queries, 2, 6, 0.1))


def test_small_temperature_does_not_overflow():
  rng = np.random.default_rng(3)
  bank, bank_y, queries = rng.normal(size=(40, 5)), rng.integers(0, 4, 40), rng.normal(size=(9, 5))
  preds = knn.knn_classify(bank, bank_y, queries, num_classes=4, k=5, t=0.005)
  # Unshifted, exp(s / 0.005) would reach e^200 and overflow float32.
  np.testing.assert_array_equal(preds, _numpy_knn(bank, bank_y, queries, 4, 5, 0.005))


def test_bad_input_raises():
  bank = np.zeros((3, 2))
  with pytest.raises(ValueError, match="train_y: sample 1 has label 7"):
    knn.knn_classify(bank, np.array([0, 7, 1]), bank, num_classes=3, k=1)
  with pytest.raises(ValueError, match="feature dimension 3"):
    knn.knn_classify(bank, np.array([0, 1, 1]), np.zeros((2, 3)), num_classes=3, k=1)
  with pytest.raises(ValueError, match="must be positive"):
    knn.knn_classify(bank, np.array([0, 1, 1]), bank, num_classes=3, k=0)
  with pytest.raises(ValueError, match="test_y must be"):
    knn.knn_accuracy(bank, np.array([0, 1, 1]), bank, np.array([0, 1]), num_classes=3)
