r"""Does training the scale-invariant linear probe on augmented copies of the training clips
help the cross-view test accuracy? (docs/small_data.md, section 3: tried and not kept.)

    python experiments/probe_augmentation.py --config=configs/skeletonclr.py:nwucla \
        --workdir=WORKDIR [--copies=0,4,9] [--chain=normal] [--seed=0]

For the encoder of WORKDIR's latest checkpoint, the same encoder at its random initialisation
and the raw input (the preprocessed clips, flattened), it trains the scale-invariant probe
(`evaluate/protocols.py run_linear_std`, the config's `eval.linear_std` settings) on the clean
training split plus n augmented copies of it for each n of `--copies` (`--chain`: an
augmentation spec, or `normal` for the config's `aug.normal`), and prints the test top-1.
Image self-supervised work (MoCo, SimCLR, MAE) trains its probes on augmented images; the
skeleton papers' linear evaluation does not augment.
"""

from __future__ import annotations

import argparse
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from skel_jax import config_lib
from skel_jax.augment import registry as aug_registry
from skel_jax.data import registry as data_registry
from skel_jax.evaluate import features as features_lib
from skel_jax.evaluate import protocols
from skel_jax.run import prepare_config
from skel_jax.train import pretrain as pretrain_lib


def augmented_copies(augment, x: np.ndarray, n: int, seed: int, batch: int = 256):
  """n augmented copies of clips x, copy i drawn with keys fold_in(key(seed), i)."""
  copies = []
  for i in range(n):
    key = jax.random.fold_in(jax.random.key(seed), i)
    copies.append(np.concatenate([
        np.asarray(augment(jax.random.fold_in(key, s), jnp.asarray(x[s:s + batch])))
        for s in range(0, len(x), batch)]))
  return copies


def probe(config, name, train_feats, test_feats, train_y, test_y, copies, seed):
  for n in copies:
    x = np.concatenate(train_feats[:n + 1])  # the clean split, then n augmented copies
    y = np.concatenate([train_y] * (n + 1))
    out = protocols.run_linear_std(config, x, y, test_feats, test_y,
                                   int(config.data.num_classes), seed=seed)
    print(f"{name}, {n} augmented copies: scale-invariant linear "
          f"{out['linear_std_top1_final']:.1f} %", flush=True)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--config", required=True)
  p.add_argument("--workdir", required=True)
  p.add_argument("--copies", default="0,4,9")
  p.add_argument("--chain", default="normal")
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  path, _, arg = args.config.partition(":")
  config = config_lib.load_config(path, arg or None)
  config.seed = args.seed
  prepare_config(config)
  train, test = data_registry.load_splits(config)
  copies = [int(c) for c in args.copies.split(",")]
  chain = config.aug.normal if args.chain == "normal" else args.chain
  print(f"augmentation: {chain}", flush=True)
  augment = jax.jit(aug_registry.build(chain, config.data.layout))
  train_clips = [train.x, *augmented_copies(augment, train.x, max(copies), args.seed + 1)]

  backbone = features_lib.backbone_from_encoder_config(config.model, config.data.layout,
                                                       no_grad=True)
  kw = dict(stream=config.data.stream, layout=config.data.layout,
            batch_size=int(config.eval.batch_size))
  states = {"pretrained": pretrain_lib.restore_checkpoint(config, args.workdir),
            "random init": pretrain_lib.Pretrainer(
                config, args.workdir, pretrain_lib.placeholder_dataset(config)).init_state()}
  for name, state in states.items():
    variables = protocols.backbone_variables(state)
    train_feats = [features_lib.extract_features(backbone, variables, x, **kw)
                   for x in train_clips]
    test_feats = features_lib.extract_features(backbone, variables, test.x, **kw)
    probe(config, name, train_feats, test_feats, train.y, test.y, copies, args.seed)

  # The raw-input baseline's features (the clips flattened), of every copy.
  raw = [protocols.raw_input_features(config, dataclasses.replace(train, x=x), test)
         for x in train_clips]
  probe(config, "raw input", [r[0] for r in raw], raw[0][1], train.y, test.y, copies,
        args.seed)


if __name__ == "__main__":
  main()
