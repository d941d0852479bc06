"""The in-memory dataset container that every reader returns and the pipeline consumes."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class ArrayDataset:
  """Clips with labels, in the library's layout (docs/architecture.md, Data flow).

  Attributes:
    x: float32 `[N, M, T, V, C]` clips (persons, frames, joints, xyz).
    y: int32 `[N]` 0-based labels.
    names: N sample names (file stems), for error messages and bookkeeping.
    layout: name of the skeleton layout (skel_jax.data.skeletons) or a path to a layout file.
    num_classes: number of classes of the dataset (not only those present in this split).
  """

  x: np.ndarray
  y: np.ndarray
  names: list[str]
  layout: str
  num_classes: int

  def __post_init__(self):
    self.x = np.asarray(self.x, np.float32)
    self.y = np.asarray(self.y, np.int32)
    if self.x.ndim != 5:
      raise ValueError(f"clips must be [N, M, T, V, C], got shape {self.x.shape}")
    if len(self.y) != len(self.x) or len(self.names) != len(self.x):
      raise ValueError(
          f"{len(self.x)} clips, {len(self.y)} labels and {len(self.names)} names do not match")

  def __len__(self) -> int:
    return len(self.x)

  def subset(self, indices) -> ArrayDataset:
    """The samples at `indices` (in that order) as a new dataset."""
    indices = np.asarray(indices)
    return ArrayDataset(self.x[indices], self.y[indices], [self.names[i] for i in indices],
                        self.layout, self.num_classes)
