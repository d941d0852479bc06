"""Your own skeletons: a folder of clips + a labels file (or arrays) -> a prepared dataset.

    python -m skel_jax.prepare custom --raw=CLIPS_DIR --labels=labels.csv \\
        --layout=my_layout.json --name=mydata --out=DATA_DIR [--frames=64] \\
        [--nocenter] [--view_normalize]

Input (docs/datasets.md, "Your own skeleton"):

* one file per clip in `--raw`: `.npy` of `[T, V, C]` or `[M, T, V, C]`; `.json` holding
  such a nested list, or an object whose `"skeletons"` field holds it; `.csv` with one row per
  frame and `M * V * C` numbers per row (person-major, then joint, then channel; a header
  row is allowed). Absent persons and frames are all zero. C is the number of the layout's
  `channels` (x, y, z by default; e.g. x, y, score for a 2D detector).
* `labels.csv` (`--labels`, default `RAW/labels.csv`): a header with the columns `clip`,
  `label` and `split`; `clip` is a file name in `--raw` (the extension may be left out),
  `label` a class name or a 0-based integer, `split` `train` or `test`.

Every clip is checked (shape, joint and channel count against the layout, finite values, not
all zero) and all problems are reported at once, each naming its file. Then every clip is
preprocessed with the layout (`skel_jax.data.preprocess.prepare_clip`: valid span, centring on
the layout's centre joint, resize to `--frames`, optional view rotation from the layout's
shoulders) and written as `{out}/{name}/{train,test}.npz` (skel_jax/data/prepared.py),
`layout.json` (the layout used) and `info.json`: layout, channels, class names, class count,
clip and per-class counts per split, frames, persons and the preprocessing settings. The
folder appears only when complete (written under a temporary name, then renamed).

Training reads all of it from there: `--config.data.dataset=mydata --config.data.data_dir=
DATA_DIR` (or `$SKEL_JAX_DATA_DIR`) sets the layout and the class count
(`apply_dataset_info`), and clips are resampled to the config's `data.num_frames` when it
differs from `--frames`. `prepare_arrays` does the same from clips in memory.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from skel_jax import files
from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.prepared import SPLITS, read_split, save_split
from skel_jax.data.preprocess import DataError, prepare_clip, resize_time
from skel_jax.data.skeletons import LayoutError, SkeletonLayout, get_layout

log = logging.getLogger(__name__)

KIND = "custom"
INFO = "info.json"
LAYOUT_FILE = "layout.json"
CLIP_EXTENSIONS = (".npy", ".json", ".csv")
_FORMAT_VERSION = 1
_MAX_REPORTED = 20  # problems listed in one error message


# ---------------------------------------------------------------------------------------------
# Reading one clip.


def _as_clip(a, path: str) -> np.ndarray:
  """`[T, V, C]` or `[M, T, V, C]` numbers -> float `[M, T, V, C]`."""
  try:
    x = np.asarray(a, np.float64)
  except (TypeError, ValueError) as e:
    raise DataError(f"{path}: not a rectangular array of numbers ({e})") from e
  if x.ndim == 3:
    x = x[None]
  if x.ndim != 4:
    raise DataError(f"{path}: expected [T, V, C] or [M, T, V, C], got shape {x.shape}")
  return x


def _read_csv_clip(path: str, layout: SkeletonLayout) -> np.ndarray:
  v, c = layout.num_joints, len(layout.channels)
  rows = []
  with open(path, newline="") as f:
    for line_no, row in enumerate(csv.reader(f), 1):
      if not row or all(not cell.strip() for cell in row):
        continue
      try:
        rows.append([float(cell) for cell in row])
      except ValueError as e:
        if line_no == 1 and not rows:
          continue  # a header row
        raise DataError(f"{path}, line {line_no}: not a number ({e})") from e
  if not rows:
    raise DataError(f"{path}: no frames")
  widths = {len(r) for r in rows}
  if len(widths) != 1:
    raise DataError(f"{path}: rows have different lengths {sorted(widths)}")
  width = widths.pop()
  if width % (v * c):
    raise DataError(f"{path}: {width} values per row is not persons x {v} joints x {c} "
                    f"channels ({', '.join(layout.channels)}) of layout {layout.name!r}")
  x = np.asarray(rows, np.float64).reshape(len(rows), width // (v * c), v, c)
  return x.transpose(1, 0, 2, 3)  # [T, M, V, C] -> [M, T, V, C]


def read_clip(path: str | os.PathLike, layout: SkeletonLayout | str) -> np.ndarray:
  """Reads one clip file (.npy, .json or .csv) as float `[M, T, V, C]`.

  Raises:
    DataError: an unreadable file or a shape that is not a clip; the message names the file.
  """
  path = os.fspath(path)
  layout = get_layout(layout)
  ext = os.path.splitext(path)[1].lower()
  try:
    if ext == ".npy":
      return _as_clip(np.load(path, allow_pickle=False), path)
    if ext == ".json":
      with open(path) as f:
        record = json.load(f)
      if isinstance(record, dict):
        if "skeletons" not in record:
          raise DataError(f"{path}: a json clip is a nested list or an object with "
                          "a 'skeletons' field")
        record = record["skeletons"]
      return _as_clip(record, path)
    if ext == ".csv":
      return _read_csv_clip(path, layout)
  except (OSError, ValueError) as e:
    if isinstance(e, DataError):
      raise
    raise DataError(f"{path}: cannot read clip: {e}") from e
  raise DataError(f"{path}: unknown clip format {ext!r}; use one of {CLIP_EXTENSIONS}")


# ---------------------------------------------------------------------------------------------
# The labels file.


def read_labels(path: str | os.PathLike) -> list[tuple[str, str, str, int]]:
  """Rows `(clip, label, split, line)` of a labels CSV with the columns clip, label, split.

  Raises:
    DataError: a missing column, an empty field, an unknown split or a repeated clip.
  """
  path = os.fspath(path)
  try:
    with open(path, newline="") as f:
      reader = csv.DictReader(f)
      fields = [h.strip() for h in (reader.fieldnames or [])]
      missing = [k for k in ("clip", "label", "split") if k not in fields]
      if missing:
        raise DataError(f"{path}: the labels file needs the header columns clip, label, split "
                        f"(missing {missing}; found {fields})")
      rows, seen = [], {}
      for line_no, row in enumerate(reader, 2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        clip, label, split = row["clip"], row["label"], row["split"].lower()
        if not clip or not label:
          raise DataError(f"{path}, line {line_no}: empty clip or label")
        split = "test" if split == "val" else split
        if split not in SPLITS:
          raise DataError(f"{path}, line {line_no}: split {row['split']!r} is not train or test")
        if clip in seen:
          raise DataError(f"{path}, line {line_no}: clip {clip!r} is listed again (first on "
                          f"line {seen[clip]})")
        seen[clip] = line_no
        rows.append((clip, label, split, line_no))
  except OSError as e:
    raise DataError(f"{path}: cannot read labels file: {e}") from e
  if not rows:
    raise DataError(f"{path}: no clips listed")
  return rows


def class_index(labels: Sequence[str], class_names: Sequence[str] | None = None
                ) -> tuple[list[str], list[int]]:
  """Class names and 0-based ids for the label column.

  Integer labels are ids (names '0', '1', ... unless `class_names` is given); otherwise the
  classes are the distinct labels in sorted order (or the order of `class_names`).
  """
  if class_names is not None:
    names = [str(n) for n in class_names]
    lookup = {n: i for i, n in enumerate(names)}
    ids = [lookup[lab] if lab in lookup else int(lab) if lab.isdigit() else -1 for lab in labels]
    bad = sorted({lab for lab, i in zip(labels, ids) if not 0 <= i < len(names)})
    if bad:
      raise DataError(f"labels {bad[:_MAX_REPORTED]} are not among the {len(names)} class names")
    return names, ids
  if all(lab.isdigit() for lab in labels):
    ids = [int(lab) for lab in labels]
    return [str(i) for i in range(max(ids) + 1)], ids
  names = sorted(set(labels))
  lookup = {n: i for i, n in enumerate(names)}
  return names, [lookup[lab] for lab in labels]


def _find_clip_file(raw_dir: str, clip: str) -> str | None:
  path = os.path.join(raw_dir, clip)
  if os.path.isfile(path):
    return path
  for ext in CLIP_EXTENSIONS:
    if os.path.isfile(path + ext):
      return path + ext
  return None


# ---------------------------------------------------------------------------------------------
# Checking and preprocessing.


def _clip_name(path: str) -> str:
  return os.path.splitext(os.path.basename(path))[0]


def _stack(clips: Sequence[np.ndarray], num_persons: int, num_frames: int, v: int,
           c: int) -> np.ndarray:
  x = np.zeros((len(clips), num_persons, num_frames, v, c), np.float32)
  for i, clip in enumerate(clips):
    x[i, :clip.shape[0]] = clip
  return x


def preprocess_clips(
    clips: Sequence[np.ndarray],
    names: Sequence[str],
    layout: SkeletonLayout,
    num_frames: int,
    *,
    center: bool = True,
    view_normalize: bool = False,
) -> list[np.ndarray]:
  """`prepare_clip` on every clip; all failures are reported together.

  Raises:
    DataError: listing every bad clip (up to 20) with its name and problem.
  """
  out, problems = [], []
  for clip, name in zip(clips, names):
    try:
      out.append(prepare_clip(clip, layout, num_frames, center=center,
                              view_normalize=view_normalize, name=name))
    except DataError as e:
      problems.append(str(e))
  if problems:
    shown = "\n  ".join(problems[:_MAX_REPORTED])
    more = f"\n  ... and {len(problems) - _MAX_REPORTED} more" if len(problems) > _MAX_REPORTED else ""
    raise DataError(f"{len(problems)} of {len(names)} clips are not valid for layout "
                    f"{layout.name!r} ({layout.num_joints} joints, channels "
                    f"{', '.join(layout.channels)}):\n  {shown}{more}")
  return out


# ---------------------------------------------------------------------------------------------
# Writing a prepared dataset.


def _write(out_dir: str, name: str, layout: SkeletonLayout, splits: Mapping[str, tuple],
           class_names: Sequence[str], num_frames: int, settings: dict,
           overwrite: bool) -> str:
  """Writes `{out_dir}/{name}/` atomically; `splits[s] = (clips, labels, names)`."""
  final = os.path.join(out_dir, name)
  if os.path.exists(final) and not overwrite:
    raise FileExistsError(f"{final} already exists; pass --overwrite to rebuild it")
  persons = max(clip.shape[0] for s in SPLITS for clip in splits[s][0])
  v, c = layout.num_joints, len(layout.channels)
  tmp = os.path.join(out_dir, f".{name}.tmp-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  with open(os.path.join(tmp, LAYOUT_FILE), "w") as f:
    json.dump(layout.to_dict(), f, indent=1)
  counts, class_counts = {}, {}
  for split in SPLITS:
    clips, labels, names = splits[split]
    y = np.asarray(labels, np.int32)
    ds = ArrayDataset(_stack(clips, persons, num_frames, v, c), y, list(names), layout.name,
                      len(class_names))
    save_split(os.path.join(tmp, f"{split}.npz"), ds)
    counts[split] = len(ds)
    class_counts[split] = np.bincount(y, minlength=len(class_names)).tolist()
  info = {
      "kind": KIND, "format": _FORMAT_VERSION, "dataset": name, "layout": layout.name,
      "layout_file": LAYOUT_FILE, "num_joints": v, "channels": list(layout.channels),
      "num_persons": persons, "num_frames": num_frames, "num_classes": len(class_names),
      "class_names": list(class_names), "counts": counts, "class_counts": class_counts,
      **settings,
  }
  with open(os.path.join(tmp, INFO), "w") as f:
    json.dump(info, f, indent=1)
  files.replace_dir(tmp, final, os.path.join(out_dir, f".{name}.old-{os.getpid()}"))
  return final


def _check_name(name: str) -> None:
  if not name or os.sep in name or name.startswith(".") or ":" in name:
    raise ValueError(f"dataset name {name!r}: use a plain folder name (no '/', ':' or leading '.')")


def prepare_arrays(
    out_dir: str | os.PathLike,
    name: str,
    layout: SkeletonLayout | str,
    train: tuple[Sequence[np.ndarray], Sequence[int]],
    test: tuple[Sequence[np.ndarray], Sequence[int]],
    *,
    class_names: Sequence[str] | None = None,
    num_frames: int = 64,
    center: bool = True,
    view_normalize: bool = False,
    overwrite: bool = False,
    train_names: Sequence[str] | None = None,
    test_names: Sequence[str] | None = None,
) -> str:
  """Prepares clips held in memory, as `python -m skel_jax.prepare custom` does for files.

  Args:
    out_dir: the data root (`--config.data.data_dir`).
    name: the dataset's name (`--config.data.dataset`).
    layout: the clips' layout (name, file or SkeletonLayout).
    train: (clips, labels): clips `[T, V, C]` or `[M, T, V, C]` of any lengths, 0-based labels.
    test: the same for the test split.
    class_names: one name per class (default '0', '1', ...).
    num_frames: frames per prepared clip.
    center: centre on the layout's centre joint.
    view_normalize: per-frame rotation from the layout's shoulders (3D only).
    overwrite: replace an existing dataset.
    train_names / test_names: clip names (default `train_000000`, ...).

  Returns:
    The dataset folder.

  Raises:
    DataError: any invalid clip (all reported at once) or label.
  """
  _check_name(name)
  layout = get_layout(layout)
  splits = {}
  labels_all = []
  for split, (clips, labels), names in (("train", train, train_names), ("test", test, test_names)):
    names = list(names) if names is not None else [f"{split}_{i:06d}" for i in range(len(clips))]
    if not len(clips) == len(labels) == len(names):
      raise DataError(f"{split}: {len(clips)} clips, {len(labels)} labels, {len(names)} names")
    if not len(clips):
      raise DataError(f"{split}: no clips")
    clips = [_as_clip(c, n) for c, n in zip(clips, names)]
    clips = preprocess_clips(clips, names, layout, num_frames, center=center,
                             view_normalize=view_normalize)
    splits[split] = (clips, [int(y) for y in labels], names)
    labels_all += [int(y) for y in labels]
  k = max(labels_all) + 1
  class_names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
  if min(labels_all) < 0 or k > len(class_names):
    raise DataError(f"labels must be in 0..{len(class_names) - 1}, got {min(labels_all)}..{k - 1}")
  settings = {"center": center, "view_normalize": view_normalize, "source": "arrays"}
  return _write(os.fspath(out_dir), name, layout, splits, class_names, num_frames, settings,
                overwrite)


def prepare_folder(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str,
    layout: SkeletonLayout | str,
    *,
    labels: str | os.PathLike | None = None,
    num_frames: int = 64,
    center: bool = True,
    view_normalize: bool = False,
    overwrite: bool = False,
) -> str:
  """Prepares a folder of clip files with its labels file (see the module docstring).

  Returns:
    The dataset folder `{out_dir}/{name}`.

  Raises:
    DataError: a bad labels file, missing clip files, or invalid clips (all listed at once).
    FileExistsError: the dataset exists and `overwrite` is False.
  """
  _check_name(name)
  raw_dir = os.fspath(raw_dir)
  if not os.path.isdir(raw_dir):
    raise DataError(f"{raw_dir}: folder of clips not found")
  layout = get_layout(layout)
  labels_path = os.fspath(labels) if labels else os.path.join(raw_dir, "labels.csv")
  if not os.path.isfile(labels_path):
    raise DataError(f"{labels_path}: labels file not found (a CSV with the columns clip, "
                    "label, split; pass --labels=PATH)")
  rows = read_labels(labels_path)
  missing = [(clip, line) for clip, _, _, line in rows if _find_clip_file(raw_dir, clip) is None]
  if missing:
    shown = ", ".join(f"{c!r} (line {line})" for c, line in missing[:_MAX_REPORTED])
    raise DataError(f"{labels_path}: {len(missing)} listed clip(s) have no file in {raw_dir}: "
                    f"{shown}")
  class_names, ids = class_index([label for _, label, _, _ in rows])
  clips, problems = [], []
  for clip, _, _, _ in rows:
    path = _find_clip_file(raw_dir, clip)
    try:
      clips.append(read_clip(path, layout))
    except DataError as e:
      clips.append(None)
      problems.append(str(e))
  if problems:
    shown = "\n  ".join(problems[:_MAX_REPORTED])
    raise DataError(f"{len(problems)} clip file(s) cannot be read:\n  {shown}")
  paths = [_find_clip_file(raw_dir, clip) for clip, _, _, _ in rows]
  prepared = preprocess_clips(clips, paths, layout, num_frames, center=center,
                              view_normalize=view_normalize)
  splits = {}
  for split in SPLITS:
    pick = [i for i, row in enumerate(rows) if row[2] == split]
    if not pick:
      raise DataError(f"{labels_path}: no clip in the {split!r} split")
    splits[split] = ([prepared[i] for i in pick], [ids[i] for i in pick],
                     [_clip_name(paths[i]) for i in pick])
  settings = {"center": center, "view_normalize": view_normalize,
              "source": os.path.abspath(raw_dir), "labels": os.path.abspath(labels_path)}
  return _write(os.fspath(out_dir), name, layout, splits, class_names, num_frames, settings,
                overwrite)


# ---------------------------------------------------------------------------------------------
# Reading a prepared custom dataset back, and the config it implies.


def dataset_folder(name: str, data_dir: str | None) -> str | None:
  """The folder of a prepared custom dataset (with its info.json), or None.

  `name` is a dataset name under `data_dir` (else `$SKEL_JAX_DATA_DIR`), or a path to the
  dataset folder itself.
  """
  candidates = []
  if os.sep in name or name.startswith("."):
    candidates.append(name)
  root = data_dir or os.environ.get("SKEL_JAX_DATA_DIR")
  if root and ":" not in name:
    candidates.append(os.path.join(root, name))
  for folder in candidates:
    path = os.path.join(folder, INFO)
    if os.path.isfile(path):
      try:
        with open(path) as f:
          if json.load(f).get("kind") == KIND:
            return folder
      except (OSError, ValueError):
        return None
  return None


def read_info(folder: str) -> dict:
  """The info.json of a prepared custom dataset, with `layout_path` (absolute) added.

  Raises:
    DataError: a missing or malformed info.json or layout.json.
  """
  path = os.path.join(folder, INFO)
  try:
    with open(path) as f:
      info = json.load(f)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: cannot read dataset info: {e}") from e
  for key in ("layout_file", "num_classes", "counts", "channels", "num_frames"):
    if key not in info:
      raise DataError(f"{path}: dataset info misses {key!r}")
  info["layout_path"] = os.path.abspath(os.path.join(folder, info["layout_file"]))
  try:
    get_layout(info["layout_path"])
  except LayoutError as e:
    raise DataError(f"{folder}: {e}") from e
  return info


def load_custom(folder: str, split: str, num_frames: int) -> ArrayDataset:
  """One split of a prepared custom dataset, resampled to `num_frames` if prepared otherwise.

  The dataset's `layout` is the path of its layout.json, so every consumer reads the layout
  the clips were prepared with.
  """
  info = read_info(folder)
  ds = read_split(os.path.join(folder, f"{split}.npz"), layout=info["layout_path"])
  x = ds.x
  if x.shape[2] != num_frames:
    # Every prepared frame is valid (no padding), so the whole clip is resampled.
    log.info("%s: resampling %d prepared frames to %d", folder, x.shape[2], num_frames)
    x = np.stack([resize_time(clip, clip.shape[1], num_frames) for clip in x])
  return ArrayDataset(x, ds.y, ds.names, info["layout_path"], int(info["num_classes"]))


def apply_dataset_info(config, sizing: Callable[[object, dict], None] | None = None) -> dict | None:
  """Fills `config.data` from a prepared custom dataset's info (in place); None otherwise.

  Sets `data.layout` (the dataset's layout.json) and `data.num_classes`, so that a run needs
  only `--config.data.dataset=NAME` (+ data_dir). Runs at run time, after the command-line
  overrides, which a config file's `get_config` cannot see.

  Args:
    config: the run's config.
    sizing: optional `fn(config, info)` called afterwards: the hook for presets whose sizes
      follow the training set (`info['counts']['train']`, `info['num_classes']`,
      `info['channels']`, `info['num_joints']`, `info['class_counts']`).

  Returns:
    The info dict (see the module docstring), or None when `config.data.dataset` is not a
    prepared custom dataset.
  """
  folder = dataset_folder(config.data.dataset, config.data.get("data_dir") or None)
  if folder is None:
    return None
  info = read_info(folder)
  if config.data.layout != info["layout_path"]:
    log.info("data.layout %s -> %s (the layout %s was prepared with)", config.data.layout,
             info["layout_path"], folder)
  config.data.layout = info["layout_path"]
  config.data.num_classes = int(info["num_classes"])
  if sizing is not None:
    sizing(config, info)
  return info
