"""The reference repositories' fine-tune and semi-supervised settings, per method (their
config/ folders), written into `config.eval.finetune` / `config.eval.semi` by
`apply_eval_defaults`.

Sources and the choices made where the reference has no config:

* SkeletonCLR (CrosSCLR repo) has no fine-tune or semi processor, and AimCLR ships the processor
  without a config (processor/finetune_evaluation.py); its author says "same as linear but unfrozen,
  initial lr 0.1" (Levigty/AimCLR issue #7). Both therefore use the linear schedule (100 epochs,
  x0.1 after 80, wd 0, no Nesterov) with lr 0.1.
* SkeleMixCLR's `config/finetune_eval/finetune_eval_skeletonclr_swap.yaml`: lr 0.1, Nesterov, wd
  1e-4, steps [50, 70, 90], a 10-epoch warm-up, 110 epochs, batch 128.
* SkeAttnCLR (`config/SkeAttnCLR/*/*/FT_eval_*.yaml`): 150 epochs, steps [60, 100], wd 0, no
  Nesterov, a learning rate per dataset and stream. Its NTU-120 motion / bone configs say lr 3.0,
  apparently copies of the linear configs; fine-tuning a whole encoder at 3.0 diverges, so the
  NTU-120 joint value (0.01) is used for them. PKU (the transfer configs) uses the NTU-60 xsub /
  xview values; every other dataset (NW-UCLA, the demo data) the NTU-60 xsub ones. No warm-up (the
  processor supports one; the configs set none, so its default 0 applies).
* Semi-supervised: SkeleMixCLR's two `config/semi_eval/` configs (1 %: lr 0.05, wd 0, steps [40];
  10 %: lr 0.1, wd 1e-4, steps [80]; 150 epochs) for SkeletonCLR, AimCLR and SkeleMixCLR (AimCLR
  has the feeder but no config); SkeAttnCLR's table per dataset, stream and fraction, wd 0,
  150 epochs. Fractions other than 1 % and 10 % take the nearer of the two settings.
  SkeleMixCLR's 10 % config sets `max_grad` 5, which never acted in the reference (its clipping
  runs before `backward`); here clipping is real and uses `eval.finetune.max_grad_norm` for all
  runs.

The small presets (`smoke`, `demo`, `nwucla`) shorten the schedules (`scale_steps`) so that
they run on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import ml_collections

# Fine-tune epochs / semi epochs of the small presets, and their evaluation interval.
# The semi-supervised runs of demo / nwucla take 100 epochs of batch 16 (config_lib.
# small_data_finetuning): a tenth of NW-UCLA is 102 clips, one step per epoch at batch 128.
SMALL_PRESETS = {"smoke": (2, 2, 1), "demo": (20, 100, 5), "nwucla": (30, 100, 5)}

_LINEAR_LIKE = dict(epochs=100, lr=0.1, schedule="step", lr_steps=(80,), warmup_epochs=0,
                    nesterov=False, weight_decay=0.0)
_SKELEMIX_FT = dict(epochs=110, lr=0.1, schedule="step", lr_steps=(50, 70, 90), warmup_epochs=10,
                    nesterov=True, weight_decay=1e-4)
_SKEATTN_FT = dict(epochs=150, schedule="step", lr_steps=(60, 100), warmup_epochs=0,
                   nesterov=False, weight_decay=0.0)
# SkeAttnCLR fine-tune lr (its FT_eval_*.yaml): (dataset family, stream) -> lr.
_SKEATTN_FT_LR = {
    ("ntu60_xsub", "joint"): 0.008, ("ntu60_xsub", "bone"): 0.005,
    ("ntu60_xsub", "motion"): 0.003, ("ntu60_xview", "joint"): 0.005,
    ("ntu60_xview", "bone"): 0.005, ("ntu60_xview", "motion"): 0.003,
    ("ntu120", "joint"): 0.01, ("ntu120", "bone"): 0.01, ("ntu120", "motion"): 0.01,
}
# Semi-supervised, SkeleMixCLR configs: fraction -> (lr, lr_steps, weight decay).
_SKELEMIX_SEMI = {0.01: (0.05, (40,), 0.0), 0.1: (0.1, (80,), 1e-4)}
# SkeAttnCLR semi (semiFT*.yaml): (dataset family, stream, fraction) -> (lr, lr_steps); wd 0.
_SKEATTN_SEMI = {
    ("ntu60_xsub", "joint", 0.01): (0.005, (50, 100)),
    ("ntu60_xview", "joint", 0.01): (0.05, (10, 60, 110)),
    ("ntu60_xsub", "joint", 0.1): (0.01, (60, 100)),
    ("ntu60_xview", "joint", 0.1): (0.007, (10, 60, 110)),
    ("ntu60_xsub", "bone", 0.01): (0.02, (13, 80, 120)),
    ("ntu60_xview", "bone", 0.01): (0.02, (25, 80, 120)),
    ("ntu60_xsub", "bone", 0.1): (0.005, (60, 100)),
    ("ntu60_xview", "bone", 0.1): (0.005, (60, 100)),
    ("ntu60_xsub", "motion", 0.01): (0.025, (10, 60, 110)),
    ("ntu60_xview", "motion", 0.01): (0.02, (25, 90)),
    ("ntu60_xsub", "motion", 0.1): (0.003, (60, 100)),
    ("ntu60_xview", "motion", 0.1): (0.003, (60, 100)),
    ("ntu120", "joint", 0.01): (0.008, (60, 100)),
    ("ntu120", "joint", 0.1): (0.01, (60, 100)),
}
SEMI_EPOCHS = 150


def _family(dataset: str) -> str:
  """The row of the SkeAttnCLR tables a dataset uses (see the module docstring)."""
  if dataset.startswith("ntu120"):
    return "ntu120"
  if dataset.endswith("_xview"):
    return "ntu60_xview"
  return "ntu60_xsub"


def _nearest_fraction(fraction: float) -> float:
  return 0.01 if abs(fraction - 0.01) <= abs(fraction - 0.1) else 0.1


def finetune_reference(method: str, dataset: str, stream: str) -> dict:
  """The reference fine-tune schedule of `method` (see the module docstring).

  Returns:
    A dict with epochs, lr, schedule, lr_steps, warmup_epochs, nesterov, weight_decay.
  """
  if method == "skelemixclr":
    return dict(_SKELEMIX_FT)
  if method == "skeattnclr":
    family = _family(dataset)
    lr = _SKEATTN_FT_LR.get((family, stream), _SKEATTN_FT_LR[("ntu60_xsub", stream)])
    return dict(_SKEATTN_FT, lr=lr)
  return dict(_LINEAR_LIKE)


def semi_reference(method: str, dataset: str, stream: str, fraction: float,
                   ) -> tuple[float, tuple[int, ...], float]:
  """(lr, lr_steps, weight_decay) of a semi-supervised run with `fraction` labelled clips."""
  nearest = _nearest_fraction(fraction)
  if method == "skeattnclr":
    family = _family(dataset)
    key = (family, stream, nearest)
    if key not in _SKEATTN_SEMI:
      key = ("ntu60_xsub", stream, nearest)
    lr, steps = _SKEATTN_SEMI[key]
    return lr, steps, 0.0
  return _SKELEMIX_SEMI[nearest]


def scale_steps(steps: Sequence[int], ref_epochs: int, epochs: int) -> tuple[int, ...]:
  """Decay epochs of a `ref_epochs` schedule moved proportionally to an `epochs` one.

  E.g. steps (50, 70, 90) of 110 epochs become (9, 13, 16) at 20 epochs. Every step stays at
  least 1; duplicates are dropped.
  """
  return tuple(sorted({max(1, round(s * epochs / ref_epochs)) for s in steps}))


def apply_eval_defaults(c: ml_collections.ConfigDict, preset: str) -> None:
  """Writes the method's reference fine-tune / semi settings into `c.eval` (in place).

  Called by `config_lib.finish` once method, preset and stream are known; command-line
  overrides (`--config.eval.finetune.lr=...`) still apply afterwards.
  """
  method = c.method
  if preset in SMALL_PRESETS and method == "skeattnclr":
    # SkeAttnCLR's fine-tune lr (0.003-0.01) is tuned for 150 epochs; scaled down to the small
    # presets' 30 it underfits (NW-UCLA: train loss 1.3 at the end against 0.7 at lr 0.1), so
    # on the small presets it fine-tunes (and runs the semi-supervised protocol) as the other
    # methods do.
    method = "skeletonclr"
  ft = c.eval.finetune
  for key, value in finetune_reference(method, c.data.dataset, c.data.stream).items():
    ft[key] = value
  semi = c.eval.semi
  rows = [semi_reference(method, c.data.dataset, c.data.stream, float(f))
          for f in semi.fractions]
  semi.epochs = SEMI_EPOCHS
  semi.lr = tuple(float(r[0]) for r in rows)
  semi.lr_steps = tuple(tuple(r[1]) for r in rows)
  semi.weight_decay = tuple(float(r[2]) for r in rows)
  if preset not in SMALL_PRESETS:
    return
  ft_epochs, semi_epochs, eval_every = SMALL_PRESETS[preset]
  ft.lr_steps = scale_steps(ft.lr_steps, ft.epochs, ft_epochs)
  ft.warmup_epochs = round(ft.warmup_epochs * ft_epochs / ft.epochs)
  ft.epochs = ft_epochs
  ft.eval_every = eval_every
  semi.lr_steps = tuple(scale_steps(s, semi.epochs, semi_epochs) for s in semi.lr_steps)
  semi.epochs = semi_epochs
  if preset == "smoke":
    ft.batch_size = 16


def restream(c: ml_collections.ConfigDict, old_stream: str, new_stream: str, preset: str) -> None:
  """Moves the stream-dependent reference values of `c.eval` from `old_stream` to `new_stream`.

  A fine-tune or semi-supervised field is replaced only where it still equals the reference
  value of `old_stream` (so hand-set values survive). `c.data.stream` is not changed here.
  """
  before, after = c.copy_and_resolve_references(), c.copy_and_resolve_references()
  before.data.stream, after.data.stream = old_stream, new_stream
  apply_eval_defaults(before, preset)
  apply_eval_defaults(after, preset)
  for section in ("finetune", "semi"):
    for key in c.eval[section]:
      if c.eval[section][key] == before.eval[section][key]:
        c.eval[section][key] = after.eval[section][key]
