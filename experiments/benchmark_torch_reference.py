r"""The PyTorch baseline of the speed target: the reference's AimCLR train step, timed here.

    pip install -e ".[torch]"
    python experiments/benchmark_torch_reference.py --batch 64 --frames 50 --threads 2

The speed target compares skel_jax with the PyTorch reference's AimCLR train step on the same
2-core CPU. This script rebuilds that step in plain PyTorch, written independently of the
reference's code but in its formulation, so that both are timed on the same machine at the same
time:

* ST-GCN of CrosSCLR net/st_gcn.py (data BN over V*C, ten blocks; per block a 1x1 `Conv2d` to
  K*C_out, `einsum('nkctv,kvw->nctw')` with the adjacency times the edge importance, BN, ReLU, a
  (9, 1) `Conv2d`, BN, dropout 0.5, residual, ReLU), NCHW layout as in the reference;
* the AimCLR step of Levigty/AimCLR net/aimclr.py `AimCLR.forward`: query view and extreme view
  through the query encoder (EADM on the extreme view's feature map, two heads), key view through
  the momentum encoder (train mode, no gradient), D3M losses, InfoNCE against a 32768-entry queue,
  SGD with momentum and weight decay, momentum update, enqueue.

Augmentations are left out on both sides of the comparison's headline figure (the reference
does them on CPU workers, skel_jax inside its jitted step, where they cost ~10 ms); the
graph is the ST-GCN partition of net/utils/graph.py. Prints samples/s (median of `--iters`
steps after `--warmup`).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from skel_jax.models.graph import build_adjacency


def build(torch, nn, hidden: int, out_dim: int, v: int, adjacency: np.ndarray):
  """The reference ST-GCN with the SkeletonCLR/AimCLR head (net/skeletonclr.py)."""
  k = adjacency.shape[0]

  class Block(nn.Module):
    def __init__(self, c_in, c_out, stride, residual, dropout):
      super().__init__()
      self.register_buffer("a", torch.tensor(adjacency, dtype=torch.float32))
      self.importance = nn.Parameter(torch.ones(k, v, v))
      self.gcn = nn.Conv2d(c_in, k * c_out, 1)
      self.c_out = c_out
      self.tcn = nn.Sequential(
          nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
          nn.Conv2d(c_out, c_out, (9, 1), (stride, 1), (4, 0)),
          nn.BatchNorm2d(c_out), nn.Dropout(dropout, inplace=True))
      if residual == "none":
        self.res = None
      elif residual == "identity":
        self.res = nn.Identity()
      else:
        self.res = nn.Sequential(nn.Conv2d(c_in, c_out, 1, (stride, 1)), nn.BatchNorm2d(c_out))
      self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
      res = 0 if self.res is None else self.res(x)
      y = self.gcn(x)
      n, _, t, vv = y.shape
      y = y.view(n, k, self.c_out, t, vv)
      y = torch.einsum("nkctv,kvw->nctw", y, self.a * self.importance).contiguous()
      return self.relu(self.tcn(y) + res)

  class Encoder(nn.Module):
    def __init__(self):
      super().__init__()
      self.data_bn = nn.BatchNorm1d(3 * v)
      widths = [hidden] * 4 + [2 * hidden] * 3 + [4 * hidden] * 2 + [out_dim]
      strides = [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
      blocks, c = [], 3
      for i, (w, s) in enumerate(zip(widths, strides)):
        residual = "none" if i == 0 else ("identity" if (c == w and s == 1) else "conv")
        blocks.append(Block(c, w, s, residual, 0.0 if i == 0 else 0.5))
        c = w
      self.blocks = nn.ModuleList(blocks)
      self.fc = nn.Sequential(nn.Linear(out_dim, out_dim), nn.ReLU(), nn.Linear(out_dim, 128))

    def feature_map(self, x):  # x: (N, C, T, V, M)
      n, c, t, vv, m = x.shape
      x = x.permute(0, 4, 3, 1, 2).contiguous().view(n * m, vv * c, t)
      x = self.data_bn(x)
      x = x.view(n, m, vv, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, vv)
      for block in self.blocks:
        x = block(x)
      return x, n, m

    def head(self, fmap, n, m):
      pooled = fmap.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1)
      return nn.functional.normalize(self.fc(pooled), dim=1)

    def forward(self, x):
      fmap, n, m = self.feature_map(x)
      return self.head(fmap, n, m)

  return Encoder


def eadm(torch, fmap, keep_prob=0.7, lam=1e-4):
  """AimCLR's EADM (`Simam_Drop`, the fixed version) on an (NM, C, T', V) feature map."""
  t, v = fmap.shape[2], fmap.shape[3]
  with torch.no_grad():
    d = (fmap - fmap.mean(dim=(2, 3), keepdim=True)) ** 2
    att = torch.sigmoid(d / (4 * (d.sum(dim=(2, 3), keepdim=True) / (t * v - 1) + lam)) + 0.5)
    joint = (att.mean(dim=(1, 2)) < keep_prob).float()
    joint = joint * joint.numel() / joint.sum().clamp(min=1)
    element = (att < keep_prob).float()
    element = element * element.numel() / element.sum().clamp(min=1)
  return fmap * joint[:, None, None, :] * element


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--frames", type=int, default=50)
  p.add_argument("--hidden", type=int, default=16)
  p.add_argument("--threads", type=int, default=2)
  p.add_argument("--queue", type=int, default=32768)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--iters", type=int, default=5)
  args = p.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  adjacency = build_adjacency("ntu25", "stgcn")
  v = adjacency.shape[-1]
  encoder_cls = build(torch, nn, args.hidden, 256, v, adjacency)
  enc_q, enc_k = encoder_cls(), encoder_cls()
  for p_k in enc_k.parameters():
    p_k.requires_grad = False
  opt = torch.optim.SGD(enc_q.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
  queue = nn.functional.normalize(torch.randn(128, args.queue), dim=0)
  ptr, tau, m_k = 0, 0.07, 0.999
  rng = np.random.default_rng(0)
  x = rng.normal(size=(args.batch, 3, args.frames, v, 2)).astype(np.float32)
  x[args.batch // 2:, ..., 1] = 0.0  # half the clips with an absent second person, as in NTU
  views = [torch.tensor(x) for _ in range(3)]

  def step():
    nonlocal ptr, queue
    x_e, x_q, x_k = views
    enc_q.train()
    enc_k.train()
    q = enc_q(x_q)
    fmap, n, m = enc_q.feature_map(x_e)
    q_e = enc_q.head(fmap, n, m)
    q_ed = enc_q.head(eadm(torch, fmap), n, m)
    with torch.no_grad():
      for p_q, p_k in zip(enc_q.parameters(), enc_k.parameters()):
        p_k.mul_(m_k).add_(p_q.detach(), alpha=1 - m_k)
      k = enc_k(x_k)

    def logits(f):
      return torch.cat([(f * k).sum(1, keepdim=True), f @ queue], dim=1) / tau

    z, z_e, z_ed = logits(q), logits(q_e), logits(q_ed)
    target = torch.softmax(z.detach(), dim=1)
    loss_d = -(target * torch.log_softmax(z_e, dim=1)).sum(1).mean()
    loss_dd = -(target * torch.log_softmax(z_ed, dim=1)).sum(1).mean()
    loss = nn.functional.cross_entropy(z, torch.zeros(len(z), dtype=torch.long))
    loss = loss + (loss_d + loss_dd) / 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
      queue[:, ptr:ptr + len(k)] = k.T
      ptr = (ptr + len(k)) % args.queue
    return float(loss)

  for _ in range(args.warmup):
    step()
  times = []
  for _ in range(args.iters):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  med = statistics.median(times)
  print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, T {args.frames}, "
        f"h {args.hidden}: AimCLR step {med * 1e3:.0f} ms (min {min(times) * 1e3:.0f}) = "
        f"{args.batch / med:.1f} samples/s")


if __name__ == "__main__":
  main()
