"""One entry point from a dataset name to an ArrayDataset: `load_dataset(name, split, ...)`.

Names:

* `nwucla`: the NW-UCLA json release, read directly (about a second). Folder: `data_dir`,
  else `$SKEL_JAX_NWUCLA_DIR`, else `$SKEL_JAX_SHARED_DATA/nw-ucla`, else `../shared/data/nw-ucla`
  beside the checkout. A `data_dir` holding a prepared `nwucla/` folder is read instead.
* `ntu60_xsub`, `ntu60_xview`, `ntu120_xsub`, `ntu120_xset`, `pku1_xsub`, `pku1_xview`,
  `pku2_xsub`, `pku2_xview`: datasets written by `python -m skel_jax.prepare`, under
  `data_dir` or `$SKEL_JAX_DATA_DIR`.
* any other name: a dataset written by `python -m skel_jax.prepare custom --name=NAME` (your own
  skeletons, skel_jax/data/custom.py) under `data_dir` or `$SKEL_JAX_DATA_DIR`, or the path of
  its folder; its layout and class count come from its info.json.
* `npy:<folder>`: the reference repos' `{split}_position.npy` + `{split}_label.pkl`.
* `npz:<file>`: a CTR-GCN style `.npz`.
* `tfds:<config>`: a `skeleton_actions/<config>` TFDS build under `data_dir` (read without
  TensorFlow).
* `demo`: the embedded synthetic dataset, generated and preprocessed
  (skel_jax.data.synthetic.demo_splits; keyword arguments `num_train`, `num_test`,
  `num_classes`, `seed`, `nuisance`, `two_person_prob`, `classes`, `shear`).

Splits are 'train' and 'test' ('val' means 'test'). `load_splits(config)` loads both splits of
the dataset a run's `config.data` names (the entry point of training and evaluation);
`DATASETS` gives the layout and class count of every built-in dataset, taken from the readers'
constants (skel_jax/data/ntu.py, pku_mmd.py, nw_ucla.py).
"""

from __future__ import annotations

import os

import numpy as np

from skel_jax.data import custom, formats, ntu, nw_ucla, pku_mmd, prepared
from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.preprocess import DataError


def _reader_datasets() -> dict[str, tuple[str, int]]:
  """name -> (layout, number of classes) of every dataset with a raw-release reader, from the
  readers' own constants, so that each name and class count is written once."""
  table = {name: (ntu.LAYOUT, classes) for name, (classes, _, _) in ntu.DATASETS.items()}
  table.update({name: (pku_mmd.LAYOUT, pku_mmd.NUM_CLASSES) for name in pku_mmd.DATASETS})
  table[nw_ucla.DATASET] = (nw_ucla.LAYOUT, nw_ucla.NUM_CLASSES)
  return table


# The built-in datasets: name -> (layout, number of classes).
DATASETS = {
    **_reader_datasets(),
    "demo": ("ntu25", 10),  # the demo preset's ten actions (any count up to 18 can be drawn)
}
# Built-in datasets whose reader names the classes: name -> names of labels 0, 1, ... (plot
# legends; the demo's come from skel_jax.data.synthetic, a custom dataset's from its info.json).
CLASS_NAMES = {nw_ucla.DATASET: nw_ucla.CLASS_NAMES}
# Those `python -m skel_jax.prepare` builds from a raw release (its DATASETS).
PREPARABLE = tuple(name for name in DATASETS if name != "demo")
# Those read only once prepared (the full-size presets); NW-UCLA is also read from its json.
PREPARED = tuple(name for name in PREPARABLE if name != nw_ucla.DATASET)
DATA_DIR_ENV = "SKEL_JAX_DATA_DIR"
NWUCLA_DIR_ENV = "SKEL_JAX_NWUCLA_DIR"
_RAW_HINT = {
    "ntu60": "the folder of NTU RGB+D 60 .skeleton files (nturgbd_skeletons_s001_to_s017)",
    "ntu120": "the folder of all NTU RGB+D 120 .skeleton files (s001 to s032)",
    "pku1": "the PKU-MMD part I release (skeleton + label folders, cross-*.txt split files)",
    "pku2": "the PKU-MMD part II release (skeleton + label folders, cross_*_v2.txt files)",
}


class DatasetNotFoundError(DataError):
  """The dataset's files are not where the name and data_dir say."""


def _repo_shared_data() -> str:
  """`../shared/data` relative to the checkout (the parent of the package folder)."""
  package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.join(os.path.dirname(os.path.dirname(package)), "shared", "data")


def _nwucla_candidates(data_dir: str | None) -> list[str]:
  places = [data_dir, os.environ.get(NWUCLA_DIR_ENV)]
  if os.environ.get("SKEL_JAX_SHARED_DATA"):
    places.append(os.path.join(os.environ["SKEL_JAX_SHARED_DATA"], "nw-ucla"))
  places.append(os.path.join(_repo_shared_data(), "nw-ucla"))
  return [p for p in places if p]


