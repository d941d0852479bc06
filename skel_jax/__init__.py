"""skel_jax: self-supervised skeleton-based action recognition in JAX/Flax.

Contrastive pretraining (SkeletonCLR, AimCLR, SkeleMixCLR, SkeAttnCLR) on ST-GCN encoders,
with the data preparation and evaluation protocols of the reference PyTorch code
(see docs/architecture.md).
"""

__version__ = "0.1.0"
