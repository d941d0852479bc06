"""Orbax checkpoints of the whole train state plus the input-pipeline position.

The data order is a pure function of (seed, epoch) (skel_jax.data.pipeline), so the step
number fully determines where the input pipeline stands; it is saved next to the state
(as JSON metadata: step, epoch, batch-in-epoch, seed) so that a resumed run continues
exactly as an uninterrupted one (tests/test_resume.py).
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """A CheckpointManager under `{workdir}/checkpoints` saving `state` and `position`."""

  def __init__(self, workdir: str, *, max_to_keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, position: dict) -> None:
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), position=ocp.args.JsonSave(position)))

  def restore(self, state_template, step: int | None = None):
    """Restores (state, position) at `step` (default: latest) onto the template's shardings."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state_template)
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), position=ocp.args.JsonRestore()))
    return restored.state, restored.position

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
