"""A seeded fuzz test of every reader and the layout loader.

Each corrupt case writes a corrupt or hostile file (a valid file with bytes flipped, cut,
inserted or deleted, a number replaced by NaN, 1e300, -1 or 1.5, or a well-formed file with bad
values: soft one-hot labels, 5 persons, 7 coordinates, 0 frames, a flip that is not an
involution...) and reads it; every third case is a valid file, which must be read. A reader may only return a valid result or raise DataError that names the file;
any other exception, and any accepted result with a non-finite coordinate or a label out of
range, fails the test. `fuzz_outcomes` is importable, to print the outcome counts per reader.
"""

import collections
import json
import os
import pickle

import numpy as np

from skel_jax import prepare
from skel_jax.data import formats, ntu, pku_mmd, prepared, skeletons
from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.preprocess import DataError

SEED = 19
CASES_PER_READER = 195  # of which every third is a valid file: 1,040 corrupt cases in all
# Numbers a corrupt file may hold in place of a valid one.
_BAD_NUMBERS = [b"nan", b"NaN", b"inf", b"-inf", b"1e300", b"-1e300", b"-1", b"1.5", b"",
                b"99999999999999999999", b"4294967296", b"0x10", b"true", b"\xff\xfe", b"1e-400"]


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
  """One random corruption of `data`."""
  op = rng.integers(7)
  n = len(data)
  pos = int(rng.integers(n + 1))
  if op == 0:  # truncate
    return data[:pos]
  if op == 1:  # flip a few bytes
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
      if out:
        out[int(rng.integers(len(out)))] = int(rng.integers(256))
    return bytes(out)
  if op == 2:  # insert random bytes
    return data[:pos] + rng.bytes(int(rng.integers(1, 16))) + data[pos:]
  if op == 3:  # delete a range
    return data[:pos] + data[pos + int(rng.integers(1, 64)):]
  if op == 4:  # duplicate a range
    end = min(n, pos + int(rng.integers(1, 200)))
    return data[:end] + data[pos:end] + data[end:]
  # 5, 6: replace a number with a bad one
  tokens = data.split(b" ") if op == 5 else data.split(b",")
  i = int(rng.integers(len(tokens)))
  tokens[i] = _BAD_NUMBERS[int(rng.integers(len(_BAD_NUMBERS)))]
  return (b" " if op == 5 else b",").join(tokens)


def _maybe_mutate(data: bytes, rng: np.random.Generator, clean: bool) -> bytes:
  return data if clean else _mutate(data, rng)


# ---------------------------------------------------------------------------------------------
# Valid base files.


def _ntu_text(rng) -> bytes:
  lines = [b"2"]
  for _ in range(2):
    lines += [b"1", b"72057594037931101 0 1 1 1 1 0 0.1 0.2 2", b"25"]
    lines += [b" ".join(b"%.4f" % v for v in rng.normal(size=12)) for _ in range(25)]
  return b"\r\n".join(lines) + b"\r\n"


def _pku_skeleton_text(rng) -> bytes:
  return b"\n".join(b" ".join(b"%.4f" % v for v in rng.normal(size=150)) for _ in range(4))


def _nwucla_json(rng) -> bytes:
  frames = np.round(rng.normal(size=(3, 20, 3)), 4).tolist()
  return json.dumps({"file_name": "a01_s01_e01_v01", "skeletons": frames, "label": 3}).encode()


def _layout_json(rng) -> dict:
  del rng
  return {"name": "five", "joint_names": ["pelvis", "chest", "head", "l_hand", "r_hand"],
          "parents": [0, 0, 1, 1, 1], "center": 0,
          "parts": {"trunk": [0, 1, 2], "left_arm": [3], "right_arm": [4]},
          "flip": [0, 1, 2, 4, 3], "shoulders": [3, 4]}


