"""Skeleton layouts: built-in values against the reference's, user layout files, errors."""

import json

import numpy as np
import pytest

from skel_jax.data import skeletons


def test_ntu25_matches_spec_bone_pairs():
  # The reference's bone pairs, 1-based (v, parent(v)).
  pairs = [(1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
           (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17),
           (19, 18), (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12)]
  layout = skeletons.NTU25
  assert [(v + 1, p + 1) for v, p in enumerate(layout.parents)] == pairs
  assert layout.center == 20 and layout.num_joints == 25 and len(layout.edges) == 24


def test_ntu25_parts_and_flip_match_spec():
  layout = skeletons.NTU25
  # SkeleMixCLR's body groups (1-based) in the reference order.
  groups = [[4, 3, 21, 2, 1], [9, 10, 11, 12, 24, 25], [5, 6, 7, 8, 22, 23], [17, 18, 19, 20],
            [13, 14, 15, 16]]
  assert [sorted(j + 1 for j in joints) for _, joints in layout.parts] == [
      sorted(g) for g in groups]
  # Every joint in exactly one group.
  np.testing.assert_array_equal(layout.part_masks().sum(0), np.ones(25))
  assert list(layout.flip) == [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14,
                               15, 20, 23, 24, 21, 22]


@pytest.mark.parametrize("name", ["ntu25", "kinect_v1_20"])
def test_flip_is_an_involution_that_swaps_sides(name):
  layout = skeletons.get_layout(name)
  flip = np.array(layout.flip)
  np.testing.assert_array_equal(flip[flip], np.arange(layout.num_joints))
  for i, j in enumerate(flip):
    a, b = layout.joint_names[i], layout.joint_names[j]
    assert a.replace("left", "right") == b or a.replace("right", "left") == b


def test_kinect_v1_matches_nw_ucla_meta(nw_ucla_dir):
  meta = json.loads((nw_ucla_dir / "meta.json").read_text())
  layout = skeletons.KINECT_V1_20
  assert list(layout.joint_names) == meta["joint_names"]
  assert sorted(map(tuple, meta["bones_0based"])) == sorted(layout.edges)
  assert layout.center == meta["center_joint"]


def test_user_layout_file_round_trip(tmp_path):
  spec = {"name": "five", "joint_names": ["pelvis", "chest", "head", "l_hand", "r_hand"],
          "parents": [0, 0, 1, 1, 1], "center": 0,
          "parts": {"trunk": [0, 1, 2], "left_arm": [3], "right_arm": [4]},
          "flip": [0, 1, 2, 4, 3], "shoulders": [3, 4]}
  path = tmp_path / "five.json"
  path.write_text(json.dumps(spec))
  layout = skeletons.get_layout(str(path))
  assert layout.num_joints == 5 and layout.edges == ((1, 0), (2, 1), (3, 1), (4, 1))
  assert layout.to_dict() == dict(spec, channels=["x", "y", "z"])  # the default channels


@pytest.mark.parametrize("bad, message", [
    ({"parents": [0, 0, 9, 1, 1]}, "parent index out of range"),
    ({"flip": [0, 1, 2, 3, 3]}, "flip must be a permutation"),
    ({"parents": [1, 0, 1, 1, 1]}, "parent cycle"),
    ({"center": 7}, "centre 7 out of range"),
])
def test_bad_layout_file_names_file_and_problem(tmp_path, bad, message):
  spec = {"joint_names": ["a", "b", "c", "d", "e"], "parents": [0, 0, 1, 1, 1], "center": 0}
  spec.update(bad)
  path = tmp_path / "bad.json"
  path.write_text(json.dumps(spec))
  with pytest.raises(skeletons.LayoutError, match=message) as info:
    skeletons.get_layout(str(path))
  assert "bad.json" in str(info.value)


def test_unknown_layout_lists_known_ones():
  with pytest.raises(skeletons.LayoutError, match="kinect_v1_20.*ntu25"):
    skeletons.get_layout("openpose18")