def _load_nwucla(split: str, data_dir: str | None, num_frames: int, kw: dict) -> ArrayDataset:
  if data_dir and os.path.isfile(prepared.split_path(data_dir, "nwucla", split)):
    return _check_frames(prepared.load_prepared(data_dir, "nwucla", split), num_frames,
                         "nwucla", data_dir)
  places = _nwucla_candidates(data_dir)
  env = os.environ.get(NWUCLA_DIR_ENV)
  for root in places:
    folder = nw_ucla.clip_folder(root)
    if os.path.isdir(folder) and any(f.endswith(".json") for f in os.listdir(folder)):
      return nw_ucla.load_nw_ucla(root, split, num_frames=num_frames, **kw)
    if root == data_dir:
      break  # an explicit folder that is wrong must not silently fall back
    if root == env:  # nor one named by the environment
      state = "holds no .json clip" if os.path.isdir(root) else "does not exist"
      raise DatasetNotFoundError(
          f"{root}: ${NWUCLA_DIR_ENV} points to a folder that {state}. Point it at the NW-UCLA "
          "folder (with all_sqe/) or unset it.")
  raise DatasetNotFoundError(
      f"NW-UCLA json clips not found (looked in {places[:1] if data_dir else places}). Pass "
      f"data_dir=<folder with all_sqe/> (--config.data.data_dir) or set {NWUCLA_DIR_ENV}; "
      "the folder is the all_sqe "
      "json release (aAA_sSS_eEE_vVV.json). Optionally prepare it once with\n"
      "  python -m skel_jax.prepare nwucla --raw=<folder> --out=<data_dir>")


def _check_frames(ds: ArrayDataset, num_frames: int, name: str, root: str) -> ArrayDataset:
  if ds.x.shape[2] != num_frames:
    raise DataError(
        f"{os.path.join(root, name)} was prepared with {ds.x.shape[2]} frames but "
        f"num_frames={num_frames}; prepare another copy with\n"
        f"  python -m skel_jax.prepare {name} --raw=RAW_DIR --out=OTHER_DIR "
        f"--frames={num_frames}\nand point data_dir (--config.data.data_dir) or "
        f"{DATA_DIR_ENV} at OTHER_DIR")
  return ds


def _load_prepared(name: str, split: str, data_dir: str | None, num_frames: int) -> ArrayDataset:
  root = data_dir or os.environ.get(DATA_DIR_ENV)
  path = prepared.split_path(root or "<data_dir>", name, split)
  if not root or not os.path.isfile(path):
    raw_hint = _RAW_HINT[name.split("_")[0]]
    where = (f"{path} does not exist" if root else
             f"no data folder given (data_dir is None and ${DATA_DIR_ENV} is not set)")
    raise DatasetNotFoundError(
        f"dataset {name!r} is not prepared: {where}. Prepare it once with\n"
        f"  python -m skel_jax.prepare {name} --raw=RAW_DIR --out=DATA_DIR "
        f"--frames={num_frames}\n"
        f"where RAW_DIR is {raw_hint}, then pass data_dir=DATA_DIR (on the command line "
        f"--config.data.data_dir=DATA_DIR) or set {DATA_DIR_ENV}=DATA_DIR.")
  return _check_frames(prepared.load_prepared(root, name, split), num_frames, name, root)


def _load_tfds(config: str, split: str, data_dir: str | None, num_frames: int) -> ArrayDataset:
  # Imported here: tensorflow_datasets is the optional extra `[tfds]` and takes about a second
  # to import; builders raises the ImportError that names the extra.
  from skel_jax.data.tfds import builders
  tfds = builders.tfds

  if builders.parse_config(config)[1] != num_frames:
    raise DataError(f"tfds config {config!r} does not have num_frames={num_frames} frames")
  root = data_dir or os.environ.get(DATA_DIR_ENV)
  try:
    source = tfds.data_source(f"skeleton_actions/{config}", split=split, data_dir=root)
  except Exception as e:  # tfds raises several types for a missing build
    raise DatasetNotFoundError(
        f"TFDS dataset skeleton_actions/{config} not found under {root}: {e}\nBuild it with "
        f"skel_jax.data.tfds.build({config!r}, data_dir=..., manual_dir=RAW_DIR)") from e
  examples = sorted((source[i] for i in range(len(source))), key=lambda ex: ex["name"])
  dataset, num_frames = builders.parse_config(config)
  persons, joints, num_classes, layout = builders.dataset_constants(dataset)
  x = np.zeros((len(examples), persons, num_frames, joints, 3), np.float32)
  for i, ex in enumerate(examples):
    x[i] = ex["clip"]
  names = [n.decode() if isinstance(n, bytes) else str(n) for n in (ex["name"] for ex in examples)]
  return ArrayDataset(x, np.array([ex["label"] for ex in examples], np.int32), names, layout,
                      num_classes)


