"""Projection heads and predictors (docs/methods.md)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from skel_jax.models.stgcn import BatchNorm, weight_init

HEAD_INITS = ("reference", "lecun")


def head_kernel_init(name: str):
  """Kernel init of the projection head's Linear layers.

  'reference' is the reference's N(0, 0.02^2) (the full-size presets); 'lecun' (variance
  1 / fan_in) starts the head's output at unit scale, which keeps the first SGD steps of short
  schedules from collapsing every embedding into one direction (the small presets; the
  measurements are in docs/findings.md).
  """
  if name == "reference":
    return weight_init
  if name == "lecun":
    return nn.initializers.lecun_normal()
  raise ValueError(f"unknown head init {name!r}; known: {HEAD_INITS}")


class MLPHead(nn.Module):
  """Linear -> (BN) -> ReLU -> Linear on `[N, D]` features.

  `use_bn=False` is the SkeletonCLR / AimCLR head (256-256-128, CrosSCLR net/skeletonclr.py);
  `use_bn=True` is SkeleMixCLR+'s head with BatchNorm1d after the first layer (SkeleMixCLR
  net/skeletonclr_multi_swapv2.py). `use_bias=False` with `use_bn=True` is SkeAttnCLR's MLP1D
  (1x1 convs without bias, SkeAttnCLR net/utils/AttnMask.py). Every call in train
  mode uses its own batch statistics, as the reference does.

  `residual=True` (not in any reference) returns `x + MLP(x)` with the second layer
  zero-initialised: the head starts as the identity map. SkeAttnCLR's small presets use it for
  the predictors, so that at the first step a query's prediction lies in its key's space
  (docs/findings.md).
  """

  hidden: int = 256
  features: int = 128
  use_bn: bool = False
  use_bias: bool = True
  init_scheme: str = "reference"
  residual: bool = False
  bn_sums: str = "float32"  # BatchNorm's accumulation (models/batchnorm.py)

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    if self.residual and x.shape[-1] != self.features:
      raise ValueError(f"a residual head maps {x.shape[-1]} features to {x.shape[-1]}, "
                       f"not {self.features}")
    kernel_init = head_kernel_init(self.init_scheme)
    h = nn.Dense(self.hidden, use_bias=self.use_bias, kernel_init=kernel_init, name="fc1")(x)
    if self.use_bn:
      h = BatchNorm(use_running_average=not train, sums=self.bn_sums, name="bn")(h)
    h = nn.relu(h)
    out_init = nn.initializers.zeros if self.residual else kernel_init
    h = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=out_init, name="fc2")(h)
    return x + h if self.residual else h
