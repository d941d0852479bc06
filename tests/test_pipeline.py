"""Input pipeline: deterministic epochs, drop_last, per-process slices, prefetch order."""

import jax
import numpy as np
import pytest

from skel_jax.data import pipeline
from skel_jax.train import sharding


def test_batches_are_a_pure_function_of_seed_and_step():
  a = pipeline.EpochBatcher(10, 4, seed=3)
  b = pipeline.EpochBatcher(10, 4, seed=3)
  assert a.steps_per_epoch == 2  # drop_last: 10 // 4
  for step in (0, 1, 2, 3, 7):
    np.testing.assert_array_equal(a.global_indices(step), b.global_indices(step))
  epoch0 = np.concatenate([a.global_indices(0), a.global_indices(1)])
  assert len(set(epoch0)) == 8  # no repeats within an epoch
  assert not np.array_equal(a.global_indices(0), a.global_indices(2))  # reshuffled
  assert a.position(5) == {"step": 5, "epoch": 2, "batch_in_epoch": 1, "seed": 3,
                           "steps_per_epoch": 2}


def test_process_slices_cover_the_global_batch():
  parts = [pipeline.EpochBatcher(12, 6, seed=0, process_index=i, process_count=3)
           for i in range(3)]
  for step in range(4):
    joined = np.concatenate([p.local_indices(step) for p in parts])
    np.testing.assert_array_equal(joined, parts[0].global_indices(step))


def test_rows_from_the_sharding_and_evaluation_shares_cover_everything():
  mesh = sharding.make_mesh(jax.devices()[:1])
  assert sharding.local_rows(sharding.data_sharded(mesh), 16) == (0, 16)  # one process
  batcher = pipeline.EpochBatcher(12, 6, seed=0, rows=(2, 5))
  np.testing.assert_array_equal(batcher.local_indices(1), batcher.global_indices(1)[2:5])
  blocks = [sharding.process_block(10, i, 3) for i in range(3)]
  assert blocks == [(0, 4), (4, 8), (8, 10)]
  assert sharding.process_block(2, 2, 4) == (2, 2)  # more processes than rows: empty share
  x = np.arange(6.0).reshape(3, 2)
  np.testing.assert_array_equal(sharding.gather_rows(x, 3), x)  # one process: itself
  assert sharding.any_process(True) and not sharding.any_process(False)


def test_too_small_dataset_is_a_clear_error():
  with pytest.raises(ValueError, match="fewer than one global batch"):
    pipeline.EpochBatcher(3, 4, seed=0)


def test_prefetch_yields_the_right_batches_in_order():
  x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
  batcher = pipeline.EpochBatcher(10, 4, seed=1)
  got = list(pipeline.prefetch_batches(x, batcher, 1, 5, lambda b: b, depth=2))
  assert [s for s, _ in got] == [1, 2, 3, 4]
  for step, batch in got:
    np.testing.assert_array_equal(batch, x[batcher.global_indices(step)])


def test_prefetch_surfaces_producer_errors():
  batcher = pipeline.EpochBatcher(10, 4, seed=1)

  def bad_put(batch):
    raise RuntimeError("device full")

  with pytest.raises(RuntimeError, match="device full"):
    list(pipeline.prefetch_batches(np.zeros((10, 2)), batcher, 0, 3, bad_put))
