"""experiments/memory_profile.py: XLA's memory analysis of a compiled train step."""

import pathlib

import pytest

from tests.conftest import load_script

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "memory_profile.py"


@pytest.fixture(scope="module")
def profile():
  return load_script(SCRIPT, "memory_profile")


def test_step_temporaries_grow_with_the_batch(profile, capsys):
  # A tiny SkeletonCLR step at two batches: the activations kept for the backward pass grow
  # with the batch, the state (the 32768-row queue dominates) does not. Eight times the batch:
  # at batch 4 a part that does not grow with it (the Winograd form's transformed 256 x 256
  # filters among it) is more than half of the temporaries (34, 67, 113 MB at 4, 16, 32).
  small = profile.step_memory("skeletonclr", batch=4, frames=8, hidden=4)
  large = profile.step_memory("skeletonclr", batch=32, frames=8, hidden=4)
  if small["backend"] != "cpu":
    pytest.skip("sizes below are those of XLA:CPU")
  assert large["temp_gb"] > 2 * small["temp_gb"] > 0
  queue_gb = 32768 * 128 * 4 / 1e9
  assert small["argument_gb"] > queue_gb
  assert abs(large["argument_gb"] - small["argument_gb"]) < 0.01
  assert small["conv_impl"] == "matmul" and small["method"] == "skeletonclr"