_BAD_VALUES = [float("nan"), float("inf"), 1e300, -1, 1.5, 2**32, "1", True, None, [], {}, [[1]],
               0, 5, 99, "a", -1e-9]


def _bad_layout_spec(rng) -> dict:
  spec = _layout_json(rng)
  field = list(spec)[int(rng.integers(len(spec)))]
  choice = int(rng.integers(4))
  value = spec[field]
  if choice == 0 or not isinstance(value, list) or not value:
    spec[field] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
  elif choice == 1:
    value[int(rng.integers(len(value)))] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
  elif choice == 2:
    spec[field] = value[:-1]  # one short
  else:
    del spec[field]
  return spec


def _bad_array(rng, clean: bool = False) -> np.ndarray:
  """An `(N, C, T, V, M)` array with a random defect (or none)."""
  n, c, t, v, m = 2, 3, 4, 25, 2
  defect = 0 if clean else int(rng.integers(8))
  if defect == 1:
    c = int(rng.choice([1, 2, 7]))
  elif defect == 2:
    m = int(rng.choice([0, 3, 5]))
  elif defect == 3:
    t = 0
  elif defect == 4:
    v = int(rng.choice([1, 19, 26]))
  elif defect == 5:
    n = 0
  x = rng.normal(size=(n, c, t, v, m))
  if defect == 6 and x.size:
    x.reshape(-1)[int(rng.integers(x.size))] = rng.choice([np.nan, np.inf, 1e300, -1e39])
  if defect == 7:
    return x.astype(rng.choice([np.int8, np.bool_, np.complex64, np.float16]))
  return x


def _bad_labels(rng, n: int, clean: bool = False):
  """Labels for `n` samples with a random defect (or none)."""
  defect = 0 if clean else int(rng.integers(7))
  y = rng.integers(0, 5, size=n).astype(np.float64)
  if defect == 1 and n:
    y[int(rng.integers(n))] = rng.choice([np.nan, -1, 0.5, 2**32, np.inf])
    return y
  if defect == 2:  # one-hot, maybe soft or empty rows
    hot = np.eye(5)[y.astype(int)]
    if n and rng.integers(2):
      hot[int(rng.integers(n))] = rng.choice([0.0, 0.5])
    return hot
  elif defect == 3:
    return y[:max(n - 1, 0)]
  elif defect == 4:
    return y.astype(np.int64) + 2**32
  elif defect == 5:
    return np.array(["a"] * n)
  return y.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Checks of an accepted result.


def _check_dataset(ds: ArrayDataset):
  assert ds.x.ndim == 5 and ds.x.dtype == np.float32 and np.all(np.isfinite(ds.x))
  assert ds.y.dtype == np.int32 and ds.num_classes >= 1
  assert np.all((ds.y >= 0) & (ds.y < ds.num_classes))
  assert len(ds.x) == len(ds.y) == len(ds.names) >= 1
  _, m, t, v, c = ds.x.shape
  assert 1 <= m <= 2 and t >= 1 and c == 3
  assert v == skeletons.get_layout(ds.layout).num_joints


def _check_layout(layout: skeletons.SkeletonLayout):
  v = layout.num_joints
  assert v >= 2 and len(set(layout.joint_names)) == v
  assert all(isinstance(p, int) and 0 <= p < v for p in layout.parents)
  flip = np.array(layout.flip)
  np.testing.assert_array_equal(flip[flip], np.arange(v))
  assert layout.parts and all(joints for _, joints in layout.parts)
  if layout.shoulders is not None:
    assert layout.shoulders[0] != layout.shoulders[1]


# ---------------------------------------------------------------------------------------------
# One case per reader: write the file(s) and read them.


def _case_label_pickle(folder, rng, clean):
  data = rng.normal(size=(3, 3, 4, 25, 2)).astype(np.float32)
  np.save(folder / "train_position.npy", data)
  labels = _bad_labels(rng, 3, clean)
  record = pickle.dumps((["a", "b", "c"], labels))
  if not clean and rng.integers(2):
    record = _mutate(record, rng)
  (folder / "train_label.pkl").write_bytes(record)
  _check_dataset(formats.load_reference_npy(folder, "train"))
  return folder / "train_label.pkl"


