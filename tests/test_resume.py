"""A run stopped after a checkpoint and resumed continues exactly as an uninterrupted run."""

import json

import jax
import numpy as np

from skel_jax.config_lib import load_config
from skel_jax.data import registry
from skel_jax.train import metrics_writer, pretrain


def _losses(workdir):
  rows = metrics_writer.read_metrics_jsonl(str(workdir))
  return {r["step"]: r["train/loss"] for r in rows}


def test_resume_continues_exactly(tmp_path):
  config = load_config("configs/skeletonclr.py", "smoke")
  config.train.log_every_steps = 1
  train, _ = registry.load_splits(config)

  full = tmp_path / "full"
  pretrain.pretrain(config, str(full), train=train)

  resumed = tmp_path / "resumed"
  config.train.max_steps = 3  # "killed" after step 3 (a checkpoint is written when stopping)
  pretrain.pretrain(config, str(resumed), train=train)
  assert _losses(resumed).keys() == {1, 2, 3}
  config.train.max_steps = -1
  final = pretrain.pretrain(config, str(resumed), train=train)

  expected, got = _losses(full), _losses(resumed)
  total = max(expected)
  assert total == 8 and int(final.step) == total
  assert sorted(got) == list(range(1, total + 1))
  np.testing.assert_allclose([got[s] for s in range(1, total + 1)],
                             [expected[s] for s in range(1, total + 1)], rtol=1e-6)
  config_json = json.loads((resumed / "config.json").read_text())
  assert config_json["method"] == "skeletonclr"


def test_restoring_needs_only_the_abstract_state():
  """`abstract_state` (what a restore is given) has `init_state`'s structure, shapes, dtypes
  and shardings, without running the init."""
  config = load_config("configs/skeletonclr.py", "smoke")
  trainer = pretrain.Pretrainer(config, "/tmp/unused", registry.load_splits(config)[0])
  abstract, state = trainer.abstract_state(), trainer.init_state()
  leaves = jax.tree_util.tree_leaves_with_path(abstract)
  assert jax.tree_util.tree_structure(abstract) == jax.tree_util.tree_structure(state)
  for (path, a), b in zip(leaves, jax.tree_util.tree_leaves(state), strict=True):
    assert isinstance(a, jax.ShapeDtypeStruct), path
    assert (a.shape, a.dtype, a.sharding) == (b.shape, b.dtype, b.sharding), path
