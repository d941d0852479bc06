r"""SkeletonCLR (MoCo v2 on skeletons; its code is in LinguoLi/CrosSCLR, net/skeletonclr.py).

Full-size defaults are the reference's NTU-60 settings: ST-GCN graph, h = 16, MLP head
256-256-128, K = 32768, m = 0.999, tau = 0.07, SGD lr 0.1 (x0.1 after epoch 250 of 300),
batch 128, T = 50; linear evaluation lr 3.0 for 100 epochs (x0.1 after 80).

    python -m skel_jax.main --config=configs/skeletonclr.py --workdir=/tmp/sclr_demo
    python -m skel_jax.main --config=configs/skeletonclr.py:nwucla --workdir=/tmp/sclr_ucla
    python -m skel_jax.main --config=configs/skeletonclr.py:ntu60_xsub,stream=bone \
        --config.data.data_dir=/data/skel_jax --workdir=/tmp/sclr_ntu60_bone

Reference results (linear top-1, joint stream, the CrosSCLR README): NTU-60 xsub 68.3, xview 76.4.
"""

from skel_jax import config_lib


def get_config(arg=None):
  preset, keys = config_lib.parse_arg(arg)
  # SkeletonCLR is the shared default: config_lib.base_config lists every value.
  c = config_lib.base_config()
  c.method = "skeletonclr"
  config_lib.apply_preset(c, preset)  # the dataset and, for small presets, the size
  return config_lib.finish(c, preset, keys)  # the key=value arguments
