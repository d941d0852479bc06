r"""Side-by-side comparison of finished runs: a markdown table and PNG curves.

    python -m skel_jax.report WORKDIR [WORKDIR ...] [--out=report_dir] [--noplots]

Each WORKDIR is a run directory (with `results.json`, `config.json`, `metrics.jsonl`) or a
multi-stream directory from `--mode=three_stream`, whose stream runs (`joint/`, `motion/`,
`bone/`) are added as columns of their own next to the fusion. The table (printed on stdout and
written to `{out}/report.md`) has one column per run and one row per protocol metric, with
the run's method, dataset, stream and evaluated weights on top. Accuracies from classifier
protocols come in two labelled rows: "final (last epoch)" and "best of evaluations (selected on
the test set, as the reference reports)"; the reference repos report the latter. The KNN
monitor of pretraining (when it ran) adds its last and best values.

Per run, `{out}/<run>_curves.png` shows the pretraining loss, the KNN monitor, and the test
accuracy of the linear / fine-tune / semi-supervised evaluations over their epochs; the t-SNE
plot written by the evaluation (`tsne*.png`) is copied to `{out}/<run>_tsne*.png`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from collections.abc import Sequence

from absl import flags

from skel_jax import cli, files
from skel_jax.data import streams as streams_lib
from skel_jax.evaluate import results as results_lib
from skel_jax.evaluate import seeds as seeds_lib

_SKIPPED_SUFFIXES = ("_seconds",)


@dataclasses.dataclass
class RunInfo:
  """One column of the report."""

  label: str
  path: str
  config: dict
  results: dict
  metrics: list[dict]  # metrics.jsonl rows ([] when absent)


def _read_json(path: str) -> dict:
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)


def _read_metrics(path: str) -> list[dict]:
  if not os.path.isfile(os.path.join(path, "metrics.jsonl")):
    return []
  from skel_jax.train import metrics_writer  # pylint: disable=g-import-not-at-top
  return metrics_writer.read_metrics_jsonl(path)


def _has_run(path: str) -> bool:
  return any(os.path.isfile(os.path.join(path, f)) for f in
             ("results.json", "metrics.jsonl", "config.json"))


def expand_workdirs(workdirs: Sequence[str]) -> list[str]:
  """The run folders: each workdir, followed by its stream sub-runs (three_stream layout).

  Raises:
    FileNotFoundError: a workdir that is not a run folder.
  """
  out = []
  for w in workdirs:
    subs = [os.path.join(w, s) for s in streams_lib.STREAMS if _has_run(os.path.join(w, s))]
    if not _has_run(w) and not subs:
      raise FileNotFoundError(f"{w}: no results.json, metrics.jsonl or config.json (not a run)")
    if _has_run(w):
      out.append(w)
    out.extend(subs)
  return out


def _labels(paths: Sequence[str]) -> list[str]:
  """Short unique names: the paths relative to the parent of their common folder."""
  absolute = [os.path.abspath(p) for p in paths]
  if len(absolute) == 1:
    return [os.path.basename(absolute[0].rstrip("/")) or absolute[0]]
  common = os.path.commonpath(absolute)
  base = os.path.dirname(common) if common in absolute else common
  return [os.path.relpath(p, base) for p in absolute]


def load_runs(workdirs: Sequence[str]) -> list[RunInfo]:
  """Reads every run folder (see `expand_workdirs`)."""
  paths = expand_workdirs(workdirs)
  return [RunInfo(label, p, _read_json(os.path.join(p, "config.json")),
                  results_lib.read_results(p), _read_metrics(p))
          for label, p in zip(_labels(paths), paths)]


def _context(run: RunInfo) -> dict:
  for entry in run.results.values():
    if isinstance(entry, dict) and isinstance(entry.get("context"), dict):
      return entry["context"]
  return {}


def _header_rows(run: RunInfo) -> dict[str, str]:
  c = run.config
  ctx = _context(run)
  data = c.get("data", {})
  fusion = next((e for k, e in run.results.items() if k.startswith("fusion_")), None)
  stream = data.get("stream", ctx.get("stream", ""))
  if fusion is not None:
    stream = "+".join(fusion.get("streams", [])) or "fusion"
  seeds = run.results.get("_seeds")
  return {
      "seeds": ", ".join(str(x) for x in seeds) if isinstance(seeds, list) else "–",
      "method": str(c.get("method", ctx.get("method", ""))),
      "dataset": str(data.get("dataset", ctx.get("dataset", ""))),
      "stream": str(stream),
      "pretrain epochs": str(c.get("optim", {}).get("epochs", "")),
      "weights": str(ctx.get("weights", "")),
  }


def metric_rows(runs: Sequence[RunInfo]) -> list[tuple[str, list]]:
  """(row label, value per run) for every numeric protocol metric and the KNN monitor."""
  keys: list[tuple[str, str]] = []
  for run in runs:
    for protocol in sorted(run.results):
      entry = run.results[protocol]
      if not isinstance(entry, dict):
        continue
      for metric, value in entry.items():
        if (metric.startswith("_") or not isinstance(value, (int, float))
            or isinstance(value, bool) or metric.endswith(_SKIPPED_SUFFIXES)):
          continue
        if _is_spread(entry, metric):  # shown inside its mean's cell (multi-seed runs)
          continue
        if (protocol, metric) not in keys:
          keys.append((protocol, metric))
  keys.sort(key=lambda key: key[0])  # grouped by protocol; metrics keep their order
  rows = [(f"{p}: {results_lib.describe(m)}",
           [_value(run.results.get(p, {}), m) for run in runs]) for p, m in keys]
  knn_names = sorted({k for run in runs for row in run.metrics for k in row
                      if k.startswith("knn/top1@")})
  for name in knn_names:
    last, best = [], []
    for run in runs:
      values = [r[name] for r in run.metrics if name in r]
      last.append(values[-1] if values else None)
      best.append(max(values) if values else None)
    rows.append((f"KNN monitor (pretraining) {name[4:]}: last", last))
    rows.append((f"KNN monitor (pretraining) {name[4:]}: best (selected on the test set)", best))
  return rows


def _is_spread(entry: dict, metric: str) -> bool:
  """Whether `metric` is the `_std` / `_worst` companion of an aggregated multi-seed mean."""
  return any(metric.endswith(s) and metric[:-len(s)] in entry for s in ("_std", "_worst"))


def _value(entry: dict, metric: str):
  """A metric's value, or 'mean ± std (worst w)' for a multi-seed aggregate."""
  if metric in entry and f"{metric}_std" in entry:
    return seeds_lib.format_cell(entry, metric)
  return entry.get(metric)


