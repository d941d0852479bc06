"""The pretraining loop: data, optimiser, jit'd data-parallel steps, logs and checkpoints.

`pretrain(config, workdir)` runs (or resumes) contrastive pretraining of `config.method`.
The optimiser is the reference's (`PT_Processor.load_optimizer` in `processor/pretrain.py` of
LinguoLi/CrosSCLR and the repositories built on it: `torch.optim.SGD` with `weight_decay`):
SGD with momentum 0.9, coupled L2 weight decay on every parameter, an epoch-based step (or
cosine) schedule. The workdir receives
`config.json`, `metrics.jsonl` + TensorBoard event files, and orbax checkpoints; a run killed
at any point resumes from the latest checkpoint and continues exactly as an uninterrupted run.
SIGTERM or SIGINT stops it cleanly: the current step ends, a checkpoint is written and
`preemption.Preempted` is raised (skel_jax/train/preemption.py).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
import optax

from skel_jax import methods, progress
from skel_jax.data import pipeline, registry
from skel_jax.data.dataset import ArrayDataset
from skel_jax.methods import moco
from skel_jax.train import checkpoint as ckpt_lib
from skel_jax.train import metrics_writer, preemption, schedules, sharding
from skel_jax.train import step as step_lib

log = logging.getLogger(__name__)


def _unnamed(layout) -> dict:
  """A layout's fields but its name (a built-in layout and its copy in a file are equal)."""
  return {k: v for k, v in layout.to_dict().items() if k != "name"}


def check_layout(ds: ArrayDataset, layout: str) -> None:
  """Raises a ValueError when the clips' layout is not the config's (other joints, graph or
  channels): the model would otherwise silently train on a skeleton it misreads."""
  from skel_jax.data import skeletons  # pylint: disable=g-import-not-at-top
  ours, theirs = skeletons.get_layout(layout), skeletons.get_layout(ds.layout)
  if _unnamed(ours) != _unnamed(theirs):
    raise ValueError(
        f"the data's skeleton layout {ds.layout!r} ({theirs.num_joints} joints) is not the "
        f"config's data.layout {layout!r} ({ours.num_joints} joints); set "
        "--config.data.layout to the data's layout")
  if ds.x.shape[-1] != len(ours.channels):
    raise ValueError(f"the clips have {ds.x.shape[-1]} channels but layout {layout!r} names "
                     f"{len(ours.channels)}: {list(ours.channels)}")


def make_optimizer(optim: ml_collections.ConfigDict, steps_per_epoch: int):
  """SGD + coupled L2 decay (as PyTorch's SGD `weight_decay`) and its lr schedule.

  Returns:
    (tx, lr_fn).
  """
  lr_fn = schedules.epoch_schedule(optim.schedule, optim.lr, steps_per_epoch, optim.epochs,
                                   lr_steps=tuple(optim.lr_steps),
                                   warmup_epochs=optim.get("warmup_epochs", 0))
  tx = schedules.torch_sgd(lr_fn, momentum=optim.momentum, nesterov=optim.nesterov,
                           weight_decay=optim.weight_decay, clip=_gradient_clip(optim))
  return tx, lr_fn


def _gradient_clip(optim: ml_collections.ConfigDict) -> optax.GradientTransformation | None:
  """The clip of the raw loss gradient (before the L2 term), or None; off in the reference."""
  clip = float(optim.get("clip_grad_norm", 0.0))
  if clip <= 0:
    return None
  mode = optim.get("clip_mode", "global")
  if mode == "global":
    return optax.clip_by_global_norm(clip)
  if mode == "adaptive":
    # Unit-wise: each output unit's gradient norm is capped at clip * its weight norm, so one
    # layer's huge gradient (the early temporal kernels at init) cannot shrink the step of
    # every other layer, as a global-norm clip does.
    return optax.adaptive_grad_clip(clip)
  raise ValueError(f"unknown optim.clip_mode {mode!r}; known: 'global', 'adaptive'")


def make_momentum_fn(moco_config: ml_collections.ConfigDict, steps_per_epoch: int, epochs: int):
  if moco_config.momentum_schedule == "constant":
    # A Python float: the EMA's 1 - m is then computed in double precision, as in the
    # reference (a float32 0.999 gives 1 - m = 0.00099998713, 1.3e-5 off on every update).
    m = float(moco_config.momentum)
    return lambda step: m
  if moco_config.momentum_schedule == "cosine":
    return functools.partial(moco.cosine_momentum, base=float(moco_config.momentum),
                             steps_per_epoch=steps_per_epoch, total_epochs=epochs)
  raise ValueError(f"unknown momentum_schedule {moco_config.momentum_schedule!r}; "
                   "known: constant, cosine")


