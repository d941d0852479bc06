"""Multi-process training: 2 processes x 2 CPU devices compute what 1 process x 4 devices does.

The runs are real `python -m skel_jax.main` processes started by skel_jax.launch_local: each
process has 2 forced CPU devices, they join through jax.distributed.initialize with a
coordinator on a free localhost port, and the cross-process collectives run on gloo. One test
(the launches dominate its time) checks, on the smoke config:

* 2 x 2 and 1 x 4 end the first epoch (4 steps) with the same state (the device test's
  tolerance, tests/test_data_parallel.py);
* a checkpoint written by 1 process x 4 devices is resumed by 2 processes x 2 devices, which
  end where the uninterrupted 2 x 2 run ends, with the same losses;
* files are written once: one metrics row per step, one event file, progress and results
  printed by process 0 only;
* the evaluation of the 2 processes (features computed by both and gathered) gives the KNN
  accuracy that this single process computes from the 2-process checkpoint, restored here
  onto one device.
"""

import json
import os

import jax
import numpy as np
import pytest
from conftest import REPO_ROOT
from dp_check import FIELDS, relative_difference

from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.evaluate import protocols as protocols_lib
from skel_jax.evaluate import results as results_lib
from skel_jax.launch_local import launch
from skel_jax.train import checkpoint as ckpt_lib
from skel_jax.train import metrics_writer, pretrain, sharding
from tests import tb_events

CONFIG = "configs/skeletonclr.py:smoke"
# Relative to the largest value (dp_check.relative_difference). The cross-process all-reduce
# adds the processes' partial sums in another order than one process adds its devices', and
# four to eight steps amplify that rounding in the BatchNorm statistics: 1.1e-5 measured on a
# 2-core AVX2 EPYC with the F(3, 3) temporal convolution, 2.05e-5 (CI of 2026-12-08) with the
# nested Winograd form, whose float32 rounding is 2-3 times larger (skel_jax/models/stgcn.py).
# A wrong reduction (a process left out, a statistic not averaged) is off by 1e-1 or more.
TOLERANCE = 1e-4


def _env():
  """The test session's fast-compile settings and compilation cache, for the subprocesses."""
  env = dict(os.environ, JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                      os.environ.get("PYTHONPATH")])))
  cache = jax.config.jax_compilation_cache_dir
  if cache:
    env.update(JAX_COMPILATION_CACHE_DIR=cache, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
  return env


def _run(workdir, processes, devices, *flags):
  results = launch([f"--config={CONFIG}", f"--workdir={workdir}", *flags],
                   processes=processes, devices_per_process=devices,
                   log_dir=str(workdir) + "_logs", timeout=900, env=_env(), cwd=str(REPO_ROOT))
  # A process that failed first (the launcher then kills the others with -9) is shown first.
  for r in sorted(results, key=lambda r: r.returncode == -9):
    why = "killed (time limit or a failed peer)" if r.returncode == -9 else \
        f"exit status {r.returncode}"
    assert r.returncode == 0, (f"process {r.process_id} of {processes}: {why}",
                               r.stderr[-3000:])
  return results


def _state(workdir, step):
  """The checkpointed state of `step`, restored onto this process's single device."""
  config = load_config(*CONFIG.split(":"))
  train, _ = registry.load_splits(config)
  trainer = pretrain.Pretrainer(config, str(workdir), train,
                                mesh=sharding.make_mesh(jax.devices()[:1]))
  checkpointer = ckpt_lib.Checkpointer(str(workdir))
  state, position = checkpointer.restore(trainer.init_state(), step=step)
  checkpointer.close()
  assert position["step"] == step
  return jax.device_get(state)


def _losses(workdir):
  return {r["step"]: r["train/loss"] for r in metrics_writer.read_metrics_jsonl(str(workdir))}


def _assert_same_state(a, b):
  for field in FIELDS:
    diff = relative_difference(getattr(a, field), getattr(b, field))
    assert diff < TOLERANCE, (field, diff)
  assert int(a.step) == int(b.step) and int(a.queue_ptr) == int(b.queue_ptr)


# `--mode=all` at its cheapest: no baselines or plot, one epoch of each linear probe (those run
# on process 0 alone; the features they share with KNN are what the processes compute).
_CHEAP_EVAL = ("--config.eval.baselines=()", "--config.eval.tsne.enabled=False",
             "--config.eval.linear.epochs=1", "--config.eval.linear.lr_steps=()",
             "--config.eval.linear_std.epochs=1")


def test_two_processes_equal_one(tmp_path):
  two, one = tmp_path / "two", tmp_path / "one"
  # 2 x 2, uninterrupted (checkpoints after each epoch: steps 4 and 8), then evaluated (KNN
  # on the features gathered from both processes; the cheapest feature protocol).
  procs = _run(two, 2, 2, "--mode=all", *_CHEAP_EVAL)
  # 1 x 4, stopped after the first epoch, then resumed by 2 processes x 2 devices.
  _run(one, 1, 4, "--mode=pretrain", "--config.train.max_steps=4")
  _assert_same_state(_state(two, 4), _state(one, 4))
  _run(one, 2, 2, "--mode=pretrain")
  _assert_same_state(_state(two, 8), _state(one, 8))
  expected, got = _losses(one), _losses(two)
  assert sorted(got) == sorted(expected) == list(range(1, 9))  # one row per step
  np.testing.assert_allclose([got[s] for s in got], [expected[s] for s in got], rtol=TOLERANCE)

  # Written once, printed once.
  assert len(tb_events.event_files(two)) == 1
  # The tqdm pretraining bar (skel_jax/progress.py) on process 0 only.
  assert "8/8" in procs[0].stderr and "pretrain:" in procs[0].stderr
  assert "pretrain:" not in procs[1].stderr
  assert "results in" in procs[0].stdout and "results in" not in procs[1].stdout
  # The evaluation of 2 processes = that of this single process on the restored checkpoint.
  written = results_lib.read_results(str(two))["knn"]
  assert written["context"]["checkpoint_step"] == 8
  config = load_config(*CONFIG.split(":"))
  train, test = registry.load_splits(config)
  variables = protocols_lib.backbone_variables(_state(two, 8))
  train_f, test_f = protocols_lib.compute_features(config, variables, train, test)
  here = protocols_lib.run_knn(config, train_f, train.y, test_f, test.y,
                               config.data.num_classes)
  for key, value in here.items():
    assert written[key] == pytest.approx(value), (key, json.dumps(written))
