r"""AimCLR (reference-spec section 3): extreme views, EADM, D3M loss, nearest-neighbour mining.

The command users launch first; with no argument it runs the embedded demo data:

    python -m skel_jax.main --config=configs/aimclr.py --workdir=/tmp/aimclr_demo

Presets (after the colon): demo (default), smoke, nwucla, ntu60_xsub, ntu60_xview,
ntu120_xsub, ntu120_xset, pku1_xsub, pku1_xview, pku2_xsub, pku2_xview; keys: stream=joint|
motion|bone, frames, epochs, batch, hidden, seed. E.g.

    python -m skel_jax.main --config=configs/aimclr.py:nwucla,stream=bone --workdir=/tmp/a
    python -m skel_jax.main --config=configs/aimclr.py:ntu60_xsub \
        --config.data.data_dir=/data/skel_jax --workdir=/tmp/aimclr_ntu60

Full-size defaults are the reference's NTU-60 settings (spec 3.1): ST-GCN graph, h = 16,
MLP head 256-256-128, batch 128, SGD lr 0.1 (x0.1 after epoch 250 of 300), wd 1e-4,
K = 32768, m = 0.999, tau = 0.07, NNM (top-1) from epoch 150, T = 50; linear evaluation with
lr 3.0 for 100 epochs (x0.1 after 80). Fidelity switches (spec 8, notes 7-8):
`aimclr.eadm_mode` fixed|noop, `aimclr.normalize_blur_kernel` (False = the reference's
un-normalised blur kernel, which also scales the signal by up to ~5x), `aimclr.temporal_flip`
(the first public commit's chain with a temporal flip).

Reference results (linear top-1, joint): NTU-60 xsub 74.34, xview 79.68; PKU-I 83.43 (spec 6.1).
"""

import ml_collections

from skel_jax import config_lib


def method_defaults(c):
  c.aimclr = ml_collections.ConfigDict()
  c.aimclr.mining_epoch = 150
  c.aimclr.topk = 1
  c.aimclr.eadm_mode = "fixed"
  c.aimclr.eadm_keep_prob = 0.7
  c.aimclr.normalize_blur_kernel = False
  c.aimclr.temporal_flip = False
  c.aimclr.d3m_warmup_epochs = 0  # the reference: D3M at full weight from the first step


def preset_overrides(c, preset):
  # Mining starts half-way through pretraining, as in the reference (150 of 300 epochs),
  # also when the epochs are overridden (-1: resolved by methods/aimclr.resolve_mining_epoch).
  if preset in ("demo", "smoke", "nwucla", "custom"):
    c.aimclr.mining_epoch = -1
  if preset in ("demo", "nwucla", "custom"):
    # Small data: the D3M terms ramp in over the first half (-1: half of the epochs, resolved
    # by methods/aimclr.resolve_mining_epoch), so that InfoNCE spreads the embeddings before
    # the extreme views are matched to the normal view's distribution (docs/small_data.md).
    c.aimclr.d3m_warmup_epochs = -1


def get_config(arg=None):
  return config_lib.pretrain_config("aimclr", arg, method_defaults, preset_overrides)
