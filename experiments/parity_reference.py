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
| skelemixclr  | czhaneva/SkeleMixCLR (4538d6c)         | net/skeletonclr_multi_swapv2.py:SkeletonCLR |
| skeattnclr   | GitHubOfHyl97/SkeAttnCLR (e3f05c6)     | net/SkeAttnCLR.py:SkeAttnMask     |

The mixing methods draw their SkeleMix parameters inside the model (`ske_swap`). Python's
`random` and PyTorch's generator are seeded alike before the float32 and the float64 run, and
every `ske_swap` call is recorded (partner roll, joints, segment start and length), so both
runs mix with the same draws and the fixture carries them for skel_jax's `skelemix_with_draws`.
SkeAttnCLR's released model file names its two branch predictors `predictor_s` / `predictor_ns`
but calls `predictor_p` / `predictor_c` in `forward`; the harness registers them under the
called names (the names of the trained code, which its evaluation configs list), and its
fixture names the two unused queues `queue_p` / `queue_c` for the same reason. The key
encoder's cosine-annealed momentum update runs after the optimiser step, as in
`processor/pretrain_SkeAttnLWL.py`.

The loss of each step is computed here from the model outputs, following the method's
processor (`processor/pretrain_skeletonclr.py`, `processor/pretrain_aimclr.py`: cross-entropy,
the two D3M terms, the NNM multi-positive loss; `processor/pretrain_skeletonclr_multi_swapv2.py`:
the instance term and the summed region terms; SkeAttnCLR's model returns its three terms and
`processor/pretrain_SkeAttnLWL.py` weights them with mu), and the optimiser is the processors' SGD
(momentum 0.9, nesterov False, weight decay 1e-4).

    python experiments/parity_reference.py --method aimclr \
        --official /path/to/AimCLR --out tests/fixtures/parity/aimclr

Output (`fixture.npz`, numpy only; PyTorch layouts, state_dict names):
  init/<key>              initial state_dict (float32): both encoders, queue, pointer
  views/<step>/<view>     injected views `[N, C, T, V, M]` (float32), steps 0..S-1
  <p>/loss/<term>         per-step loss terms, p in {f32, f64}
  <p>/grad/<param>        step-1 gradients of the trainable parameters
  <p>/final/<key>         the state_dict after the last step
  mix/<step>/<r>/<draw>   SkeleMix draws (shift, joints [V] 0/1, start, length) and the
                          official feature mask (`mask`), mixing methods only
  j32/loss/<term>         with `--jitter N`: N more float32 runs, each from the initial state
  j32/final_l2/<key>      with every float tensor moved by at most one unit in the last place
                          (`jittered`), the same views and mixing draws: their per-step
                          losses `[N, S]` and, per tensor of the final state, the l2 norm of
                          its difference from the float64 run's `[N]` (all the tests need)
and `meta.json` with the settings. `--offset` adds a constant to every coordinate of the
present persons (camera-like views, for measurements; the committed fixtures are zero-mean).

Why the jittered runs: a step's result is a smooth function of its inputs, so after one step
the official float32 error is a fair yardstick. After several, a step can amplify a rounding
difference by orders of magnitude (a ReLU input near zero, an attention score near a tie),
and the official float32 run's error against float64 is then one draw from a wide
distribution: the same code with its initial state moved by one ulp lands elsewhere. The
jittered runs sample that distribution from the official code itself; the step-parity tests
take the largest official float32 error (the plain run's or a jittered run's) as the
yardstick of the later losses and the final state.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import random
import sys

import numpy as np

