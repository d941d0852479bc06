"""Data parallelism with jit on a one-axis `data` mesh (docs/devices.md).

The card's "data-parallel train steps over all devices" maps onto `jax.jit` with shardings,
not `jax.pmap` (jax 0.10 implements pmap on shard_map): the state is replicated, the batch is
split along `data`, and XLA inserts the cross-device reductions (gradients, BN statistics,
the gathered keys) that pmap code writes by hand.

Multi-process runs (several hosts, or several processes on one host) call
`initialize_distributed` first; the mesh then spans the devices of every process, each
process feeds the rows of the global batch that its own devices hold (`local_rows`), and the
few host-side steps that need every process (the stop decision, the evaluation features, the
end of a run) go through `any_process`, `gather_rows` and `wait_for_all`.
"""

from __future__ import annotations

import itertools
import logging

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

log = logging.getLogger(__name__)


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
                     f"{global_batch} (as the reference MoCo code asserts K % N == 0)")


def put_global_batch(local_batch: np.ndarray, sharding: NamedSharding) -> jax.Array:
  """This process's rows of the global batch -> one global array sharded along 'data'."""
  return jax.make_array_from_process_local_data(sharding, local_batch)


def local_rows(batch_sharding: NamedSharding, global_batch: int) -> tuple[int, int]:
  """The rows [start, stop) of a global batch that this process's devices hold.

  Read from the sharding rather than assumed from the process index, so that the rows a
  process reads are the rows `make_array_from_process_local_data` places on its devices,
  whatever order the mesh lists the devices in.

  Raises:
    ValueError: when this process's rows are not one contiguous block (a mesh that
      interleaves the processes' devices).
  """
  index_map = batch_sharding.addressable_devices_indices_map((global_batch,))
  rows = sorted({s.indices(global_batch)[:2] for (s,) in index_map.values()})
  for (_, stop), (start, _) in zip(rows, rows[1:]):
    if stop != start:
      raise ValueError(f"process {jax.process_index()} holds the non-contiguous rows {rows} "
                       "of the global batch: order the mesh's devices by process")
  return rows[0][0], rows[-1][1]


def process_block(n: int, index: int | None = None, count: int | None = None) -> tuple[int, int]:
  """Process `index`'s contiguous share [start, stop) of n rows (the last may be short)."""
  index = jax.process_index() if index is None else index
  count = jax.process_count() if count is None else count
  per = -(-n // count)
  return min(n, index * per), min(n, (index + 1) * per)


def gather_rows(local: np.ndarray, n: int) -> np.ndarray:
  """Every process's `process_block` rows of an [n, ...] array, concatenated (all processes
  must call it; each gets the whole array). One process: `local` itself."""
  if jax.process_count() == 1:
    return local
  per = -(-n // jax.process_count())
  # process_allgather needs equal shapes: pad every share to `per` rows, trim after.
  padded = np.zeros((per, *local.shape[1:]), local.dtype)
  padded[:len(local)] = local
  return np.asarray(multihost_utils.process_allgather(padded, tiled=True))[:n]


def any_process(flag: bool) -> bool:
  """Whether `flag` is set on any process (all processes must call it; one process: flag)."""
  if jax.process_count() == 1:
    return bool(flag)
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def wait_for_all(name: str, timeout_s: int = 7 * 24 * 3600) -> None:
  """Blocks until every process reaches the barrier `name` (a no-op with one process).

  A coordination-service barrier, not a device collective: processes that wait here while
  process 0 evaluates or writes for hours use no device and hit no collective timeout.
  """
  if jax.process_count() > 1:
    from orbax.checkpoint import multihost  # pylint: disable=g-import-not-at-top
    # A barrier id serves once; every process numbers its barriers in the same order.
    key = f"{name}_{next(_BARRIER_COUNT)}"
    multihost.get_barrier_sync_fn()(key=key, timeout_ms=1000 * timeout_s)


_BARRIER_COUNT = itertools.count()


def initialize_distributed(coordinator_address: str | None = None,
                           num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Starts JAX's multi-controller runtime; call before anything touches a device.

  Arguments left None are detected by `jax.distributed.initialize` (Cloud TPU, SLURM, Open
  MPI; `JAX_COORDINATOR_ADDRESS` for the address). On CPU the cross-process collectives use
  gloo (jax 0.10's default, set here explicitly: without a CPU collectives implementation a
  computation over several processes' CPU devices cannot run).
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  _use_coordination_barriers_in_orbax()
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
  log.info("process %d of %d: %d local devices, %d in all", jax.process_index(),
           jax.process_count(), jax.local_device_count(), jax.device_count())


def _use_coordination_barriers_in_orbax() -> None:
  """Makes orbax synchronise processes through the coordination service, not collectives.

  By default orbax's barriers are device collectives (an all-gather), and its asynchronous
  checkpointing runs them from a background thread; collectives issued by two threads can
  pair up in a different order on different processes (a barrier with a train step's
  all-reduce), which hangs or corrupts the run. Coordination-service barriers use no device.
  """
  import orbax.checkpoint  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from absl import flags  # pylint: disable=g-import-not-at-top
  # parse() rather than assignment: it also marks the flag as given, so orbax can read it
  # in programs that never parse absl flags (the benchmark, notebooks).
  flags.FLAGS["experimental_orbax_use_distributed_barrier"].parse("true")


def maybe_initialize_distributed(enabled: bool, **kwargs) -> None:
  """`initialize_distributed(**kwargs)` when enabled (the CLI's --multihost)."""
  if enabled:
    initialize_distributed(**kwargs)
