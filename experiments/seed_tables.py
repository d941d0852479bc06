r"""Regenerates the published small-data accuracy tables: every figure is a 3-seed mean.

    python experiments/seed_tables.py [--runs=aimclr:demo,skeletonclr:nwucla,...] \
        [--finetune-runs=...] [--rerun=skelemixclr:nwucla] [--root=workdirs/seed_tables] \
        [--seeds=0,1,2] [--table-only]

(the defaults are the published tables' runs). For each `method:preset` without a record it
runs, in `{root}/<method>_<preset>` and resuming what is there, `python -m skel_jax.main
--config=configs/<method>.py:<preset> --seeds=...`: pretraining per seed, then the linear
probes (the reference's and the scale-invariant one) and k-NN on the pretrained encoder, the same encoder at its random initialisation and the raw input
(skel_jax/run.py run_baselines). Wall times are measured here, per phase.

Each finished run's aggregate (`results.json`: mean, std, worst and per-seed values) and its
timing are committed as a record, `experiments/results/small_data/<method>_<preset>.json`; the
tables are built from the records, so one run can be redone (`--rerun=method:preset`, or a
`--runs` entry without a record) without rerunning the others, and a run with a record is
reused. It then writes `docs/small_data_results.md` (the whole table) and replaces the block
between `<!-- small-data-table:begin -->` and `<!-- small-data-table:end -->` in README.md, so
no accuracy in either file is typed by hand. `--table-only` rebuilds the tables from the records
(refreshed from `--root` where it holds a finished run) without running anything. Runs also
named in `--finetune-runs` are evaluated with `--mode=eval_all`: fine-tuning and
semi-supervised (10 %) runs of the pretrained encoder and of the same encoder from scratch, in
a second table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDS = os.path.join(REPO, "experiments", "results", "small_data")  # committed, one per run
RUNS = "aimclr:demo,skeletonclr:nwucla,aimclr:nwucla,skelemixclr:nwucla,skeattnclr:nwucla"
FINETUNE_RUNS = "skeletonclr:nwucla,aimclr:nwucla,skelemixclr:nwucla,skeattnclr:nwucla"
BEGIN, END = "<!-- small-data-table:begin -->", "<!-- small-data-table:end -->"
COLUMNS = (  # (header, protocol entry, metric)
    ("scale-invariant linear", "linear_std", "linear_std_top1_final"),
    ("k-NN@1", "knn", "knn_top1@1"),
    ("k-NN@10", "knn", "knn_top1@10"),
    ("reference linear probe", "linear", "linear_top1_final"),
    ("random-init encoder, scale-invariant linear", "linear_std_random_init",
     "linear_std_top1_final"),
    ("random-init encoder, k-NN@1", "knn_random_init", "knn_top1@1"),
    ("raw input, scale-invariant linear", "linear_std_raw_input", "linear_std_top1_final"),
    ("raw input, 1-NN", "knn_raw_input", "knn_top1@1"),
)

# The fine-tuning table (runs given in --finetune-runs: `--mode=eval_all`). The small presets
# fine-tune in train-mode BN with the pretraining's normal augmentation chain, hence the
# `_bntrain_aug` result names (skel_jax/evaluate/protocols.py result_name); the from-scratch
# baseline is the same protocol from the encoder's random initialisation.
FINETUNE_COLUMNS = (
    ("fine-tune", "finetune_bntrain_aug", "finetune_top1_final"),
    ("fine-tune from scratch", "finetune_bntrain_aug_random_init", "finetune_top1_final"),
    ("semi-supervised 10 %", "semi_10pct_bntrain_aug", "semi_10pct_top1_final"),
    ("semi-supervised 10 % from scratch", "semi_10pct_bntrain_aug_random_init",
     "semi_10pct_top1_final"),
    ("scale-invariant linear (for comparison)", "linear_std", "linear_std_top1_final"),
)


def run_name(method: str, preset: str) -> str:
  """`<method>_<preset>`, the preset's key=value pairs spelled key-value."""
  return f"{method}_{preset}".replace(",", "_").replace("=", "-")


def run_dir(root: str, method: str, preset: str) -> str:
  return os.path.join(root, run_name(method, preset))


def record_path(method: str, preset: str, records: str = RECORDS) -> str:
  return os.path.join(records, run_name(method, preset) + ".json")


def save_record(root: str, method: str, preset: str, records: str = RECORDS) -> bool:
  """Copies a finished run's aggregate and timing from `root` into its record (False: the run
  is not finished there)."""
  workdir = run_dir(root, method, preset)
  results = _read(os.path.join(workdir, "results.json"))
  if not results:
    return False
  os.makedirs(records, exist_ok=True)
  record = {"run": f"{method}:{preset}", "results": results,
            "timing": _read(os.path.join(workdir, "timing.json")),
            "settings": run_settings(_read(os.path.join(workdir, "config.json")))}
  tmp = record_path(method, preset, records) + ".tmp"
  with open(tmp, "w") as f:
    json.dump(record, f, indent=1, sort_keys=True)
    f.write("\n")
  os.replace(tmp, record_path(method, preset, records))
  return True


