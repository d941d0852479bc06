"""Fine-tuning a pretrained ST-GCN with a fresh classifier.

The protocol of the reference's processor/finetune_evaluation.py `FT_Processor` (AimCLR,
SkeleMixCLR and SkeAttnCLR repositories):

* the pretrained backbone (the query encoder without its projection head; SkeAttnCLR's neck is
  dropped too) plus a fresh `fc` Linear(D -> classes), kernel ~ N(0, 0.02²), bias 0
  (`weights_init`);
  every parameter trains;
* cross-entropy, **no augmentation**; shuffled drop-last minibatches (a labelled subset smaller
  than one batch is used whole, once per epoch, see `linear.batch_layout`);
* SGD, momentum 0.9 without dampening, optional Nesterov, coupled L2 weight decay on every
  parameter (BN and biases included), the per-epoch step (or cosine) schedule with the
  fine-tune warm-up `lr = base * e / W` for `e < W` (`FT_Processor.adjust_lr`);
* the test set evaluated every `eval_every` epochs and at the last one; the final and the best
  of these evaluations are both reported (the reference reports the best: selected on the test
  set).

Three switches the reference does not have:

* `bn_mode`: the reference calls `model.eval()` inside its training loop, so BN normalises with
  the **pretrained running statistics**, which never change (gamma and beta still train), and
  dropout is off. `bn_mode='eval'` (the default) reproduces this quirk. `bn_mode='train'` is
  standard fine-tuning: batch statistics, running averages updated (momentum 0.1), and dropout
  as configured in the model (0.5 in blocks 2-10). The reference never trains in train mode,
  so there is nothing to match; the standard choice is the one offered. Eval mode only makes
  sense from pretrained statistics: from a random init (running mean 0, variance 1, weights
  ~ N(0, 0.02²)) the activations shrink layer after layer and it does not learn (demo data, 3
  epochs: 10.0 % = chance in eval mode, 26.8 % in train mode), so use `bn_mode='train'` for a
  random-init fine-tuning baseline.
* gradient clipping: the reference's `clip_grad_norm_` runs between `zero_grad` and `backward`,
  on zero gradients, so it never acts. Here `clip_grad=True` (the default) clips the raw
  gradient to global norm `max_grad_norm` (the reference's `max_grad`, 35) before the weight
  decay and the momentum, which is what the reference intended (`backward`, clip, `step`).
* `augment`: an augmentation chain on the training minibatches (default none, as the
  reference). On small data the whole encoder otherwise memorises the training clips within
  a few epochs (NW-UCLA cross-view: train loss 0.36, test 67 % against the frozen features'
  73 %); the pretraining's own chain keeps fine-tuning from undoing the viewpoint invariance
  it taught (docs/small_data.md).

Speed: one epoch is one jitted `lax.scan` over the minibatches of the whole encoder + fc, with
the training clips on the device (converted to the input stream once, on the host: without
augmentation the stream of a clip never changes). The test set is predicted in fixed-size
chunks by one jitted `lax.map`. Everything runs on the default device.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from skel_jax.augment import registry as aug_registry
from skel_jax.data import streams
from skel_jax.evaluate import linear
from skel_jax.models.stgcn import STGCN
from skel_jax.train import schedules

log = logging.getLogger(__name__)

BN_MODES = ("eval", "train")


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
  """Hyper-parameters of one fine-tuning run (field meanings as in `config.eval.finetune`).

  Attributes:
    epochs: training epochs E.
    lr: base learning rate.
    schedule: 'step', 'cosine' or 'constant' (schedules.KINDS).
    lr_steps: 1-based epochs after which a 'step' schedule divides the rate by 10.
    warmup_epochs: W; epochs e < W use `lr * e / W` (0: none).
    batch_size: training minibatch.
    momentum: SGD momentum (0: plain SGD).
    nesterov: Nesterov momentum.
    weight_decay: coupled L2 decay on every parameter.
    eval_every: test evaluation interval in epochs (and at the last epoch).
    bn_mode: 'eval' (reference: running statistics frozen, dropout off) or 'train'.
    clip_grad: clip the gradient's global norm to `max_grad_norm`.
    max_grad_norm: the clipping threshold.
    eval_batch_size: clips per chunk when predicting the test set.
    augment: an augmentation spec (`skel_jax.augment.registry.build`, e.g. the small presets'
      `config_lib.SMALL_DATA_NORMAL`) applied to every training minibatch before its stream
      conversion; '' (the reference) trains on the clips as they are.
    backbone_lr_scale: the backbone's learning rate as a fraction of the classifier's (every
      update of a parameter outside `fc` is scaled by it, weight decay and momentum included);
      1 (the reference) trains every parameter at `lr`.
  """

  epochs: int = 100
  lr: float = 0.1
  schedule: str = "step"
  lr_steps: tuple[int, ...] = (80,)
  warmup_epochs: int = 0
  batch_size: int = 128
  momentum: float = 0.9
  nesterov: bool = False
  weight_decay: float = 0.0
  eval_every: int = 5
  bn_mode: str = "eval"
  clip_grad: bool = True
  max_grad_norm: float = 35.0
  eval_batch_size: int = 256
  augment: str = ""
  backbone_lr_scale: float = 1.0

  def __post_init__(self):
    if self.bn_mode not in BN_MODES:
      raise ValueError(f"unknown bn_mode {self.bn_mode!r}; known: {BN_MODES}")
    if self.schedule not in schedules.KINDS:
      raise ValueError(f"unknown schedule {self.schedule!r}; known: {schedules.KINDS}")
    for name in ("epochs", "batch_size", "eval_every", "eval_batch_size"):
      if int(getattr(self, name)) <= 0:
        raise ValueError(f"fine-tune {name} must be positive, got {getattr(self, name)}")
    if not 0 <= self.backbone_lr_scale:
      raise ValueError(f"backbone_lr_scale must be >= 0, got {self.backbone_lr_scale}")
    if self.clip_grad and not self.max_grad_norm > 0:
      raise ValueError(f"max_grad_norm must be positive, got {self.max_grad_norm}")

  @classmethod
  def from_config(cls, ft_config, **overrides) -> FinetuneSettings:
    """Settings from a `config.eval.finetune` section, with keyword overrides."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: ft_config[k] for k in fields if k in ft_config}
    values.update(overrides)
    values["lr_steps"] = tuple(int(s) for s in values.get("lr_steps", ()))
    return cls(**values)

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def make_optimizer(settings: FinetuneSettings, steps_per_epoch: int):
  """(optax transformation, lr schedule) of the reference processor plus real gradient clipping.

  The chain is `clip_by_global_norm` (raw gradient), `add_decayed_weights` (g + wd θ, PyTorch's
  coupled decay) and `sgd` (buf = μ buf + g; update -lr buf, or -lr (g + μ buf) with
  Nesterov), which is `torch.optim.SGD` after `clip_grad_norm_`.
  """
  lr_fn = schedules.epoch_schedule(settings.schedule, settings.lr, steps_per_epoch,
                                   settings.epochs, tuple(settings.lr_steps),
                                   settings.warmup_epochs)
  clip = optax.clip_by_global_norm(settings.max_grad_norm) if settings.clip_grad else None
  tx = schedules.torch_sgd(lr_fn, momentum=settings.momentum, nesterov=settings.nesterov,
                           weight_decay=settings.weight_decay or None, clip=clip)
  if settings.backbone_lr_scale != 1.0:
    # SGD's update is linear in the lr: scaling the backbone's updates scales its lr.
    tx = optax.chain(tx, optax.masked(optax.scale(settings.backbone_lr_scale), _backbone_mask))
  return tx, lr_fn


