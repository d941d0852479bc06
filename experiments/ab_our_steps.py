r"""A/B of our own train steps in one process: alternating benches of benchmark_vs_official.

    python experiments/ab_our_steps.py --benches aimclr,aimclr_nnm [--rounds 3] [--iters 2]
    python experiments/ab_our_steps.py --benches aimclr,aimclr@f33

`benchmark_vs_official.py` measures one bench at a time against the official code, so two of
our rows (say AimCLR with and without mining) come from runs minutes apart, and this virtual
machine's speed drifts by 30-40 % over minutes. To compare two of our steps with each other,
this script builds our side of each named bench (`benchmark_vs_official.build_ours`, the same
configs and shapes, `--batch/--frames/--hidden/--queue` as there), warms each up once, then
times them alternating within each round (the order reversed every other round) and prints
the median and the range of the per-round ratio to the first bench. A bench named
`NAME@f33` is NAME traced with Winograd F(3, 3) (`stgcn.winograd_temporal_conv`) where the
library now runs the nested form (`nested_winograd_temporal_conv`): the A/B of that change.

Runs with `skel_jax.main`'s allocator settings (skel_jax/allocator.py). Both steps' buffers
live at once: mind the memory of the large benches (docs/benchmarks.md gives their peaks).
"""

from __future__ import annotations

import sys

from skel_jax import allocator

if __name__ == "__main__":
  allocator.reexec_with_heap_tunables(sys.argv)
  allocator.configure("heap")

# pylint: disable=g-import-not-at-top,wrong-import-position
import argparse
import statistics
import time

import benchmark_vs_official as vs  # this directory is on sys.path when run as a script

from skel_jax.models import stgcn

VARIANTS = ("f33",)


def build_variant(bench: str, opts: dict):
  """`vs.build_ours` of `bench` ('NAME' or 'NAME@VARIANT'), compiled by one first call."""
  name, _, variant = bench.partition("@")
  step, work, _ = vs.build_ours(name, opts)
  nested = stgcn.nested_winograd_temporal_conv
  if variant == "f33":  # TemporalConv reads the module's global when the step is traced
    stgcn.nested_winograd_temporal_conv = stgcn.winograd_temporal_conv
  try:
    step()
  finally:
    stgcn.nested_winograd_temporal_conv = nested
  return step, work


def time_calls(fn, iters: int) -> list[float]:
  """Wall seconds of `iters` calls of `fn` (each blocks until its result is ready)."""
  times = []
  for _ in range(iters):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return times


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--benches", default="aimclr,aimclr_nnm",
                      help="comma-separated; the first is the baseline of the ratios")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--iters", type=int, default=2, help="timed calls per bench and round")
  parser.add_argument("--batch", type=int, default=0, help="0: the official config's value")
  parser.add_argument("--frames", type=int, default=0)
  parser.add_argument("--hidden", type=int, default=0)
  parser.add_argument("--queue", type=int, default=32768)
  args = parser.parse_args()

  benches = [b for b in args.benches.split(",") if b]
  names = sorted(set(vs.BENCHES) - {"encoder"})
  unknown = [b for b in benches if b.partition("@")[0] not in names
             or b.partition("@")[2] not in ("", *VARIANTS)]
  if unknown or len(benches) < 2:
    parser.error(f"need two or more train-step benches of {names} (with @{'/@'.join(VARIANTS)}"
                 f" for a variant); got {benches}")
  steps, work = {}, {}
  for bench in benches:
    base = vs.BENCHES[bench.partition("@")[0]]
    opts = dict(batch=args.batch or base["batch"], frames=args.frames or base["frames"],
                hidden=args.hidden or base["hidden"], queue=args.queue)
    t0 = time.perf_counter()
    steps[bench], work[bench] = build_variant(bench, opts)  # compilation and a first step
    print(f"{bench}: built, compiled and ran once in {time.perf_counter() - t0:.1f} s "
          f"({opts})", flush=True)

  rates = {bench: [] for bench in benches}  # per round: samples/s of the round's median call
  for r in range(args.rounds):
    for bench in (benches if r % 2 == 0 else benches[::-1]):
      times = time_calls(steps[bench], args.iters)
      rates[bench].append(work[bench] / statistics.median(times))
      print(f"round {r} {bench}: " + " ".join(f"{t:.2f}" for t in times) + " s", flush=True)

  first = benches[0]
  print(f"\n| bench | samples/s (median of rounds) | / {first} (median, range over "
        f"{args.rounds} rounds) |\n|---|---:|---:|")
  for bench in benches:
    ratios = [a / b for a, b in zip(rates[bench], rates[first])]
    print(f"| {bench} | {statistics.median(rates[bench]):.2f} | "
          f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |")


if __name__ == "__main__":
  main()
