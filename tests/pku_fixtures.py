"""Writes small PKU-MMD style raw releases for the tests, built from the real NTU samples.

PKU-MMD records with the same Kinect v2 skeleton as NTU, so NTU clips glued one after the
other make a faithful long recording: one frame per line of 150 values (body 1 then body 2,
25 joints x xyz each, body 2 all zero when absent), a label file of `class,start,end,confidence`
lines, and split files whose lines 2 and 4 list the training and test videos.
"""

import pathlib

import numpy as np

from skel_jax.data import ntu

# NTU samples glued into recordings: video -> [(sample, class)], where class is the PKU class
# written to the label file for that stretch.
PART1_VIDEOS = {
    "0002-L": [("S001C001P001R001A001", 8), ("S001C003P008R002A058", 14)],
    "0002-M": [("S001C001P001R001A011", 3)],
    "0003-R": [("S002C001P003R001A003", 51),
               # One long action of 71 + 124 + 103 + 82 = 380 frames (> 300).
               ("S003C001P015R001A034+S004C002P003R001A017+S001C001P001R001A001+"
                "S001C001P001R001A011", 1)],
}
# benchmark file -> (training videos, test videos)
PART1_SPLIT = {"cross-subject": (["0002-L", "0002-M"], ["0003-R"]),
               "cross-view": (["0002-M", "0003-R"], ["0002-L"])}
PART2_VIDEOS = {
    "A01N01-L": [("S001C001P001R001A001", 2)],
    "A01N02-R": [("S001C003P008R002A058", 14)],
}
PART2_SPLIT = {"cross_subject": (["A01N02-R"], ["A01N01-L"]),
               "cross_view": (["A01N01-L"], ["A01N02-R"])}


def ntu_xyz(ntu_dir, spec):
  """`[2, T, 25, 3]` float32 of one NTU sample or of several joined with '+'."""
  parts = [ntu.read_skeleton(pathlib.Path(ntu_dir) / f"{n}.skeleton") for n in spec.split("+")]
  return np.concatenate(parts, axis=1)


def _frame_lines(xyz):
  rows = xyz.transpose(1, 0, 2, 3).reshape(xyz.shape[1], -1)  # [T, 150]
  return ["  ".join(repr(float(v)) for v in row) for row in rows]


def write_release(root, ntu_dir, part=1, *, idle_frames=5):
  """Writes skeleton, label and split files of a tiny PKU-MMD part under `root`.

  Each recording starts with `idle_frames` frames that belong to no action.

  Returns:
    {video: [(class, start, end, xyz)]} with the 1-based inclusive frame ranges written.
  """
  root = pathlib.Path(root)
  videos, split = (PART1_VIDEOS, PART1_SPLIT) if part == 1 else (PART2_VIDEOS, PART2_SPLIT)
  skel_dir = root / ("PKU_Skeleton_Renew" if part == 1 else "skeleton")
  label_dir = root / ("Train_Label_PKU_final" if part == 1 else "Label")
  skel_dir.mkdir(parents=True)
  label_dir.mkdir(parents=True)
  written = {}
  for video, actions in videos.items():
    lines = _frame_lines(np.zeros((2, idle_frames, 25, 3), np.float32))
    labels, info = [], []
    for cls, spec in ((c, s) for s, c in actions):
      xyz = ntu_xyz(ntu_dir, spec)
      start = len(lines) + 1
      lines += _frame_lines(xyz)
      labels.append(f"{cls},{start},{len(lines)},{1 + len(labels) % 2}")
      info.append((cls, start, len(lines), xyz))
    (skel_dir / f"{video}.txt").write_text("\n".join(lines) + "\n")
    (label_dir / f"{video}.txt").write_text("\n".join(labels) + "\n")
    written[video] = info
  suffix = "" if part == 1 else "_v2"
  for name, (train, test) in split.items():
    (root / f"{name}{suffix}.txt").write_text(
        f"Training videos: \n{', '.join(train)}, \nValidataion videos: \n{', '.join(test)}\n")
  return written
