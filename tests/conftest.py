"""Shared pytest fixtures: the real data beside the checkout, skipped with a reason if absent."""

import importlib.util
import os
import pathlib
import sys
import types

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_script(path: str | os.PathLike, name: str) -> types.ModuleType:
  """Imports a file that is not in a package (a config, an experiments/ script) as `name`.

  The module is registered in `sys.modules` first, as a normal import would, so that
  dataclasses and pickling inside it can find their module.
  """
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  spec.loader.exec_module(module)
  return module


def shared_dir() -> pathlib.Path:
  """`$SKEL_JAX_SHARED_DATA` or `../shared/data` relative to the repository root."""
  env = os.environ.get("SKEL_JAX_SHARED_DATA")
  return pathlib.Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def fixtures_dir() -> pathlib.Path:
  """The reference fixtures beside the data folder (`../shared/fixtures`)."""
  return shared_dir().parent / "fixtures"


@pytest.fixture(scope="session")
def nw_ucla_dir() -> pathlib.Path:
  path = shared_dir() / "nw-ucla"
  if not (path / "all_sqe").is_dir():
    pytest.skip(f"NW-UCLA data not found at {path} (set SKEL_JAX_SHARED_DATA)")
  return path


@pytest.fixture(scope="session")
def ntu_samples_dir() -> pathlib.Path:
  path = shared_dir() / "ntu-samples"
  if not path.is_dir():
    pytest.skip(f"NTU sample files not found at {path} (set SKEL_JAX_SHARED_DATA)")
  return path


@pytest.fixture(scope="session")
def reference_fixture_dir() -> pathlib.Path:
  path = fixtures_dir() / "aimclr_stgcn_reference"
  if not path.is_dir():
    pytest.skip(f"reference ST-GCN fixtures not found at {path}")
  return path


def _configure_jax_for_tests():
  """Fast compiles for the tiny test models: XLA's heavy optimisations off, and a persistent
  compilation cache so that the same train step compiled by several tests (or several runs in
  one test, e.g. resume) is compiled once per session."""
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update("jax_disable_most_optimizations", True)
  cache = os.environ.get("SKEL_JAX_TEST_JAX_CACHE",
                         os.path.join(os.path.expanduser("~"), ".cache", "skel_jax", "jax_tests"))
  jax.config.update("jax_compilation_cache_dir", cache)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


_configure_jax_for_tests()