STGCN_GRAPH = {"layout": "ntu-rgb+d", "strategy": "spatial"}
METHODS = {
    "skeletonclr": dict(repo="LinguoLi/CrosSCLR",
                        commit="792b70c76902a5e7ca5696f5a032f14bb04a255a",
                        module="net.skeletonclr", cls="SkeletonCLR", views=("query", "key"),
                        encoder="net.st_gcn.Model", graph_args=STGCN_GRAPH,
                        temperature=0.07, momentum=0.999, mining=False),
    "aimclr": dict(repo="Levigty/AimCLR", commit="6cd73767f17748792508647355fa324fa63e235d",
                   module="net.aimclr", cls="AimCLR", views=("extreme", "query", "key"),
                   encoder="net.st_gcn.Model", graph_args=STGCN_GRAPH,
                   temperature=0.07, momentum=0.999, mining=False),
    "aimclr_nnm": dict(repo="Levigty/AimCLR", commit="6cd73767f17748792508647355fa324fa63e235d",
                       module="net.aimclr", cls="AimCLR", views=("extreme", "query", "key"),
                       encoder="net.st_gcn.Model", graph_args=STGCN_GRAPH,
                       temperature=0.07, momentum=0.999, mining=True),
    # SkeleMixCLR+ (config/CrosSCLR/skelemixclr_multi_swap_ntu.yaml): BN head, tau 0.2, three
    # mixes of 2-3 body parts; segments 1-3 of the 4-segment grid of 16 frames (7-11 of 16
    # at 64 frames).
    "skelemixclr": dict(repo="czhaneva/SkeleMixCLR",
                        commit="4538d6cd152039de5ead57fff83a4d4d0e6b5471",
                        module="net.skeletonclr_multi_swapv2", cls="SkeletonCLR",
                        views=("query", "key"), encoder="net.st_gcn_swap.Model",
                        graph_args=STGCN_GRAPH, temperature=0.2, momentum=0.999, mining=False,
                        repeats=3, parts=(2, 3), segments=(1, 3), stream="joint"),
    # SkeAttnCLR (config/SkeAttnCLR/NTU60/*/pretrain_*.yaml): the bone stream with mu = 0.5
    # (both branch losses on), 3-4 parts, segments 1-3 of the ceil(18 / 4) = 5-segment grid
    # of 18 frames (a segment may run past the last frame), cosine momentum from 0.996.
    "skeattnclr": dict(repo="GitHubOfHyl97/SkeAttnCLR",
                       commit="e3f05c600a8e352bba52193c1586a2f132e8b328",
                       module="net.SkeAttnCLR", cls="SkeAttnMask", views=("query", "key"),
                       encoder="net.st_gcn.Model", graph_args=STGCN_GRAPH, temperature=0.2,
                       momentum=0.996, mining=False, parts=(3, 4), segments=(1, 3),
                       stream="bone", mu=0.5, heads=8, attn_lambda=2.0, frames=18,
                       iters_per_epoch=10, epochs=3,
                       # lr 0.1 amplifies float32 rounding chaotically in three steps of the
                       # tiny model (the official float32 run ends 5e-3 off its float64 run).
                       lr=0.01),
}

SETTINGS = dict(batch=4, frames=16, persons=2, joints=25, hidden=4, hidden_dim=16,
                feature_dim=8, queue_size=16, queue_ptr=8, steps=3, lr=0.1, momentum=0.9,
                weight_decay=1e-4, seed=0)
# SkeAttnCLR's model file names its branch predictors `predictor_s` / `predictor_ns` but its
# forward calls `predictor_p` / `predictor_c` (net/SkeAttnCLR.py:SkeAttnMask); the trained code
# used the called names, and its evaluation configs ignore `predictor_p`, `predictor_c`,
# `queue_p` and `queue_c`. Fixture keys follow those names.
SKEATTN_NAMES = {"predictor_s.": "predictor_p.", "predictor_ns.": "predictor_c.",
                 "queue_s": "queue_p", "queue_ns": "queue_c", "queue_ptr_s": "queue_ptr_p",
                 "queue_ptr_ns": "queue_ptr_c"}


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


def single_device_enqueue(model, keys, *_):
  """The reference's `_dequeue_and_enqueue` on one device: keys at columns [ptr, ptr + N)."""
  ptr = int(model.queue_ptr)
  model.queue[:, ptr:ptr + keys.shape[0]] = keys.T


def single_device_enqueue_three(model, key_z, key_s, key_ns):
  """SkeAttnCLR's three-queue `_dequeue_and_enqueue` on one device."""
  for queue, ptr, keys in ((model.queue_z, model.queue_ptr_z, key_z),
                           (model.queue_s, model.queue_ptr_s, key_s),
                           (model.queue_ns, model.queue_ptr_ns, key_ns)):
    p = int(ptr)
    queue[:, p:p + keys.shape[0]] = keys.T


def reference_init(torch, module):
  """The processors' `weights_init`: conv/linear N(0, 0.02^2), BN N(1, 0.02^2)."""
  name = module.__class__.__name__
  if "Conv1d" in name or "Conv2d" in name or "Linear" in name:
    module.weight.data.normal_(0.0, 0.02)
    if module.bias is not None:
      module.bias.data.fill_(0)
  elif "BatchNorm" in name:
    module.weight.data.normal_(1.0, 0.02)
    module.bias.data.fill_(0)