def _backbone_mask(params: dict) -> dict:
  """True for every parameter outside the classifier `fc`."""
  return {name: jax.tree.map(lambda _: name != "fc", sub) for name, sub in params.items()}


def classifier_model(backbone: STGCN, variables: dict, num_classes: int,
                     key: jax.Array) -> tuple[STGCN, dict]:
  """The backbone with a fresh `fc` (kernel ~ N(0, 0.02²), bias 0) and its variables.

  Args:
    backbone: an STGCN without classifier (`num_classes=None`).
    variables: its `{'params', 'batch_stats'}` (pretrained); not modified.
    num_classes: classes of the fresh classifier.
    key: initialises the classifier.

  Returns:
    `(model, variables)`: `STGCN(num_classes=...)` and variables whose params hold 'fc'.
  """
  model = backbone.clone(num_classes=int(num_classes))
  params = dict(variables["params"])
  params.pop("fc", None)
  params["fc"] = linear.init_classifier(key, backbone.out_dim, int(num_classes))
  return model, {"params": params, "batch_stats": variables["batch_stats"]}


def _cross_entropy(logits, labels):
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_epoch_fn(model: STGCN, tx: optax.GradientTransformation, *, steps: int, batch: int,
                  bn_mode: str, seed: int,
                  prepare: Callable[[jax.Array, jax.Array], jax.Array] | None = None
                  ) -> Callable:
  """A jitted `(params, batch_stats, opt_state, epoch, x, y) -> (params, batch_stats,
  opt_state, metrics)` running one shuffled epoch as a `lax.scan` of SGD steps.

  `epoch` is the 1-based epoch as an int32 array (a Python int would recompile every epoch);
  the shuffling key is `linear.epoch_key(seed, epoch)`, the dropout key of global step i
  `fold_in(fold_in(key(seed), 2), i)`. metrics: mean loss, mean train accuracy (fraction) and
  mean pre-clipping gradient norm over the epoch.

  `prepare(key, xb) -> xb`, when given, turns each minibatch into the network's input
  (augmentation, then the stream conversion) with key `fold_in(fold_in(key(seed), 3), i)`.
  """
  train_bn = bn_mode == "train"
  dropout_base = jax.random.fold_in(jax.random.key(seed), 2)
  augment_base = jax.random.fold_in(jax.random.key(seed), 3)

  def loss_fn(params, batch_stats, xb, yb, rng):
    variables = {"params": params, "batch_stats": batch_stats}
    if train_bn:
      (logits, _), mutated = model.apply(variables, xb, train=True, mutable=["batch_stats"],
                                         rngs={"dropout": rng})
      batch_stats = mutated["batch_stats"]
    else:  # the reference's model.eval(): running statistics, no dropout
      logits, _ = model.apply(variables, xb, train=False)
    acc = jnp.mean(jnp.argmax(logits, axis=-1) == yb)
    return _cross_entropy(logits, yb), (batch_stats, acc)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def run_epoch(params, batch_stats, opt_state, epoch, x, y):
    idx = linear.epoch_batches(linear.epoch_key(seed, epoch), x.shape[0], steps, batch)
    first = (epoch - 1) * steps

    def step(carry, inputs):
      params, batch_stats, opt_state = carry
      batch_idx, i = inputs
      rng = jax.random.fold_in(dropout_base, first + i)
      xb = x[batch_idx]
      if prepare is not None:
        xb = prepare(jax.random.fold_in(augment_base, first + i), xb)
      (loss, (batch_stats, acc)), grads = grad_fn(params, batch_stats, xb, y[batch_idx], rng)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      return (params, batch_stats, opt_state), (loss, acc, optax.tree.norm(grads))

    carry, (losses, accs, norms) = jax.lax.scan(
        step, (params, batch_stats, opt_state), (idx, jnp.arange(steps, dtype=jnp.int32)))
    metrics = {"loss": losses.mean(), "train_acc": accs.mean(), "grad_norm": norms.mean()}
    return (*carry, metrics)

  return jax.jit(run_epoch)


