"""Results bookkeeping: `results.json` (machine-readable) and `results.md` (a readable table).

Every protocol writes its metrics under its own name (`linear`, `knn`, `semi_10pct`, ...).
`results.json` maps protocol -> {metric: value, ...} plus a `_time` stamp; it is rewritten
atomically (temporary file + os.replace), so a killed run never leaves a half-written file.
`results.md` is regenerated from it after every write: one row per (protocol, metric), with
the linear accuracies labelled "final (last epoch)" or "best of evaluations (selected on the
test set, as the reference repos report)".
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from typing import Any

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"

_LABELS = {
    "_final": "final (last epoch)",
    "_best_of_evals": "best of evaluations (selected on the test set, as the reference reports)",
}


def _atomic_write(path: str, text: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=".tmp_", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def _plain(value: Any) -> Any:
  """JSON-friendly scalars (numpy / jax scalars become Python numbers)."""
  if isinstance(value, Mapping):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
    return value.item()
  return value


def read_results(workdir: str) -> dict:
  """The results of a workdir ({} when there are none yet)."""
  path = os.path.join(workdir, RESULTS_JSON)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def describe(metric: str) -> str:
  """A metric name with its meaning spelled out where it matters (final vs best)."""
  for suffix, label in _LABELS.items():
    if metric.endswith(suffix):
      return f"{metric[:-len(suffix)]}: {label}"
  return metric


def format_value(value: Any) -> str:
  if isinstance(value, float):
    return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.4f}"
  return str(value)


def format_table(results: Mapping[str, Mapping[str, Any]]) -> str:
  """Markdown table with one row per (protocol, metric)."""
  lines = ["| protocol | metric | value |", "|---|---|---|"]
  for protocol in sorted(results):
    metrics = results[protocol]
    if not isinstance(metrics, Mapping):
      continue
    for metric, value in metrics.items():
      if metric.startswith("_") or isinstance(value, (Mapping, list)):
        continue
      lines.append(f"| {protocol} | {describe(metric)} | {format_value(value)} |")
  return "\n".join(lines) + "\n"


def write_results(workdir: str, protocol: str, metrics: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> dict:
  """Merges `metrics` (and `extra`, e.g. the labelled subset used) under `protocol`.

  Returns:
    The whole results dict after the merge.
  """
  results = read_results(workdir)
  entry = dict(_plain(metrics))
  if extra:
    entry.update(_plain(extra))
  entry["_time"] = time.strftime("%Y-%m-%d %H:%M:%S")
  results[protocol] = entry
  _atomic_write(os.path.join(workdir, RESULTS_JSON), json.dumps(results, indent=2,
                                                                sort_keys=True) + "\n")
  header = f"# Results: {os.path.basename(os.path.abspath(workdir))}\n\n"
  _atomic_write(os.path.join(workdir, RESULTS_MD), header + format_table(results))
  return results