def model_kwargs(method: str, spec: dict, s: dict) -> dict:
  kwargs = dict(base_encoder=spec["encoder"], pretrain=True, feature_dim=s["feature_dim"],
                queue_size=s["queue_size"], momentum=spec["momentum"],
                Temperature=spec["temperature"], in_channels=3, hidden_channels=s["hidden"],
                hidden_dim=s["hidden_dim"], num_class=60, dropout=s.get("dropout", 0.0),
                graph_args=spec["graph_args"], edge_importance_weighting=True)
  if method == "skelemixclr":
    swap = [*spec["parts"], *spec["segments"], spec["repeats"], 1.0]
    kwargs.update(mlp=True, swap_cfg={"swap_params": [swap], "swap_mode": "swap",
                                      "spatial_mode": "semantic"})
  elif method == "skeattnclr":
    kwargs.update(heads=spec["heads"], Lambda=spec["attn_lambda"], spa_l=spec["parts"][0],
                  spa_u=spec["parts"][1], tem_l=spec["segments"][0], tem_u=spec["segments"][1],
                  swap_mode="swap", spatial_mode="semantic")
  else:
    kwargs.update(mlp=True)
  return kwargs


def build_model(torch, method: str, spec: dict, s: dict):
  import importlib  # pylint: disable=g-import-not-at-top
  cls = getattr(importlib.import_module(spec["module"]), spec["cls"])
  torch.manual_seed(s["seed"])
  model = cls(**model_kwargs(method, spec, s))
  if method == "skeattnclr":
    # The documented name fix: register the branch predictors under the names forward uses.
    model.predictor_p, model.predictor_c = model.predictor_s, model.predictor_ns
    del model.predictor_s, model.predictor_ns
    model._dequeue_and_enqueue = lambda *keys: single_device_enqueue_three(model, *keys)  # pylint: disable=protected-access
    ptrs = (model.queue_ptr_z, model.queue_ptr_s, model.queue_ptr_ns)
  else:
    model._dequeue_and_enqueue = lambda *a: single_device_enqueue(model, *a)  # pylint: disable=protected-access
    ptrs = (model.queue_ptr,)
  # Both encoders get their own reference init after construction, as in the processors.
  model.apply(lambda m: reference_init(torch, m))
  with torch.no_grad():
    for ptr in ptrs:
      ptr[0] = s["queue_ptr"]
  return model


def record_mixing(model, log: list):
  """Wraps the model's `ske_swap`: each call appends its draws to `log`."""
  original = model.ske_swap

  def recorded(x, *args):
    randidx, mixed, mask = original(x, *args)
    rows = np.flatnonzero(mask.numpy().any(axis=1))
    joints = mask.numpy().any(axis=0).astype(np.float32)
    log.append({"shift": np.asarray(int(randidx[0]), np.int32), "joints": joints,
                "start": np.asarray(rows[0], np.int32), "length": np.asarray(len(rows), np.int32),
                "mask": mask.numpy().astype(np.float32)})
    return randidx, mixed, mask

  model.ske_swap = recorded


def fixture_names(method: str, sd: dict) -> dict:
  """State-dict keys as the fixture stores them (SkeAttnCLR: the trained code's names)."""
  if method != "skeattnclr":
    return sd
  out = {}
  for k, v in sd.items():
    for old, new in SKEATTN_NAMES.items():
      if k.startswith(old):
        k = new + k[len(old):]
        break
    out[k] = v
  return out


