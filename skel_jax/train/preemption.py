"""Stopping a training run cleanly on SIGTERM or SIGINT.

Colab, TPU VMs, SLURM and Kubernetes send SIGTERM some seconds before they take a machine;
Ctrl-C sends SIGINT. While `StopSignals` is active, either signal only sets a flag: the
training loop finishes its current step, writes a checkpoint and raises `Preempted`, which
the command line turns into a log line and exit status 0. The rerun resumes from that
checkpoint and continues bit-identically (tests/test_preemption.py). A second signal while
stopping restores the default action and re-sends it, so pressing Ctrl-C twice still kills
the process at once.
"""

from __future__ import annotations

import signal
import threading

HANDLED = (signal.SIGTERM, signal.SIGINT)


class Preempted(Exception):
  """Training stopped on a signal after writing a checkpoint; rerun the command to continue."""

  def __init__(self, signal_name: str, step: int, total_steps: int, checkpoint_dir: str):
    self.signal_name = signal_name
    self.step = step
    self.total_steps = total_steps
    self.checkpoint_dir = checkpoint_dir
    super().__init__(
        f"stopped by {signal_name} after step {step} of {total_steps}; checkpoint written to "
        f"{checkpoint_dir}; run the same command again to continue from step {step}")


class StopSignals:
  """Context manager: SIGTERM and SIGINT set `requested` (the signal's name) instead of killing.

  Signal handlers can only be installed from the main thread; elsewhere (a notebook's
  worker thread) this is a no-op and `requested` stays None.
  """

  def __init__(self):
    self.requested: str | None = None
    self._previous: dict = {}

  def _handle(self, signum, frame):
    del frame
    if self.requested is not None:  # a second signal: stop now, the default way
      signal.signal(signum, self._previous.get(signum) or signal.SIG_DFL)
      signal.raise_signal(signum)
      return
    self.requested = signal.Signals(signum).name

  def __enter__(self) -> StopSignals:
    if threading.current_thread() is threading.main_thread():
      for signum in HANDLED:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous = {}