class Pretrainer:
  """Everything needed to run, resume or restore a pretraining run of one config."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               train: ArrayDataset | None = None, mesh=None):
    self.config = config
    self.workdir = workdir
    if train is None:
      train, _ = registry.load_splits(config)
    self.train = train
    self.layout = config.data.layout
    check_layout(train, self.layout)
    self.mesh = mesh if mesh is not None else sharding.make_mesh()
    self.global_batch = int(config.optim.batch_size)
    sharding.check_global_batch(self.global_batch, self.mesh, config.moco.queue_size)
    self.method = methods.get_method(config.method)(config, self.layout)
    self.state_sharding = sharding.replicated(self.mesh)
    self.batch_sharding = sharding.data_sharded(self.mesh)
    # Each process reads exactly the rows its devices hold (all rows with one process).
    self.batcher = pipeline.EpochBatcher(
        len(train), self.global_batch, config.seed,
        rows=sharding.local_rows(self.batch_sharding, self.global_batch))
    self.steps_per_epoch = self.batcher.steps_per_epoch
    self.total_steps = self.steps_per_epoch * int(config.optim.epochs)
    self.tx, self.lr_fn = make_optimizer(config.optim, self.steps_per_epoch)
    self.momentum_fn = make_momentum_fn(config.moco, self.steps_per_epoch, config.optim.epochs)

  def _create_state(self):
    """The jitted `create_train_state(key, sample)` of this run, onto the state sharding."""
    create = functools.partial(step_lib.create_train_state, self.method, self.tx,
                               queue_size=int(self.config.moco.queue_size),
                               key_init=self.config.moco.key_init)
    return jax.jit(create, out_shardings=self.state_sharding)

  def init_state(self) -> step_lib.TrainState:
    sample = np.asarray(self.train.x[:self.global_batch])
    with jax.set_mesh(self.mesh):
      return self._create_state()(jax.random.key(self.config.seed), sample)

  def abstract_state(self) -> step_lib.TrainState:
    """`init_state`'s shapes, dtypes and shardings, computed without running it.

    Restoring a checkpoint needs no more: this skips compiling and running the init and
    allocating the queues (K rows each).
    """
    sample = jax.ShapeDtypeStruct((self.global_batch, *self.train.x.shape[1:]), np.float32)
    with jax.set_mesh(self.mesh):
      return jax.eval_shape(self._create_state(), jax.random.key(self.config.seed), sample)

  def restore(self, checkpointer: ckpt_lib.Checkpointer, step: int | None = None):
    """(state, input position) of the checkpoint at `step` (default: the newest readable)."""
    return checkpointer.restore(self.abstract_state(), step)

  def restore_or_init(self, checkpointer: ckpt_lib.Checkpointer):
    if checkpointer.latest_step() is not None:
      return self.restore(checkpointer)
    state = self.init_state()
    if self.config.get("init_from"):  # e.g. released reference weights (skel_jax.interop)
      from skel_jax.interop import init_from  # pylint: disable=g-import-not-at-top
      pieces = init_from.load_init_variables(self.config.init_from, self.config)
      state = jax.device_put(init_from.replace_state(state, pieces), self.state_sharding)
    return state, None

  def put(self, batch: np.ndarray) -> jax.Array:
    return sharding.put_global_batch(batch, self.batch_sharding)

  def run(self, knn_monitor: Callable[[step_lib.TrainState], dict] | None = None
          ) -> step_lib.TrainState:
    """Pretrains from scratch or from the latest checkpoint; returns the final state.

    Args:
      knn_monitor: called every `train.knn_every_epochs` epochs with the state; returns the
        scalars to log (`{'knn/...': value}`; skel_jax.evaluate.monitor.build_monitor).

    Raises:
      preemption.Preempted: after SIGTERM or SIGINT, once the current step is done and a
        checkpoint is written (rerun to continue).
    """
    with preemption.StopSignals() as stop:
      return self._run(stop, knn_monitor)

  def _run(self, stop: preemption.StopSignals, knn_monitor) -> step_lib.TrainState:
    c = self.config
    os.makedirs(self.workdir, exist_ok=True)
    is_main = jax.process_index() == 0
    checkpointer = ckpt_lib.Checkpointer(self.workdir, max_to_keep=c.train.keep_checkpoints)
    state, position = self.restore_or_init(checkpointer)
    start = int(jax.device_get(state.step))
    if is_main:
      # Rows of steps after the checkpoint were logged by the run that was stopped; this run
      # logs them again, so each step keeps one row.
      metrics_writer.drop_rows_after(self.workdir, start)
    writer = metrics_writer.MetricWriter(self.workdir, enabled=is_main)
    writer.write_config(c)
    end = self.total_steps if c.train.max_steps < 0 else min(self.total_steps, c.train.max_steps)
    if position is not None:
      log.info("resuming from step %d (%s)", start, position)
    if start >= end:
      checkpointer.close()
      writer.close()
      return state
    step_fn = step_lib.make_train_step(
        self.method, self.tx, momentum_fn=self.momentum_fn, lr_fn=self.lr_fn,
        steps_per_epoch=self.steps_per_epoch, ema_order=c.moco.ema_order,
        ema_batch_stats=c.moco.ema_batch_stats, state_sharding=self.state_sharding,
        batch_sharding=self.batch_sharding)
    bar = progress.bar(end, "pretrain", initial=start, enabled=is_main)
    ckpt_every = max(1, int(c.train.ckpt_every_epochs)) * self.steps_per_epoch
    knn_every = int(c.train.get("knn_every_epochs", 0)) * self.steps_per_epoch
    pending: list[dict] = []
    batches = pipeline.prefetch_batches(self.train.x, self.batcher, start, end, self.put,
                                        depth=c.train.prefetch)
    t0 = time.time()
    stopped_at = None
    with jax.set_mesh(self.mesh):
      if jax.process_count() > 1:
        step_fn = self.compile_together(step_fn, state)
      for step, batch in batches:
        state, metrics = step_fn(state, batch)
        pending.append(metrics)
        done = step + 1
        bar.update(1)
        logging_step = done % c.train.log_every_steps == 0 or done == end
        if logging_step:
          scalars = _mean_scalars(jax.device_get(pending))
          pending = []
          metrics_writer.check_finite(done, scalars)
          scalars["steps_per_s"] = (done - start) / max(time.time() - t0, 1e-9)
          writer.write_scalars(done, {f"train/{k}": v for k, v in scalars.items()})
          bar.set_postfix(loss=f"{scalars['loss']:.4g}", refresh=False)
        if knn_every and done % knn_every == 0 and knn_monitor is not None:
          writer.write_scalars(done, knn_monitor(state))
        stopping = _agreed_stop(stop.requested, logging_step or done % ckpt_every == 0)
        if done % ckpt_every == 0 or done == end or stopping:
          checkpointer.save(done, state, self.batcher.position(done))
        if stopping and done < end:
          # The metrics of this unfinished logging interval are not written: the resumed run
          # writes the interval's row, averaged over the steps it runs itself.
          stopped_at = done
          break
      batches.close()
    bar.close()
    checkpointer.close()
    writer.close()
    if stopped_at is not None:
      stopped = preemption.Preempted(stop.requested or "another process's signal", stopped_at,
                                     end, checkpointer.directory)
      log.warning("%s", stopped)
      raise stopped
    return state

  def compile_together(self, step_fn, state):
    """The compiled step, once every process has compiled it.

    Processes compile at different speeds (a loaded machine, another host); the first run
    of the step sets up the cross-process collectives, whose rendezvous gives up after 30 s
    (gloo on CPU). Waiting at a coordination barrier first makes all start it together.
    """
    batch = jax.ShapeDtypeStruct((self.global_batch, *self.train.x.shape[1:]), np.float32,
                                 sharding=self.batch_sharding)
    compiled = step_fn.lower(state, batch).compile()
    sharding.wait_for_all("skel_jax_step_compiled")
    return compiled


def _agreed_stop(requested: str | None, host_synced: bool) -> bool:
  """Whether every process stops after this step.

  One process: as soon as a signal arrived. Several: a stop must be agreed, or the process
  that saw the signal would enter the (collective) checkpoint while the others ran the next
  step's collectives and both would wait forever; the flags are exchanged only at steps that
  already wait for the device (logging, checkpoints), so the stop comes at the next of those.
  """
  if jax.process_count() == 1:
    return requested is not None
  return host_synced and sharding.any_process(requested is not None)


def _mean_scalars(metrics: list[dict]) -> dict[str, float]:
  """Averages the per-step metric dicts of one logging interval."""
  keys = metrics[0].keys()
  return {k: float(np.mean([np.asarray(m[k], np.float64) for m in metrics])) for k in keys}


def placeholder_dataset(config: ml_collections.ConfigDict) -> ArrayDataset:
  """Zero clips with the training shapes: enough to build a Pretrainer without the data.

  Parameter shapes depend on the layout only (joints and channels, not T or M), so a state
  can be initialised or restored without reading the dataset.
  """
  from skel_jax.data import skeletons  # pylint: disable=g-import-not-at-top
  n = int(config.optim.batch_size)
  v = skeletons.get_layout(config.data.layout).num_joints
  x = np.zeros((n, 1, int(config.data.num_frames), v, 3), np.float32)
  return ArrayDataset(x, np.zeros((n,), np.int32), [f"placeholder_{i}" for i in range(n)],
                      config.data.layout, int(config.data.num_classes))


def restore_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                       step: int | None = None, *, hint: str = "") -> step_lib.TrainState:
  """The TrainState of `workdir`'s checkpoint at `step` (default: the newest readable).

  Raises:
    FileNotFoundError: the workdir has no checkpoint (the message ends with `hint`).
  """
  trainer = Pretrainer(config, workdir, placeholder_dataset(config))
  checkpointer = ckpt_lib.Checkpointer(workdir)
  try:
    if checkpointer.latest_step() is None:
      raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}{hint}")
    state, _ = trainer.restore(checkpointer, step)
  finally:
    checkpointer.close()
  return state


def pretrain(config: ml_collections.ConfigDict, workdir: str,
             train: ArrayDataset | None = None) -> step_lib.TrainState:
  """Runs (or resumes) pretraining; see `Pretrainer`."""
  return Pretrainer(config, workdir, train).run()
