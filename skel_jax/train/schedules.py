"""Epoch-based learning-rate schedules of the reference code (processor/pretrain.py `adjust_lr`).

The reference sets the learning rate once at the start of every epoch, from the 1-based epoch
number `e` (`meta_info['epoch']` in the processors). The scalar helpers (`step_lr`,
`cosine_lr`, `warmup`, `lr_at_epoch`) are plain Python for host code and exact tests;
`epoch_schedule` turns the same rule into an optax schedule over the global step, so an
`optax.sgd(epoch_schedule(...), momentum=0.9)` reproduces the per-epoch values inside a jitted
loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import optax

KINDS = ("step", "cosine", "constant")


def step_lr(base: float, epoch: int, steps: Sequence[int] = ()) -> float:
  """Step decay: `base * 0.1 ** #{s in steps : epoch > s}` (`PT_Processor.adjust_lr`).

  Args:
    base: base learning rate.
    epoch: 1-based epoch.
    steps: epochs after which the rate is divided by 10 (e.g. [80]: epochs 1-80 use `base`,
      81 onwards `base / 10`).

  Returns:
    The learning rate of that epoch.
  """
  return base * 0.1 ** sum(1 for s in steps if epoch > s)


def cosine_lr(base: float, epoch: int, total_epochs: int) -> float:
  """Cosine decay `base * 0.5 * (1 + cos(pi * epoch / total_epochs))` (SkeleMixCLR's `cos: 1`).

  With the 1-based epoch of the reference, epoch 1 is already slightly below `base` and the
  last epoch (`epoch == total_epochs`) trains with a learning rate of 0.

  Args:
    base: base learning rate.
    epoch: 1-based epoch.
    total_epochs: number of epochs E of the run.

  Returns:
    The learning rate of that epoch.
  """
  return base * 0.5 * (1.0 + math.cos(math.pi * epoch / total_epochs))


def warmup(lr: float, base: float, epoch: int, warmup_epochs: int) -> float:
  """Fine-tune linear warm-up (`FT_Processor.adjust_lr`): `base * epoch / warmup_epochs` while
  `epoch < warmup_epochs`, otherwise `lr` (the value of the main schedule) unchanged.

  The warm-up replaces the main schedule's value rather than multiplying it. With the 1-based
  epoch, epoch 1 uses `base / W` and epoch W is the first at the full schedule value.

  Args:
    lr: the main schedule's learning rate for this epoch.
    base: base learning rate.
    epoch: 1-based epoch.
    warmup_epochs: W; 0 disables the warm-up.

  Returns:
    The learning rate of that epoch.
  """
  if epoch < warmup_epochs:
    return base * epoch / warmup_epochs
  return lr


def lr_at_epoch(kind: str, base: float, epoch: int, *, total_epochs: int,
                lr_steps: Sequence[int] = (), warmup_epochs: int = 0) -> float:
  """The learning rate of one epoch: the `kind` schedule followed by the optional warm-up.

  Args:
    kind: 'step' (`step_lr` with `lr_steps`), 'cosine' (`cosine_lr`) or 'constant'.
    base: base learning rate.
    epoch: 1-based epoch.
    total_epochs: number of epochs of the run (used by 'cosine').
    lr_steps: decay epochs of the 'step' schedule.
    warmup_epochs: warm-up length in epochs (0: none).

  Returns:
    The learning rate of that epoch.

  Raises:
    ValueError: for an unknown `kind`.
  """
  _check_kind(kind)
  if kind == "step":
    lr = step_lr(base, epoch, lr_steps)
  elif kind == "cosine":
    lr = cosine_lr(base, epoch, total_epochs)
  else:
    lr = base
  return warmup(lr, base, epoch, warmup_epochs)


def epoch_schedule(kind: str, base: float, steps_per_epoch: int, total_epochs: int,
                   lr_steps: Sequence[int] = (), warmup_epochs: int = 0) -> optax.Schedule:
  """An optax schedule (global step -> lr) that is constant within each epoch.

  The 0-based global step `i` belongs to the 1-based epoch `i // steps_per_epoch + 1`, and the
  schedule returns `lr_at_epoch(kind, base, that epoch, ...)`. optax evaluates a schedule on
  the update count before incrementing it, so the first update of the run uses epoch 1.

  Args:
    kind: 'step', 'cosine' or 'constant' (see `lr_at_epoch`).
    base: base learning rate.
    steps_per_epoch: optimiser updates per epoch (> 0).
    total_epochs: number of epochs of the run.
    lr_steps: decay epochs of the 'step' schedule.
    warmup_epochs: warm-up length in epochs (0: none).

  Returns:
    A function of the (traced or concrete) integer step returning a float32 learning rate.

  Raises:
    ValueError: for an unknown `kind` or a non-positive `steps_per_epoch`.
  """
  _check_kind(kind)
  if steps_per_epoch <= 0:
    raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
  main = _main_schedule(kind, base, steps_per_epoch, total_epochs, tuple(lr_steps))

  def schedule(count):
    lr = jnp.asarray(main(count), jnp.float32)
    if warmup_epochs > 0:
      # Hand-written: the reference's warm-up replaces the main value (optax's warm-up
      # schedules add a phase before it) and counts 1-based epochs.
      epoch = jnp.asarray(count, jnp.int32) // steps_per_epoch + 1
      lr = jnp.where(epoch < warmup_epochs, base * epoch.astype(jnp.float32) / warmup_epochs, lr)
    return jnp.asarray(lr, jnp.float32)

  return schedule


def _main_schedule(kind: str, base: float, steps_per_epoch: int, total_epochs: int,
                   lr_steps: tuple[int, ...]) -> optax.Schedule:
  """The per-epoch schedule before the warm-up, as a function of the 0-based global step."""
  if kind == "constant":
    return optax.constant_schedule(base)
  if kind == "step" and len(lr_steps) <= 1:
    # optax is exact here: epoch `i // spe + 1 > s` is `i >= s * spe`, optax's boundary test,
    # and one factor gives the same float32 product `base * 0.1`.
    return optax.piecewise_constant_schedule(base, {s * steps_per_epoch: 0.1 for s in lr_steps})
  steps_arr = jnp.asarray(lr_steps, jnp.int32).reshape(-1)  # [S]

  def schedule(count):
    epoch = jnp.asarray(count, jnp.int32) // steps_per_epoch + 1
    if kind == "step":
      # Hand-written for several decays: optax multiplies the factors one at a time
      # (base * 0.1 * 0.1), which differs from base * 0.1**2 in the last bit for some bases
      # (e.g. 3.0 with three decays); this keeps the results of the runs made so far.
      num_decays = jnp.sum(epoch > steps_arr)
      return base * jnp.power(jnp.float32(0.1), num_decays.astype(jnp.float32))
    # Hand-written: the reference's cosine is constant within an epoch and uses the 1-based
    # epoch (the last epoch trains at lr 0); optax.cosine_decay_schedule decays every step
    # from step 0.
    return base * 0.5 * (1.0 + jnp.cos(jnp.pi * epoch.astype(jnp.float32) / total_epochs))

  return schedule


def _check_kind(kind: str) -> None:
  if kind not in KINDS:
    raise ValueError(f"unknown learning-rate schedule {kind!r}; known: {', '.join(KINDS)}")


def torch_sgd(lr, *, momentum: float, nesterov: bool, weight_decay: float | None,
              clip: optax.GradientTransformation | None = None) -> optax.GradientTransformation:
  """`torch.optim.SGD(lr, momentum, nesterov=..., weight_decay=...)`, after `clip`, in optax.

  The one optimiser of pretraining, linear evaluation and fine-tuning. `add_decayed_weights`
  gives `g + wd * theta` (PyTorch's coupled decay); `optax.sgd`'s trace then computes
  `buf = mu * buf + g` (no dampening) and the update `-lr * buf` (`-lr * (g + mu * buf)` with
  Nesterov), as PyTorch's SGD does.

  Args:
    lr: a float or an optax schedule (e.g. `epoch_schedule`).
    momentum: mu; 0 for plain SGD.
    nesterov: Nesterov momentum.
    weight_decay: wd; None leaves the decay out of the chain, while 0.0 keeps it as a no-op
      (pretraining keeps it, so that its checkpointed optimiser state has one structure).
    clip: a transformation of the raw loss gradient first (e.g. `clip_by_global_norm`).
  """
  parts = [clip] if clip is not None else []
  if weight_decay is not None:
    parts.append(optax.add_decayed_weights(weight_decay))
  parts.append(optax.sgd(lr, momentum=momentum or None, nesterov=nesterov))
  return optax.chain(*parts)
