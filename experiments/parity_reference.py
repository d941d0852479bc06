r"""Runs a method's official PyTorch code for a few optimiser steps and saves a parity fixture.

The official code is NOT part of this repository: check out the method's public repository at
the commit below in a scratch folder and pass it with `--official`. This harness imports it
from there, applies the CPU adaptations it needs at run time (`Tensor.cuda` is the
identity; the enqueue writes at the pointer of a single device, because `keys.device.index`
is None on the CPU; torchlight's `import_class` without its h5py import), builds the model at tiny widths with dropout 0, and then runs three
optimiser steps twice from the same initial state and the same views: once in float32 and
once in float64. The float64 run is the yardstick of the step-parity tests
(tests/test_step_parity.py): skel_jax's float32 error against it must stay within twice the
official float32 error.

| method       | repository (commit)                    | model class                       |
|--------------|----------------------------------------|-----------------------------------|
| skeletonclr  | LinguoLi/CrosSCLR (792b70c)            | net/skeletonclr.py:SkeletonCLR    |
| aimclr       | Levigty/AimCLR (6cd7376)               | net/aimclr.py:AimCLR              |
| aimclr_nnm   | Levigty/AimCLR (6cd7376), mining on    | net/aimclr.py:AimCLR (nnm=True)   |

The loss of each step is computed here from the model outputs, following the method's
processor (`processor/pretrain_skeletonclr.py`, `processor/pretrain_aimclr.py`: cross-entropy,
the two D3M terms, the NNM multi-positive loss), and the optimiser is the processors' SGD
(momentum 0.9, nesterov False, weight decay 1e-4).

    python experiments/parity_reference.py --method aimclr \
        --official /path/to/AimCLR --out tests/fixtures/parity/aimclr

Output (`fixture.npz`, numpy only; PyTorch layouts, state_dict names):
  init/<key>              initial state_dict (float32): both encoders, queue, pointer
  views/<step>/<view>     injected views `[N, C, T, V, M]` (float32), steps 0..S-1
  <p>/loss/<term>         per-step loss terms, p in {f32, f64}
  <p>/grad/<param>        step-1 gradients of the trainable parameters
  <p>/final/<key>         the state_dict after the last step
and `meta.json` with the settings.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

METHODS = {
    "skeletonclr": dict(repo="LinguoLi/CrosSCLR",
                        commit="792b70c76902a5e7ca5696f5a032f14bb04a255a",
                        module="net.skeletonclr", cls="SkeletonCLR", views=("query", "key"),
                        graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
                        temperature=0.07, momentum=0.999, mining=False),
    "aimclr": dict(repo="Levigty/AimCLR", commit="6cd73767f17748792508647355fa324fa63e235d",
                   module="net.aimclr", cls="AimCLR", views=("extreme", "query", "key"),
                   graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
                   temperature=0.07, momentum=0.999, mining=False),
    "aimclr_nnm": dict(repo="Levigty/AimCLR", commit="6cd73767f17748792508647355fa324fa63e235d",
                       module="net.aimclr", cls="AimCLR", views=("extreme", "query", "key"),
                       graph_args={"layout": "ntu-rgb+d", "strategy": "spatial"},
                       temperature=0.07, momentum=0.999, mining=True),
}

SETTINGS = dict(batch=4, frames=16, persons=2, joints=25, hidden=4, hidden_dim=16,
                feature_dim=8, queue_size=16, queue_ptr=8, steps=3, lr=0.1, momentum=0.9,
                weight_decay=1e-4, seed=0)


def import_official(path: str):
  """Puts the official checkout (and its bundled torchlight) on sys.path; CPU adaptations."""
  import importlib  # pylint: disable=g-import-not-at-top
  import types  # pylint: disable=g-import-not-at-top

  import torch  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, path)
  # The models only need torchlight's `import_class`; the bundled package also imports h5py
  # and GPU helpers, so a stand-in module provides just that function.
  stub = types.ModuleType("torchlight")

  def import_class(name: str):
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)

  stub.import_class = import_class
  sys.modules["torchlight"] = stub
  torch.Tensor.cuda = lambda self, *args, **kwargs: self  # CPU run: .cuda() is the identity
  return torch


def single_device_enqueue(model, keys):
  """The reference's `_dequeue_and_enqueue` on one device: keys at columns [ptr, ptr + N)."""
  ptr = int(model.queue_ptr)
  model.queue[:, ptr:ptr + keys.shape[0]] = keys.T


def reference_init(torch, module):
  """The processors' `weights_init` (spec 1.5.4): conv/linear N(0, 0.02^2), BN N(1, 0.02^2)."""
  name = module.__class__.__name__
  if "Conv1d" in name or "Conv2d" in name or "Linear" in name:
    module.weight.data.normal_(0.0, 0.02)
    if module.bias is not None:
      module.bias.data.fill_(0)
  elif "BatchNorm" in name:
    module.weight.data.normal_(1.0, 0.02)
    module.bias.data.fill_(0)


