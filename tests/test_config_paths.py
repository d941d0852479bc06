"""`--config=configs/<method>.py` resolves from any working directory and in an installed package."""

import os

import pytest

from skel_jax import config_lib
from tests.conftest import REPO_ROOT


def test_config_paths_resolve_from_another_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path = config_lib.resolve_config_path("configs/aimclr.py")
  assert os.path.samefile(path, REPO_ROOT / "configs" / "aimclr.py")
  assert config_lib.load_config("configs/skelemixclr.py", "smoke").method == "skelemixclr"
  assert config_lib.load_config("skeattnclr", "smoke").method == "skeattnclr"
  argv = config_lib.resolve_config_argv(
      ["main", "--config=configs/aimclr.py:nwucla,stream=bone", "--workdir=w", "--config",
       "configs/skeletonclr.py"])
  assert argv[1] == f"--config={path}:nwucla,stream=bone" and argv[2] == "--workdir=w"
  assert os.path.samefile(argv[4], REPO_ROOT / "configs" / "skeletonclr.py")
  # A file of the working directory wins over the shipped one.
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "aimclr.py").write_text("def get_config(arg=None):\n  return arg\n")
  assert config_lib.load_config("configs/aimclr.py", "mine") == "mine"
  with pytest.raises(FileNotFoundError, match=r"config file 'configs/nope.py' not found .*"
                     r"shipped configs: \['aimclr.py', 'skeattnclr.py', 'skelemixclr.py', "
                     r"'skeletonclr.py'\]"):
    config_lib.resolve_config_path("configs/nope.py")

