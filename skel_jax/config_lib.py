"""Shared configuration pieces for the method configs in configs/ (big_vision style).

Every `configs/<method>.py` has `get_config(arg)` which reads top to bottom: `parse_arg(arg)`
once, `base_config()` (the shared defaults: SkeletonCLR at the reference's NTU-60 settings), the
method's own values, `apply_preset` (dataset and size), the method's small-preset values, then
`finish` (the `key=value` arguments and the reference's fine-tune settings). The argument is a comma-separated list of a dataset/size preset and `key=value` pairs, e.g.
`configs/aimclr.py:nwucla,stream=bone` or `configs/skeletonclr.py:smoke`. Presets:

* `demo` (default): the embedded procedural dataset, small encoder schedule, minutes on a CPU.
* `smoke`: tiny model and data for tests (seconds).
* `nwucla`: NW-UCLA cross-view (views 1, 2 train; 3 test), kinect_v1_20 layout.
* `ntu60_xsub`, `ntu60_xview`, `ntu120_xsub`, `ntu120_xset`, `pku1_xsub`, `pku1_xview`,
  `pku2_xsub`, `pku2_xview`: the full-size reference settings (docs/methods.md) on prepared
  data (`python -m skel_jax.prepare ...`).

Keys: `stream` (joint|motion|bone), `frames`, `epochs`, `batch`, `hidden`, `seed`, `aug`
(`reference`: the reference's augmentation chains; `small`: the small presets' chains).
"""

from __future__ import annotations

import importlib.resources
import os

import ml_collections
import numpy as np
from ml_collections.config_dict import config_dict

from skel_jax.augment import registry as aug_registry
from skel_jax.data import registry as data_registry
from skel_jax.evaluate import reference_settings

# The full-size presets: the prepared datasets (name -> (layout, number of classes)).
FULL_DATASETS = {name: data_registry.DATASETS[name] for name in data_registry.PREPARED}
PRESETS = ("demo", "smoke", "nwucla", "custom", *FULL_DATASETS)
# The presets with a short schedule on a small encoder (custom is sized from its training set).
SMALL_PRESETS = tuple(reference_settings.SMALL_PRESETS)  # demo, smoke, nwucla
NWUCLA_NUM_TRAIN = 1020  # cross-view training clips (views 1 and 2)


