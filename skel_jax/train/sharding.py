"""Data parallelism with jit on a one-axis `data` mesh (design.md, Device side).

The card's "data-parallel train steps over all devices" maps onto `jax.jit` with shardings,
not `jax.pmap` (jax 0.10 implements pmap on shard_map): the state is replicated, the batch is
split along `data`, and XLA inserts the cross-device reductions (gradients, BN statistics,
the gathered keys) that pmap code writes by hand. Multi-host runs call
`jax.distributed.initialize()` first and feed each host's slice of the global batch.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named 'data' over all (global) devices."""
  devices = np.asarray(devices if devices is not None else jax.devices())
  return Mesh(devices.reshape(-1), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def data_sharded(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec("data"))


def check_global_batch(global_batch: int, mesh: Mesh, queue_size: int | None = None) -> None:
  """Raises ValueError unless the batch splits over the devices and divides the queue."""
  n = mesh.devices.size
  if global_batch % n:
    raise ValueError(f"global batch {global_batch} is not divisible by the {n} devices")
  if global_batch % jax.process_count():
    raise ValueError(f"global batch {global_batch} is not divisible by the "
                     f"{jax.process_count()} processes")
  if queue_size is not None and queue_size % global_batch:
    raise ValueError(f"queue size {queue_size} must be divisible by the global batch "
                     f"{global_batch} (spec 1.6: the reference asserts K % N == 0)")


def put_global_batch(local_batch: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """This process's rows of the global batch -> one global array sharded along 'data'."""
  return jax.make_array_from_process_local_data(sharding, local_batch)


def maybe_initialize_distributed(enabled: bool) -> None:
  """Starts multi-host JAX (coordinator from the environment, e.g. on TPU pods)."""
  if enabled:
    jax.distributed.initialize()
