"""Executes experiments/colab_tpu.ipynb top to bottom on the CPU with SMOKE = True (nbclient).

The parameters are overridden the way papermill does it: a cell inserted after the one tagged
"parameters". The kernel is this interpreter (a kernelspec written to a temporary
JUPYTER_PATH), so it imports the checkout under test and the install cell is skipped. XLA's
heavy optimisations are off and compilations are cached, as in the other tests.
"""

import json
import os
import sys

import pytest

from tests.conftest import REPO_ROOT

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install -e .[test])")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install -e .[test])")
pytest.importorskip("ipykernel", reason="ipykernel not installed (pip install -e .[test])")

NOTEBOOK = REPO_ROOT / "experiments" / "colab_tpu.ipynb"
KERNEL = "skel_jax_test_kernel"


def _parameters_index(nb) -> int:
  tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
  assert len(tagged) == 1, "the notebook needs exactly one cell tagged 'parameters'"
  return tagged[0]


def test_notebook_has_a_smoke_parameter():
  nb = nbformat.read(NOTEBOOK, as_version=4)
  source = nb.cells[_parameters_index(nb)].source
  assert "SMOKE = False" in source and "METHOD = " in source
  assert nb.cells[0].cell_type == "markdown"


def test_install_cell_keeps_a_preinstalled_jax_within_setup_ranges():
  """The install cell pins no JAX version: it installs an accelerator build only when the
  preinstalled one is outside setup.py's range, and that range is the one it checks."""
  nb = nbformat.read(NOTEBOOK, as_version=4)
  install = next(c.source for c in nb.cells if c.cell_type == "code" and "pip" in c.source)
  assert "==" not in install  # no exact pin of jax or jaxlib
  line = next(s for s in install.splitlines() if s.startswith("JAX_RANGE = "))
  jax_range = line.split('"')[1]
  setup = (REPO_ROOT / "setup.py").read_text()
  assert f'"jax{jax_range}"' in setup and f'"jaxlib{jax_range}"' in setup


def _kernelspec(root) -> None:
  folder = root / "kernels" / KERNEL
  folder.mkdir(parents=True)
  spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
          "display_name": "skel_jax tests", "language": "python"}
  (folder / "kernel.json").write_text(json.dumps(spec))


def test_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
  pytest.importorskip("skel_jax.evaluate.results",
                      reason="skel_jax/evaluate/results.py (imported by skel_jax.run) missing")
  nb = nbformat.read(NOTEBOOK, as_version=4)
  workdir = tmp_path / "run"
  injected = nbformat.v4.new_code_cell(
      f"SMOKE = True\nMETHOD = 'skeletonclr'\nWORKDIR = {str(workdir)!r}",
      metadata={"tags": ["injected-parameters"]})
  nb.cells.insert(_parameters_index(nb) + 1, injected)

  _kernelspec(tmp_path / "jupyter")
  monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
  cache = os.environ.get("SKEL_JAX_TEST_JAX_CACHE",
                         os.path.join(os.path.expanduser("~"), ".cache", "skel_jax", "jax_tests"))
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", cache)
  monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")

  client = nbclient.NotebookClient(nb, timeout=600, kernel_name=KERNEL,
                                   resources={"metadata": {"path": str(REPO_ROOT)}})
  client.execute()

  outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
  text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
  assert "skel_jax is importable" in text  # the install cell did nothing
  assert "linear_top1" in text and "knn_top1" in text
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) >= 2  # the training curves and the t-SNE plot
  assert (workdir / "metrics.jsonl").is_file() and (workdir / "results.json").is_file()
