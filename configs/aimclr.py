r"""AimCLR (Levigty/AimCLR): extreme views, EADM, D3M loss, nearest-neighbour mining.

The command users launch first; with no argument it runs the embedded demo data:

    python -m skel_jax.main --config=configs/aimclr.py --workdir=/tmp/aimclr_demo

Presets (after the colon): demo (default), smoke, nwucla, ntu60_xsub, ntu60_xview,
ntu120_xsub, ntu120_xset, pku1_xsub, pku1_xview, pku2_xsub, pku2_xview; keys: stream=joint|
motion|bone, frames, epochs, batch, hidden, seed. E.g.

    python -m skel_jax.main --config=configs/aimclr.py:nwucla,stream=bone --workdir=/tmp/a
    python -m skel_jax.main --config=configs/aimclr.py:ntu60_xsub \
        --config.data.data_dir=/data/skel_jax --workdir=/tmp/aimclr_ntu60

Full-size defaults are the reference's NTU-60 settings (config/ntu60/pretext/): ST-GCN graph, h =
16, MLP head 256-256-128, batch 128, SGD lr 0.1 (x0.1 after epoch 250 of 300), wd 1e-4, K = 32768, m
= 0.999, tau = 0.07, NNM (top-1) from epoch 150, T = 50; linear evaluation with lr 3.0 for 100
epochs (x0.1 after 80). Fidelity switches (docs/fidelity.md): `aimclr.eadm_mode` fixed|noop,
`aimclr.normalize_blur_kernel` (False = the reference's un-normalised blur kernel, which also scales
the signal by up to ~5x), `aimclr.temporal_flip` (the first public commit's chain with a temporal
flip).

Reference results (linear top-1, joint; the AimCLR README's released models): NTU-60 xsub 74.34,
xview 79.68; PKU-I 83.43.
"""

import ml_collections

from skel_jax import config_lib


def get_config(arg=None):
  preset, keys = config_lib.parse_arg(arg)
  c = config_lib.base_config()  # encoder, MoCo, SGD and evaluation as SkeletonCLR's
  c.method = "aimclr"
  c.aimclr = ml_collections.ConfigDict()
  c.aimclr.mining_epoch = 150  # NNM from epoch 151 of 300
  c.aimclr.topk = 1
  c.aimclr.eadm_mode = "fixed"
  c.aimclr.eadm_keep_prob = 0.7
  c.aimclr.normalize_blur_kernel = False
  c.aimclr.temporal_flip = False
  c.aimclr.d3m_warmup_epochs = 0  # the reference: D3M at full weight from the first step

  config_lib.apply_preset(c, preset)  # the dataset and, for small presets, the size
  epochs = c.optim.get_ref("epochs")  # the derived values below follow epochs=N and
  # --config.optim.epochs=N, and the custom preset's epochs sized from its training set
  if preset in (*config_lib.SMALL_PRESETS, "custom"):
    # Mining starts half-way through pretraining, as in the reference (150 of 300 epochs).
    c.aimclr.mining_epoch = config_lib.computed(config_lib.half_of, epochs, int)
  if preset in ("demo", "nwucla", "custom"):
    # Small data: the D3M terms ramp in over the first half, so that InfoNCE spreads the
    # embeddings before the extreme views are matched to the normal view's distribution
    # (docs/small_data.md).
    c.aimclr.d3m_warmup_epochs = config_lib.computed(config_lib.half_of, epochs, int)
  return config_lib.finish(c, preset, keys)  # the key=value arguments
