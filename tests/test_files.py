"""skel_jax/files.py: atomic writes (content, permissions, nothing left behind on failure)."""

import os

import numpy as np
import pytest

from skel_jax import files


def test_atomic_write_of_text_bytes_and_writers(tmp_path):
  files.atomic_write(tmp_path / "a" / "t.txt", "héllo")  # the folder is created
  assert (tmp_path / "a" / "t.txt").read_text(encoding="utf-8") == "héllo"
  files.atomic_write(tmp_path / "b.bin", b"\x00\x01")
  assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
  files.atomic_write(tmp_path / "c.npz", lambda f: np.savez(f, x=np.arange(3)))
  np.testing.assert_array_equal(np.load(tmp_path / "c.npz")["x"], np.arange(3))
  names = []
  files.atomic_write(tmp_path / "d.gif", lambda name: (names.append(name),
                                                       open(name, "w").write("g")),
                     by_name=True)
  assert names[0].endswith(".gif") and (tmp_path / "d.gif").read_text() == "g"
  assert sorted(os.listdir(tmp_path)) == ["a", "b.bin", "c.npz", "d.gif"]


def test_atomic_write_gives_the_permissions_of_a_plain_open(tmp_path):
  old = os.umask(0o022)
  try:
    files.atomic_write(tmp_path / "r.json", "{}")
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "r.json").st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
  files.atomic_write(tmp_path / "r.json", "old")

  def fail(f):
    f.write(b"half")
    raise RuntimeError("killed")

  with pytest.raises(RuntimeError, match="killed"):
    files.atomic_write(tmp_path / "r.json", fail)
  assert (tmp_path / "r.json").read_text() == "old"
  assert os.listdir(tmp_path) == ["r.json"]
