"""Class-balanced labelled subsets for semi-supervised evaluation (`Feeder_semi`)."""

import numpy as np
import pytest

from skel_jax.evaluate import semi


@pytest.mark.parametrize("n, fraction, expected", [
    (100, 0.01, 1),
    (250, 0.01, 2),  # round(2.5) = 2: Python rounds half to even, as the reference's round()
    (350, 0.01, 4),  # round(3.5) = 4
    (49, 0.01, 1),  # round(0.49) = 0 -> at least one clip per class
    (7, 0.1, 1),
    (15, 0.1, 2),
    (5, 1.0, 5),
    (0, 0.1, 0),  # an absent class gets nothing
])
def test_per_class_count(n, fraction, expected):
  assert semi.per_class_count(n, fraction) == expected


def _labels():
  # Classes of 3, 40, 250 and 0 (absent) clips, shuffled.
  y = np.repeat(np.array([0, 1, 2], np.int32), [3, 40, 250])
  return np.random.default_rng(5).permutation(y)


def test_subset_is_class_balanced_sorted_and_unique():
  y = _labels()
  for fraction in (0.01, 0.1, 0.5):
    idx = semi.class_balanced_subset(y, fraction, seed=0)
    assert np.all(np.diff(idx) > 0)  # sorted, no repetition
    counts = np.bincount(y[idx], minlength=3)
    assert counts.tolist() == [semi.per_class_count(n, fraction) for n in (3, 40, 250)]
  assert semi.class_balanced_subset(y, 0.01).size == 1 + 1 + 2


def test_subset_is_deterministic_and_depends_on_the_seed():
  y = _labels()
  a = semi.class_balanced_subset(y, 0.1, seed=0)
  np.testing.assert_array_equal(a, semi.class_balanced_subset(y, 0.1, seed=0))
  assert not np.array_equal(a, semi.class_balanced_subset(y, 0.1, seed=1))


def test_each_class_choice_ignores_the_other_classes():
  y = _labels()
  extra = np.concatenate([y, np.full(30, 3, np.int32)])  # a new class appended
  a = semi.class_balanced_subset(y, 0.1, seed=3)
  b = semi.class_balanced_subset(extra, 0.1, seed=3)
  np.testing.assert_array_equal(a, b[b < len(y)])
  assert np.all(extra[b[b >= len(y)]] == 3)


def test_fraction_one_keeps_everything_and_bad_input_raises():
  y = _labels()
  np.testing.assert_array_equal(semi.class_balanced_subset(y, 1.0), np.arange(len(y)))
  for bad in (0.0, -0.1, 1.5):
    with pytest.raises(ValueError, match="fraction"):
      semi.class_balanced_subset(y, bad)
  with pytest.raises(ValueError, match="negative"):
    semi.class_balanced_subset(np.array([0, -1, 2]), 0.5)
  with pytest.raises(ValueError, match="integer"):
    semi.class_balanced_subset(np.array([0.0, 1.0]), 0.5)
  assert semi.class_balanced_subset(np.zeros((0,), np.int32), 0.5).size == 0


def test_protocol_names():
  assert semi.protocol_name(0.01) == "semi_1pct"
  assert semi.protocol_name(0.1) == "semi_10pct"
  assert semi.protocol_name(0.005) == "semi_0.5pct"


def test_subset_record_round_trip(tmp_path):
  y = _labels()
  names = [f"clip{i:03d}" for i in range(len(y))]
  idx = semi.class_balanced_subset(y, 0.1, seed=0)
  record = semi.describe_subset(idx, y, names, 0.1, 0)
  assert record["size"] == len(idx) == sum(record["per_class"].values())
  assert record["per_class"] == {"0": 1, "1": 4, "2": 25}
  assert record["names"] == [names[i] for i in idx]
  path = semi.save_subset(str(tmp_path), "semi_10pct", record)
  assert path.endswith("semi_10pct_subset.json")
  assert semi.load_subset(path) == record
  # The digest identifies the set of names, whatever their order.
  assert record["sha1"] == semi.subset_digest(reversed(record["names"]))
  assert record["sha1"] != semi.subset_digest(record["names"][1:])
