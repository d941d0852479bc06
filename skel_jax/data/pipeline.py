"""Host-side input pipeline: deterministic epoch shuffling, batching and prefetch to devices.

The batch at global step s is a pure function of (seed, s): epoch e = s // steps_per_epoch
is shuffled by `np.random.default_rng([seed, e])` and the batch is slice s % steps_per_epoch
of that permutation (drop_last, as the reference's train loaders). A resumed run
therefore reads exactly the batches an uninterrupted run would have read. Each process reads
only its own rows of every global batch (multi-host). A background thread prepares the
next batches and transfers them while the device computes (prefetch).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import jax
import numpy as np


class EpochBatcher:
  """Which examples form global batch s, for every process."""

  def __init__(self, num_examples: int, global_batch: int, seed: int, *, drop_last: bool = True,
               process_index: int = 0, process_count: int = 1,
               rows: tuple[int, int] | None = None):
    """`rows`: this process's rows [start, stop) of every global batch (multi-process runs
    take them from the batch sharding, train/sharding.local_rows); default: block
    `process_index` of `process_count` equal blocks."""
    if num_examples < global_batch and drop_last:
      raise ValueError(f"the training set has {num_examples} clips, fewer than one global batch "
                       f"of {global_batch}: lower the batch size")
    self.num_examples = num_examples
    self.global_batch = global_batch
    self.seed = seed
    self.steps_per_epoch = (num_examples // global_batch if drop_last
                            else -(-num_examples // global_batch))
    if rows is None:
      per_process = global_batch // process_count
      rows = (process_index * per_process, (process_index + 1) * per_process)
    self.rows = rows
    self._cache: tuple[int, np.ndarray] | None = None

  def permutation(self, epoch: int) -> np.ndarray:
    if self._cache is None or self._cache[0] != epoch:
      self._cache = (epoch, np.random.default_rng([self.seed, epoch]).permutation(
          self.num_examples))
    return self._cache[1]

  def global_indices(self, step: int) -> np.ndarray:
    epoch, i = divmod(step, self.steps_per_epoch)
    return self.permutation(epoch)[i * self.global_batch:(i + 1) * self.global_batch]

  def local_indices(self, step: int) -> np.ndarray:
    return self.global_indices(step)[self.rows[0]:self.rows[1]]

  def position(self, step: int) -> dict:
    epoch, i = divmod(step, self.steps_per_epoch)
    return {"step": int(step), "epoch": int(epoch), "batch_in_epoch": int(i),
            "seed": int(self.seed), "steps_per_epoch": int(self.steps_per_epoch)}


def gather(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
  """`x[indices]` read in sorted order (faster on memory-mapped arrays), returned in order."""
  order = np.argsort(indices)
  out = np.empty((len(indices), *x.shape[1:]), np.float32)
  out[order] = x[indices[order]]
  return out


def prefetch_batches(x: np.ndarray, batcher: EpochBatcher, start_step: int, end_step: int,
                     put_fn, *, depth: int = 2) -> Iterator[tuple[int, jax.Array]]:
  """Yields (step, device batch) for steps [start_step, end_step) with `depth` in flight."""
  buffer: queue.Queue = queue.Queue(maxsize=max(depth, 1))
  stop = threading.Event()

  def producer():
    try:
      for step in range(start_step, end_step):
        if stop.is_set():
          return
        batch = gather(x, batcher.local_indices(step))
        buffer.put((step, put_fn(batch)))
      buffer.put(None)
    except BaseException as e:  # surfaced in the consumer
      buffer.put(e)

  thread = threading.Thread(target=producer, daemon=True)
  thread.start()
  try:
    while True:
      item = buffer.get()
      if item is None:
        return
      if isinstance(item, BaseException):
        raise item
      yield item
  finally:
    stop.set()
    while thread.is_alive():
      try:
        buffer.get_nowait()
      except queue.Empty:
        thread.join(timeout=0.05)