def make_predict_fn(model: STGCN) -> Callable:
  """A jitted `(variables, chunks [K, B, M, T, V, C]) -> logits [K * B, classes]` (eval mode)."""

  @jax.jit
  def predict(variables, chunks):
    def one(xb):
      logits, _ = model.apply(variables, xb, train=False)
      return logits

    logits = jax.lax.map(one, chunks)  # [K, B, classes]
    return logits.reshape(-1, logits.shape[-1])

  return predict


def pad_chunks(x: np.ndarray, chunk: int) -> np.ndarray:
  """`[N, ...]` zero-padded to a multiple of `chunk` and reshaped to `[K, chunk, ...]`."""
  chunk = max(1, min(chunk, len(x)))
  pad = -len(x) % chunk
  if pad:
    x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
  return x.reshape(-1, chunk, *x.shape[1:])


def predict_logits(model: STGCN, variables: dict, x: np.ndarray,
                   batch_size: int = 256) -> np.ndarray:
  """Eval-mode logits `[N, classes]` of clips `x` `[N, M, T, V, C]` (already in their stream)."""
  chunks = pad_chunks(np.asarray(x, np.float32), batch_size)
  return np.asarray(make_predict_fn(model)(variables, jnp.asarray(chunks)))[:len(x)]


def _check(name: str, x, y, num_classes: int):
  x = np.asarray(x, np.float32)
  y = np.asarray(y)
  if x.ndim != 5 or len(x) == 0:
    raise ValueError(f"{name}_x must be non-empty clips [N, M, T, V, C], got {x.shape}")
  if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"{name}_y must be [{len(x)}] integer labels, got {y.dtype} {y.shape}")
  linear.check_label_range(name, y, num_classes)
  return x, y.astype(np.int32)


