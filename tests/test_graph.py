"""Adjacency subsets: the reference values and the reference fixture."""

import numpy as np
import pytest

from skel_jax.models import graph


def _one_based(entries):
  return {(a - 1, b - 1) for a, b in entries}


def test_stgcn_partition_values():
  a = graph.build_adjacency("ntu25", "stgcn")
  assert a.shape == (3, 25, 25)
  diag = np.diag(a[0])
  expected = np.full(25, 1 / 3)
  expected[0], expected[20] = 0.25, 0.2
  expected[[3, 15, 19, 21, 23]] = 0.5
  np.testing.assert_allclose(diag, expected, rtol=1e-6)
  np.testing.assert_array_equal(a[0] - np.diag(diag), 0)
  # The "further" subset has exactly the 8 source->target entries of the reference.
  further = {tuple(ix) for ix in np.argwhere(a[2] > 0)}
  assert further == _one_based([(2, 1), (3, 4), (5, 6), (9, 10), (21, 2), (21, 3), (21, 5),
                                (21, 9)])
  assert (a[1] > 0).sum() == 40
  np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(25), rtol=1e-6)
  assert a[1, 20, 1] + a[2, 20, 1] == pytest.approx(1 / 3)  # 21 -> 2
  assert a[1, 1, 20] == pytest.approx(0.2)  # 2 -> 21


def test_stgcn_partition_equals_reference_fixture(reference_fixture_dir):
  ref = np.load(reference_fixture_dir / "adjacency_A.npz")["A"]
  np.testing.assert_array_equal(graph.build_adjacency("ntu25", "stgcn"), ref)


def test_agcn_graph_values():
  a = graph.build_adjacency("ntu25", "agcn")
  np.testing.assert_array_equal(a[0], np.eye(25))
  # A1: each child receives its parent with weight 1; the root's column is empty.
  np.testing.assert_allclose(a[1].sum(0), [0 if w == 20 else 1 for w in range(25)])
  assert a[1, 20, 1] == 1.0 and a[1, 1, 0] == 1.0
  # A2: each parent averages its children: 1/4 into joint 21, 1/2 into joint 1.
  np.testing.assert_allclose(a[2][[1, 2, 4, 8], 20], 0.25)
  np.testing.assert_allclose(a[2][[12, 16], 0], 0.5)
  leaves = [3, 15, 19, 21, 23]
  np.testing.assert_array_equal(a[2][:, leaves], 0)


@pytest.mark.parametrize("kind", graph.GRAPH_KINDS)
def test_graphs_work_for_kinect_v1(kind):
  a = graph.build_adjacency("kinect_v1_20", kind)
  assert a.shape == (3, 20, 20) and np.isfinite(a).all()


def test_unknown_graph_kind():
  with pytest.raises(ValueError, match="known"):
    graph.build_adjacency("ntu25", "openpose")
