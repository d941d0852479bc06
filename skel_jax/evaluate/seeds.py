"""Runs over several seeds: the mean, standard deviation and worst seed of every accuracy.

A multi-seed run (`python -m skel_jax.main ... --seeds=0,1,2`) keeps one complete run per seed
in `{workdir}/seed_<s>/` and writes the aggregate into `{workdir}/results.json` /
`results.md`. Each aggregated entry holds, per accuracy metric of the seed runs' entry of the
same name, the mean over seeds under the metric's own name, `<metric>_std` (sample standard
deviation, ddof = 1; 0 for one seed), `<metric>_worst` (the lowest seed) and the per-seed values
under `per_seed`. Only metrics present in every seed's run are aggregated, so a seed whose
evaluation is missing is visible instead of silently dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import numpy as np

from skel_jax import files
from skel_jax.evaluate import results as results_lib

SEED_DIR_RE = re.compile(r"^seed_(\d+)$")


def seed_dir(workdir: str, seed: int) -> str:
  """The folder of one seed's run."""
  return os.path.join(workdir, f"seed_{int(seed)}")


def parse_seeds(text: str) -> tuple[int, ...]:
  """'0,1,2' -> (0, 1, 2); '0-4' -> (0, 1, 2, 3, 4).

  Raises:
    ValueError: an empty list, a non-integer, a negative or a repeated seed.
  """
  seeds: list[int] = []
  for item in filter(None, (t.strip() for t in text.split(","))):
    try:
      if "-" in item[1:]:
        lo, hi = item.split("-", 1)
        seeds.extend(range(int(lo), int(hi) + 1))
      else:
        seeds.append(int(item))
    except ValueError as e:
      raise ValueError(f"--seeds={text!r}: {item!r} is not a seed or a range a-b") from e
  if not seeds:
    raise ValueError(f"--seeds={text!r}: no seed given")
  if min(seeds) < 0 or len(set(seeds)) != len(seeds):
    raise ValueError(f"--seeds={text!r}: seeds must be distinct non-negative integers")
  return tuple(seeds)


def is_accuracy(metric: str) -> bool:
  """Accuracy metrics (percent) are aggregated; timings, epochs and settings are not."""
  return "top1" in metric or "top5" in metric


def aggregate(per_seed: Mapping[int, Mapping[str, Mapping]]) -> dict[str, dict]:
  """protocol -> aggregated entry, from `{seed: results.json dict}`.

  Args:
    per_seed: the results of each seed's run.

  Returns:
    For every protocol present in all seeds, `{metric: mean, metric_std: std, metric_worst:
    min, 'per_seed': {metric: [values in seed order]}, 'seeds': [seeds]}` over the accuracy
    metrics present in all of them.
  """
  seeds = sorted(per_seed)
  if not seeds:
    return {}
  protocols = set.intersection(*(set(k for k, v in per_seed[s].items() if isinstance(v, Mapping))
                                 for s in seeds))
  out = {}
  for protocol in sorted(protocols):
    entries = [per_seed[s][protocol] for s in seeds]
    metrics = [m for m, v in entries[0].items()
               if is_accuracy(m) and isinstance(v, (int, float)) and not isinstance(v, bool)
               and all(isinstance(e.get(m), (int, float)) for e in entries)]
    if not metrics:
      continue
    entry: dict = {"seeds": seeds, "per_seed": {}}
    for m in metrics:
      values = np.asarray([float(e[m]) for e in entries], np.float64)
      entry[m] = float(values.mean())
      entry[f"{m}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
      entry[f"{m}_worst"] = float(values.min())
      entry["per_seed"][m] = values.tolist()
    context = entries[0].get("context")
    if isinstance(context, Mapping):
      entry["context"] = {k: v for k, v in context.items() if k not in ("checkpoint_step",)}
    out[protocol] = entry
  return out


def format_cell(entry: Mapping, metric: str) -> str:
  """'mean ± std (worst w)' of one aggregated metric."""
  return (f"{entry[metric]:.1f} ± {entry.get(metric + '_std', 0.0):.1f} "
          f"(worst {entry.get(metric + '_worst', entry[metric]):.1f})")


def format_markdown(workdir: str, agg: Mapping[str, Mapping], seeds: Sequence[int]) -> str:
  """`results.md` of a multi-seed run: one row per (protocol, accuracy metric)."""
  lines = [f"# Results: {os.path.basename(os.path.abspath(workdir))}, seeds "
           f"{', '.join(str(s) for s in seeds)}", "",
           "Mean ± sample standard deviation over the seeds, and the worst seed (top-1 %).", ""]
  gains = _gain_rows(agg)
  if gains:
    lines += ["## Pretrained encoder against the baselines", "",
              "| metric | pretrained | random-init encoder | raw input |", "|---|---|---|---|",
              *gains, ""]
  lines += ["## All accuracies", "", "| protocol | metric | mean ± std (worst) | per seed |",
            "|---|---|---|---|"]
  for protocol in sorted(agg):
    entry = agg[protocol]
    for metric, values in entry["per_seed"].items():
      per = ", ".join(f"{v:.1f}" for v in values)
      lines.append(f"| {protocol} | {results_lib.describe(metric)} | "
                   f"{format_cell(entry, metric)} | {per} |")
  return "\n".join(lines) + "\n"


def _gain_rows(agg: Mapping[str, Mapping]) -> list[str]:
  rows = []
  for protocol in ("linear_std", "knn", "linear"):
    entry = agg.get(protocol)
    if not entry:
      continue
    for metric in entry["per_seed"]:
      if not (metric.endswith("_top1_final") or metric.startswith("knn_top1@")):
        continue
      cells = []
      for tag in results_lib.BASELINE_TAGS:
        base = agg.get(f"{protocol}_{tag}")
        cells.append(format_cell(base, metric) if base and metric in base else "–")
      rows.append(f"| {protocol}: {results_lib.describe(metric)} | "
                  f"{format_cell(entry, metric)} | " + " | ".join(cells) + " |")
  return rows


def write_summary(workdir: str, seeds: Sequence[int]) -> dict[str, dict]:
  """Aggregates `{workdir}/seed_<s>/results.json` over `seeds` into `{workdir}/results.json`
  and `results.md` (atomically); returns the aggregate.

  Raises:
    FileNotFoundError: a seed without results.
  """
  per_seed = {}
  for s in seeds:
    res = results_lib.read_results(seed_dir(workdir, s))
    if not res:
      raise FileNotFoundError(f"{seed_dir(workdir, s)} has no results.json: that seed's run "
                              "did not evaluate")
    per_seed[int(s)] = res
  agg = aggregate(per_seed)
  import json  # pylint: disable=g-import-not-at-top
  files.atomic_write(os.path.join(workdir, results_lib.RESULTS_JSON),
                     json.dumps({**agg, "_seeds": list(seeds)}, indent=2, sort_keys=True) + "\n")
  files.atomic_write(os.path.join(workdir, results_lib.RESULTS_MD),
                     format_markdown(workdir, agg, seeds))
  return agg
