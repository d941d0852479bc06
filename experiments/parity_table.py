r"""The error table of the step-parity fixtures: skel_jax and the official float32 vs float64.

For each fixture folder (made by experiments/parity_reference.py; the committed ones are
tests/fixtures/parity/<method>/), runs skel_jax's three steps (`skel_jax.parity`) and
prints, per tensor group of the step-1 gradients and of the final state, the relative l2
error of skel_jax's float32 run and of the official float32 run against the official float64
run, plus the worst relative error of the loss terms and the largest per-tensor ratio of the
two errors. For fixtures made with `--jitter` a further column gives the official float32
error over the plain run and the runs from initial states moved by one ulp (per tensor, their
90th percentile, `skel_jax.parity.official_error`), and the final state's ratio is taken
against it (the yardstick of the tests after the first step).
This is the table of docs/fidelity.md.

    python experiments/parity_table.py tests/fixtures/parity/{skeletonclr,aimclr,aimclr_nnm}
    python experiments/parity_table.py /tmp/offset/skelemixclr --model gcn_impl=einsum

`--model key=value` overrides a `config.model` field of skel_jax's side (formulation
experiments: gcn_impl, conv_impl; `bn_sums=float32` for the library's default BatchNorm sums
instead of the parity runs' PyTorch rounding).
"""

from __future__ import annotations

import argparse
import time

from skel_jax import parity


def method_label(meta: dict) -> str:
  return meta["method"] + (f" (offset {meta['offset']:g})" if meta.get("offset") else "")


def table_rows(folder: str, overrides: dict) -> list[str]:
  data, meta = parity.load_fixture(folder)
  if overrides:
    base = parity.parity_config

    def config_with_overrides(*args, **kwargs):
      c = base(*args, **kwargs)
      for k, v in overrides.items():
        setattr(c.model, k, v)
      return c

    parity.parity_config = config_with_overrides
  t0 = time.time()
  try:
    losses, grads, final = parity.run_ours(data, meta)
  finally:
    if overrides:
      parity.parity_config = base
  seconds = time.time() - t0
  rows = []
  loss = parity.loss_errors(losses, data, meta)
  worst = max(loss.values(), key=lambda v: v[0])
  spread = parity.official_spread(data)
  jittered = "j32/" in "".join(data)
  rows.append(f"| {method_label(meta)} | losses (max rel.) | {worst[0]:.1e} | {worst[1]:.1e} | "
              f"{f'{worst[2]:.1e}' if jittered else '-'} | |")
  bn = parity.batchnorm_layers(data)
  for tag, ours in (("step-1 grads", grads), ("final state", final)):
    prefix = "grad" if tag.startswith("step") else "final"
    off64 = {k: v for k, v in parity.section(data, f"f64/{prefix}/").items()
             if k in ours and not k.startswith("queue_ptr")}
    off32 = {k: parity.section(data, f"f32/{prefix}/")[k] for k in off64}
    # The jittered runs are the yardstick of the final state only (tests/test_step_parity.py).
    tensor_spread = spread if prefix == "final" else None
    errors = parity.tensor_errors(ours, off32, off64, bn, spread=tensor_spread)
    ratio = {}
    for key, (e_ours, e_off, _) in errors.items():
      g = parity.group_of(key)
      if e_off > 0:
        ratio[g] = max(ratio.get(g, 0.0), e_ours / e_off)
    for key, (e_ours, e_off, allowed) in sorted(errors.items()):
      if e_ours > allowed:  # outside the test's bound: listed for the record
        print(f"  over the bound: {prefix}/{key}: {e_ours:.2e} vs official {e_off:.2e} "
              f"(allowed {allowed:.2e})", flush=True)
    for group, (e_ours, e_off, e_spread) in parity.group_errors(
        ours, off32, off64, tensor_spread).items():
      rows.append(f"| | {tag}: {group} | {e_ours:.1e} | {e_off:.1e} | "
                  f"{f'{e_spread:.1e}' if tensor_spread else '-'} | "
                  f"{ratio.get(group, float('nan')):.2f} |")
  rows.append(f"| | (skel_jax run: {seconds:.0f} s) | | | | |")
  return rows


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("fixtures", nargs="+", help="fixture folders")
  parser.add_argument("--model", action="append", default=[],
                      help="key=value override of skel_jax's config.model")
  args = parser.parse_args(argv)
  overrides = dict(kv.split("=", 1) for kv in args.model)
  print("| method | tensors | skel_jax f32 vs f64 | official f32 vs f64 | official f32 with "
        "its runs from 1-ulp moved starts, 90th percentile (--jitter fixtures) | "
        "worst tensor ratio |")
  print("|---|---|---|---|---|---|")
  for folder in args.fixtures:
    for row in table_rows(folder, overrides):
      print(row, flush=True)


if __name__ == "__main__":
  main()