def parse_arg(arg: str | None, own_keys: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
  """'nwucla,stream=bone' -> ('nwucla', {'stream': 'bone'}); the preset defaults to demo.

  Args:
    arg: the text after the config file's colon.
    own_keys: keys the config file handles itself (e.g. SkeleMixCLR's `variant`), accepted
      besides the shared ones of `apply_keys`.

  Raises:
    ValueError: an unknown preset or key.
  """
  preset, kv = "demo", {}
  for item in filter(None, (arg or "").split(",")):
    if "=" in item:
      k, v = item.split("=", 1)
      kv[k.strip()] = v.strip()
    else:
      preset = item.strip()
  if preset not in PRESETS:
    raise ValueError(f"unknown config preset {preset!r}; known: {PRESETS}")
  known = (*_KEYS, "aug", *own_keys)
  for key in kv:
    if key not in known:
      raise ValueError(f"unknown config argument {key!r}; known: {sorted(known)}")
  return preset, kv


def half_of(epochs: int) -> int:
  """Half of a run of `epochs` epochs, at least 1: where the small presets start AimCLR's
  mining and end the warm-up ramps of AimCLR's D3M and SkeleMixCLR's mixed-view terms."""
  return max(1, int(epochs) // 2)


def computed(fn, refs, field_type: type) -> ml_collections.FieldReference:
  """A config value derived from other fields, recomputed whenever one of them changes.

  `c.aimclr.mining_epoch = computed(half_of, c.optim.get_ref("epochs"), int)` follows
  `--config.optim.epochs=N` as well as the preset; `refs` is one reference or a list of them
  (`fn` then takes one argument per reference). Setting the derived field itself replaces the
  rule by the value. ml_collections' own operators (`ref // 2`) are built on the same
  `_Op`; it has no public form for other functions (tests/test_aimclr.py and
  tests/test_finetune.py pin the behaviour this relies on).
  """
  refs = list(refs) if isinstance(refs, (list, tuple)) else [refs]
  op = config_dict._Op(lambda _, *values: fn(*values), refs)  # pylint: disable=protected-access
  return ml_collections.FieldReference(field_type(), field_type=field_type, op=op)


def reference_semi(c: ml_collections.ConfigDict, rows_fn) -> None:
  """Sets `eval.semi`'s per-fraction lr, lr_steps and weight_decay to `rows_fn`'s reference
  values (`reference_settings.skelemix_semi` or `skeattn_semi`), recomputed whenever the
  fractions, the dataset, the stream or the semi-supervised epochs change (the lr steps move
  with the epochs, `reference_settings.semi_rows`)."""
  refs = [c.eval.semi.get_ref("fractions"), c.data.get_ref("dataset"),
          c.data.get_ref("stream"), c.eval.semi.get_ref("epochs")]

  def column(i):
    return lambda *values: tuple(r[i] for r in reference_settings.semi_rows(rows_fn, *values))

  c.eval.semi.lr = computed(column(0), refs, tuple)
  c.eval.semi.lr_steps = computed(column(1), refs, tuple)
  c.eval.semi.weight_decay = computed(column(2), refs, tuple)


def base_config() -> ml_collections.ConfigDict:
  """SkeletonCLR at the reference's NTU-60 settings (CrosSCLR's pretraining config)."""
  c = ml_collections.ConfigDict()
  c.method = "skeletonclr"
  c.seed = 0
  c.init_from = ""  # a reference checkpoint (.npz from skel_jax.interop.convert) to start from

  c.data = ml_collections.ConfigDict()
  c.data.dataset = "ntu60_xsub"
  c.data.data_dir = ""  # prepared data root; also $SKEL_JAX_DATA_DIR
  c.data.layout = "ntu25"
  c.data.num_classes = 60
  c.data.num_frames = 50
  c.data.stream = "joint"
  c.data.num_train = 0  # demo data only: clip counts
  c.data.num_test = 0
  c.data.view_normalize = False  # NW-UCLA only: per-frame rotation (preprocess.rotate_view)
  # npz: data only: centre, resample and view-normalise with data.layout on reading (off: the
  # clips are only resampled, as CTR-GCN's npz files are centred already).
  c.data.preprocess = False

  c.model = ml_collections.ConfigDict()
  c.model.graph = "stgcn"
  c.model.hidden = 16
  c.model.out_dim = 256
  c.model.dropout = 0.5
  # Temporal and 1x1 convolutions of passes with a gradient: 'matmul' (fast on CPU) or 'conv'
  # (XLA's convolution, to try on a GPU / TPU). Passes without one (the momentum encoder,
  # feature extraction) use 'conv', the faster forward, and the dense graph convolution in
  # their narrow layers (stgcn.backbone_kwargs).
  c.model.conv_impl = "matmul"
  # Graph-convolution formulation of passes with a gradient (same parameters and function):
  # 'aggregate_first' (faster on CPU), 'einsum' (the reference's order), 'dense' or
  # 'dense_narrow' (models/stgcn.py GraphConv).
  c.model.gcn_impl = "aggregate_first"
  # Stride-1 temporal convolutions by nested Winograd F(9, 9), 25/81 of the multiply-adds as
  # plain matmuls: every such layer in passes with a gradient, those from 32 channels in passes
  # without (models/stgcn.py use_winograd, docs/benchmarks.md).
  c.model.winograd = True
  # Stride-2 temporal convolutions of passes with a gradient: XLA's convolution forward and
  # for the input gradient, one GEMM for the weight gradient (models/stgcn.py
  # strided_temporal_conv); False: the unfold and matmul (the reference's summation order).
  c.model.strided_xla_conv = True
  # BatchNorm's per-channel sums: 'float32' (fast) or 'compensated' (correctly rounded, as
  # PyTorch's float64 accumulation on the CPU; about 3x the BatchNorm's time; the parity
  # tests use it) (models/batchnorm.py, docs/fidelity.md).
  c.model.bn_sums = "float32"
  # Matmul operand dtype of the encoder: 'float32' (the reference) or 'bfloat16' (mixed
  # precision: bf16 operands, float32 accumulation, parameters, BN and activations).
  c.model.dtype = "float32"
  c.model.head_hidden = 256
  c.model.feature_dim = 128
  c.model.head_bn = False
  c.model.head_bias = True
  c.model.head_init = "reference"  # N(0, 0.02^2) as the reference; 'lecun' (models/heads.py)

  c.aug = ml_collections.ConfigDict()
  c.aug.normal = aug_registry.NORMAL
  c.aug.extreme = aug_registry.EXTREME

  c.moco = ml_collections.ConfigDict()
  c.moco.queue_size = 32768
  c.moco.momentum = 0.999
  c.moco.momentum_schedule = "constant"  # or 'cosine' (SkeAttnCLR)
  c.moco.temperature = 0.07
  c.moco.key_init = "independent"  # reference (docs/fidelity.md); 'copy' is standard MoCo
  c.moco.key_dropout = True  # reference: key encoder in train mode, dropout on
  c.moco.ema_order = "before_forward"
  c.moco.ema_batch_stats = False

  c.optim = ml_collections.ConfigDict()
  c.optim.batch_size = 128
  c.optim.epochs = 300
  c.optim.lr = 0.1
  c.optim.schedule = "step"
  c.optim.lr_steps = (250,)
  c.optim.momentum = 0.9
  c.optim.nesterov = False
  c.optim.weight_decay = 1e-4
  c.optim.warmup_epochs = 0  # linear lr warm-up over the first epochs; 0 = none (reference)
  c.optim.clip_grad_norm = 0.0  # clip the global gradient norm; 0 = off (reference)
  c.optim.clip_mode = "global"  # 'global' norm, or 'adaptive' (unit-wise, relative to weights)
  # The small-data rule's epochs (and lr step) times this, for methods that learn for longer
  # (SkeleMixCLR+: 2; docs/small_data.md, the rule); the full presets ignore it.
  c.optim.small_data_epochs_scale = 1

  c.train = ml_collections.ConfigDict()
  c.train.log_every_steps = 50
  c.train.ckpt_every_epochs = 10
  c.train.keep_checkpoints = 3
  c.train.max_steps = -1  # stop early (for tests); -1 = run all epochs
  c.train.knn_every_epochs = 0  # KNN monitoring during pretraining; 0 = off
  c.train.prefetch = 2

  c.eval = ml_collections.ConfigDict()
  c.eval.batch_size = 256
  c.eval.random_init = False  # evaluate the encoder at its random init (a baseline)
  c.eval.linear = ml_collections.ConfigDict()
  c.eval.linear.epochs = 100
  c.eval.linear.lr = 3.0
  c.eval.linear.lr_steps = (80,)
  c.eval.linear.batch_size = 128
  c.eval.linear.weight_decay = 0.0
  c.eval.linear.eval_every = 5
  # The scale-invariant probe (evaluate/protocols.py linear_std): standardised features, SGD
  # 0.9 with a cosine schedule; its final epoch is what is reported.
  c.eval.linear_std = ml_collections.ConfigDict()
  c.eval.linear_std.epochs = 100
  c.eval.linear_std.lr = 0.1
  c.eval.linear_std.schedule = "cosine"
  c.eval.linear_std.batch_size = 128
  c.eval.linear_std.weight_decay = 1e-3
  c.eval.linear_std.eval_every = 5
  # Baselines evaluated beside the pretrained encoder by --mode=all / eval (same probes).
  c.eval.baselines = ("random_init", "raw_input")
  c.eval.knn = ml_collections.ConfigDict()
  c.eval.knn.ks = (1, 10, 20, 40)
  c.eval.knn.temperature = 0.1
  c.eval.tsne = ml_collections.ConfigDict()
  c.eval.tsne.max_points = 1000
  c.eval.tsne.enabled = True
  # --- Added for the evaluation suite (skel_jax/evaluate/{finetune,semi,monitor,fusion}.py).
  # Evaluate the backbone saved by the KNN monitor ({workdir}/best_knn.npz) instead of the
  # latest checkpoint.
  c.eval.use_best_knn = False
  # Transfer: evaluate on another dataset; '' = the pretraining dataset. The class
  # count comes from the target (or target_num_classes when > 0); layouts must match.
  c.eval.target_dataset = ""
  c.eval.target_data_dir = ""
  c.eval.target_num_classes = 0
  # Fine-tuning: encoder + fresh fc, no augmentation. SkeletonCLR's and AimCLR's reference
  # schedule (the linear one at lr 0.1, evaluate/reference_settings.py); configs/skelemixclr.py
  # and configs/skeattnclr.py set their own.
  c.eval.finetune = ml_collections.ConfigDict()
  c.eval.finetune.epochs = 100
  c.eval.finetune.lr = 0.1
  c.eval.finetune.schedule = "step"
  c.eval.finetune.lr_steps = (80,)
  c.eval.finetune.warmup_epochs = 0
  c.eval.finetune.batch_size = 128
  c.eval.finetune.momentum = 0.9
  c.eval.finetune.nesterov = False
  c.eval.finetune.weight_decay = 0.0
  c.eval.finetune.eval_every = 5
  c.eval.finetune.bn_mode = "eval"  # reference quirk (frozen BN stats, no dropout) | 'train'
  c.eval.finetune.clip_grad = True  # the reference's clipping never acts; this one does
  c.eval.finetune.max_grad_norm = 35.0
  c.eval.finetune.augment = ""  # none, as the reference; the small presets augment
  c.eval.finetune.backbone_lr_scale = 1.0  # the backbone's lr / the classifier's (1: reference)
  # Semi-supervised: fine-tuning on a class-balanced labelled subset per fraction.
  # lr / lr_steps / weight_decay are per fraction (a single entry applies to all); the other
  # settings come from eval.finetune.
  c.eval.semi = ml_collections.ConfigDict()
  c.eval.semi.fractions = (0.01, 0.1)
  c.eval.semi.seed = 0
  c.eval.semi.epochs = reference_settings.SEMI_EPOCHS  # 150
  # SkeleMixCLR's semi_eval configs: 1 %: lr 0.05, steps (40,), wd 0; 10 %: lr 0.1, (80,), 1e-4.
  reference_semi(c, reference_settings.skelemix_semi)
  c.eval.semi.warmup_epochs = 0
  c.eval.semi.nesterov = False
  c.eval.semi.batch_size = 0  # 0: the fine-tuning batch (the reference)
  # KNN monitor during pretraining (every train.knn_every_epochs; evaluate/monitor.py).
  c.eval.knn_monitor = ml_collections.ConfigDict()
  c.eval.knn_monitor.features = "backbone"  # eval-mode backbone; 'head' = projection output
  c.eval.knn_monitor.augment = ""  # '' = none; the reference augments (aug.normal chain)
  c.eval.knn_monitor.keep_best = True  # save {workdir}/best_knn.npz + best_knn.json
  c.eval.knn_monitor.best_k = 0  # select on top-1 at this k; 0 = the first of eval.knn.ks
  c.eval.knn_monitor.max_train = 0  # bank / query subsample sizes; 0 = whole splits
  c.eval.knn_monitor.max_test = 0
  # Multi-stream fusion (AimCLR's ensemble_*.py): weighted sum of per-stream logits.
  c.eval.fusion = ml_collections.ConfigDict()
  c.eval.fusion.streams = ("joint", "motion", "bone")
  c.eval.fusion.weights = (0.6, 0.4, 0.6)  # parallel to streams: joint 0.6, motion 0.4, bone 0.6
  c.eval.fusion.protocols = ("linear",)  # whose test logits are fused (linear and/or finetune)
  return c


def apply_preset(c: ml_collections.ConfigDict, preset: str) -> None:
  """Sets data and size for a preset (in place)."""
  if preset in FULL_DATASETS:
    c.data.dataset = preset
    c.data.layout, c.data.num_classes = FULL_DATASETS[preset]
    return
  # Small presets: standard MoCo key init (a copy) suits short schedules better, and a
  # unit-gain head init keeps the first SGD steps from collapsing the embeddings into one
  # direction (skel_jax/models/heads.py, head_kernel_init).
  c.moco.key_init = "copy"
  c.model.head_init = "lecun"
  if preset in ("demo", "smoke"):
    demo_data_fields(c)
  if preset == "demo":
    c.data.dataset = "demo"
    c.data.layout, c.data.num_classes = data_registry.DATASETS["demo"]
    c.data.num_train, c.data.num_test = 2000, 500
    c.data.num_frames = 32
    # Demo data whose clip-constant nuisance is mostly of the kind the augmentations perturb
    # (a per-clip shear as large as the augmentation's; little posture / distractor nuisance;
    # one person), so that pretraining has something to learn that random features do not
    # already give (experiments/demo_pretraining_gain.py; docs/benchmarks.md, demo). Ten
    # actions without mirrored left / right pairs: AimCLR's spatial flip makes
    # such pairs indistinguishable by design, and NTU's classes are not split that way.
    c.data.demo_classes = (0, 2, 3, 4, 5, 7, 8, 9, 10, 13)
    c.data.demo_nuisance = 0.1
    c.data.demo_two_person_prob = 0.0
    c.data.demo_shear = 0.5
    # The reference's lr 0.1 is unstable for the demo's 8-wide encoder (docs/findings.md).
    c.optim.lr = 0.02
    c.model.hidden = 8
    c.model.out_dim = 64
    c.model.head_hidden = 64
    c.model.feature_dim = 32
    c.moco.queue_size = 256  # well below the dataset size (no stale self-keys as negatives)
    c.moco.momentum = 0.99
    c.optim.batch_size = 64
    c.optim.epochs = 20
    c.optim.lr_steps = (15,)
    c.eval.linear.epochs = 50
    c.eval.linear.lr_steps = (40,)
    c.train.log_every_steps = 10
    c.train.ckpt_every_epochs = 5
    small_data_finetuning(c)
  elif preset == "smoke":
    c.data.dataset = "demo"
    c.data.layout, c.data.num_classes = data_registry.DATASETS["demo"]
    c.data.num_train, c.data.num_test = 64, 32
    c.data.num_frames = 16
    c.model.hidden = 4
    c.model.out_dim = 16
    c.model.head_hidden = 16
    c.model.feature_dim = 8
    c.moco.queue_size = 64
    c.moco.momentum = 0.9
    c.optim.batch_size = 16
    c.optim.epochs = 2
    c.optim.lr_steps = (1,)
    c.eval.batch_size = 32
    c.eval.linear.epochs = 5
    c.eval.linear.lr_steps = (4,)
    c.eval.linear.batch_size = 16
    c.eval.linear.eval_every = 1
    c.eval.knn.ks = (1, 5)
    c.eval.tsne.max_points = 64
    c.train.log_every_steps = 1
    c.train.ckpt_every_epochs = 1
  elif preset == "custom":
    # Your own prepared dataset (`python -m skel_jax.prepare custom ... --name=NAME`, then
    # --config.data.dataset=NAME): its info sets the layout and classes, and the small-data
    # rule sizes batch, queue, lr and epochs from its training-set size (run.py).
    c.data.dataset = ""
    c.data.num_frames = 32
    apply_small_data_recipe(c, None)
    c.train.ckpt_every_epochs = 10
  elif preset == "nwucla":
    c.data.dataset = "nwucla"
    c.data.layout, c.data.num_classes = data_registry.DATASETS["nwucla"]
    c.data.num_frames = 32
    # 1020 training clips: the small-data recipe (docs/small_data.md): batch 64, queue 256 (a
    # quarter of an epoch), lr 0.02, 30 epochs, the demo-size encoder and the nuisance-
    # randomising augmentations.
    apply_small_data_recipe(c, NWUCLA_NUM_TRAIN)
    c.train.log_every_steps = 15
    c.train.ckpt_every_epochs = 10
    c.eval.linear.epochs = 100
    c.eval.linear.lr_steps = (80,)
  if preset in SMALL_PRESETS:
    shorten_evaluation(c, preset)


def shorten_evaluation(c: ml_collections.ConfigDict, preset: str) -> None:
  """The small presets' fine-tune and semi-supervised schedules (in place): the method's
  reference ones, set before `apply_preset`, shortened to `reference_settings.SMALL_PRESETS`
  epochs, with the decay steps and the warm-up moved proportionally."""
  ft_epochs, semi_epochs, eval_every = reference_settings.SMALL_PRESETS[preset]
  ft = c.eval.finetune
  ft.lr_steps = reference_settings.scale_steps(ft.lr_steps, ft.epochs, ft_epochs)
  ft.warmup_epochs = round(ft.warmup_epochs * ft_epochs / ft.epochs)
  ft.epochs = ft_epochs
  ft.eval_every = eval_every
  c.eval.semi.epochs = semi_epochs  # its lr steps follow (reference_semi)
  if preset == "smoke":
    ft.batch_size = 16


# The augmentation chain of the small presets: the reference's normal view plus a random
# camera azimuth and per-axis body scale, the viewpoint change the reference's shear does not
# cover (docs/small_data.md, docs/findings.md).
SMALL_DATA_NORMAL = "temporal_shift(6)|shear(0.5)|view_rotate(60.0,10.0)|random_scale(0.8,1.2)"
SMALL_DATA_EXTREME = SMALL_DATA_NORMAL + (
    "|spatial_flip(0.5)|rotate|gaussian_noise|gaussian_blur|axis_mask")


def _nearest_power_of_two(x: float) -> int:
  return 1 << max(0, round(float(np.log2(max(x, 1.0)))))


def demo_data_fields(c: ml_collections.ConfigDict) -> None:
  """The demo generator's settings (in place; skel_jax/data/synthetic/), only in the configs of
  the presets that train on the demo data."""
  c.data.demo_nuisance = 1.0  # scale of posture / distractor nuisance
  c.data.demo_two_person_prob = 0.3  # share of clips with a second person
  # The generator's action ids behind labels 0..num_classes-1; () = the first num_classes.
  c.data.demo_classes = ()
  c.data.demo_shear = 0.0  # per-clip shear of the augmentation's form
  c.data.demo_seed = 0  # the generator's seed (independent of the run's seed)


def small_data_settings(num_train: int, epochs_scale: int = 1) -> dict[str, float | int]:
  """MoCo sizes for a training set of `num_train` clips (docs/small_data.md, the rule).

  * batch: 64, or the nearest power of two to num_train / 16 when that is smaller (at least 8),
    so that an epoch has at least about 16 steps;
  * queue: the nearest power of two to a quarter of the training set, at least one batch and
    at most 16384: a queue longer than about an epoch holds the clip's own key from the
    previous epoch as a false negative, and a short one gives too few negatives;
  * lr: 0.02 at batch 64, scaled linearly with the batch (the reference's 0.1 is unstable at
    this width);
  * epochs: enough for about 450 steps, between 30 and 200, with the x0.1 step at 5/6; times
    `epochs_scale` for a method that learns for longer (SkeleMixCLR+ takes 2).

  Raises:
    ValueError: fewer than 16 training clips.
  """
  if num_train < 16:
    raise ValueError(f"a training set of {num_train} clips is too small for contrastive "
                     "pretraining (need at least 16)")
  batch = int(min(64, max(8, _nearest_power_of_two(num_train / 16))))
  while batch > num_train // 2:
    batch //= 2
  queue = int(min(16384, max(batch, _nearest_power_of_two(num_train / 4))))
  steps_per_epoch = num_train // batch
  epochs = epochs_scale * int(min(200, max(30, -(-450 // steps_per_epoch))))
  return {"batch_size": batch, "queue_size": queue, "lr": 0.02 * batch / 64,
          "epochs": epochs, "lr_step": int(round(epochs * 5 / 6))}


def apply_small_data_recipe(c: ml_collections.ConfigDict, num_train: int | None) -> None:
  """The small-data recipe (in place): the demo-size encoder (h = 8, 64-d features), the
  nuisance-randomising augmentations, a copied key encoder, a unit-gain head, and the sizes of
  `small_data_settings(num_train)`. With `num_train=None` the sizes (batch, queue, lr, epochs,
  lr steps) are left at -1 / () and `size_from_training_set` fills them once the training set
  is known (the `custom` preset: its size is in the prepared dataset's info, which no config
  can read); `check_sized` names them if they never are. -1 rather than None: a None field
  would take no typed `--config.optim.batch_size=N` override."""
  c.moco.key_init = "copy"
  c.model.head_init = "lecun"
  c.model.hidden = 8
  c.model.out_dim = 64
  c.model.head_hidden = 64
  c.model.feature_dim = 32
  c.moco.momentum = 0.99
  c.aug.normal = SMALL_DATA_NORMAL
  c.aug.extreme = SMALL_DATA_EXTREME
  small_data_finetuning(c)
  if num_train is None:
    c.optim.batch_size, c.moco.queue_size, c.optim.lr, c.optim.epochs = -1, -1, -1.0, -1
    c.optim.lr_steps = ()
    return
  _set_sizes(c, small_data_settings(num_train, c.optim.small_data_epochs_scale))


def small_data_finetuning(c: ml_collections.ConfigDict) -> None:
  """Fine-tuning and semi-supervised settings of the small presets (in place): standard
  train-mode BN, the pretraining's normal augmentation chain on every minibatch (keep
  `eval.finetune.augment` equal to `aug.normal`; the `aug=` key moves both), and one
  semi-supervised fraction, 10 %.

  Without them the whole encoder memorises a thousand clips in a few epochs
  (docs/small_data.md, section 4). A tenth of a thousand clips is one step per epoch at the
  fine-tuning batch: the semi-supervised runs take batch 16 (and 100 epochs,
  evaluate/reference_settings.py).
  """
  c.eval.finetune.bn_mode = "train"
  c.eval.finetune.augment = c.aug.normal
  c.eval.semi.fractions = (0.1,)
  c.eval.semi.batch_size = 16


def _set_sizes(c: ml_collections.ConfigDict, sizes: dict, only_unset: bool = False) -> None:
  fields = (("optim", "batch_size", "batch_size"), ("moco", "queue_size", "queue_size"),
            ("optim", "lr", "lr"), ("optim", "epochs", "epochs"))
  for section, field, key in fields:
    if not only_unset or c[section][field] < 0:
      c[section][field] = type(c[section][field])(sizes[key])
  if not only_unset or not tuple(c.optim.lr_steps):
    c.optim.lr_steps = (min(int(sizes["lr_step"]), int(c.optim.epochs)),)


def size_from_training_set(c: ml_collections.ConfigDict, info: dict) -> None:
  """Fills the sizes the `custom` preset left unset (-1) from a prepared dataset's info
  (`info['counts']['train']` clips, `small_data_settings`); values set on the command line are
  kept."""
  sizes = small_data_settings(int(info["counts"]["train"]), c.optim.small_data_epochs_scale)
  _set_sizes(c, sizes, only_unset=True)


def check_sized(c: ml_collections.ConfigDict) -> None:
  """Raises when the `custom` preset's sizes were never filled (no prepared custom dataset).

  Raises:
    ValueError: naming what to pass.
  """
  unset = [f"{s}.{f}" for s, f in (("optim", "batch_size"), ("moco", "queue_size"),
                                    ("optim", "lr"), ("optim", "epochs")) if c[s][f] < 0]
  if unset:
    raise ValueError(
        f"{', '.join(unset)} are sized from the training set by the 'custom' preset, which "
        "needs a dataset prepared with `python -m skel_jax.prepare custom`: pass "
        "--config.data.dataset=NAME (and --config.data.data_dir=DIR), or set the values")


_KEYS = {
    "stream": ("data", "stream", str), "frames": ("data", "num_frames", int),
    "epochs": ("optim", "epochs", int), "batch": ("optim", "batch_size", int),
    "hidden": ("model", "hidden", int), "seed": (None, "seed", int),
}


# `aug=<name>`: the augmentation chains (normal, extreme) by name.
AUG_CHAINS = {"reference": (aug_registry.NORMAL, aug_registry.EXTREME),
              "small": (SMALL_DATA_NORMAL, SMALL_DATA_EXTREME)}


def apply_keys(c: ml_collections.ConfigDict, kv: dict[str, str]) -> None:
  """Applies the shared `key=value` arguments (in place); see `parse_arg`."""
  for key, value in kv.items():
    if key == "aug":
      if value not in AUG_CHAINS:
        raise ValueError(f"unknown aug={value!r}; known: {sorted(AUG_CHAINS)}")
      if c.eval.finetune.augment:  # fine-tuning augments with the pretraining's chain
        c.eval.finetune.augment = AUG_CHAINS[value][0]
      c.aug.normal, c.aug.extreme = AUG_CHAINS[value]
      continue
    if key not in _KEYS:
      raise ValueError(f"unknown config argument {key!r}; known: {sorted([*_KEYS, 'aug'])}")
    section, field, cast = _KEYS[key]
    target = c if section is None else c[section]
    target[field] = cast(value)
  if c.data.stream not in ("joint", "motion", "bone"):
    raise ValueError(f"unknown stream {c.data.stream!r}; known: joint, motion, bone")


def finish(c: ml_collections.ConfigDict, preset: str, kv: dict[str, str]
           ) -> ml_collections.ConfigDict:
  """The last step of every `get_config`: the `key=value` arguments and the preset's name."""
  apply_keys(c, kv)
  c.preset = preset
  return c


def resolve_config_path(path: str) -> str:
  """The config file a `--config` path names, from any working directory.

  An existing path is returned as it is. Otherwise `configs/<file>.py` (or `<file>.py`, or a
  method name) is looked up among the configs shipped with the package (`skel_jax.configs`,
  installed from the repository's top-level configs/ folder), then in the checkout holding
  this module.

  Raises:
    FileNotFoundError: naming the places tried and the shipped configs.
  """
  if os.path.exists(path):
    return path
  base = os.path.basename(path)
  base = base if base.endswith(".py") else base + ".py"
  candidates = []
  try:
    shipped = importlib.resources.files("skel_jax.configs")
    candidates.append(str(shipped / base))
  except ModuleNotFoundError:  # a checkout without the package mapping
    shipped = None
  candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                 "configs", base))
  for candidate in candidates:
    if os.path.isfile(candidate):
      return candidate
  folders = [os.path.dirname(c) for c in candidates if os.path.isdir(os.path.dirname(c))]
  known = sorted(f for f in os.listdir(folders[0])
                 if f.endswith(".py") and not f.startswith("_")) if folders else []
  raise FileNotFoundError(f"config file {path!r} not found (tried it from {os.getcwd()} and "
                          f"{candidates}); shipped configs: {known}")


def resolve_config_argv(argv: list[str]) -> list[str]:
  """`argv` with the path of `--config=PATH[:ARG]` (or `--config PATH[:ARG]`) resolved by
  `resolve_config_path`, so that `--config=configs/aimclr.py:nwucla` works from any directory
  and from an installed package. Unresolvable paths are left for the flag parser to report."""
  out = list(argv)
  for i, item in enumerate(out):
    if item.startswith("--config="):
      prefix, value = "--config=", item[len("--config="):]
    elif item == "--config" and i + 1 < len(out):
      prefix, value, i = "", out[i + 1], i + 1
    else:
      continue
    path, sep, arg = value.partition(".py:") if ".py:" in value else (value, "", "")
    path = path + ".py" if sep else path
    try:
      resolved = resolve_config_path(path)
    except FileNotFoundError:
      continue
    out[i] = prefix + resolved + (":" + arg if sep else "")
  return out


def load_config(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """Loads `get_config(arg)` from a config file (e.g. 'configs/aimclr.py'), as the CLI does.

  The path is resolved by `resolve_config_path` (the working directory, then the configs
  shipped with the package).
  """
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = resolve_config_path(path)
  spec = importlib.util.spec_from_file_location("skel_jax_config", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)
