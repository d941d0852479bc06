"""Orbax checkpoints of the whole train state plus the input-pipeline position.

The data order is a pure function of (seed, epoch) (skel_jax.data.pipeline), so the step
number fully determines where the input pipeline stands; it is saved next to the state
(as JSON metadata: step, epoch, batch-in-epoch, seed) so that a resumed run continues
exactly as an uninterrupted one (tests/test_resume.py).

A run killed while writing leaves an `*.orbax-checkpoint-tmp*` folder; orbax only renames a
checkpoint to its final name once complete, so such folders are never read and are deleted
when the next run opens the directory. A final checkpoint can still be damaged later (a full
disk, a truncated copy): `restore` then falls back to the newest readable one, with a
warning, and moves the unreadable ones to `{workdir}/checkpoints.unreadable/` so that the
resumed run can write those steps again.
"""

from __future__ import annotations

import logging
import os
import time

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)

UNREADABLE_DIRNAME = "checkpoints.unreadable"


class UnreadableCheckpointError(RuntimeError):
  """No checkpoint of a run can be read."""


class Checkpointer:
  """A CheckpointManager under `{workdir}/checkpoints` saving `state` and `position`."""

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, "checkpoints")
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                           cleanup_tmp_directories=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, position: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), position=ocp.args.JsonSave(position)))

  def _restore_step(self, abstract, step: int):
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), position=ocp.args.JsonRestore()))
    return restored.state, restored.position

  def restore(self, state_template, step: int | None = None):
    """Restores (state, position) onto the template's shardings.

    Args:
      state_template: a state of the right structure, shapes and shardings.
      step: the step to restore; None: the newest readable checkpoint (a newer, unreadable
        one is logged as a warning and moved to `{workdir}/checkpoints.unreadable/`).

    Raises:
      FileNotFoundError: when there is no checkpoint.
      UnreadableCheckpointError: when no checkpoint can be read (nothing is moved then).
    """
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state_template)
    if step is not None:
      return self._restore_step(abstract, step)
    steps = sorted(self.manager.all_steps(), reverse=True)
    if not steps:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    failed = []
    for s in steps:
      try:
        restored = self._restore_step(abstract, s)
      except Exception as e:  # orbax/tensorstore raise bare Exceptions for damaged files
        failed.append(s)
        log.warning("checkpoint %s is unreadable (%s); trying an older one",
                    os.path.join(self.directory, str(s)), _first_line(e))
        continue
      if failed:
        self._set_aside(failed)
        log.warning("resuming from step %d, the newest readable checkpoint; unreadable steps "
                    "%s moved to %s", s, failed, os.path.join(self.workdir, UNREADABLE_DIRNAME))
      return restored
    raise UnreadableCheckpointError(
        f"{self.directory}: no checkpoint can be read (steps {steps}); move the folder away to "
        "start the run over")

  def _set_aside(self, steps: list[int]) -> None:
    """Moves unreadable step folders out of the manager's directory (and its step list)."""
    self.manager.wait_until_finished()
    dest = os.path.join(self.workdir, UNREADABLE_DIRNAME)
    os.makedirs(dest, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for s in steps:
      os.rename(os.path.join(self.directory, str(s)), os.path.join(dest, f"{s}-{stamp}"))
    self.manager.reload()

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _first_line(e: BaseException) -> str:
  lines = str(e).strip().splitlines()
  first = lines[0] if lines else ""
  return f"{type(e).__name__}: {first[:200]}"