def make_views(spec: dict, s: dict, offset: float = 0.0) -> list[dict[str, np.ndarray]]:
  """Random float32 clips `[N, C, T, V, M]`; the second person is absent in half the clips."""
  rng = np.random.default_rng(s["seed"] + 1)
  out = []
  for _ in range(s["steps"]):
    step = {}
    for name in spec["views"]:
      x = rng.normal(0.0, 0.5, (s["batch"], 3, s["frames"], s["joints"], s["persons"])) + offset
      x[: s["batch"] // 2, ..., 1] = 0.0
      step[name] = x.astype(np.float32)
    out.append(step)
  return out


def multi_nce(torch, logits, mask):
  """The processors' `multi_nce_loss`: -log(sum of the positives' softmax / their count)."""
  F = torch.nn.functional
  return (-torch.log((F.softmax(logits, dim=1) * mask).sum(1) / mask.sum(1))).mean()


def step_losses(torch, method: str, model, views: dict, spec: dict):
  """The processor's loss for one step: returns (total, {term: value})."""
  F = torch.nn.functional
  if method == "skeletonclr":
    logits, labels = model(views["query"], views["key"])
    model.update_ptr(logits.size(0))
    loss = F.cross_entropy(logits, labels)
    return loss, {"loss": loss, "loss_info": loss}
  if method == "skelemixclr":
    (logits_list, pos_mask, ins_weights, p_list, pos_p, c_list, pos_c,
     reg_weights) = model([views["query"]], views["key"], None, topk=0, weight=False)
    model.update_ptr(logits_list[0].size(0))
    loss_ins = sum(w * multi_nce(torch, z, pos_mask) for w, z in zip(ins_weights, logits_list))
    terms_p = [multi_nce(torch, z, pos_p) for z in p_list]
    terms_c = [multi_nce(torch, z, pos_c) for z in c_list]
    loss_reg = sum(w * (0.5 * lp + 0.5 * lc) for w, lp, lc in zip(reg_weights, terms_p, terms_c))
    loss = loss_ins + loss_reg
    return loss, {"loss": loss, "loss_info": loss_ins, "loss_p": sum(terms_p) / len(terms_p),
                  "loss_c": sum(terms_c) / len(terms_c)}
  if method == "skeattnclr":
    loss_z, loss_p, loss_c = model(views["query"], views["key"], spec["stream"])
    model.update_ptr(views["query"].size(0))
    mu = spec["mu"]
    loss = loss_z + mu * loss_p + (1 - mu) * loss_c
    return loss, {"loss": loss, "loss_z": loss_z, "loss_s": loss_p, "loss_ns": loss_c}
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


def after_step(method: str, model, spec: dict, step: int) -> None:
  """SkeAttnCLR's key update after the optimiser step (processor/pretrain_SkeAttnLWL.py).

  `curr_iter = epoch * iters + i` with the 1-based epoch (1 here) and `max_iter = iters *
  epochs`; `momentum_update` computes the momentum in Python (double) precision.
  """
  if method == "skeattnclr":
    iters = spec["iters_per_epoch"]
    model.momentum_update(float(1 * iters + step), float(iters * spec["epochs"]))


def run(torch, method: str, spec: dict, s: dict, init_sd: dict, views: list, dtype):
  """Three optimiser steps from `init_sd` in `dtype`; returns (fixture entries, mix draws)."""
  model = build_model(torch, method, spec, s)
  model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in init_sd.items()})
  model = model.to(dtype)
  model.train()
  mixes: list = []
  if method in ("skelemixclr", "skeattnclr"):
    record_mixing(model, mixes)
  # The same SkeleMix draws in both precisions: the mixing is the only consumer of the
  # generators during the steps (dropout is 0).
  random.seed(s["seed"] + 2)
  torch.manual_seed(s["seed"] + 3)
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
      grads = {name: p.grad.detach().numpy().copy() for name, p in model.named_parameters()
               if p.grad is not None}
      out.update({f"grad/{k}": v for k, v in fixture_names(method, grads).items()})
    opt.step()
    after_step(method, model, spec, i)
  for k, v in losses.items():
    out[f"loss/{k}"] = np.asarray(v, np.float64)
  final = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()
           if not k.endswith((".A", "num_batches_tracked"))}  # constants: kept in init/ only
  out.update({f"final/{k}": v for k, v in fixture_names(method, final).items()})
  return out, mixes


def jittered(init_sd: dict, seed: int) -> dict:
  """`init_sd` with every float tensor multiplied by `1 + u 2^-24`, u ~ U(-1, 1) per element
  (numpy `default_rng(seed)`), rounded back to float32: each value moves by at most one unit
  in the last place, and about half of them by none. Integer tensors (the pointer, the BN
  batch counters) and the graph (`.A`, a constant of the model) are unchanged."""
  rng = np.random.default_rng(seed)
  out = {}
  for k, v in init_sd.items():
    v = np.asarray(v)
    if v.dtype.kind == "f" and not k.endswith(".A"):
      u = rng.uniform(-1.0, 1.0, v.shape)
      v = (v.astype(np.float64) * (1.0 + u * 2.0 ** -24)).astype(v.dtype)
    out[k] = v
  return out


