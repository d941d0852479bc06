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
import time
from collections.abc import Mapping
from typing import Any

from skel_jax import files

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"

_LABELS = {
    "_final": "final (last epoch)",
    "_best_of_evals": "best of evaluations (selected on the test set, as the reference reports)",
}


def _plain(value: Any) -> Any:
  """JSON-friendly scalars (numpy / jax scalars become Python numbers)."""
  if isinstance(value, Mapping):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
    return value.item()
  if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:
    return value.tolist()  # numpy / jax arrays become nested lists
  return value


def read_results(workdir: str) -> dict:
  """The results of a workdir ({} when there are none yet).

  Raises:
    ValueError: when `results.json` is not valid JSON or not a JSON object.
  """
  path = os.path.join(workdir, RESULTS_JSON)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    try:
      results = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{path} is not valid JSON: {e}") from e
  if not isinstance(results, dict):
    raise ValueError(f"{path} must hold a JSON object, got {type(results).__name__}")
  return results


def describe(metric: str) -> str:
  """A metric name with its meaning spelled out where it matters (final vs best)."""
  for suffix, label in _LABELS.items():
    if metric.endswith(suffix):
      return f"{metric[:-len(suffix)]}: {label}"
  # The raw keys of `linear.train_linear` / `finetune` outputs: final_top1, best_top1, ...
  for prefix, suffix in (("final_", "_final"), ("best_", "_best_of_evals")):
    if metric.startswith(prefix) and metric != "best_epoch":
      return f"{metric[len(prefix):]}: {_LABELS[suffix]}"
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


# Baseline tags (evaluate/protocols.py BASELINES): entries `<protocol>_<tag>` hold a baseline's
# result under the protocol of the same name.
BASELINE_TAGS = ("random_init", "raw_input")
# Rows of the gain table come first for these protocols, in this order.
_GAIN_ORDER = ("linear_std", "knn", "linear")


def _headline_metrics(entry: Mapping[str, Any]) -> list[str]:
  """The top-1 accuracies of an entry that the gain table compares: the final epoch of a
  classifier protocol, every k of k-NN (in increasing k)."""
  knn = sorted((m for m in entry if m.startswith("knn_top1@")),
               key=lambda m: int(m.split("@")[1]))
  return knn + [m for m in entry if m.endswith("_top1_final")]


def gain_table(results: Mapping[str, Mapping[str, Any]]) -> str:
  """Markdown table of the pretrained encoder against each baseline, or '' without baselines.

  One row per headline metric of every protocol that has a baseline entry (`<protocol>_
  random_init`, `<protocol>_raw_input`): the pretrained value, each baseline's value and the gain
  in points over each. For fine-tuning and semi-supervised protocols the random-init baseline is
  the same encoder trained from scratch.
  """
  tags = [t for t in BASELINE_TAGS if any(f"{p}_{t}" in results for p in results)]
  if not tags:
    return ""
  protocols = [p for p in results if isinstance(results[p], Mapping)
               and any(f"{p}_{t}" in results for t in tags)]
  protocols.sort(key=lambda p: (_GAIN_ORDER.index(p) if p in _GAIN_ORDER else len(_GAIN_ORDER), p))
  names = {"random_init": "random-init encoder", "raw_input": "raw input"}
  lines = ["| metric (top-1 %) | pretrained | " + " | ".join(names[t] for t in tags) + " | "
           + " | ".join(f"gain over {names[t]}" for t in tags) + " |",
           "|---|---:|" + "---:|" * (2 * len(tags))]
  for protocol in protocols:
    entry = results[protocol]
    for metric in _headline_metrics(entry):
      ours = entry.get(metric)
      if not isinstance(ours, (int, float)):
        continue
      base = [results.get(f"{protocol}_{t}", {}).get(metric) for t in tags]
      cells = [format_value(b) if isinstance(b, (int, float)) else "–" for b in base]
      gains = [f"{ours - b:+.2f}" if isinstance(b, (int, float)) else "–" for b in base]
      label = describe(metric).replace(": final (last epoch)", "")
      if protocol not in (metric.split("_top1")[0], "knn"):
        label = f"{protocol}: {label}"
      lines.append(f"| {label} | {format_value(ours)} | " + " | ".join(cells) + " | "
                   + " | ".join(gains) + " |")
  return "\n".join(lines) + "\n"


def format_markdown(workdir: str, results: Mapping[str, Mapping[str, Any]]) -> str:
  """The whole `results.md`: the gain over the baselines (when evaluated), then every metric."""
  header = f"# Results: {os.path.basename(os.path.abspath(workdir))}\n\n"
  gains = gain_table(results)
  if gains:
    header += ("## Pretrained encoder against the baselines\n\n" + gains
               + "\nlinear_std: scale-invariant probe (standardised features); linear: the "
               "reference's probe; knn: weighted k-NN on L2-normalised features.\n\n"
               "## All metrics\n\n")
  return header + format_table(results)


def write_results(workdir: str, protocol: str, metrics: Mapping[str, Any],
                  extra: Mapping[str, Any] | None = None) -> dict:
  """Stores one protocol's results: its entry is replaced, the other protocols are kept.

  The entry is `{**metrics, **extra, "_time": local time}`; name accuracies with the suffix `_final`
  (last epoch) or `_best_of_evals` (maximum over the periodic test evaluations, i.e. selected on the
  test set, as the reference repositories report) so that the table labels them. Both files are
  written atomically (temporary file in the workdir, fsync, `os.replace`).

  Args:
    workdir: the run's folder (created if missing).
    protocol: protocol name (`linear`, `knn`, `semi_10pct`, ...); no '|' or newline.
    metrics: scalar metrics (numpy / jax scalars are converted).
    extra: optional JSON-serialisable details (settings, context, history...).

  Returns:
    The whole results dict after the merge.

  Raises:
    ValueError: for a bad protocol name or an unreadable existing `results.json`.
  """
  if not protocol or "|" in protocol or "\n" in protocol:
    raise ValueError(f"bad protocol name {protocol!r}: must be non-empty, without '|' or "
                     "newlines")
  results = read_results(workdir)
  entry = dict(_plain(metrics))
  if extra:
    entry.update(_plain(extra))
  entry["_time"] = time.strftime("%Y-%m-%d %H:%M:%S")
  results[protocol] = entry
  files.atomic_write(os.path.join(workdir, RESULTS_JSON), json.dumps(results, indent=2,
                                                                sort_keys=True) + "\n")
  files.atomic_write(os.path.join(workdir, RESULTS_MD), format_markdown(workdir, results))
  return results