def _cell(value) -> str:
  if value is None:
    return "–"
  if isinstance(value, str):
    return value
  return results_lib.format_value(value)


def comparison_table(runs: Sequence[RunInfo]) -> str:
  """The markdown table: one column per run, header facts first, then the metric rows."""
  lines = ["| | " + " | ".join(r.label for r in runs) + " |",
           "|---|" + "---|" * len(runs)]
  headers = [_header_rows(r) for r in runs]
  for key in headers[0] if headers else []:
    lines.append(f"| {key} | " + " | ".join(h[key] or "–" for h in headers) + " |")
  for label, values in metric_rows(runs):
    lines.append(f"| {label} | " + " | ".join(_cell(v) for v in values) + " |")
  return "\n".join(lines) + "\n"


def _histories(run: RunInfo) -> dict[str, list]:
  """protocol -> [[epoch, top1, ...], ...] evaluation histories found in results.json."""
  out = {}
  for protocol, entry in sorted(run.results.items()):
    if isinstance(entry, dict) and isinstance(entry.get("history"), list) and entry["history"]:
      out[protocol] = entry["history"]
  return out


def plot_curves(run: RunInfo, path: str) -> bool:
  """Writes the run's curves (loss, KNN monitor, evaluation histories) as a PNG.

  Returns:
    False (and writes nothing) when the run has no curve to draw.
  """
  loss = [(r["step"], r["train/loss"]) for r in run.metrics if "train/loss" in r]
  knn = {k: [(r["step"], r[k]) for r in run.metrics if k in r]
         for k in sorted({k for r in run.metrics for k in r if k.startswith("knn/top1@")})}
  histories = _histories(run)
  panels = [p for p in (("loss", loss), ("knn", knn), ("hist", histories)) if p[1]]
  if not panels:
    return False
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
  for ax, (kind, data) in zip(axes[0], panels):
    if kind == "loss":
      ax.plot(*zip(*data))
      ax.set(title="pretraining loss", xlabel="step", ylabel="loss")
    elif kind == "knn":
      for name, points in data.items():
        ax.plot(*zip(*points), marker="o", label=name[4:])
      ax.set(title="KNN monitor (test top-1 %)", xlabel="step")
      ax.legend()
    else:
      for name, hist in data.items():
        ax.plot([h[0] for h in hist], [h[1] for h in hist], marker=".", label=name)
      ax.set(title="test top-1 % during evaluation", xlabel="epoch")
      ax.legend(fontsize="small")
  fig.suptitle(run.label)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return True


def _safe(label: str) -> str:
  return label.replace(os.sep, "__").replace("/", "__")


def write_report(workdirs: Sequence[str], out: str, *, plots: bool = True) -> str:
  """Builds the comparison of `workdirs` into `out` (report.md, PNGs); returns the table.

  Raises:
    FileNotFoundError: a workdir that is not a run folder.
  """
  runs = load_runs(workdirs)
  table = comparison_table(runs)
  os.makedirs(out, exist_ok=True)
  sections = ["# skel_jax report", "", table]
  if plots:
    for run in runs:
      images = []
      curves = f"{_safe(run.label)}_curves.png"
      if plot_curves(run, os.path.join(out, curves)):
        images.append(curves)
      for name in sorted(os.listdir(run.path)):
        if name.startswith("tsne") and name.endswith(".png"):
          copy = f"{_safe(run.label)}_{name}"
          shutil.copyfile(os.path.join(run.path, name), os.path.join(out, copy))
          images.append(copy)
      if images:
        sections.append(f"## {run.label}\n")
        sections.extend(f"![{name}]({name})\n" for name in images)
  files.atomic_write(os.path.join(out, "report.md"), "\n".join(sections))
  return table


_PROG = "python -m skel_jax.report"
_FLAGS = flags.FlagValues()
_OUT = flags.DEFINE_string("out", "report", "output folder", flag_values=_FLAGS)
_PLOTS = flags.DEFINE_bool("plots", True, "PNG curves and t-SNE copies beside the table "
                           "(--noplots: only the table)", flag_values=_FLAGS)


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (arguments without the program name); returns the exit status."""
  workdirs = cli.parse(_FLAGS, argv, _PROG, f"{_PROG} WORKDIR [WORKDIR ...]: compare skel_jax "
                       "runs (or three_stream folders) side by side (markdown table + PNG "
                       "curves).")
  if not workdirs:
    raise SystemExit(cli.usage_error("give at least one WORKDIR", _PROG))
  try:
    table = write_report(workdirs, _OUT.value, plots=_PLOTS.value)
  except FileNotFoundError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  sys.stdout.write(table)
  print(f"\nreport written to {os.path.join(_OUT.value, 'report.md')}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  cli.run_tool(main)
