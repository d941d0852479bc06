"""Transfer: the protocols of a run on another dataset (`eval.target_dataset`).

The encoder pretrained on the source (`config.data`) is evaluated on the target, whose class
count is the target's and whose skeleton layout must have the source's joint count; results
are tagged `_to_<dataset>` (skel_jax.run.eval_tag). SkeAttnCLR evaluates such a transfer, NTU-60
xsub to PKU-MMD part II (`config/SkeAttnCLR/transfer/` in GitHubOfHyl97/SkeAttnCLR).
"""

from __future__ import annotations

import logging

import ml_collections

from skel_jax.data import registry, skeletons
from skel_jax.data.dataset import ArrayDataset

log = logging.getLogger(__name__)

Splits = tuple[ArrayDataset, ArrayDataset]


def check_layouts(source_layout: str, target_layout: str, source: str, target: str) -> None:
  """Raises unless the target layout has the source's joint count (warns on other names).

  Raises:
    ValueError: the joint counts differ.
  """
  vs = skeletons.get_layout(source_layout).num_joints
  vt = skeletons.get_layout(target_layout).num_joints
  if vs != vt:
    raise ValueError(
        f"transfer from {source!r} (layout {source_layout!r}, {vs} joints) to {target!r} "
        f"(layout {target_layout!r}, {vt} joints) is impossible: the ST-GCN graph and data BN "
        "are per joint, so the target needs the source's skeleton layout")
  if source_layout != target_layout:
    log.warning("transfer: layouts %r and %r differ but have %d joints each; the target's "
                "graph is used with the source's weights", source_layout, target_layout, vs)


def target_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict | None:
  """The config describing the transfer target (`eval.target_dataset`), or None.

  Its `data` section is the target's (dataset, data_dir = `eval.target_data_dir`, layout, class
  count = `eval.target_num_classes` or the dataset's); model and protocols are the source's.

  Raises:
    ValueError: a known target whose layout has another joint count than the source's.
  """
  name = config.eval.get("target_dataset", "")
  if not name:
    return None
  tc = config.copy_and_resolve_references()
  tc.data.dataset = name
  tc.data.data_dir = config.eval.target_data_dir
  if name in registry.DATASETS:
    tc.data.layout, tc.data.num_classes = registry.DATASETS[name]
    check_layouts(config.data.layout, tc.data.layout, config.data.dataset, name)
  if name == "demo" and (tc.data.num_train <= 0 or tc.data.num_test <= 0):
    tc.data.num_train, tc.data.num_test = 512, 128
  if config.eval.target_num_classes > 0:
    tc.data.num_classes = int(config.eval.target_num_classes)
  return tc


def load_target_splits(config: ml_collections.ConfigDict,
                       target: ml_collections.ConfigDict) -> Splits:
  """Loads the target's (train, test), checks its layout and sets its class count.

  Raises:
    ValueError: the loaded layout does not fit, or labels exceed the class count.
  """
  train, test = registry.load_splits(target)
  check_layouts(config.data.layout, train.layout, config.data.dataset, target.data.dataset)
  target.data.layout = train.layout
  if config.eval.target_num_classes <= 0:
    target.data.num_classes = int(train.num_classes)
  top = int(max(train.y.max(), test.y.max()))
  if top >= target.data.num_classes:
    raise ValueError(f"target {target.data.dataset!r} has label {top} but "
                     f"{target.data.num_classes} classes (eval.target_num_classes)")
  return train, test
