r"""Runs the official augmentation and mixing ops with recorded draws and saves a fixture.

The official code is NOT part of this repository: pass checkouts of the public repositories
(at the commits of tests/fixtures/parity/augment/README.md) on the command line. Each op is
called on a fixed input with its random generators seeded; every value it draws from Python's
`random`, NumPy's or PyTorch's generator is recorded on the way (the generators are wrapped
for the duration of the call), and the draws and the output are saved. tests/test_augment_parity.py
feeds the draws to skel_jax's deterministic companions (`*_with_draws`, `*_with_values`, ...)
and compares the outputs.

| op               | official function                                         |
|------------------|-----------------------------------------------------------|
| shear            | CrosSCLR `feeder/tools.py:shear`                          |
| temporal_crop    | CrosSCLR `feeder/tools.py:temperal_crop`                  |
| spatial_flip     | AimCLR `feeder/tools.py:random_spatial_flip`              |
| rotate           | AimCLR `feeder/tools.py:random_rotate`                    |
| gaussian_noise   | AimCLR `feeder/tools.py:gaus_noise`                       |
| gaussian_blur    | AimCLR `feeder/tools.py:gaus_filter`                      |
| axis_mask        | AimCLR `feeder/tools.py:axis_mask`                        |
| temporal_flip    | AimCLR `feeder/tools.py:random_time_flip`                 |
| extreme          | AimCLR `feeder/ntu_feeder.py:Feeder_triple` chain (crop, shear, 1-5) |
| skelemix         | SkeleMixCLR `net/skeletonclr_multi_swapv2.py:SkeletonCLR.ske_swap` |
| skeattn_mix      | SkeAttnCLR `net/SkeAttnCLR.py:SkeAttnMask.ske_swap`       |

    python experiments/parity_augment.py --crossclr /path/to/CrosSCLR --aimclr /path/to/AimCLR \
        --skelemix /path/to/SkeleMixCLR --skeattn /path/to/SkeAttnCLR \
        --out tests/fixtures/parity/augment

Output `fixture.npz`: `clip` `[C, T, V, M]` and `batch` `[N, C, T, V, M]` inputs (float32; SkeleMix
uses its first 16 frames);
per op and case i: `<op>/<i>/out`, `<op>/<i>/draws` (the scalar draws in call order,
float64), `<op>/<i>/noise` (the normal array, when drawn), and for the mixing ops
`<op>/<i>/mask`, `<op>/<i>/partner` and `<op>/<i>/joints` (the union of the sampled parts).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import pathlib
import random
import sys
import types

import numpy as np

CASES = 6
SEGMENTS = {"skelemix": (2, 3, 1, 3), "skeattn_mix": (3, 4, 1, 3)}  # spa_l, spa_u, tem_l, tem_u


def load_module(name: str, path: pathlib.Path):
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@contextlib.contextmanager
def recording(torch, log: list):
  """Wraps the generators' draw functions; appends (name, value) to `log` per draw."""
  patches = [(random, "random"), (random, "uniform"), (random, "randint"), (random, "sample"),
             (np.random, "randint"), (np.random, "normal"), (np.random, "random_sample"),
             (torch, "randint")]
  saved = [(mod, name, getattr(mod, name)) for mod, name in patches]

  def wrap(name, fn):
    def recorded(*args, **kwargs):
      value = fn(*args, **kwargs)
      log.append((name, value))
      return value
    return recorded

  for mod, name, fn in saved:
    setattr(mod, name, wrap(name, fn))
  try:
    yield
  finally:
    for mod, name, fn in saved:
      setattr(mod, name, fn)