def run_settings(config: dict) -> dict:
  """The evaluation settings a table shows beside a run's figures, from its config.json."""
  ev = config.get("eval", {})
  return {"finetune_epochs": ev.get("finetune", {}).get("epochs"),
          "semi_epochs": ev.get("semi", {}).get("epochs")}


def load_settings(method: str, preset: str, records: str = RECORDS) -> dict:
  return _read(record_path(method, preset, records)).get("settings", {})


def load_record(method: str, preset: str, records: str = RECORDS) -> tuple[dict, dict]:
  """(results, timing) of a run's record; ({}, {}) when it has none."""
  record = _read(record_path(method, preset, records))
  return record.get("results", {}), record.get("timing", {})


def _read(path: str) -> dict:
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)


def _finished(results: dict, wanted: list[int], finetune: bool) -> bool:
  return results.get("_seeds") == wanted and (not finetune or FINETUNE_COLUMNS[0][1] in results)


def run_one(root: str, method: str, preset: str, seeds: str, finetune: bool = False,
            records: str = RECORDS, rerun: bool = False) -> None:
  """Pretrains and evaluates one `method:preset` over the seeds (resuming), timing each phase;
  with `finetune` the evaluation adds fine-tuning and semi-supervised runs (`eval_all`). A run
  whose record already holds these seeds (and, with `finetune`, its fine-tuning) is reused
  unless `rerun`; the finished run is saved as its record."""
  workdir = run_dir(root, method, preset)
  wanted = [int(s) for s in seeds.split(",")]
  if not rerun and _finished(load_record(method, preset, records)[0], wanted, finetune):
    print(f"{method}:{preset}: recorded, reused", flush=True)
    return
  if _finished(_read(os.path.join(workdir, "results.json")), wanted, finetune):
    print(f"{method}:{preset}: finished in {workdir}, reused", flush=True)
    save_record(root, method, preset, records)
    return
  os.makedirs(workdir, exist_ok=True)
  # Wall times are only meaningful for runs made here from scratch: a seed that resumes an
  # earlier (interrupted or separately run) pretraining records none.
  resumed = any(os.path.isdir(os.path.join(workdir, f"seed_{s}", "checkpoints")) for s in wanted)
  timing = {"code_commit": git_commit()}
  if resumed:
    # A resumed pretraining (e.g. re-evaluated with fine-tuning) keeps the commit and the wall
    # time of the run that pretrained it; the evaluation's commit is recorded beside.
    before = _read(os.path.join(workdir, "timing.json"))
    timing = {k: v for k, v in before.items() if k in ("code_commit", "pretrain_seconds_per_seed")}
    timing.setdefault("code_commit", git_commit())
    timing["eval_code_commit"] = git_commit()
  for mode in ("pretrain", "eval_all" if finetune else "eval"):
    cmd = [sys.executable, "-m", "skel_jax.main", f"--config=configs/{method}.py:{preset}",
           f"--workdir={workdir}", f"--mode={mode}", f"--seeds={seeds}",
           "--config.eval.tsne.enabled=False"]
    print("+ " + " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, cwd=REPO, check=True)
    if not (mode == "pretrain" and resumed):
      timing[f"{'pretrain' if mode == 'pretrain' else 'eval'}_seconds_per_seed"] = (
          time.time() - t0) / len(wanted)
  with open(os.path.join(workdir, "timing.json"), "w") as f:
    json.dump(timing, f, indent=2)
  save_record(root, method, preset, records)


def _cell(entry: dict, metric: str) -> str:
  if not entry or metric not in entry:
    return "–"
  return (f"{entry[metric]:.1f} ± {entry.get(metric + '_std', 0.0):.1f} "
          f"(worst {entry.get(metric + '_worst', entry[metric]):.1f})")


def table(runs: list[tuple[str, str]], records: str = RECORDS) -> str:
  header = ["data", "method", *[c[0] for c in COLUMNS], "pretraining per seed", "code"]
  lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
  seeds = set()
  for method, preset in runs:
    res, timing = load_record(method, preset, records)
    if not res:
      continue
    seeds.add(tuple(res.get("_seeds", [])))
    wall = timing.get("pretrain_seconds_per_seed")
    cells = [_cell(res.get(p, {}), m) for _, p, m in COLUMNS]
    lines.append(f"| {preset} | {method} | " + " | ".join(cells) + " | "
                 + (f"{wall / 60:.1f} min" if wall else "–") + " | "
                 + timing.get("code_commit", "?") + " |")
  seeds = sorted(seeds - {()})
  note = (f"Top-1 % on the test split, mean ± sample std over seeds {', '.join(map(str, seeds[0]))}"
          if len(seeds) == 1 else "Top-1 % on the test split, mean ± sample std over seeds")
  return note + " (worst seed in brackets), final epoch of every probe.\n\n" + "\n".join(lines) + "\n"


def finetune_table(runs: list[tuple[str, str]], records: str = RECORDS) -> str:
  """The fine-tuning and semi-supervised rows of the runs that have them ('' if none)."""
  header = ["data", "method", *[c[0] for c in FINETUNE_COLUMNS], "epochs (fine-tune / semi)",
            "code"]
  lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
  for method, preset in runs:
    res, timing = load_record(method, preset, records)
    if FINETUNE_COLUMNS[0][1] not in res:
      continue
    cells = [_cell(res.get(p, {}), m) for _, p, m in FINETUNE_COLUMNS]
    settings = load_settings(method, preset, records)
    epochs = (f"{settings.get('finetune_epochs') or '?'} / {settings.get('semi_epochs') or '?'}")
    lines.append(f"| {preset} | {method} | " + " | ".join(cells) + f" | {epochs} | "
                 + timing.get("eval_code_commit", timing.get("code_commit", "?")) + " |")
  if len(lines) == 2:
    return ""
  return ("Fine-tuning the whole encoder (all labels) and semi-supervised fine-tuning (10 % of "
          "the labels, class-balanced), train-mode BN and the pretraining's normal augmentation "
          "chain, final epoch; \"from scratch\" is the same protocol from the encoder's random "
          "initialisation.\n\n" + "\n".join(lines) + "\n")


def git_commit() -> str:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


def write_tables(runs: list[tuple[str, str]], command: str, commit: str,
                 records: str = RECORDS) -> str:
  text = table(runs, records)
  ft = finetune_table(runs, records)
  if ft:
    text += "\n" + ft
  text += (f"\nThe `code` column is the commit each run was made with (in the fine-tuning "
           f"table, the commit of its evaluation); the tables were written at {commit}.\n")
  doc = os.path.join(REPO, "docs", "small_data_results.md")
  with open(doc, "w") as f:
    f.write("# Small-data results (generated)\n\n"
            "Written by `experiments/seed_tables.py`; do not edit by hand. Regenerate with\n\n"
            f"    {command}\n\n"
            "Measured on a 2-core CPU (2 threads). The probes: the scale-invariant linear probe "
            "(features standardised with training-set statistics), weighted k-NN on "
            "L2-normalised features (k = 1 is plain nearest neighbour), and the reference's "
            "linear probe (lr 3.0 on raw features, which depends on their scale). Baselines: the "
            "same encoder at its random initialisation (same seed) and the raw input (the "
            "preprocessed clips, flattened) under the same probes. See docs/small_data.md for "
            "the recipe.\n\n" + text)
  readme = os.path.join(REPO, "README.md")
  with open(readme) as f:
    body = f.read()
  if BEGIN in body and END in body:
    block = f"{BEGIN}\n{text}{END}"
    body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, body, flags=re.S)
    with open(readme, "w") as f:
      f.write(body)
  return text


