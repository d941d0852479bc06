"""Class-balanced labelled subsets for semi-supervised evaluation (AimCLR feeder/ntu_feeder.py
`Feeder_semi`).

The reference's `Feeder_semi(label_percent=p)` keeps, for every class with `n_c` training
clips, `round(p * n_c)` of them drawn at random, and sorts the union. Here:

* the count is `max(1, round(p * n_c))` for every class present in the split: a class is never
  left without a labelled clip (at 1 % a class with fewer than 50 clips would otherwise get
  none; the reference would silently drop it). `round` is Python's, i.e. half to even as in the
  reference (`round(2.5) == 2`);
* the draw is `np.random.default_rng([seed, c]).choice(n_c, k, replace=False)` per class c, so
  the subset depends only on (labels, fraction, seed) and each class's choice does not depend
  on the other classes. The reference's Python `random.sample` stream (seed 0) is not
  reproduced: its subsets are not available to compare with;
* the chosen indices, names and per-class counts are saved as JSON next to the results
  (`save_subset`), together with a SHA-1 of the sorted sample names, so two runs can be checked
  to have used the same labelled clips.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from skel_jax import files


def per_class_count(n: int, fraction: float) -> int:
  """Labelled clips kept from a class of `n` clips: `max(1, round(fraction * n))`, 0 if n = 0.

  Never more than `n`.
  """
  if n <= 0:
    return 0
  return min(n, max(1, round(fraction * n)))


def _check_fraction(fraction: float) -> float:
  fraction = float(fraction)
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f"labelled fraction must lie in (0, 1], got {fraction}")
  return fraction


def class_balanced_subset(labels, fraction: float, seed: int = 0) -> np.ndarray:
  """Sorted indices of a class-balanced subset with about `fraction` of each class.

  Args:
    labels: `[N]` integer labels (negative labels are rejected).
    fraction: labelled fraction p in (0, 1]; each present class keeps
      `per_class_count(n_c, p)` clips.
    seed: selects the clips; the same (labels, fraction, seed) always gives the same subset.

  Returns:
    int64 indices into `labels`, sorted ascending, without repetition.

  Raises:
    ValueError: for a fraction outside (0, 1], labels that are not a 1-D integer array, or
      negative labels.
  """
  fraction = _check_fraction(fraction)
  labels = np.asarray(labels)
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"labels must be a 1-D integer array, got {labels.dtype} {labels.shape}")
  if labels.size and labels.min() < 0:
    raise ValueError(f"label {labels.min()} at index {int(np.argmin(labels))} is negative")
  chosen = []
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    k = per_class_count(len(members), fraction)
    rng = np.random.default_rng([int(seed), int(c)])
    chosen.append(members[rng.choice(len(members), size=k, replace=False)])
  if not chosen:
    return np.zeros((0,), np.int64)
  return np.sort(np.concatenate(chosen)).astype(np.int64)


def protocol_name(fraction: float) -> str:
  """'semi_1pct' for 0.01, 'semi_10pct' for 0.1, 'semi_0.5pct' for 0.005."""
  return f"semi_{100.0 * float(fraction):g}pct"


def subset_digest(names) -> str:
  """SHA-1 of the sorted sample names (one per line): equal digests mean equal subsets."""
  return hashlib.sha1("\n".join(sorted(names)).encode()).hexdigest()


def describe_subset(indices, labels, names, fraction: float, seed: int) -> dict:
  """A JSON-able record of a subset: fraction, seed, size, per-class counts, indices, names."""
  indices = np.asarray(indices)
  labels = np.asarray(labels)
  chosen_names = [names[i] for i in indices]
  classes, counts = np.unique(labels[indices], return_counts=True)
  return {
      "fraction": float(fraction),
      "seed": int(seed),
      "size": int(len(indices)),
      "per_class": {str(int(c)): int(n) for c, n in zip(classes, counts)},
      "sha1": subset_digest(chosen_names),
      "indices": [int(i) for i in indices],
      "names": chosen_names,
  }


def save_subset(workdir: str, protocol: str, record: dict) -> str:
  """Writes `record` to `{workdir}/{protocol}_subset.json` (atomically); returns the path."""
  path = os.path.join(workdir, f"{protocol}_subset.json")
  files.atomic_write(path, json.dumps(record, indent=1) + "\n")
  return path


def load_subset(path: str) -> dict:
  """Reads a subset record written by `save_subset`."""
  with open(path) as f:
    return json.load(f)
