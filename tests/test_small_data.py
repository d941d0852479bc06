"""The small-data recipe (config_lib.small_data_settings / apply_small_data_recipe) and the
presets built on it."""

import pytest

from skel_jax import config_lib
from skel_jax.config_lib import load_config


@pytest.mark.parametrize("num_train, expected", [
    # (batch, queue, lr, epochs, lr step): NW-UCLA cross-view, a 560-clip dataset, 100 clips.
    (1020, (64, 256, 0.02, 30, 25)),
    (560, (32, 128, 0.01, 30, 25)),
    (100, (8, 32, 0.0025, 38, 32)),  # 12 steps an epoch: ceil(450 / 12) = 38 epochs
    (40000, (64, 8192, 0.02, 30, 25)),
    (200000, (64, 16384, 0.02, 30, 25)),
])
def test_small_data_settings(num_train, expected):
  s = config_lib.small_data_settings(num_train)
  assert (s["batch_size"], s["queue_size"], s["lr"], s["epochs"], s["lr_step"]) == \
      pytest.approx(expected)
  # The queue holds whole batches (the enqueue writes one batch at a time).
  assert s["queue_size"] % s["batch_size"] == 0


def test_tiny_datasets_are_refused():
  with pytest.raises(ValueError, match="too small"):
    config_lib.small_data_settings(15)


@pytest.mark.parametrize("method", ["skeletonclr", "aimclr", "skelemixclr", "skeattnclr"])
def test_nwucla_preset_is_the_small_data_recipe(method):
  c = load_config(f"configs/{method}.py", "nwucla")
  # SkeleMixCLR+ takes the rule's epochs twice over (its mixed views ramp in over half).
  epochs, lr_step = (60, 50) if method == "skelemixclr" else (30, 25)
  assert (c.optim.batch_size, c.moco.queue_size, c.optim.lr, c.optim.epochs) == \
      (64, 256, 0.02, epochs)
  assert tuple(c.optim.lr_steps) == (lr_step,)
  if method == "skelemixclr":
    assert c.skelemix.mix_warmup_epochs == 30
  assert c.model.hidden == 8 and c.model.out_dim == 64 and c.data.num_frames == 32
  assert c.aug.normal == config_lib.SMALL_DATA_NORMAL
  assert c.aug.extreme.startswith(config_lib.SMALL_DATA_NORMAL)
  assert c.moco.key_init == "copy" and c.model.head_init == "lecun"


def test_full_size_presets_keep_the_reference():
  c = load_config("configs/skeletonclr.py", "ntu60_xsub")
  assert c.aug.normal == "temporal_shift(6)|shear(0.5)"
  assert (c.optim.lr, c.moco.queue_size, c.model.hidden, c.moco.key_init) == \
      (0.1, 32768, 16, "independent")


def test_aug_key_selects_the_chains():
  c = load_config("configs/aimclr.py", "nwucla,aug=reference")
  assert c.aug.normal == "temporal_shift(6)|shear(0.5)"
  assert not c.aug.extreme.startswith(config_lib.SMALL_DATA_NORMAL)
  c = load_config("configs/skeletonclr.py", "ntu60_xsub,aug=small")
  assert c.aug.normal == config_lib.SMALL_DATA_NORMAL
  with pytest.raises(ValueError, match="unknown aug"):
    load_config("configs/skeletonclr.py", "nwucla,aug=strong")


def _prepared(tmp_path, num_train):
  import numpy as np  # pylint: disable=g-import-not-at-top

  from skel_jax.data import custom  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  clip = lambda: rng.normal(size=(1, 6, 17, 3)).astype(np.float32) + 1.0  # noqa: E731
  train = ([clip() for _ in range(num_train)], [i % 2 for i in range(num_train)])
  test = ([clip() for _ in range(4)], [0, 1, 0, 1])
  return custom.prepare_arrays(tmp_path, "mine", "coco17", train, test,
                               class_names=["sit", "stand"], num_frames=6)


def test_custom_preset_is_sized_from_the_prepared_training_set(tmp_path):
  from skel_jax import run  # pylint: disable=g-import-not-at-top
  _prepared(tmp_path, 100)
  c = load_config("configs/skeletonclr.py", "custom")
  assert c.optim.batch_size == -1 and c.aug.normal == config_lib.SMALL_DATA_NORMAL
  with pytest.raises(ValueError, match="needs a dataset prepared with"):
    run.prepare_config(c.copy_and_resolve_references())
  c.data.dataset, c.data.data_dir = "mine", str(tmp_path)
  c.optim.epochs = 50  # set on the command line: kept
  run.prepare_config(c)
  # 100 clips: batch 8, queue 32, lr 0.0025; epochs kept at 50, lr step min(32, 50).
  assert (c.optim.batch_size, c.moco.queue_size, c.optim.lr, c.optim.epochs) == \
      (8, 32, 0.0025, 50)
  assert tuple(c.optim.lr_steps) == (32,)
  assert c.data.num_classes == 2 and c.data.layout.endswith("layout.json")


def test_epochs_scale_multiplies_the_rules_epochs():
  base, doubled = config_lib.small_data_settings(1020), config_lib.small_data_settings(1020, 2)
  assert (base["epochs"], base["lr_step"]) == (30, 25)
  assert (doubled["epochs"], doubled["lr_step"]) == (60, 50)
  assert {k: v for k, v in doubled.items() if k not in ("epochs", "lr_step")} == \
      {k: v for k, v in base.items() if k not in ("epochs", "lr_step")}


def test_custom_skelemixclr_takes_twice_the_rules_epochs(tmp_path):
  from skel_jax import run  # pylint: disable=g-import-not-at-top
  _prepared(tmp_path, 100)
  c = load_config("configs/skelemixclr.py", "custom")
  c.data.dataset, c.data.data_dir = "mine", str(tmp_path)
  run.prepare_config(c)
  # 100 clips: 12 steps an epoch, ceil(450 / 12) = 38 epochs, twice over; mixing ramps over half.
  assert (c.optim.batch_size, c.optim.epochs, tuple(c.optim.lr_steps)) == (8, 76, (63,))
  assert c.skelemix.mix_warmup_epochs == 38
