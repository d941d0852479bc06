"""Tests of skel_jax.visualize: layout diagrams, clip strips / GIFs, augmented views."""

import json

import jax
import numpy as np
import pytest
from matplotlib import animation
from PIL import Image

from skel_jax import config_lib, visualize
from skel_jax.data import custom, skeletons


def test_layout_positions_put_the_root_on_top_and_the_right_side_left():
  layout = skeletons.NTU25
  pos = visualize.layout_positions(layout)
  assert pos[layout.center, 1] == 0 and np.all(pos[:, 1] <= 0)
  for v, p in enumerate(layout.parents):
    if v != p:
      assert pos[v, 1] == pos[p, 1] - 1  # one row below its parent
  names = layout.joint_names
  for joint in ("hand", "foot", "shoulder"):
    assert pos[names.index(f"{joint}_right"), 0] < pos[names.index(f"{joint}_left"), 0]


def test_cli_draws_a_layout_a_strip_and_a_gif(tmp_path, capsys):
  out = tmp_path / "layout.png"
  assert visualize.main(["--layout=mediapipe33", f"--out={out}"]) == 0
  assert Image.open(out).format == "PNG" and sorted(p.name for p in tmp_path.iterdir()) == [
      "layout.png"]  # no temporary file left
  rng = np.random.default_rng(0)
  clip = rng.normal(size=(12, 17, 3)).astype(np.float32) * 20 + [320, 240, 0.9]
  np.save(tmp_path / "a.npy", clip)
  assert visualize.main(["--layout=coco17", f"--clip={tmp_path / 'a.npy'}", "--frames=4",
                         f"--out={tmp_path / 'a.png'}"]) == 0
  assert Image.open(tmp_path / "a.png").format == "PNG"
  assert visualize.main(["--layout=coco17", f"--clip={tmp_path / 'a.npy'}",
                         f"--out={tmp_path / 'a.gif'}"]) == 0
  gif = Image.open(tmp_path / "a.gif")
  assert gif.format == "GIF" and gif.n_frames == 12
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.npy", "a.png", "layout.png"]
  capsys.readouterr()
  assert visualize.main([f"--clip={tmp_path / 'a.npy'}", f"--out={tmp_path / 'b.png'}"]) == 1
  assert "--clip needs --layout" in capsys.readouterr().err
  assert visualize.main(["--layout=ntu25", f"--clip={tmp_path / 'a.npy'}",
                         f"--out={tmp_path / 'b.png'}"]) == 1
  assert "a.npy: 17 joints, but layout 'ntu25' has 25" in capsys.readouterr().err


def test_augmented_views_of_a_prepared_dataset(tmp_path):
  rng = np.random.default_rng(1)
  clips = [rng.normal(size=(16, 20, 3)).astype(np.float32) + [0, 0, 3] for _ in range(4)]
  custom.prepare_arrays(tmp_path, "mine", "kinect_v1_20", (clips[:3], [0, 1, 0]),
                        (clips[3:], [1]), num_frames=16)
  config = config_lib.load_config("configs/skelemixclr.py", "smoke")
  layout = str(tmp_path / "mine" / "layout.json")
  from skel_jax.data import registry
  batch = registry.load_dataset("mine", "train", data_dir=str(tmp_path), num_frames=16).x
  rows = visualize.augmented_views(jax.random.key(3), batch, layout, config,
                                   ["normal", "extreme", "mixed"])
  assert [r[0] for r in rows[:3]] == ["original", "normal", "extreme"]
  assert rows[3][0].startswith("mixed (from clip ")
  np.testing.assert_array_equal(rows[0][1], batch[0])
  region = rows[3][2]
  assert region.shape == (16, 20) and 0 < region.sum() < region.size
  mixed = rows[3][1]
  inside = region[None, :, :, None] > 0
  np.testing.assert_array_equal(np.where(inside, 0, mixed), np.where(inside, 0, batch[0]))
  again = visualize.augmented_views(jax.random.key(3), batch, layout, config, ["extreme"])
  np.testing.assert_array_equal(again[1][1], rows[2][1])  # the key decides every draw
  out = tmp_path / "views.png"
  assert visualize.main(["--dataset=mine", f"--data_dir={tmp_path}", "--num_frames=16",
                         "--views=normal,extreme,mixed", "--config=configs/skelemixclr.py:smoke",
                         f"--out={out}"]) == 0
  assert Image.open(out).format == "PNG"
  assert json.loads((tmp_path / "mine" / "info.json").read_text())["counts"]["train"] == 3


def test_a_failed_gif_write_leaves_no_file(tmp_path, monkeypatch):
  def fail(self):
    raise OSError("disk full")
  monkeypatch.setattr(animation.PillowWriter, "finish", fail)
  clip = np.zeros((1, 4, 17, 3), np.float32) + [320, 240, 0.9]
  movie = visualize.animate([("clip", clip, None)], "coco17", y_down=True, fps=5)
  with pytest.raises(OSError, match="disk full"):
    visualize.save_figure(movie, tmp_path / "a.gif", fps=5)
  assert list(tmp_path.iterdir()) == []