def _case_npy(folder, rng, clean):
  x = _bad_array(rng, clean)
  with open(folder / "train_label.pkl", "wb") as f:
    pickle.dump(([f"s{i}" for i in range(len(x))], list(range(len(x)))), f)
  np.save(folder / "train_position.npy", x)
  if not clean and rng.integers(2):
    path = folder / "train_position.npy"
    path.write_bytes(_mutate(path.read_bytes(), rng))
  _check_dataset(formats.load_reference_npy(folder, "train", mmap=bool(rng.integers(2))))
  return folder / "train_position.npy"


def _case_npz(folder, rng, clean):
  x = _bad_array(rng, clean)
  if rng.integers(2) and x.ndim == 5 and x.shape[1] == 3 and x.shape[3] == 25:
    n, c, t, v, m = x.shape
    x = x.transpose(0, 2, 4, 3, 1).reshape(n, t, m * v * c)  # [N, T, 150]
  path = folder / "data.npz"
  np.savez(path, x_train=x, y_train=_bad_labels(rng, len(x), clean))
  if not clean and rng.integers(2):
    path.write_bytes(_mutate(path.read_bytes(), rng))
  _check_dataset(formats.load_ctrgcn_npz(path, "train", num_frames=int(rng.choice([3, 8]))))
  return path


def _case_prepared(folder, rng, clean):
  x = _bad_array(rng, clean).transpose(0, 4, 2, 3, 1)
  y = _bad_labels(rng, len(x), clean)
  path = folder / "train.npz"
  np.savez(path, x=x, y=y, names=np.array([f"s{i}" for i in range(len(x))]),
           layout=np.array("ntu25" if clean else rng.choice(["ntu25", "kinect_v1_20", "nope"])),
           num_classes=np.array(5 if clean else rng.choice([5, 0, -3, 2])))
  if not clean and rng.integers(2):
    path.write_bytes(_mutate(path.read_bytes(), rng))
  _check_dataset(prepared.read_split(path))
  return path


def _case_nwucla(folder, rng, clean):
  record = json.loads(_nwucla_json(rng))
  choice = 4 if clean else int(rng.integers(4))
  if choice == 0:
    record["label"] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
  elif choice == 1:
    t, v, c = (int(rng.integers(k)) for k in (3, 20, 3))
    record["skeletons"][t][v][c] = _BAD_VALUES[int(rng.integers(len(_BAD_VALUES)))]
  data = json.dumps(record).encode()
  if choice in (2, 3):
    data = _mutate(data, rng) if choice == 2 else b"[" * 100000 + b"]" * 100000
  path = folder / "a01_s01_e01_v01.json"
  path.write_bytes(data)
  ((name, clip, label),) = prepare.run_item("nwucla", (str(path),), 10, False)
  assert clip.shape == (1, 10, 20, 3) and np.all(np.isfinite(clip)) and 0 <= label < 10
  return path


def _case_ntu(folder, rng, clean):
  path = folder / "S001C001P001R001A001.skeleton"
  data = _ntu_text(rng)
  for _ in range(0 if clean else int(rng.integers(1, 3))):
    data = _mutate(data, rng)
  path.write_bytes(data)
  x = ntu.read_skeleton(path)
  assert x.dtype == np.float32 and x.shape[0] == 2 and x.shape[2:] == (25, 3)
  assert np.all(np.isfinite(x))
  return path


