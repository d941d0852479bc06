"""Adjacency subsets for graph convolution, built once in numpy.

Convention (the einsum of CrosSCLR net/utils/tgcn.py `ConvTemporalGraphical.forward`):
``A[k, v, w]`` is the weight of source joint ``v`` into target joint
``w``; the aggregation is ``out[..., w, :] = sum_k sum_v y_k[..., v, :] A[k, v, w]``, so every
subset is column-normalised (each target averages over its sources).

Two graph kinds:

* ``stgcn``: the ST-GCN "spatial" partition (CrosSCLR, AimCLR), with the reference's hop
  truncation at ``max_hop = 1``: joints two or more hops apart, the centre included, are at
  distance infinity, so almost every neighbour pair lands in the "root" subset and only the
  edges leaving the centre's one-hop ring are "further" (CrosSCLR net/utils/graph.py `Graph`).
* ``agcn``: the 2s-AGCN style graph (SkeleMixCLR, SkeAttnCLR): identity, parent-to-child and
  children-to-parent subsets, each column-normalised, identity not normalised (SkeleMixCLR
  net/utils/ntu_rgb_d.py `Graph`).
"""

from __future__ import annotations

import numpy as np

from skel_jax.data.skeletons import SkeletonLayout, get_layout

GRAPH_KINDS = ("stgcn", "agcn")


def _undirected_adjacency(layout: SkeletonLayout) -> np.ndarray:
  """0/1 `[V, V]` symmetric bone adjacency without self-loops."""
  v = layout.num_joints
  adj = np.zeros((v, v), np.float64)
  for child, parent in layout.edges:
    adj[child, parent] = adj[parent, child] = 1.0
  return adj


def hop_distance(layout: SkeletonLayout, max_hop: int = 1) -> np.ndarray:
  """Graph distances truncated at `max_hop`; farther pairs are `inf` (the ST-GCN quirk)."""
  v = layout.num_joints
  adj = _undirected_adjacency(layout) + np.eye(v)
  dist = np.full((v, v), np.inf)
  reach = [np.linalg.matrix_power(adj, d) > 0 for d in range(max_hop + 1)]
  for d in range(max_hop, -1, -1):  # smaller hops overwrite larger ones
    dist[reach[d]] = d
  return dist


def column_normalize(a: np.ndarray) -> np.ndarray:
  """``A D^-1`` with D the column sums; all-zero columns stay zero."""
  col = a.sum(axis=0)
  inv = np.where(col > 0, 1.0 / np.where(col > 0, col, 1.0), 0.0)
  return a * inv[None, :]


def stgcn_partition(layout: SkeletonLayout, max_hop: int = 1, dilation: int = 1) -> np.ndarray:
  """ST-GCN "spatial" partition subsets `[1 + 2 * max_hop, V, V]` (`Graph.get_adjacency`).

  Subset 0 is the normalised self-loop; each hop h >= 1 gives a "root + closer" subset and a
  "further" subset, by comparing the two joints' (truncated) distances to the centre.
  """
  dist = hop_distance(layout, max_hop)
  valid_hops = range(0, max_hop + 1, dilation)
  adjacency = np.zeros_like(dist)
  for hop in valid_hops:
    adjacency[dist == hop] = 1.0
  norm = column_normalize(adjacency)
  to_center = dist[:, layout.center]
  subsets = []
  for hop in valid_hops:
    root = np.zeros_like(norm)
    close = np.zeros_like(norm)
    further = np.zeros_like(norm)
    src, dst = np.nonzero(dist == hop)  # src = row (source v), dst = column (target w)
    for j, i in zip(src, dst):
      if to_center[j] == to_center[i]:  # inf == inf counts as "same distance", as in ST-GCN
        root[j, i] = norm[j, i]
      elif to_center[j] > to_center[i]:
        close[j, i] = norm[j, i]
      else:
        further[j, i] = norm[j, i]
    if hop == 0:
      subsets.append(root)
    else:
      subsets.extend([root + close, further])
  return np.stack(subsets).astype(np.float32)


def agcn_graph(layout: SkeletonLayout) -> np.ndarray:
  """2s-AGCN style subsets `[3, V, V]`: I, colnorm(parent->child), colnorm(children->parent)."""
  v = layout.num_joints
  inward = np.zeros((v, v))  # inward[child, parent] = 1: the parent receives its children
  for child, parent in layout.edges:
    inward[child, parent] = 1.0
  outward = inward.T  # outward[parent, child] = 1: each child receives its parent
  return np.stack([np.eye(v), column_normalize(outward), column_normalize(inward)]).astype(
      np.float32)


def build_adjacency(layout: str | SkeletonLayout, kind: str = "stgcn") -> np.ndarray:
  """The adjacency subsets `[K, V, V]` of `kind` ('stgcn' or 'agcn') for a layout.

  Raises:
    ValueError: for an unknown graph kind.
  """
  layout = get_layout(layout)
  if kind == "stgcn":
    return stgcn_partition(layout, max_hop=1)
  if kind == "agcn":
    return agcn_graph(layout)
  raise ValueError(f"unknown graph kind {kind!r}; known: {GRAPH_KINDS}")