def parse_runs(text: str) -> list[tuple[str, str]]:
  """'method:preset,...' -> [(method, preset)]; ';' inside a run stands for the ',' of the
  config argument (preset,key=value)."""
  return [tuple(r.replace(";", ",").split(":", 1)) for r in text.split(",") if r]


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--root", default="workdirs/seed_tables")
  p.add_argument("--runs", default=RUNS, help="method:preset[;key=value...], comma-separated")
  p.add_argument("--seeds", default="0,1,2")
  p.add_argument("--finetune-runs", default=FINETUNE_RUNS,
                 help="runs (as in --runs) that are also fine-tuned and semi-supervised")
  p.add_argument("--rerun", default="",
                 help="runs (as in --runs) to run again although they have a record")
  p.add_argument("--table-only", action="store_true")
  p.add_argument("--code-commit", default="",
                 help="the commit the tables are said to be written at (default: HEAD); each "
                      "run's own commit comes from its record")
  args = p.parse_args()
  runs = parse_runs(args.runs)
  finetune_runs, rerun = set(parse_runs(args.finetune_runs)), set(parse_runs(args.rerun))
  for method, preset in runs:
    if args.table_only:
      save_record(args.root, method, preset)  # a finished run in --root refreshes its record
    else:
      run_one(args.root, method, preset, args.seeds, (method, preset) in finetune_runs,
              rerun=(method, preset) in rerun)
  missing = [f"{m}:{p}" for m, p in runs if not load_record(m, p)[0]]
  if missing:
    print(f"no record (and no finished run in {args.root}) for {', '.join(missing)}: left out "
          "of the tables", flush=True)
  command = (f"python experiments/seed_tables.py --runs='{args.runs}' --seeds={args.seeds} "
             f"--finetune-runs='{args.finetune_runs}'")
  print(write_tables(runs, command, args.code_commit or git_commit()))


if __name__ == "__main__":
  main()