def scalar_draws(log: list) -> np.ndarray:
  out = []
  for name, value in log:
    if name == "normal":
      continue
    if name == "sample":
      continue  # stored as the joint union
    out.append(float(np.asarray(value).reshape(-1)[0]))
  return np.asarray(out, np.float64)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  for name in ("crossclr", "aimclr", "skelemix", "skeattn"):
    parser.add_argument(f"--{name}", required=True)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  import torch  # pylint: disable=g-import-not-at-top
  torch.Tensor.cuda = lambda self, *a, **k: self  # CPU run
  stub = types.ModuleType("torchlight")  # the model files import torchlight.import_class
  stub.import_class = lambda name: None
  sys.modules["torchlight"] = stub
  normal_tools = load_module("crossclr_tools", pathlib.Path(args.crossclr) / "feeder/tools.py")
  tools = load_module("aimclr_tools", pathlib.Path(args.aimclr) / "feeder/tools.py")

  rng = np.random.default_rng(7)
  clip = rng.normal(0.0, 0.5, (3, 20, 25, 2)).astype(np.float32)
  clip[..., 1] *= 0.3
  batch = rng.normal(0.0, 0.5, (4, 3, 18, 25, 2)).astype(np.float32)
  fixture = {"clip": clip, "batch": batch}

  def extreme(x):
    x = tools.temperal_crop(x, 6)
    x = tools.shear(x, 0.5)
    x = tools.random_spatial_flip(x)
    x = tools.random_rotate(x)
    x = tools.gaus_noise(x)
    x = tools.gaus_filter(x)
    return tools.axis_mask(x)

  clip_ops = {
      "shear": lambda x: normal_tools.shear(x, 0.5),
      "temporal_crop": lambda x: normal_tools.temperal_crop(x, 6),
      "spatial_flip": tools.random_spatial_flip,
      "rotate": tools.random_rotate,
      "gaussian_noise": tools.gaus_noise,
      "gaussian_blur": tools.gaus_filter,
      "axis_mask": tools.axis_mask,
      "temporal_flip": tools.random_time_flip,
      "extreme": extreme,
  }
  for op, fn in clip_ops.items():
    for i in range(CASES):
      random.seed(100 * i + 1)
      np.random.seed(100 * i + 2)
      log: list = []
      with recording(torch, log):
        # float64, as the feeders hand it on after the shear (the blur needs float64 input).
        out = fn(clip.astype(np.float64))
      # Stored in float32 (the ops compute in float64; the rounding is 6e-8 relative).
      fixture[f"{op}/{i}/out"] = np.asarray(out, np.float32)
      fixture[f"{op}/{i}/draws"] = scalar_draws(log)
      noise = [v for name, v in log if name == "normal"]
      if noise:
        fixture[f"{op}/{i}/noise"] = np.asarray(noise[0], np.float32)

  swaps = {
      "skelemix": (pathlib.Path(args.skelemix), "net.skeletonclr_multi_swapv2", "SkeletonCLR"),
      "skeattn_mix": (pathlib.Path(args.skeattn), "net.SkeAttnCLR", "SkeAttnMask"),
  }
  for op, (path, module_name, cls_name) in swaps.items():
    sys.path.insert(0, str(path))
    for key in [k for k in sys.modules if k == "net" or k.startswith("net.")]:
      del sys.modules[key]
    cls = getattr(importlib.import_module(module_name), cls_name)
    spa_l, spa_u, tem_l, tem_u = SEGMENTS[op]
    # ske_swap reads only these attributes of the model.
    owner = types.SimpleNamespace(spatial_mode="semantic", swap_mode="swap", spa_l=spa_l,
                                  spa_u=spa_u, tem_l=tem_l, tem_u=tem_u)
    for i in range(CASES):
      random.seed(100 * i + 3)
      torch.manual_seed(100 * i + 4)
      log = []
      # SkeleMixCLR builds its mask at T // 4 rows, which needs T divisible by 4 (16 frames);
      # SkeAttnCLR's ceil(T / 4) rule is checked on all 18.
      x = torch.from_numpy((batch[:, :, :16] if op == "skelemix" else batch).copy())
      with recording(torch, log):
        if op == "skelemix":
          randidx, mixed, mask = cls.ske_swap(owner, x, spa_l, spa_u, tem_l, tem_u)
        else:
          randidx, mixed, mask = cls.ske_swap(owner, x)
      joints = sorted(j for name, v in log if name == "sample" for part in v for j in part)
      fixture[f"{op}/{i}/out"] = mixed.numpy()
      fixture[f"{op}/{i}/partner"] = randidx.numpy()
      fixture[f"{op}/{i}/mask"] = mask.numpy().astype(np.float32)
      fixture[f"{op}/{i}/joints"] = np.asarray(joints, np.int32)
      fixture[f"{op}/{i}/draws"] = scalar_draws(log)
    sys.path.remove(str(path))

  out_dir = pathlib.Path(args.out)
  out_dir.mkdir(parents=True, exist_ok=True)
  np.savez_compressed(out_dir / "fixture.npz", **fixture)
  meta = {"cases": CASES, "segments": SEGMENTS, "torch": torch.__version__,
          "numpy": np.__version__}
  (out_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
  print(f"wrote {out_dir / 'fixture.npz'} ({(out_dir / 'fixture.npz').stat().st_size} bytes)")


if __name__ == "__main__":
  main()
