"""Preemption and damaged checkpoints: a stopped or damaged run resumes bit-identically.

* SIGTERM during a step: the step ends, a checkpoint is written, `Preempted` is raised; the
  rerun continues and ends with exactly the parameters of an uninterrupted run, with one
  metrics row per step.
* A truncated data file in the latest checkpoint: the rerun warns, falls back to the newest
  readable checkpoint, moves the damaged one aside and again ends bit-identically. A
  temporary folder left by a run killed while saving is deleted.
"""

import logging
import os
import shutil
import signal

import jax
import numpy as np
import pytest

from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.train import metrics_writer, preemption, pretrain


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  """The smoke config, its data, and the workdir and final state of an uninterrupted run."""
  config = load_config("configs/skeletonclr.py", "smoke")
  config.train.log_every_steps = 1
  train, _ = registry.load_splits(config)
  workdir = tmp_path_factory.mktemp("full")
  state = pretrain.pretrain(config, str(workdir), train=train)
  return config, train, workdir, jax.device_get(state.params)


def _rows(workdir):
  return [r["step"] for r in metrics_writer.read_metrics_jsonl(str(workdir))]


def _assert_same_params(a, b):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_sigterm_checkpoints_and_the_rerun_is_bit_identical(smoke, tmp_path, monkeypatch, caplog):
  config, train, full, expected = smoke
  make_step = pretrain.step_lib.make_train_step
  calls = []

  def make_step_sending_sigterm(*args, **kwargs):
    step_fn = make_step(*args, **kwargs)

    def step(state, batch):
      calls.append(1)
      if len(calls) == 3:  # the signal arrives while step 3 runs
        os.kill(os.getpid(), signal.SIGTERM)
      return step_fn(state, batch)
    return step

  monkeypatch.setattr(pretrain.step_lib, "make_train_step", make_step_sending_sigterm)
  workdir = tmp_path / "run"
  with caplog.at_level(logging.WARNING, logger="skel_jax"):
    with pytest.raises(preemption.Preempted) as info:
      pretrain.pretrain(config, str(workdir), train=train)
  assert (info.value.signal_name, info.value.step, info.value.total_steps) == ("SIGTERM", 3, 8)
  assert str(info.value) == (
      f"stopped by SIGTERM after step 3 of 8; checkpoint written to {workdir}/checkpoints; run "
      "the same command again to continue from step 3")
  assert str(info.value) in caplog.text
  assert sorted(os.listdir(workdir / "checkpoints")) == ["3"]
  assert _rows(workdir) == [1, 2, 3]
  assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the handler is removed again

  monkeypatch.setattr(pretrain.step_lib, "make_train_step", make_step)
  final = pretrain.pretrain(config, str(workdir), train=train)
  assert int(final.step) == 8
  _assert_same_params(jax.device_get(final.params), expected)
  assert _rows(workdir) == list(range(1, 9))
  full_losses = {r["step"]: r["train/loss"] for r in metrics_writer.read_metrics_jsonl(full)}
  for row in metrics_writer.read_metrics_jsonl(workdir):
    assert row["train/loss"] == full_losses[row["step"]]


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(smoke, tmp_path, caplog):
  config, train, full, expected = smoke
  workdir = tmp_path / "run"
  shutil.copytree(full, workdir)
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]
  data_dir = workdir / "checkpoints" / "8" / "state" / "ocdbt.process_0" / "d"
  largest = max(data_dir.iterdir(), key=lambda p: p.stat().st_size)
  largest.write_bytes(largest.read_bytes()[:100])  # a truncated copy or a full disk
  leftover = workdir / "checkpoints" / "9.orbax-checkpoint-tmp-1733000000"
  leftover.mkdir()  # what a run killed while saving leaves behind
  (leftover / "partial").write_bytes(b"x" * 1000)
  with caplog.at_level(logging.WARNING, logger="skel_jax"):
    final = pretrain.pretrain(config, str(workdir), train=train)
  assert f"checkpoint {workdir}/checkpoints/8 is unreadable" in caplog.text
  assert "resuming from step 4, the newest readable checkpoint; unreadable steps [8] moved to " \
      f"{workdir}/checkpoints.unreadable" in caplog.text
  assert int(final.step) == 8
  _assert_same_params(jax.device_get(final.params), expected)
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4", "8"]
  assert [p.split("-")[0] for p in os.listdir(workdir / "checkpoints.unreadable")] == ["8"]
  assert _rows(workdir) == list(range(1, 9))


@pytest.fixture
def python_sigint():
  """Python's own SIGINT handler, as in an interactive run: a suite started in the background
  (`cmd &` in a script) inherits an ignored SIGINT, which StopSignals rightly keeps."""
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  yield
  signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint")
def test_stop_signals_sets_a_flag_and_a_second_signal_interrupts():
  with preemption.StopSignals() as stop:
    assert stop.requested is None
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.requested == "SIGINT"
    with pytest.raises(KeyboardInterrupt):  # SIGINT's own default: Ctrl-C twice stops now
      os.kill(os.getpid(), signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_stop_signals_keep_an_ignored_sigint_ignored():
  previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's disposition
  try:
    with preemption.StopSignals() as stop:
      os.kill(os.getpid(), signal.SIGINT)
      assert stop.requested == "SIGINT"
      os.kill(os.getpid(), signal.SIGINT)  # the second one falls back to ignoring: no interrupt
      assert stop.requested == "SIGINT"
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
  finally:
    signal.signal(signal.SIGINT, previous)
