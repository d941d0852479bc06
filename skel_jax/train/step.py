"""The train state and the generic jit-compiled contrastive train step.

Everything the step changes lives in `TrainState` (docs/architecture.md): step, query
params and BN stats, key-encoder params and BN stats, optimiser state, the queues `[K, D]`
with their pointer, and the base rng. The step is a pure function; the method supplies
views and loss (skel_jax.methods.base), this module supplies the MoCo bookkeeping of CrosSCLR
net/skeletonclr.py `SkeletonCLR` (key EMA, enqueue) and of SkeAttnCLR net/SkeAttnCLR.py
`SkeAttnMask.momentum_update` (EMA after the update, of the BN stats too).

Under `jax.jit` on a `data` mesh the batch is one global array, so BN statistics, the
logits against the queue and the enqueued keys all cover the global batch: the data-parallel
result equals the single-device one (tests/test_data_parallel.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax
import jax
import jax.numpy as jnp
import optax

from skel_jax.methods import moco


@flax.struct.dataclass
class TrainState:
  """All device state of a pretraining run (a pytree; checkpointed whole)."""

  step: jnp.ndarray  # int32 scalar, number of updates done
  params: dict
  batch_stats: dict
  key_params: dict
  key_batch_stats: dict
  opt_state: optax.OptState
  queues: dict  # name -> [K, D]
  queue_ptr: jnp.ndarray  # int32 scalar, shared by all queues
  rng: jnp.ndarray  # uint32 raw key data; per-step keys are folded from it


def create_train_state(method, tx: optax.GradientTransformation, rng: jax.Array,
                       sample_x: jnp.ndarray, *, queue_size: int,
                       key_init: str = "copy") -> TrainState:
  """Initialises the query and key encoders, optimiser and queues.

  Args:
    method: a skel_jax.methods Method.
    tx: the optimiser.
    rng: the run's root key.
    sample_x: a `[N, M, T, V, C]` batch with the training shapes.
    queue_size: K, rows of each queue.
    key_init: 'copy' (standard MoCo: the key encoder starts as a copy of the query) or
      'independent' (the reference: its own random init, docs/fidelity.md).
  """
  r_init, r_key, r_queue, r_run = jax.random.split(rng, 4)
  variables = method.model.init(r_init, sample_x, train=False)
  if key_init == "copy":
    # A real copy: aliased buffers could not both be donated to the jit'd step.
    key_variables = jax.tree_util.tree_map(jnp.copy, variables)
  elif key_init == "independent":
    key_variables = method.key_model.init(r_key, sample_x, train=False)
  else:
    raise ValueError(f"unknown key_init {key_init!r}; known: 'copy', 'independent'")
  queue_keys = jax.random.split(r_queue, len(method.queue_names))
  queues = {name: moco.init_queue(k, queue_size, method.feature_dim)
            for name, k in zip(method.queue_names, queue_keys)}
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=variables["params"],
      batch_stats=variables["batch_stats"],
      key_params=key_variables["params"],
      key_batch_stats=key_variables["batch_stats"],
      opt_state=tx.init(variables["params"]),
      queues=queues,
      queue_ptr=jnp.zeros((), jnp.int32),
      rng=jax.random.key_data(r_run),
  )


def _global_norm(tree) -> jnp.ndarray:
  return optax.tree.norm(tree)


def train_step(state: TrainState, x: jnp.ndarray, *, method, tx: optax.GradientTransformation,
               momentum_fn: Callable[[jnp.ndarray], jnp.ndarray], lr_fn: Callable,
               steps_per_epoch: int, ema_order: str = "before_forward",
               ema_batch_stats: bool = False) -> tuple[TrainState, dict]:
  """One contrastive update on a global batch `x` `[N, M, T, V, C]`.

  Draws the method's views from `x` (augmentation happens here, on the device) and runs
  `step_on_views` on them.

  Args:
    state: the current state.
    x: raw clips.
    method: the method (views and loss).
    tx: the optimiser.
    momentum_fn: step -> key momentum m. A Python float keeps `1 - m` exact (the reference
      computes it in double precision); a traced float32 m = 0.999 gives 1 - m = 0.00099998713,
      so a schedule computed on the device returns a `moco.KeyMomentum` that carries `1 - m`.
    lr_fn: step -> learning rate (for logging only; tx holds the schedule).
    steps_per_epoch: for the 1-based epoch passed to the method (mining starts, etc.).
    ema_order: 'before_forward' (MoCo: the key EMA uses the query params before
      this step's update) or 'after_update' (SkeAttnCLR).
    ema_batch_stats: also move the key BN running statistics by EMA (SkeAttnCLR).

  Returns:
    The new state and scalar metrics.
  """
  r_views, r_loss = step_keys(state)
  views = method.make_views(r_views, x)
  new_state, metrics, _ = step_on_views(
      state, views, r_loss, method=method, tx=tx, momentum_fn=momentum_fn, lr_fn=lr_fn,
      steps_per_epoch=steps_per_epoch, ema_order=ema_order, ema_batch_stats=ema_batch_stats)
  return new_state, metrics


def step_keys(state: TrainState) -> tuple[jax.Array, jax.Array]:
  """The step's (views, loss) keys: the run key folded with the step number."""
  rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
  r_views, r_loss = jax.random.split(rng)
  return r_views, r_loss


def step_on_views(state: TrainState, views: dict, rng: jax.Array, *, method,
                  tx: optax.GradientTransformation, momentum_fn: Callable, lr_fn: Callable,
                  steps_per_epoch: int, ema_order: str = "before_forward",
                  ema_batch_stats: bool = False) -> tuple[TrainState, dict, dict]:
  """One contrastive update on given views; also returns the loss gradient.

  The body of `train_step` after the views are drawn: key EMA, the method's loss and its
  gradient, the optimiser update, the enqueue. Feeding views made elsewhere (e.g. by the
  reference code) compares a whole step with it (tests/test_step_parity.py).

  Args:
    state: the current state.
    views: what `method.make_views` returns (stream-converted `[N, M, T, V, C]` views, and
      for the mixing methods their masks and partners).
    rng: the loss key (dropout).
    method, tx, momentum_fn, lr_fn, steps_per_epoch, ema_order, ema_batch_stats: as in
      `train_step`.

  Returns:
    The new state, scalar metrics and the gradient of the loss with respect to the query
    parameters (before weight decay and the optimiser).
  """
  epoch = state.step // steps_per_epoch + 1
  momentum = momentum_fn(state.step)

  key_params = state.key_params
  if ema_order == "before_forward":
    key_params = moco.ema(key_params, state.params, momentum)

  def loss_fn(params):
    return method.loss(params, state.batch_stats, key_params, state.key_batch_stats,
                       state.queues, views, rng, epoch)

  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)

  key_batch_stats = aux["key_batch_stats"]
  if ema_order == "after_update":
    key_params = moco.ema(key_params, params, momentum)
    if ema_batch_stats:
      key_batch_stats = moco.ema(key_batch_stats, aux["batch_stats"], momentum)
  elif ema_order != "before_forward":
    raise ValueError(f"unknown ema_order {ema_order!r}")

  queue_size = next(iter(state.queues.values())).shape[0]
  queues = dict(state.queues)
  for name, keys in aux["enqueue"].items():
    queues[name] = moco.enqueue(queues[name], state.queue_ptr, keys)
  batch = next(iter(aux["enqueue"].values())).shape[0]
  new_state = state.replace(
      step=state.step + 1, params=params, batch_stats=aux["batch_stats"],
      key_params=key_params, key_batch_stats=key_batch_stats, opt_state=opt_state,
      queues=queues, queue_ptr=moco.advance(state.queue_ptr, batch, queue_size))
  metrics = dict(aux["metrics"])
  metrics.update(loss=loss, lr=lr_fn(state.step), momentum=momentum, epoch=epoch,
                 grad_norm=_global_norm(grads), param_norm=_global_norm(params))
  return new_state, metrics, grads


def make_train_step(method, tx, *, momentum_fn, lr_fn, steps_per_epoch, ema_order,
                    ema_batch_stats, state_sharding=None, batch_sharding=None):
  """`train_step` bound to its statics and jitted (donating the old state)."""
  step = functools.partial(train_step, method=method, tx=tx, momentum_fn=momentum_fn,
                           lr_fn=lr_fn, steps_per_epoch=steps_per_epoch, ema_order=ema_order,
                           ema_batch_stats=ema_batch_stats)
  if state_sharding is None:
    return jax.jit(step, donate_argnums=0)
  return jax.jit(step, in_shardings=(state_sharding, batch_sharding),
                 out_shardings=(state_sharding, None), donate_argnums=0)
