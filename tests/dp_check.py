"""Runs the same train steps on 1 device and on all (forced) devices; prints max differences.

Executed by tests/test_data_parallel.py in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (the flag must be set before jax starts).
"""

import json
import os
import sys

import jax
import numpy as np

from skel_jax.config_lib import load_config
from skel_jax.train import pretrain, sharding


def run(config, mesh, train, steps):
  trainer = pretrain.Pretrainer(config, "/tmp/unused", train=train, mesh=mesh)
  state = trainer.init_state()
  from skel_jax.train import step as step_lib
  fn = step_lib.make_train_step(
      trainer.method, trainer.tx, momentum_fn=trainer.momentum_fn, lr_fn=trainer.lr_fn,
      steps_per_epoch=trainer.steps_per_epoch, ema_order=config.moco.ema_order,
      ema_batch_stats=config.moco.ema_batch_stats, state_sharding=trainer.state_sharding,
      batch_sharding=trainer.batch_sharding)
  losses = []
  with jax.set_mesh(mesh):
    for step in range(steps):
      batch = trainer.put(np.asarray(train.x[trainer.batcher.global_indices(step)]))
      state, metrics = fn(state, batch)
      losses.append(float(metrics["loss"]))
  return jax.device_get(state), losses


def main():
  # Same fast-compile settings as tests/conftest.py (this runs in its own process).
  jax.config.update("jax_disable_most_optimizations", True)
  if os.environ.get("SKEL_JAX_TEST_JAX_CACHE"):
    jax.config.update("jax_compilation_cache_dir", os.environ["SKEL_JAX_TEST_JAX_CACHE"])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  method = sys.argv[1]
  config = load_config(f"configs/{method}.py", "smoke")
  train, _ = pretrain.load_splits(config)
  n = len(jax.devices())
  one, losses_one = run(config, sharding.make_mesh(jax.devices()[:1]), train, 3)
  many, losses_many = run(config, sharding.make_mesh(), train, 3)
  report = {"devices": n, "losses_one": losses_one, "losses_many": losses_many}
  # Per state field: max |a - b| relative to the field's largest magnitude (leaves whose true
  # value is ~0, like conv biases before BN, otherwise make leaf-relative errors meaningless).
  for field in ("params", "batch_stats", "key_params", "key_batch_stats", "opt_state",
                "queues"):
    a = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(getattr(one, field))]
    b = [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(getattr(many, field))]
    scale = max(float(np.max(np.abs(x))) for x in a if x.size)
    report[field] = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b) if x.size) / scale
  report["queue_ptr"] = [int(one.queue_ptr), int(many.queue_ptr)]
  print(json.dumps(report))


if __name__ == "__main__":
  main()
