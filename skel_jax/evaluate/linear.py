"""Linear evaluation on precomputed frozen features (CrosSCLR processor/linear_evaluation.py).

In the reference linear protocol the encoder stays in eval mode and the clips are not
augmented, so the 256-d features are deterministic: they are computed once (elsewhere) and only
a Linear(D -> num_classes) is trained here, with

* SGD, momentum 0.9 without dampening, optional Nesterov, coupled L2 weight decay added to the
  gradient before the momentum (PyTorch `SGD(weight_decay=...)`), expressed as
  `optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr, momentum))`;
* the step schedule `lr(e) = base * 0.1 ** #{s : e > s}` set per 1-based epoch (`adjust_lr`);
* a train loader that reshuffles every epoch and drops the last incomplete batch;
* cross-entropy on the logits, classifier weight ~ N(0, 0.02²) and bias 0 (`weights_init`);
* the test set evaluated in full every `eval_every` epochs and at the last epoch.

One epoch is one jitted `lax.scan` over the shuffled minibatches, so 100 epochs over 40k x 256
features take seconds. Accuracies are percentages in [0, 100], as the reference logs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from skel_jax.train import schedules

_HIGHEST = jax.lax.Precision.HIGHEST


def init_classifier(key: jax.Array, dim: int, num_classes: int,
                    std: float = 0.02) -> dict[str, jax.Array]:
  """A fresh linear classifier: kernel ~ N(0, std²) `[D, C]`, bias 0 `[C]` (`weights_init`)."""
  return {"kernel": std * jax.random.normal(key, (dim, num_classes), jnp.float32),
          "bias": jnp.zeros((num_classes,), jnp.float32)}


def linear_logits(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
  """Logits `x @ kernel + bias`, `[N, D] -> [N, C]`, in full float32 precision."""
  return jnp.dot(x, params["kernel"], precision=_HIGHEST) + params["bias"]


def topk_accuracy(logits, labels, k: int) -> float:
  """Percentage of rows whose label is among the `k` largest logits, on the host.

  The one accuracy of every protocol (linear, fine-tuning, fusion); it keeps the scores'
  dtype, so fused float64 scores are ranked in float64. Ties are broken towards the lower
  class index (the order of `lax.top_k` in the jitted evaluation step, `_topk_hits`), so top-1
  equals `argmax == label`. `k` is clamped to the number of classes.

  Args:
    logits: `[N, C]` scores (numpy or jax).
    labels: `[N]` integer labels.
    k: how many top classes count as a hit.

  Returns:
    The accuracy in percent (0 for an empty set).
  """
  logits = np.asarray(logits)
  labels = np.asarray(labels)
  if logits.shape[0] == 0:
    return 0.0
  k = min(k, logits.shape[-1])
  top = np.argsort(-logits, axis=-1, kind="stable")[:, :k]  # [N, k], ties: lower class first
  return 100.0 * float(np.mean(np.any(top == labels[:, None], axis=-1)))


def _topk_hits(logits: jax.Array, labels: jax.Array, k: int) -> jax.Array:
  """Per-row hits of `topk_accuracy`, on the device: the jitted evaluation of the linear probes
  counts them in the graph and hands two integers to the host per evaluation (the same ranking
  and tie order; tests/test_linear.py checks that the two agree)."""
  _, top = jax.lax.top_k(logits, k)  # [N, k]
  return jnp.any(top == labels[:, None], axis=-1).astype(jnp.int32)  # [N]


def epoch_key(seed: int, epoch: int) -> jax.Array:
  """The shuffling key of a 1-based epoch: `fold_in(fold_in(key(seed), 1), epoch)`."""
  return jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 1), epoch)


def init_key(seed: int) -> jax.Array:
  """The classifier-initialisation key: `fold_in(key(seed), 0)`."""
  return jax.random.fold_in(jax.random.key(seed), 0)


def batch_layout(num_samples: int, batch_size: int) -> tuple[int, int]:
  """(steps per epoch, batch size actually used) for a shuffled drop-last loader.

  With `num_samples >= batch_size` this is `(num_samples // batch_size, batch_size)`, the
  reference's `drop_last=True`. A dataset smaller than one batch would give zero steps there;
  here it gives one step over the whole (shuffled) dataset instead, so tiny labelled subsets
  still train.
  """
  if num_samples <= 0:
    raise ValueError("the training set is empty")
  if batch_size <= 0:
    raise ValueError(f"batch_size must be positive, got {batch_size}")
  if num_samples < batch_size:
    return 1, num_samples
  return num_samples // batch_size, batch_size


def epoch_batches(key: jax.Array, num_samples: int, steps: int, batch: int) -> jax.Array:
  """Indices `[steps, batch]` of one shuffled epoch: a permutation, its tail dropped."""
  perm = jax.random.permutation(key, num_samples)
  return perm[:steps * batch].reshape(steps, batch)  # [steps, batch]


def standardize(train_x, test_x, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
  """Both splits standardised with the training split's per-dimension mean and variance.

  This is a non-affine BatchNorm in front of the classifier (the linear probe of MAE, He et
  al. 2022): the probe then sees the same input whatever the scale of the features, so an
  encoder whose features are tiny (a random ST-GCN's are about 1e-8) is not penalised by the
  reference probe's fixed learning rate. `eps` is relative to the mean variance, so scaling
  all features by a constant leaves the result unchanged; a constant dimension maps to 0.
  Statistics are computed in float64.

  Returns:
    `(train [N, D], test [M, D])` float32.
  """
  train64 = np.asarray(train_x, np.float64)
  mean, var = train64.mean(0), train64.var(0)  # [D] each
  floor = eps * max(float(var.mean()), np.finfo(np.float64).tiny)
  inv = 1.0 / np.sqrt(var + floor)  # [D]
  return (((train64 - mean) * inv).astype(np.float32),
          ((np.asarray(test_x, np.float64) - mean) * inv).astype(np.float32))


def make_optimizer(lr: float, *, steps_per_epoch: int, epochs: int, lr_steps: Sequence[int],
                   momentum: float, nesterov: bool, weight_decay: float,
                   schedule: str = "step") -> optax.GradientTransformation:
  """PyTorch-equivalent SGD (`torch.optim.SGD`) with a per-epoch schedule ('step' as in the
  reference, or 'cosine').

  The optimiser is `schedules.torch_sgd`, exactly `torch.optim.SGD` with `weight_decay`,
  `momentum`, `nesterov`.
  """
  lr_fn = schedules.epoch_schedule(schedule, lr, steps_per_epoch, epochs, lr_steps)
  return schedules.torch_sgd(lr_fn, momentum=momentum, nesterov=nesterov,
                             weight_decay=weight_decay or None)


def _loss_fn(params, x, y):
  logits = linear_logits(params, x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def _make_epoch_fn(tx: optax.GradientTransformation, steps: int, batch: int):
  """A jitted `(params, opt_state, key, x, y) -> (params, opt_state, mean loss)` for one epoch."""

  def run_epoch(params, opt_state, key, x, y):
    idx = epoch_batches(key, x.shape[0], steps, batch)  # [steps, batch]

    def step(carry, batch_idx):
      params, opt_state = carry
      loss, grads = jax.value_and_grad(_loss_fn)(params, x[batch_idx], y[batch_idx])
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), idx)
    return params, opt_state, losses.mean()

  return jax.jit(run_epoch)


@jax.jit
def _evaluate(params, x, y):
  logits = linear_logits(params, x)  # [N, C]
  k5 = min(5, logits.shape[-1])
  # Hit counts, turned into percentages on the host in float64 (100 exactly when all hit).
  return logits, _topk_hits(logits, y, 1).sum(), _topk_hits(logits, y, k5).sum()


def check_label_range(name: str, y: np.ndarray, num_classes: int) -> None:
  """Raises naming the first sample of `{name}_y` whose label is outside [0, num_classes)."""
  bad = np.flatnonzero((y < 0) | (y >= num_classes))
  if bad.size:
    raise ValueError(f"{name}_y: sample {bad[0]} has label {y[bad[0]]}, outside "
                     f"[0, {num_classes}) ({bad.size} such samples)")


def _check_split(name: str, x, y, num_classes: int, dim: int | None = None):
  x = np.asarray(x, np.float32)
  y = np.asarray(y)
  if x.ndim != 2:
    raise ValueError(f"{name}_x must be [N, D] features, got shape {x.shape}")
  if x.shape[0] == 0:
    raise ValueError(f"{name}_x is empty")
  if y.shape != (x.shape[0],):
    raise ValueError(f"{name}_y must be [{x.shape[0]}] labels matching {name}_x, got {y.shape}")
  if dim is not None and x.shape[1] != dim:
    raise ValueError(f"{name}_x has feature dimension {x.shape[1]}, train_x has {dim}")
  if not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"{name}_y must hold integer labels, got dtype {y.dtype}")
  check_label_range(name, y, num_classes)
  nonfinite = np.flatnonzero(~np.isfinite(x).all(axis=1))
  if nonfinite.size:
    raise ValueError(f"{name}_x: sample {nonfinite[0]} has non-finite features "
                     f"({nonfinite.size} such samples)")
  return x, y.astype(np.int32)


def train_linear(train_x, train_y, test_x, test_y, *, num_classes: int, epochs: int = 100,
                 lr: float = 3.0, lr_steps: Sequence[int] = (80,), batch_size: int = 128,
                 momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
                 eval_every: int = 5, seed: int = 0, init_std: float = 0.02,
                 schedule: str = "step",
                 init_params: dict[str, Any] | None = None,
                 progress: Callable[[dict[str, float]], None] | None = None) -> dict[str, Any]:
  """Trains a linear classifier on frozen features and evaluates it (`LE_Processor`).

  Defaults are the CrosSCLR/AimCLR linear settings (lr 3.0, 100 epochs, steps [80], batch 128,
  momentum 0.9, wd 0); SkeleMixCLR uses 150 epochs and SkeAttnCLR 150 epochs with steps
  [60, 100].

  `best_top1` is the maximum test top-1 over the evaluations done every `eval_every` epochs and
  at the last epoch, which is what the reference logs and reports as "Best Top1": it is model
  selection on the test set. `final_top1` (the last epoch) is the unbiased figure.

  Args:
    train_x: `[N, D]` float training features.
    train_y: `[N]` integer labels in `[0, num_classes)`.
    test_x: `[M, D]` float test features.
    test_y: `[M]` integer labels.
    num_classes: number of classes C.
    epochs: training epochs.
    lr: base learning rate.
    lr_steps: 1-based epochs after which the learning rate is divided by 10.
    batch_size: minibatch size; the last incomplete batch of each epoch is dropped, except
      that a training set smaller than one batch is used whole once per epoch.
    momentum: SGD momentum (0 for plain SGD).
    nesterov: Nesterov momentum.
    weight_decay: coupled L2 weight decay on kernel and bias.
    eval_every: evaluate the test set every this many epochs (and at the last one).
    seed: seeds the classifier init (`init_key(seed)`) and the shuffling (`epoch_key`).
    init_std: standard deviation of the initial kernel.
    schedule: 'step' (the reference, with `lr_steps`) or 'cosine' (`schedules.cosine_lr`).
    init_params: optional `{'kernel': [D, C], 'bias': [C]}` to start from instead.
    progress: optional callback, called after every epoch with a dict holding `epoch`, `lr`,
      `train_loss` and, on evaluation epochs, `top1` and `top5` (percent).

  Returns:
    A dict with `final_top1`, `final_top5`, `best_top1`, `best_epoch` (the earliest epoch
    reaching `best_top1`), `history` (list of `(epoch, top1, top5, train_loss)` per evaluation,
    `train_loss` the mean minibatch loss of that epoch), `params` (the final classifier,
    numpy `kernel [D, C]` and `bias [C]`) and `test_logits` (numpy `[M, C]` of the final
    classifier, for multi-stream fusion). Top-5 is top-min(5, C).

  Raises:
    ValueError: for inconsistent shapes, labels outside `[0, num_classes)`, non-finite
      features, an empty training set or non-positive epochs / batch size / eval_every.
  """
  if epochs <= 0 or eval_every <= 0:
    raise ValueError(f"epochs and eval_every must be positive, got {epochs} and {eval_every}")
  train_x, train_y = _check_split("train", train_x, train_y, num_classes)
  test_x, test_y = _check_split("test", test_x, test_y, num_classes, dim=train_x.shape[1])
  steps, batch = batch_layout(train_x.shape[0], batch_size)

  tx = make_optimizer(lr, steps_per_epoch=steps, epochs=epochs, lr_steps=lr_steps,
                      momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                      schedule=schedule)
  if init_params is None:
    params = init_classifier(init_key(seed), train_x.shape[1], num_classes, init_std)
  else:
    params = {"kernel": jnp.asarray(init_params["kernel"], jnp.float32),
              "bias": jnp.asarray(init_params["bias"], jnp.float32)}
    if params["kernel"].shape != (train_x.shape[1], num_classes):
      raise ValueError(f"init_params kernel has shape {params['kernel'].shape}, expected "
                       f"{(train_x.shape[1], num_classes)}")
  opt_state = tx.init(params)
  run_epoch = _make_epoch_fn(tx, steps, batch)
  xs, ys = jnp.asarray(train_x), jnp.asarray(train_y)
  xt, yt = jnp.asarray(test_x), jnp.asarray(test_y)

  history = []
  logits = top1 = top5 = None
  for epoch in range(1, epochs + 1):
    params, opt_state, loss = run_epoch(params, opt_state, epoch_key(seed, epoch), xs, ys)
    info = {"epoch": epoch, "lr": schedules.lr_at_epoch(schedule, lr, epoch, total_epochs=epochs,
                                                        lr_steps=lr_steps)}
    if epoch % eval_every == 0 or epoch == epochs:
      logits, top1, top5 = _evaluate(params, xt, yt)
      top1, top5 = 100.0 * int(top1) / len(test_y), 100.0 * int(top5) / len(test_y)
      history.append((epoch, top1, top5, float(loss)))
      info.update(top1=top1, top5=top5)
    if progress is not None:
      progress({**info, "train_loss": float(loss)})

  best_epoch, best_top1 = history[0][0], history[0][1]
  for epoch, t1, _, _ in history:
    if t1 > best_top1:  # strict: the earliest epoch wins ties
      best_epoch, best_top1 = epoch, t1
  return {
      "final_top1": top1,
      "final_top5": top5,
      "best_top1": best_top1,
      "best_epoch": best_epoch,
      "history": history,
      "params": jax.tree.map(np.asarray, params),
      "test_logits": np.asarray(logits),
  }
