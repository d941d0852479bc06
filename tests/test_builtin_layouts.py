"""The built-in layouts of the skeletons people have, and 2D (or confidence) channels end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from skel_jax import config_lib
from skel_jax.augment import ops, registry
from skel_jax.data import custom, skeletons, streams
from skel_jax.models import graph
from skel_jax.train import pretrain

EXPECTED = {  # name: (joints, channels, centre joint name)
    "ntu25": (25, ("x", "y", "z"), "spine_shoulder"),
    "kinect_v1_20": (20, ("x", "y", "z"), "hip_center"),
    "coco17": (17, ("x", "y", "score"), "nose"),
    "openpose25": (25, ("x", "y", "score"), "neck"),
    "mediapipe33": (33, ("x", "y", "z", "visibility"), "nose"),
}


def _side(name):
  return "left" if "left" in name else "right" if "right" in name else None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_layout_is_a_consistent_skeleton(name):
  layout = skeletons.get_layout(name)
  joints, channels, centre = EXPECTED[name]
  assert layout.num_joints == joints and layout.channels == channels
  assert layout.joint_names[layout.center] == centre
  assert layout.parents[layout.center] == layout.center  # the centre is the tree's root
  assert sum(p == v for v, p in enumerate(layout.parents)) == 1  # one tree
  # The flip swaps left and right joints of the same name and fixes the middle ones.
  for i, j in enumerate(layout.flip):
    a, b = layout.joint_names[i], layout.joint_names[j]
    if _side(a) is None:
      assert i == j, (a, b)
    else:
      assert {_side(a), _side(b)} == {"left", "right"}
      assert a.replace("left", "?").replace("right", "?") == b.replace(
          "left", "?").replace("right", "?")
  assert [layout.flip[j] for j in layout.flip] == list(range(joints))  # an involution
  # Every joint is in exactly one body part; the shoulders are a left / right pair.
  np.testing.assert_array_equal(layout.part_masks().sum(axis=0), 1.0)
  a, b = layout.shoulders
  assert layout.flip[a] == b and "shoulder" in layout.joint_names[a]
  for kind in graph.GRAPH_KINDS:
    assert graph.build_adjacency(name, kind).shape[-1] == joints
  # A parent and its child are on the same side, or one is in the middle.
  for v, p in enumerate(layout.parents):
    sides = {_side(layout.joint_names[v]), _side(layout.joint_names[p])} - {None}
    assert len(sides) <= 1, (layout.joint_names[v], layout.joint_names[p])


def test_layout_channels_are_validated_and_read_from_files(tmp_path):
  d = dict(skeletons.COCO17.to_dict(), name="coco_xy", channels=["x", "y"])
  path = tmp_path / "coco_xy.json"
  path.write_text(json.dumps(d))
  layout = skeletons.get_layout(str(path))
  assert layout.channels == ("x", "y") and layout.num_coords == 2
  with pytest.raises(skeletons.LayoutError, match="must start with the coordinates x, y"):
    skeletons.make_layout("bad", ["a", "b"], [0, 0], 0, {"all": [0, 1]},
                          channels=["score", "x", "y"])
  with pytest.raises(skeletons.LayoutError, match="joint name 'a' is used twice"):
    skeletons.make_layout("bad", ["a", "a"], [0, 0], 0, {"all": [0, 1]})


def test_spatial_ops_move_only_the_coordinates():
  key = jax.random.key(0)
  x = jax.random.normal(jax.random.key(1), (1, 6, 17, 3))  # x, y, score
  for name in ("shear", "rotate"):
    op = registry.build(name, "coco17")
    out = op(key, x[None])[0]
    np.testing.assert_array_equal(out[..., 2], x[..., 2])  # the score is carried
    assert float(jnp.abs(out[..., :2] - x[..., :2]).max()) > 1e-3
  # 2D: the image-plane block of the 3D map, with the same random draw as in 3D.
  xyz = jnp.concatenate([x[..., :2], jnp.zeros_like(x[..., :1])], axis=-1)
  np.testing.assert_allclose(ops.rotate(key, x, coords=2)[..., :2],
                             ops.rotate(key, xyz)[..., :2], atol=1e-6)
  np.testing.assert_allclose(ops.shear(key, x[..., :2], coords=2),
                             ops.shear(key, xyz)[..., :2], atol=1e-6)
  # The 3D default is unchanged by the new argument.
  x3 = jax.random.normal(jax.random.key(2), (1, 6, 25, 3))
  np.testing.assert_array_equal(ops.rotate(key, x3), ops.rotate(key, x3, coords=3))
  masked = registry.build("axis_mask(p=1.0)", "coco17")
  for seed in range(8):
    out = masked(jax.random.key(seed), x[None])[0]
    np.testing.assert_array_equal(out[..., 2], x[..., 2])  # never the score axis
  with pytest.raises(ValueError, match="needs 2 or 3 leading coordinate channels"):
    ops.rotate(key, x[..., :1], coords=2)


@pytest.mark.parametrize("channels,method", [(("x", "y", "score"), "aimclr"),
                                            (("x", "y"), "skeletonclr")])
def test_a_2d_skeleton_trains(channels, method, tmp_path):
  """COCO-17 clips with and without a score channel: prepared, pretrained, all losses finite
  (AimCLR's extreme chain rotates, shears and masks axes of 2D clips with a score)."""
  rng = np.random.default_rng(0)
  c = len(channels)
  layout = dict(skeletons.COCO17.to_dict(), name="coco_" + "".join(channels), channels=channels)
  layout_path = tmp_path / "layout.json"
  layout_path.write_text(json.dumps(layout))

  def clips(n):
    out = []
    for i in range(n):
      t = 10 + i % 5
      phase = np.linspace(0, 2 * np.pi, t)[:, None]
      x = rng.normal(size=(t, 17, c)) * 5 + np.array([320, 240, 0.8][:c])
      x[..., 0] += 30 * np.sin(phase * (1 + i % 2))  # two "actions"
      out.append(x.astype(np.float32))
    return out

  custom.prepare_arrays(tmp_path, "pose2d", str(layout_path), (clips(32), [i % 2 for i in range(32)]),
                        (clips(8), [i % 2 for i in range(8)]), num_frames=16)
  cfg = config_lib.load_config(f"configs/{method}.py", "smoke")
  cfg.data.dataset, cfg.data.data_dir = "pose2d", str(tmp_path)
  custom.apply_dataset_info(cfg)
  assert cfg.data.num_classes == 2 and cfg.data.layout == str(tmp_path / "pose2d" / "layout.json")
  cfg.optim.batch_size = 8
  cfg.moco.queue_size = 16
  cfg.train.max_steps = 2
  state = pretrain.pretrain(cfg, str(tmp_path / method))
  assert int(state.step) == 2
  with open(tmp_path / method / "metrics.jsonl") as f:
    losses = [json.loads(line)["train/loss"] for line in f if "train/loss" in line]
  assert len(losses) == 2 and np.all(np.isfinite(losses))
  bone = streams.to_stream(np.ones((1, 1, 4, 17, c), np.float32), "bone", str(layout_path))
  assert bone.shape == (1, 1, 4, 17, c)