def finetune(backbone: STGCN, variables: dict, train_x, train_y, test_x, test_y, *,
             num_classes: int, settings: FinetuneSettings, stream: str = "joint",
             layout=None, seed: int = 0,
             progress: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
  """Fine-tunes `backbone` + a fresh classifier on clips and evaluates it.

  Args:
    backbone: the pretrained STGCN (no classifier).
    variables: its `{'params', 'batch_stats'}`.
    train_x: `[N, M, T, V, C]` joint-coordinate training clips.
    train_y: `[N]` labels in `[0, num_classes)`.
    test_x: `[Nt, M, T, V, C]` test clips.
    test_y: `[Nt]` labels.
    num_classes: classes of the classifier.
    settings: the hyper-parameters.
    stream: input stream the clips are converted to (`data.streams`), once, on the host.
    layout: skeleton layout of the clips (for the bone stream); default the backbone's.
    seed: classifier init (`linear.init_key(seed)`), shuffling and dropout keys.
    progress: optional callback after every epoch with `epoch`, `lr`, `train_loss`,
      `train_acc`, `grad_norm` and, on evaluation epochs, `top1`, `top5`.

  Returns:
    A dict with `final_top1`, `final_top5`, `best_top1`, `best_epoch` (earliest epoch reaching
    the best), `history` (`[epoch, top1, top5, train_loss]` per evaluation), `epoch_log`
    (`[epoch, lr, train_loss, train_acc (%), grad_norm]` per epoch), `test_logits` `[Nt, C]`
    of the final model, `variables` (the final model, numpy), `steps_per_epoch`, `batch_size`
    and `num_train`. Accuracies are percentages.

  Raises:
    ValueError: for bad shapes or labels, or non-finite training losses.
  """
  train_x, train_y = _check("train", train_x, train_y, num_classes)
  test_x, test_y = _check("test", test_x, test_y, num_classes)
  layout = layout or backbone.layout
  prepare = None
  if settings.augment:
    # Augment joint coordinates, then convert: the stream of an augmented clip changes
    # every step, so the conversion moves into the jitted step.
    augment = aug_registry.build(settings.augment, layout)

    def prepare(key, xb):
      return streams.to_stream(augment(key, xb), stream, layout)
  else:  # without augmentation a clip's stream never changes: convert once, on the host
    train_x = streams.to_stream(train_x, stream, layout)
  test_x = streams.to_stream(test_x, stream, layout)
  steps, batch = linear.batch_layout(len(train_x), settings.batch_size)

  model, variables = classifier_model(backbone, variables, num_classes, linear.init_key(seed))
  tx, _ = make_optimizer(settings, steps)
  params, batch_stats = variables["params"], variables["batch_stats"]
  opt_state = tx.init(params)
  run_epoch = make_epoch_fn(model, tx, steps=steps, batch=batch, bn_mode=settings.bn_mode,
                            seed=seed, prepare=prepare)
  predict = make_predict_fn(model)
  xs, ys = jnp.asarray(train_x), jnp.asarray(train_y)
  test_chunks = jnp.asarray(pad_chunks(test_x, settings.eval_batch_size))

  history, epoch_log = [], []
  logits = top1 = top5 = None
  t0 = time.time()
  for epoch in range(1, settings.epochs + 1):
    params, batch_stats, opt_state, m = run_epoch(params, batch_stats, opt_state,
                                                  jnp.int32(epoch), xs, ys)
    m = {k: float(v) for k, v in jax.device_get(m).items()}
    if not np.isfinite(m["loss"]):
      raise ValueError(f"fine-tuning diverged: the training loss of epoch {epoch} is "
                       f"{m['loss']} (lr {settings.lr}); lower eval.finetune.lr")
    lr = schedules.lr_at_epoch(settings.schedule, settings.lr, epoch,
                               total_epochs=settings.epochs, lr_steps=settings.lr_steps,
                               warmup_epochs=settings.warmup_epochs)
    epoch_log.append([epoch, lr, m["loss"], 100.0 * m["train_acc"], m["grad_norm"]])
    info = {"epoch": epoch, "lr": lr, "train_loss": m["loss"],
            "train_acc": 100.0 * m["train_acc"], "grad_norm": m["grad_norm"]}
    if epoch % settings.eval_every == 0 or epoch == settings.epochs:
      out = predict({"params": params, "batch_stats": batch_stats}, test_chunks)
      logits = np.asarray(out)[:len(test_y)]
      top1 = linear.topk_accuracy(logits, test_y, 1)
      top5 = linear.topk_accuracy(logits, test_y, 5)
      history.append([epoch, top1, top5, m["loss"]])
      info.update(top1=top1, top5=top5)
      log.info("fine-tune epoch %d/%d: loss %.4f, test top-1 %.2f (%.0f s)", epoch,
               settings.epochs, m["loss"], top1, time.time() - t0)
    if progress is not None:
      progress(info)

  best_epoch, best_top1 = history[0][0], history[0][1]
  for epoch, t1, _, _ in history:
    if t1 > best_top1:  # strict: the earliest epoch wins ties
      best_epoch, best_top1 = epoch, t1
  return {
      "final_top1": top1, "final_top5": top5, "best_top1": best_top1, "best_epoch": best_epoch,
      "history": history, "epoch_log": epoch_log, "test_logits": logits,
      "variables": jax.device_get({"params": params, "batch_stats": batch_stats}),
      "steps_per_epoch": steps, "batch_size": batch, "num_train": int(len(train_x)),
  }


def settings_for_semi(base: FinetuneSettings, semi_config, index: int) -> FinetuneSettings:
  """The settings of the `index`-th semi-supervised fraction (`config.eval.semi`).

  `semi_config.lr`, `.lr_steps` and `.weight_decay` hold one entry per fraction, or a single
  entry for all; `epochs`, `warmup_epochs` and `nesterov` come from `semi_config`, and so does
  the minibatch when `semi_config.batch_size` is positive; the rest from `base` (momentum, BN
  mode, clipping, augmentation, evaluation interval).

  Raises:
    ValueError: when a per-fraction tuple has neither one entry nor one per fraction.
  """
  fractions = tuple(semi_config.fractions)

  def pick(name: str, value: Sequence):
    value = tuple(value)
    if len(value) == len(fractions):
      return value[index]
    if len(value) == 1:
      return value[0]
    raise ValueError(
        f"eval.semi.{name} has {len(value)} entries {value} for {len(fractions)} fractions "
        f"{fractions}: give one per fraction or a single one, e.g. "
        f"--config.eval.semi.{name}='({value[0]!r},)'")

  batch = int(semi_config.get("batch_size", 0)) or base.batch_size
  return dataclasses.replace(
      base, epochs=int(semi_config.epochs), lr=float(pick("lr", semi_config.lr)),
      batch_size=batch,
      lr_steps=tuple(int(s) for s in pick("lr_steps", semi_config.lr_steps)),
      weight_decay=float(pick("weight_decay", semi_config.weight_decay)),
      warmup_epochs=int(semi_config.warmup_epochs), nesterov=bool(semi_config.nesterov))
