"""The command line reports errors a user causes in one or two lines, with a non-zero status.

The flag messages are checked in-process (a private FlagValues, the same ml_collections
parsing); one subprocess per exit path checks the status and the exact output.
"""

import os
import subprocess
import sys

import pytest
from absl import flags
from ml_collections import config_flags

from skel_jax import main as cli
from tests.conftest import REPO_ROOT


def _parse_error(argv):
  values = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "config", flag_values=values)
  with pytest.raises(Exception) as info:  # whatever absl / ml_collections raise
    cli._check_config_file(argv)  # pylint: disable=protected-access
    values(argv)
  return cli.flag_error_message(info.value, argv)


def test_flag_errors_are_one_line(monkeypatch):
  monkeypatch.chdir(REPO_ROOT)
  assert _parse_error(["prog", "--config=configs/skeletonclr.py:nwucl"]).startswith(
      "--config=configs/skeletonclr.py:nwucl: unknown config preset 'nwucl'; known: ('demo', ")
  assert _parse_error(["prog", "--config=configs/nope.py"]) == (
      "--config=configs/nope.py: config file configs/nope.py not found; use configs/<method>.py "
      "with a method of skeletonclr, aimclr, skelemixclr, skeattnclr")
  assert _parse_error(["prog"]) == (
      "--config is required, e.g. --config=configs/skeletonclr.py:demo")
  # The garbled message ml_collections gives for a misspelt override (as the CLI sees it).
  typo = AttributeError(KeyError("'epoch'\nDid you mean \"epochs\" instead of \"epoch\"?"))
  assert cli.flag_error_message(typo, ["prog", "--config.optim.epoch=3"]) == (
      "--config.optim.epoch: the config has no field 'epoch'. Did you mean \"epochs\" instead "
      "of \"epoch\"?")


def _cli(*args, env=None):
  env = dict(os.environ, **(env or {}))
  env.pop("SKEL_JAX_DATA_DIR", None)
  env["PYTHONPATH"] = str(REPO_ROOT)
  return subprocess.run([sys.executable, "-m", "skel_jax.main", *args], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=300, check=False)


def test_cli_config_typo_exits_2_with_two_lines():
  done = _cli("--config=configs/skeletonclr.py:smoke", "--config.optim.epoch=3")
  assert done.returncode == 2
  assert done.stderr.splitlines()[-2:] == [
      "error: --config.optim.epoch: the config has no field 'epoch'. Did you mean \"epochs\" "
      "instead of \"epoch\"?",
      "see: python -m skel_jax.main --help"]
  assert "Traceback" not in done.stderr


def test_cli_missing_dataset_exits_1_without_traceback_unless_verbose(tmp_path):
  args = ["--config=configs/skeletonclr.py:ntu60_xsub", f"--workdir={tmp_path}",
          "--mode=pretrain"]
  done = _cli(*args)
  assert done.returncode == 1
  assert "Traceback" not in done.stderr
  assert done.stderr.startswith("error: dataset 'ntu60_xsub' is not prepared: no data folder "
                                "given")
  verbose = _cli(*args, "--verbose")
  assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr
  assert "DatasetNotFoundError" in verbose.stderr


def test_help_lists_methods_and_presets():
  done = _cli("--help")  # absl exits with status 1 after the help text
  assert "Methods (configs/<method>.py): skeletonclr, aimclr, skelemixclr, skeattnclr." in (
      done.stdout)
  assert "--[no]verbose" in done.stdout and "ntu120_xset" in done.stdout


def test_cli_unknown_allocator_mode_exits_1_naming_the_variable(tmp_path):
  done = _cli("--config=configs/skeletonclr.py:smoke", f"--workdir={tmp_path}",
              env={"SKEL_JAX_MALLOC": "jemalloc"})
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1] == (
      "error: SKEL_JAX_MALLOC='jemalloc': expected one of ('heap', 'system')")
  assert os.listdir(tmp_path) == []  # stopped before anything was written
