"""Data parallelism: the same steps on 1 and on 4 forced CPU devices give the same result.

The device count is fixed when jax starts, so the comparison runs in a subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (tests/dp_check.py). Every step starts both
programs from the same state, so the tolerance bounds one step's float32 reduction-order error
(the first step, from the ill-conditioned init, by its loss; see dp_check.py).
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT


# AimCLR's step holds SkeletonCLR's (normal views, MoCo queue and key encoder) plus the extreme
# views and D3M; SkeletonCLR's sharded step is also run by tests/test_multiprocess.py (2 x 2
# against 1 x 4 devices), so it is not repeated here (suite time).
@pytest.mark.parametrize("method", ["aimclr"])
def test_one_and_four_devices_agree(method):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  out = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "dp_check.py"), method, "3"],
                       cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  report = json.loads(out.stdout.strip().splitlines()[-1])
  assert report["devices"] == 4
  assert len(report["losses_one"]) == 3
  for a, b in zip(report["losses_one"] + report["first_losses"][:1],
                  report["losses_many"] + report["first_losses"][1:]):
    assert abs(a - b) <= 1e-5 * max(1.0, abs(a)), report
  for field in ("params", "batch_stats", "key_params", "key_batch_stats", "opt_state", "queues"):
    assert report[field] < 1e-5, (field, report)
  # The pointer advanced by the global batch (16) each step, identically on both.
  assert report["queue_ptr"] == [[32, 32], [48, 48], [0, 0]], report