def _case_pku(folder, rng, clean):
  which = int(rng.integers(3))
  if which == 0:
    path = folder / "0002-L.txt"
    path.write_bytes(_maybe_mutate(_pku_skeleton_text(rng), rng, clean))
    x = pku_mmd.read_skeleton_file(path)
    assert x.shape[1] == 150 and len(x) >= 1 and np.all(np.abs(x) < 3.4e38)
  elif which == 1:
    path = folder / "0002-L.labels"
    path.write_bytes(_maybe_mutate(b"1,1,2,1\n3,2,4,0.5\n51,3,3,1\n", rng, clean))
    for clip in pku_mmd.read_label_file(path, "0002-L"):
      assert 0 <= clip.label < 51 and 1 <= clip.start <= clip.end
  else:
    path = folder / "cross-view.txt"
    path.write_bytes(_maybe_mutate(
        b"Training videos:\n0002-L, 0003-M\nTesting videos:\n0004-R\n", rng, clean))
    train, test = pku_mmd.read_split_file(path)
    assert train and test and not set(train) & set(test)
  return path


def _case_layout(folder, rng, clean):
  suffix = ".yaml" if rng.integers(4) == 0 else ".json"
  if clean:
    text = json.dumps(_layout_json(rng)).encode()  # JSON is YAML too
  else:
    mutate = bool(rng.integers(2))
    spec = _layout_json(rng) if mutate else _bad_layout_spec(rng)
    text = json.dumps(spec).encode()
    if mutate:
      text = _mutate(text, rng)
  path = folder / f"layout{suffix}"
  path.write_bytes(text)
  _check_layout(skeletons.get_layout(str(path)))
  return path


READERS = {
    "label_pickle": _case_label_pickle,
    "npy": _case_npy,
    "npz": _case_npz,
    "prepared_split": _case_prepared,
    "nwucla_json": _case_nwucla,
    "ntu_skeleton": _case_ntu,
    "pku_mmd": _case_pku,
    "layout": _case_layout,
}


def fuzz_outcomes(tmp_root, cases_per_reader: int = CASES_PER_READER, seed: int = SEED):
  """Runs the cases; returns {reader: Counter(outcome)}.

  Every third case writes a valid file (so that the checks of accepted results run often);
  the outcomes are 'valid' or 'DataError' for the corrupt cases and 'clean valid' for those.

  Raises:
    AssertionError: when a reader raises anything else, a DataError that does not name the
      file, accepts an invalid result, or rejects a valid file.
  """
  rng = np.random.default_rng(seed)
  counts = {name: collections.Counter() for name in READERS}
  for name, case in READERS.items():
    for i in range(cases_per_reader):
      folder = tmp_root / f"{name}_{i}"
      folder.mkdir()
      clean = i % 3 == 0
      try:
        case(folder, rng, clean)
        counts[name]["clean valid" if clean else "valid"] += 1
      except DataError as e:
        assert not clean, f"{name} case {i} rejected a valid file: {e}"
        # The file the case wrote is the one it read; the message must name the folder.
        assert os.fspath(folder) in str(e), f"{name} case {i}: {e}"
        counts[name]["DataError"] += 1
  return counts


def test_fuzzed_files_give_valid_results_or_data_errors(tmp_path):
  counts = fuzz_outcomes(tmp_path)
  assert sum(c["valid"] + c["DataError"] for c in counts.values()) >= 1000  # corrupt cases
  for name, outcome in counts.items():
    # Every reader rejects corrupt files and reads the valid ones (a rejected valid file
    # fails inside fuzz_outcomes), so neither a reader that rejects everything nor a fuzzer
    # whose corruptions never bite passes.
    assert outcome["DataError"] > 0 and outcome["clean valid"] == 65, (name, outcome)


if __name__ == "__main__":
  import pathlib
  import tempfile
  with tempfile.TemporaryDirectory() as tmp:
    for reader, outcome in fuzz_outcomes(pathlib.Path(tmp)).items():
      print(f"{reader:15s} corrupt: valid {outcome['valid']:4d}  DataError "
            f"{outcome['DataError']:4d} | clean files read: {outcome['clean valid']:3d}")