def build_model(torch, spec: dict, s: dict):
  import importlib  # pylint: disable=g-import-not-at-top
  cls = getattr(importlib.import_module(spec["module"]), spec["cls"])
  torch.manual_seed(s["seed"])
  model = cls(base_encoder="net.st_gcn.Model", pretrain=True, feature_dim=s["feature_dim"],
              queue_size=s["queue_size"], momentum=spec["momentum"],
              Temperature=spec["temperature"], mlp=True, in_channels=3,
              hidden_channels=s["hidden"], hidden_dim=s["hidden_dim"], num_class=60, dropout=0.0,
              graph_args=spec["graph_args"], edge_importance_weighting=True)
  # Both encoders get their own reference init after construction, as in the processors.
  model.apply(lambda m: reference_init(torch, m))
  model._dequeue_and_enqueue = lambda keys: single_device_enqueue(model, keys)  # pylint: disable=protected-access
  with torch.no_grad():
    model.queue_ptr[0] = s["queue_ptr"]
  return model


def make_views(spec: dict, s: dict) -> list[dict[str, np.ndarray]]:
  """Random float32 clips `[N, C, T, V, M]`; the second person is absent in half the clips."""
  rng = np.random.default_rng(s["seed"] + 1)
  out = []
  for _ in range(s["steps"]):
    step = {}
    for name in spec["views"]:
      x = rng.normal(0.0, 0.5, (s["batch"], 3, s["frames"], s["joints"], s["persons"]))
      x[: s["batch"] // 2, ..., 1] = 0.0
      step[name] = x.astype(np.float32)
    out.append(step)
  return out


def step_losses(torch, method: str, model, views: dict, spec: dict):
  """The processor's loss for one step: returns (total, {term: value})."""
  F = torch.nn.functional
  if method == "skeletonclr":
    logits, labels = model(views["query"], views["key"])
    model.update_ptr(logits.size(0))
    loss = F.cross_entropy(logits, labels)
    return loss, {"loss": loss, "loss_info": loss}
  nnm = spec["mining"]
  out1, target1, out2, out3, target2 = model(views["extreme"], views["query"], views["key"],
                                             nnm=nnm, topk=1)
  model.update_ptr(out1.size(0))
  if nnm:
    mask = target1
    loss1 = (-(F.log_softmax(out1, dim=1) * mask).sum(1) / mask.sum(1)).mean()
  else:
    loss1 = F.cross_entropy(out1, target1)
  loss2 = -torch.mean(torch.sum(torch.log(out2) * target2, dim=1))
  loss3 = -torch.mean(torch.sum(torch.log(out3) * target2, dim=1))
  loss = loss1 + (loss2 + loss3) / 2.0
  return loss, {"loss": loss, "loss_info": loss1, "loss_d": loss2, "loss_dd": loss3}


def run(torch, method: str, spec: dict, s: dict, init_sd: dict, views: list, dtype) -> dict:
  """Three optimiser steps from `init_sd` in `dtype`; returns the fixture entries."""
  model = build_model(torch, spec, s)
  model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in init_sd.items()})
  model = model.to(dtype)
  model.train()
  params = [p for p in model.parameters() if p.requires_grad]
  opt = torch.optim.SGD(params, lr=s["lr"], momentum=s["momentum"], nesterov=False,
                        weight_decay=s["weight_decay"])
  out: dict[str, np.ndarray] = {}
  losses: dict[str, list] = {}
  for i, step_views in enumerate(views):
    tv = {k: torch.from_numpy(v).to(dtype) for k, v in step_views.items()}
    loss, terms = step_losses(torch, method, model, tv, spec)
    for k, v in terms.items():
      losses.setdefault(k, []).append(float(v.detach()))
    opt.zero_grad()
    loss.backward()
    if i == 0:
      for name, p in model.named_parameters():
        if p.grad is not None:
          out[f"grad/{name}"] = p.grad.detach().numpy().copy()
    opt.step()
  for k, v in losses.items():
    out[f"loss/{k}"] = np.asarray(v, np.float64)
  for k, v in model.state_dict().items():
    if not k.endswith((".A", "num_batches_tracked")):  # constants: kept in init/ only
      out[f"final/{k}"] = v.detach().numpy().copy()
  return out


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--method", required=True, choices=sorted(METHODS))
  parser.add_argument("--official", required=True, help="checkout of the official repository")
  parser.add_argument("--out", required=True, help="output folder")
  args = parser.parse_args(argv)
  torch = import_official(args.official)
  torch.use_deterministic_algorithms(True)
  torch.set_num_threads(1)
  spec, s = METHODS[args.method], dict(SETTINGS)
  model = build_model(torch, spec, s)
  init_sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
  views = make_views(spec, s)
  fixture = {f"init/{k}": v for k, v in init_sd.items()}
  for i, step in enumerate(views):
    fixture.update({f"views/{i}/{k}": v for k, v in step.items()})
  for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
    fixture.update({f"{tag}/{k}": v for k, v in
                    run(torch, args.method, spec, s, init_sd, views, dtype).items()})
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(out / "fixture.npz", **fixture)
  meta = dict(method=args.method, repo=spec["repo"], commit=spec["commit"],
              model=f"{spec['module']}.{spec['cls']}", views=list(spec["views"]),
              temperature=spec["temperature"], key_momentum=spec["momentum"],
              mining=spec["mining"], graph_args=spec["graph_args"], dropout=0.0,
              torch=torch.__version__, **s)
  (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
  print(f"wrote {out / 'fixture.npz'} ({(out / 'fixture.npz').stat().st_size} bytes)")


if __name__ == "__main__":
  main()