def jitter_entries(runs: list[dict], fixture: dict) -> dict:
  """The jittered runs as the fixture stores them: `j32/loss/<term>` `[N, S]` and
  `j32/final_l2/<key>` `[N]`, the l2 norm of each final tensor's difference from the float64
  run's (in float64)."""
  if not runs:
    return {}
  out = {}
  for k in runs[0]:
    if k.startswith("loss/"):
      out[f"j32/{k}"] = np.stack([r[k] for r in runs])
    else:  # grad/<key>, final/<key>
      part, _, key = k.partition("/")
      ref = np.asarray(fixture[f"f64/{k}"], np.float64)
      out[f"j32/{part}_l2/{key}"] = np.array(
          [np.linalg.norm(np.asarray(r[k], np.float64) - ref) for r in runs])
  return out


def settings_for(spec: dict) -> dict:
  """The shared SETTINGS with the method's own overrides (frames, schedule length)."""
  s = dict(SETTINGS)
  s.update({k: spec[k] for k in ("frames", "lr") if k in spec})
  return s


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--method", required=True, choices=sorted(METHODS))
  parser.add_argument("--official", required=True, help="checkout of the official repository")
  parser.add_argument("--out", required=True, help="output folder")
  parser.add_argument("--lr", type=float, default=None, help="override the learning rate")
  parser.add_argument("--offset", type=float, default=0.0,
                      help="constant added to the coordinates of the present persons")
  parser.add_argument("--seed", type=int, default=None,
                      help="override the base seed (weights, views, mixing draws; default 0)")
  parser.add_argument("--jitter", type=int, default=0,
                      help="float32 runs from the initial state moved by at most one ulp")
  args = parser.parse_args(argv)
  torch = import_official(args.official)
  torch.use_deterministic_algorithms(True)
  torch.set_num_threads(1)
  spec = METHODS[args.method]
  s = settings_for(spec)
  if args.lr is not None:
    s["lr"] = args.lr
  if args.seed is not None:
    s["seed"] = args.seed
  model = build_model(torch, args.method, spec, s)
  init_sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
  views = make_views(spec, s, args.offset)
  fixture = {f"init/{k}": v for k, v in fixture_names(args.method, init_sd).items()}
  for i, step in enumerate(views):
    fixture.update({f"views/{i}/{k}": v for k, v in step.items()})
  mixes = {}
  for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
    entries, mixes[tag] = run(torch, args.method, spec, s, init_sd, views, dtype)
    fixture.update({f"{tag}/{k}": v for k, v in entries.items()})
  jitter_runs = []
  for j in range(args.jitter):
    entries, mixes[f"j32/{j}"] = run(torch, args.method, spec, s,
                                     jittered(init_sd, s["seed"] + 100 + j), views,
                                     torch.float32)
    jitter_runs.append(entries)
  fixture.update(jitter_entries(jitter_runs, fixture))
  per_step = len(mixes["f32"]) // s["steps"] if mixes["f32"] else 0
  for other in [t for t in mixes if t != "f32"]:
    for a, b in zip(mixes["f32"], mixes[other]):
      assert all(np.array_equal(a[k], b[k]) for k in a), f"the {other} run drew other mixes"
  for j, a in enumerate(mixes["f32"]):
    fixture.update({f"mix/{j // per_step}/{j % per_step}/{k}": v for k, v in a.items()})
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(out / "fixture.npz", **fixture)
  extra = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.items()
           if k in ("repeats", "parts", "segments", "stream", "mu", "heads", "attn_lambda",
                    "iters_per_epoch", "epochs")}
  meta = dict(method=args.method, repo=spec["repo"], commit=spec["commit"],
              model=f"{spec['module']}.{spec['cls']}", encoder=spec["encoder"],
              views=list(spec["views"]), temperature=spec["temperature"],
              key_momentum=spec["momentum"], mining=spec["mining"],
              graph_args=spec["graph_args"], dropout=0.0, offset=args.offset,
              jitter=args.jitter,
              torch=torch.__version__, **extra, **s)
  (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
  print(f"wrote {out / 'fixture.npz'} ({(out / 'fixture.npz').stat().st_size} bytes)")


if __name__ == "__main__":
  main()
