"""The reference repositories' fine-tune and semi-supervised settings, per method (their
config/ folders), as the tables and lookups that the config files use: config_lib.base_config
(SkeletonCLR, AimCLR), configs/skelemixclr.py and configs/skeattnclr.py.

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

The small presets (`smoke`, `demo`, `nwucla`) shorten the schedules (`SMALL_PRESETS`,
`scale_steps`; config_lib.apply_preset) so that they run on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

# Fine-tune epochs / semi epochs of the small presets, and their evaluation interval.
# The semi-supervised runs of demo / nwucla take 100 epochs of batch 16 (config_lib.
# small_data_finetuning): a tenth of NW-UCLA is 102 clips, one step per epoch at batch 128.
# NW-UCLA fine-tunes for 100 epochs: with 30 the from-scratch baseline swung between 49 and
# 77 % over seeds and decided the comparison; with 100 it swings less (about 80 +- 2 %) and
# the fine-tuned encoders are 1-7 points above it on most seeds (docs/small_data.md, "What is
# not solved yet", has the per-seed figures).
SMALL_PRESETS = {"demo": (20, 100, 5), "smoke": (2, 2, 1), "nwucla": (100, 100, 5)}

# SkeletonCLR and AimCLR: the linear schedule with lr 0.1 (config_lib.base_config shows it).
SKELEMIX_FINETUNE = dict(epochs=110, lr=0.1, schedule="step", lr_steps=(50, 70, 90),
                         warmup_epochs=10, nesterov=True, weight_decay=1e-4)
SKEATTN_FINETUNE = dict(epochs=150, schedule="step", lr_steps=(60, 100), warmup_epochs=0,
                        nesterov=False, weight_decay=0.0)  # lr: skeattn_finetune_lr
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
# The semi-supervised schedules of both repositories are 150 epochs long; their lr steps are
# moved proportionally when a config trains for fewer (`semi_rows`).
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


def skeattn_finetune_lr(dataset: str, stream: str) -> float:
  """SkeAttnCLR's fine-tune learning rate for a dataset and stream (its FT_eval_*.yaml)."""
  return _SKEATTN_FT_LR.get((_family(dataset), stream), _SKEATTN_FT_LR[("ntu60_xsub", stream)])


def skelemix_semi(dataset: str, stream: str, fraction: float
                  ) -> tuple[float, tuple[int, ...], float]:
  """(lr, lr_steps, weight_decay) of SkeleMixCLR's semi-supervised configs (any dataset and
  stream; the nearer of 1 % and 10 %): the setting of SkeletonCLR, AimCLR and SkeleMixCLR."""
  del dataset, stream
  return _SKELEMIX_SEMI[_nearest_fraction(fraction)]


def skeattn_semi(dataset: str, stream: str, fraction: float
                 ) -> tuple[float, tuple[int, ...], float]:
  """(lr, lr_steps, weight_decay) of SkeAttnCLR's semiFT*.yaml for a dataset, stream and
  fraction (the nearer of 1 % and 10 %; datasets without a row use NTU-60 xsub's)."""
  nearest = _nearest_fraction(fraction)
  key = (_family(dataset), stream, nearest)
  if key not in _SKEATTN_SEMI:
    key = ("ntu60_xsub", stream, nearest)
  lr, steps = _SKEATTN_SEMI[key]
  return lr, steps, 0.0


def semi_rows(rows_fn, fractions: Sequence[float], dataset: str, stream: str, epochs: int
              ) -> list[tuple[float, tuple[int, ...], float]]:
  """`rows_fn`'s (lr, lr_steps, weight_decay) per fraction, the steps moved from the
  reference's `SEMI_EPOCHS` to an `epochs`-long schedule."""
  rows = [rows_fn(dataset, stream, float(f)) for f in fractions]
  return [(float(lr), scale_steps(steps, SEMI_EPOCHS, int(epochs)), float(wd))
          for lr, steps, wd in rows]


def scale_steps(steps: Sequence[int], ref_epochs: int, epochs: int) -> tuple[int, ...]:
  """Decay epochs of a `ref_epochs` schedule moved proportionally to an `epochs` one.

  E.g. steps (50, 70, 90) of 110 epochs become (9, 13, 16) at 20 epochs. Every step stays at
  least 1; duplicates are dropped.
  """
  return tuple(sorted({max(1, round(s * epochs / ref_epochs)) for s in steps}))
