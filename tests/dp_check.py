"""Runs the same train steps on 1 device and on all (forced) devices; prints max differences.

Executed by tests/test_data_parallel.py in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (the flag must be set before jax starts).

Each step is compared from the same input state: the single-device trajectory is the
reference, and at every step both programs start from its state. Comparing two free-running
trajectories instead would measure how a contrastive run at lr 0.1 amplifies float32
reduction-order differences (1e-7 -> 1e-4 in three steps, and CPU-model dependent), not
whether the data-parallel program computes the same step.

The very first step is compared by its loss only: at the reference init (weights of std 0.02
under BatchNorm) the gradient is ~1/|w| large and comes out of BN's near-cancelling backward
terms, so its float32 rounding depends on the summation order at the 1e-4 level; from the
second step on the parameters are O(1) and the two programs agree to ~1e-7.
"""

import json
import os
import sys

import jax
import numpy as np

from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.train import pretrain, sharding
from skel_jax.train import step as step_lib

FIELDS = ("params", "batch_stats", "key_params", "key_batch_stats", "opt_state", "queues")


def make_runner(config, mesh, train):
  trainer = pretrain.Pretrainer(config, "/tmp/unused", train=train, mesh=mesh)
  fn = step_lib.make_train_step(
      trainer.method, trainer.tx, momentum_fn=trainer.momentum_fn, lr_fn=trainer.lr_fn,
      steps_per_epoch=trainer.steps_per_epoch, ema_order=config.moco.ema_order,
      ema_batch_stats=config.moco.ema_batch_stats, state_sharding=trainer.state_sharding,
      batch_sharding=trainer.batch_sharding)

  def run_step(host_state, step):
    """One step from a host copy of the state; returns (host state, loss)."""
    with jax.set_mesh(mesh):
      state = jax.device_put(host_state, trainer.state_sharding)
      batch = trainer.put(np.asarray(train.x[trainer.batcher.global_indices(step)]))
      state, metrics = fn(state, batch)
      return jax.device_get(state), float(metrics["loss"])

  return trainer, run_step


def relative_difference(a_tree, b_tree) -> float:
  """max |a - b| over the leaves, relative to the tree's largest magnitude (leaves whose true
  value is ~0, like conv biases before BN, would make leaf-relative errors meaningless)."""
  a = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(a_tree)]
  b = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(b_tree)]
  scale = max(float(np.max(np.abs(x))) for x in a if x.size)
  return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b) if x.size) / scale


def main():
  # Same fast-compile settings as tests/conftest.py (this runs in its own process).
  jax.config.update("jax_disable_most_optimizations", True)
  if os.environ.get("SKEL_JAX_TEST_JAX_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["SKEL_JAX_TEST_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  method = sys.argv[1]
  steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
  config = load_config(f"configs/{method}.py", "smoke")
  train, _ = registry.load_splits(config)
  trainer, step_one = make_runner(config, sharding.make_mesh(jax.devices()[:1]), train)
  _, step_many = make_runner(config, sharding.make_mesh(), train)
  state = jax.device_get(trainer.init_state())
  report = {"devices": len(jax.devices()), "losses_one": [], "losses_many": [],
            **{field: 0.0 for field in FIELDS}, "queue_ptr": []}
  first_one, loss_one = step_one(state, 0)
  _, loss_many = step_many(state, 0)
  report["first_losses"] = [loss_one, loss_many]
  state = first_one
  for step in range(1, steps + 1):
    one, loss_one = step_one(state, step)
    many, loss_many = step_many(state, step)
    report["losses_one"].append(loss_one)
    report["losses_many"].append(loss_many)
    for field in FIELDS:
      report[field] = max(report[field],
                          relative_difference(getattr(one, field), getattr(many, field)))
    report["queue_ptr"].append([int(one.queue_ptr), int(many.queue_ptr)])
    state = one
  print(json.dumps(report))


if __name__ == "__main__":
  main()
