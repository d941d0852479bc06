"""Multi-stream score fusion (AimCLR ensemble_*.py: joint 0.6, bone 0.6, motion 0.4)."""

import numpy as np
import pytest

from skel_jax.evaluate import fusion


def test_default_weights_are_the_reference_ones():
  assert fusion.weights_for(("joint", "motion", "bone")) == {"joint": 0.6, "motion": 0.4,
                                                             "bone": 0.6}
  assert fusion.weights_for(("joint", "bone"), (1.0, 2.0)) == {"joint": 1.0, "bone": 2.0}
  with pytest.raises(ValueError, match="unknown streams"):
    fusion.weights_for(("joint", "velocity"))
  with pytest.raises(ValueError, match="distinct"):
    fusion.weights_for(("joint", "joint"))
  with pytest.raises(ValueError, match="2 fusion weights"):
    fusion.weights_for(("joint", "motion", "bone"), (0.5, 0.5))


def test_fuse_logits_is_the_weighted_sum():
  logits = {"joint": np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]),
            "motion": np.array([[0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]),
            "bone": np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 4.0]])}
  w = {"joint": 0.6, "motion": 0.4, "bone": 0.6}
  expected = np.array([[0.6 + 1.2, 1.2, -0.6],
                       [0.3 + 0.4, 1.2 + 0.4, 0.4 + 2.4]])
  np.testing.assert_allclose(fusion.fuse_logits(logits, w), expected, rtol=0, atol=1e-12)
  # Only the weighted streams count.
  np.testing.assert_allclose(fusion.fuse_logits(logits, {"joint": 2.0}), 2 * logits["joint"])


def test_fusion_can_beat_every_stream():
  labels = np.array([0, 1, 2])
  # Each stream gets exactly one clip wrong (a different one); the fusion gets all right.
  logits = {"joint": np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 3.0, 1.0]]),
            "motion": np.array([[2.0, 0, 0], [3.0, 1.0, 0], [0, 0, 2.0]]),
            "bone": np.array([[0, 0, 3.0], [0, 2.0, 0], [0, 0, 2.0]])}
  m = fusion.fusion_metrics(logits, labels, fusion.weights_for(("joint", "motion", "bone")))
  for s in ("joint", "motion", "bone"):
    assert m[f"{s}_top1"] == pytest.approx(200 / 3)
  assert m["fused_top1"] == 100.0
  assert m["fused_top5"] == 100.0  # top-5 is clamped to the 3 classes


def test_topk_ties_go_to_the_lower_class():
  scores = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
  assert fusion.topk_accuracy(scores, np.array([0, 1]), 1) == 100.0
  assert fusion.topk_accuracy(scores, np.array([1, 2]), 1) == 0.0
  assert fusion.topk_accuracy(scores, np.array([1, 2]), 2) == 100.0


def test_mismatches_raise():
  a = np.zeros((4, 3))
  with pytest.raises(ValueError, match="no logits"):
    fusion.fuse_logits({"joint": a}, {"joint": 1.0, "bone": 1.0})
  with pytest.raises(ValueError, match="shape"):
    fusion.fuse_logits({"joint": a, "bone": np.zeros((5, 3))}, {"joint": 1.0, "bone": 1.0})
  with pytest.raises(ValueError, match="labels"):
    fusion.fusion_metrics({"joint": a}, np.zeros(3, np.int32), {"joint": 1.0})