# config.data field -> synthetic.demo_splits argument.
_DEMO_FIELDS = {"demo_seed": "seed", "demo_nuisance": "nuisance",
                "demo_two_person_prob": "two_person_prob", "demo_classes": "classes",
                "demo_shear": "shear"}


def _demo_splits(num_frames: int, kw: dict) -> tuple[ArrayDataset, ArrayDataset]:
  from skel_jax.data import synthetic  # pylint: disable=g-import-not-at-top

  kw = dict(kw)
  return synthetic.demo_splits(kw.pop("num_train", 512), kw.pop("num_test", 128),
                               num_frames=num_frames, **kw)


def load_splits(config) -> tuple[ArrayDataset, ArrayDataset]:
  """The (train, test) datasets named by a run's `config.data` (an ml_collections config).

  Options are taken from the config only where the dataset reads them: the demo's generator
  settings (`data.num_train`, `data.num_test`, `data.num_classes` and the `data.demo_*`
  fields), NW-UCLA's `data.view_normalize`, the layout of `npy:` / `npz:` files (which do not
  say which skeleton they hold: the config's layout is the one used to read and train on) and
  `data.preprocess` for `npz:`.
  """
  d = config.data
  data_dir = d.data_dir or None
  if d.dataset == "demo":
    # The demo presets' `data.demo_*` fields; where a config lacks them, demo_splits' defaults.
    kw = {arg: d[field] for field, arg in _DEMO_FIELDS.items() if field in d}
    return _demo_splits(d.num_frames, {"num_train": d.num_train, "num_test": d.num_test,
                                       "num_classes": d.num_classes, **kw})
  kw = {"view_normalize": d.view_normalize} if d.dataset == "nwucla" else {}
  if d.dataset.startswith(("npy:", "npz:")):
    kw["layout"] = d.layout
  if d.dataset.startswith("npz:") and d.get("preprocess", False):
    kw["preprocess"] = True
  return (load_dataset(d.dataset, "train", data_dir=data_dir, num_frames=d.num_frames, **kw),
          load_dataset(d.dataset, "test", data_dir=data_dir, num_frames=d.num_frames, **kw))


def load_dataset(
    name: str,
    split: str,
    *,
    data_dir: str | None = None,
    num_frames: int = 50,
    **kw,
) -> ArrayDataset:
  """Loads one split of a dataset by name (see the module docstring for the names).

  Args:
    name: dataset name, or `npy:<folder>`, `npz:<file>`, `tfds:<config>`.
    split: 'train' or 'test' ('val' is an alias of 'test').
    data_dir: where the data is (see the module docstring); None uses the environment.
    num_frames: frames per clip; prepared datasets must have been prepared with it.
    **kw: passed to the reader (`view_normalize`, `protocol` for nwucla; `num_classes`,
      `layout`, `preprocess` for npy/npz; `num_train`, `num_test`, `num_classes`, `seed` for
      demo).

  Returns:
    ArrayDataset `[N, M, num_frames, V, C]`.

  Raises:
    DatasetNotFoundError: when the files are missing; the message gives the command that
      prepares them and the argument / environment variable that points to them.
    ValueError: for an unknown name or split.
  """
  split = "test" if split == "val" else split
  if split not in ("train", "test"):
    raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
  if name == "demo":
    train, test = _demo_splits(num_frames, kw)
    return train if split == "train" else test
  if name == "nwucla":
    return _load_nwucla(split, data_dir, num_frames, kw)
  if name in PREPARED:
    if kw:
      raise TypeError(f"load_dataset({name!r}) takes no options {sorted(kw)}: a prepared "
                      "dataset's preprocessing is fixed by `python -m skel_jax.prepare`")
    return _load_prepared(name, split, data_dir, num_frames)
  if name.startswith("npy:"):
    folder = name[4:]
    if not os.path.isdir(folder):
      raise DatasetNotFoundError(f"{folder}: folder of {split}_position.npy files not found")
    return formats.load_reference_npy(folder, split, num_frames=num_frames, **kw)
  if name.startswith("npz:"):
    path = name[4:]
    if not os.path.isfile(path):
      raise DatasetNotFoundError(f"{path}: npz file not found")
    return formats.load_ctrgcn_npz(path, split, num_frames=num_frames, **kw)
  if name.startswith("tfds:"):
    return _load_tfds(name[5:], split, data_dir, num_frames)
  folder = custom.dataset_folder(name, data_dir)
  if folder is not None:
    if kw:
      raise TypeError(f"load_dataset({name!r}) takes no options {sorted(kw)}: a prepared "
                      "dataset's preprocessing is fixed by `python -m skel_jax.prepare custom`")
    return custom.load_custom(folder, split, num_frames)
  root = data_dir or os.environ.get(DATA_DIR_ENV)
  raise ValueError(f"unknown dataset {name!r}; known: demo, nwucla, {', '.join(PREPARED)}, "
                   "npy:<folder>, npz:<file>, tfds:<config>, or a dataset prepared with "
                   f"`python -m skel_jax.prepare custom --name={name}` (none found under "
                   f"data_dir={root!r})")
