"""Builds a dataset from its raw release: `python -m skel_jax.prepare DATASET --raw --out`.

    python -m skel_jax.prepare ntu60_xsub --raw=/data/nturgbd_skeletons_s001_to_s017 \\
        --out=/data/skel_jax [--frames=50] [--workers=4]

DATASET is one of ntu60_xsub, ntu60_xview, ntu120_xsub, ntu120_xset, pku1_xsub, pku1_xview,
pku2_xsub, pku2_xview, nwucla. The raw files are read in parallel (one process per worker,
one raw file per work item), preprocessed as the reference repositories do (`tools/ntu_gendata.py`
then `feeder/preprocess_ntu.py` in LinguoLi/CrosSCLR and the others; docs/datasets.md; no view
rotation for NW-UCLA unless --view_normalize), and written to `{out}/{dataset}/{train,test}.npz`
(format in skel_jax/data/prepared.py; read it with `load_prepared(out, dataset, split)`).

Long runs show a progress bar (files/s, ETA) on stderr. A run is resumable: finished shards
are kept in `{out}/.{dataset}.partial/` and reused by the next run with the same arguments,
and the dataset folder appears only at the end, by a rename (never half written).

Your own skeletons (skel_jax/data/custom.py; docs/datasets.md, "Your own skeleton"):

    python -m skel_jax.prepare custom --raw=CLIPS_DIR --layout=my_layout.json --name=mydata \
        --out=/data/skel_jax [--labels=CLIPS_DIR/labels.csv] [--frames=64] [--nocenter]

NTU needs the missing-skeletons list (`ntu60_samples_with_missing_skeletons.txt` or the
`ntu120_` one): give it with --skip_list, or put it in the raw folder (or its `meta/`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Sequence

import numpy as np
from absl import flags

from skel_jax import cli
from skel_jax import files as files_lib
from skel_jax import progress as progress_lib
from skel_jax.data import custom, ntu, nw_ucla, pku_mmd, registry
from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.prepared import SPLITS, load_prepared, read_split, save_split
from skel_jax.data.preprocess import DataError, preprocess_clip
from skel_jax.data.skeletons import LayoutError

__all__ = ["DATASETS", "Plan", "load_prepared", "main", "plan_dataset", "prepare"]

NWUCLA = nw_ucla.DATASET
DATASETS = registry.PREPARABLE  # the one table of names: skel_jax.data.registry.DATASETS
_FORMAT_VERSION = 1
_REJECTED_SUFFIX = ".rejected.json"


@dataclasses.dataclass(frozen=True)
class Plan:
  """What to read for a dataset: work items per split and the dataset's constants.

  A work item is `(kind, args)`; `run_item` turns it into a list of (name, clip, label).
  """

  dataset: str
  layout: str
  num_classes: int
  num_persons: int
  num_joints: int
  view_normalize: bool
  items: dict  # split -> list of (kind, args)


def _shared_data_dirs() -> list[str]:
  """Folders that may hold the skip lists beside a development checkout."""
  dirs = []
  if os.environ.get("SKEL_JAX_SHARED_DATA"):
    dirs.append(os.environ["SKEL_JAX_SHARED_DATA"])
  dirs.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), "shared", "data"))
  return dirs


def find_ntu_skip_list(num_classes: int, raw_dir: str, skip_list: str | None) -> frozenset[str]:
  """Reads the NTU missing-skeletons list: the given path, 'none', or a file found nearby.

  Raises:
    DataError: when no list is given and none is found (the message says where it looked).
  """
  if skip_list == "none":
    return frozenset()
  if skip_list:
    if not os.path.isfile(skip_list):
      raise DataError(f"{skip_list}: skip list not found")
    return ntu.read_skip_list(skip_list)
  name = ntu.SKIP_LIST_NAMES[num_classes]
  places = [os.path.join(raw_dir, name), os.path.join(raw_dir, "meta", name),
            os.path.join(os.path.dirname(os.path.abspath(raw_dir)), name)]
  places += [os.path.join(d, "ntu-samples", "meta", name) for d in _shared_data_dirs()]
  for path in places:
    if os.path.isfile(path):
      return ntu.read_skip_list(path)
  raise DataError(
      f"the NTU missing-skeletons list {name} was not found (looked in {places}); pass "
      "--skip_list=PATH (the list of samples without skeletons published with NTU RGB+D), "
      "or --skip_list=none to keep every file")


def plan_dataset(
    dataset: str,
    raw_dir: str | os.PathLike,
    *,
    skip_list: str | None = None,
    view_normalize: bool | None = None,
) -> Plan:
  """Lists the raw files of both splits of `dataset`.

  Args:
    dataset: one of DATASETS.
    raw_dir: the raw release folder.
    skip_list: NTU only: path of the missing-skeletons list, 'none', or None to search.
    view_normalize: per-frame y-rotation; default True (NTU, PKU) or False (NW-UCLA).

  Raises:
    ValueError: for an unknown dataset.
    DataError: for a missing or incomplete raw folder.
  """
  raw_dir = os.fspath(raw_dir)
  if dataset in ntu.DATASETS:
    num_classes, _, _ = ntu.dataset_info(dataset)
    skip = find_ntu_skip_list(num_classes, raw_dir, skip_list)
    items = {s: [("ntu", (path,)) for _, path, _ in ntu.list_samples(raw_dir, dataset, s, skip)]
             for s in SPLITS}
    vn = True if view_normalize is None else view_normalize
    return Plan(dataset, ntu.LAYOUT, num_classes, ntu.MAX_BODIES, ntu.NUM_JOINTS, vn, items)
  if dataset in pku_mmd.DATASETS:
    part, benchmark = pku_mmd.dataset_info(dataset)
    files = pku_mmd.find_files(raw_dir, part)
    skip = pku_mmd.read_skip_file(files.skip_file)
    items = {s: [("pku", (path, tuple(clips)))
                 for path, clips in pku_mmd.list_videos(files, benchmark, s, skip)]
             for s in SPLITS}
    vn = True if view_normalize is None else view_normalize
    return Plan(dataset, pku_mmd.LAYOUT, pku_mmd.NUM_CLASSES, 2, pku_mmd.NUM_JOINTS, vn, items)
  if dataset == NWUCLA:
    samples = nw_ucla.list_samples(raw_dir)
    items = {s: [("nwucla", (x.path,)) for x in samples
                 if x.view in nw_ucla.split_views("cross_view", s)] for s in SPLITS}
    vn = False if view_normalize is None else view_normalize
    return Plan(dataset, nw_ucla.LAYOUT, nw_ucla.NUM_CLASSES, 1, nw_ucla.NUM_JOINTS, vn, items)
  raise ValueError(f"unknown dataset {dataset!r}; known: {list(DATASETS)}")


def run_item(kind: str, args: tuple, num_frames: int,
             view_normalize: bool) -> list[tuple[str, np.ndarray, int]]:
  """Reads and preprocesses one raw file: [(sample name, clip [M, T, V, C], label)]."""
  if kind == "ntu":
    (path,) = args
    name = os.path.basename(path)[:-len(".skeleton")]
    clip = ntu.process_file(path, num_frames, view_normalize=view_normalize)
    return [(name, clip, ntu.parse_name(name).label)]
  if kind == "pku":
    path, clips = args
    return pku_mmd.process_video(path, list(clips), num_frames, view_normalize)
  if kind == "nwucla":
    (path,) = args
    skeleton, label = nw_ucla.read_clip(path)
    clip = preprocess_clip(skeleton[None], nw_ucla.LAYOUT, num_frames,
                           view_normalize=view_normalize, name=path)
    return [(os.path.basename(path)[:-len(".json")], clip, label)]
  raise ValueError(f"unknown work item kind {kind!r}")


def _run_items(items: list, num_frames: int, view_normalize: bool,
               skip_bad: bool) -> tuple[list, list[dict]]:
  """Runs work items; with `skip_bad` a DataError rejects its file instead of stopping.

  Returns:
    (samples, rejected) with rejected = [{"file": raw file, "reason": the DataError}].
  """
  samples, rejected = [], []
  for kind, args in items:
    try:
      samples += run_item(kind, args, num_frames, view_normalize)
    except DataError as e:
      if not skip_bad:
        raise
      rejected.append({"file": args[0], "reason": str(e)})
  return samples, rejected


def _write_shard(path: str, items: list, num_frames: int, view_normalize: bool,
                 layout: str, num_classes: int, shape: tuple[int, int],
                 skip_bad: bool = False) -> int:
  """Processes a shard of work items and writes it atomically; returns the item count.

  The files rejected under `skip_bad` go to `{path}.rejected.json`, written before the shard
  itself, whose presence marks the shard as done.
  """
  samples, rejected = _run_items(items, num_frames, view_normalize, skip_bad)
  x = np.zeros((len(samples), shape[0], num_frames, shape[1], 3), np.float32)
  for i, (_, clip, _) in enumerate(samples):
    x[i] = clip
  ds = ArrayDataset(x, np.array([s[2] for s in samples], np.int32), [s[0] for s in samples],
                    layout, num_classes)
  if rejected:
    _write_json(path + _REJECTED_SUFFIX, rejected)
  elif os.path.exists(path + _REJECTED_SUFFIX):  # left by a killed try; the files are fixed
    os.remove(path + _REJECTED_SUFFIX)
  files_lib.atomic_write(path, lambda f: save_split(f, ds))
  return len(items)


def _write_json(path: str, value) -> None:
  files_lib.atomic_write(path, json.dumps(value, indent=1))


def _rejected(partial: str, shards: list) -> list[dict]:
  """The files rejected by all shards, in shard order."""
  out = []
  for _, fname, _ in shards:
    path = os.path.join(partial, fname + _REJECTED_SUFFIX)
    if os.path.isfile(path):
      with open(path) as f:
        out += json.load(f)
  return out


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True


def clean_leftovers(out_dir: str, dataset: str, stream=None) -> list[str]:
  """Removes the temporary folders of killed runs of `dataset` in `out_dir`.

  A run assembles the dataset in `.{dataset}.tmp-{pid}` and renames it into place; killed
  before the rename, it leaves that folder (tens of MB to GB) behind. Folders of a process
  that still runs are kept. A `.{dataset}.old-{pid}` (the previous dataset, set aside for
  the rename) is deleted when the dataset exists, and renamed back when the kill came
  between the two renames.

  Returns:
    The paths removed or restored.
  """
  stream = stream or sys.stderr
  done = []
  if not os.path.isdir(out_dir):
    return done
  final = os.path.join(out_dir, dataset)
  for name in sorted(os.listdir(out_dir)):
    for kind in ("tmp", "old"):
      prefix = f".{dataset}.{kind}-"
      if not name.startswith(prefix) or not name[len(prefix):].isdigit():
        continue
      if _pid_alive(int(name[len(prefix):])) and int(name[len(prefix):]) != os.getpid():
        continue
      path = os.path.join(out_dir, name)
      if kind == "old" and not os.path.exists(final):
        os.rename(path, final)
        print(f"{path}: restored as {final} (left by a killed run)", file=stream)
      else:
        shutil.rmtree(path, ignore_errors=True)
        print(f"{path}: removed (left by a killed run)", file=stream)
      done.append(path)
  return done


def _fingerprint(plan: Plan, raw_dir: str, num_frames: int, skip_bad: bool = False) -> dict:
  digest = hashlib.sha1()
  for split in SPLITS:
    for kind, args in plan.items[split]:
      digest.update(repr((split, kind, args)).encode())
  return {"format": _FORMAT_VERSION, "dataset": plan.dataset, "raw": os.path.abspath(raw_dir),
          "num_frames": num_frames, "view_normalize": plan.view_normalize,
          "skip_bad": skip_bad, "items": digest.hexdigest()}


def _shards(plan: Plan, shard_size: int) -> list[tuple[str, str, list]]:
  out = []
  for split in SPLITS:
    items = plan.items[split]
    for i, start in enumerate(range(0, len(items), shard_size)):
      out.append((split, f"{split}-{i:05d}.npz", items[start:start + shard_size]))
  return out


def _assemble(partial: str, shards: list, plan: Plan, num_frames: int, dest: str) -> dict:
  """Concatenates the shards of each split into `dest/{split}.npz`; returns sample counts.

  Shards are read one at a time into one preallocated array, so the peak memory is about
  one copy of the largest split.
  """
  counts = {}
  for split in SPLITS:
    paths = [os.path.join(partial, f) for s, f, _ in shards if s == split]
    sizes = []
    for path in paths:
      with np.load(path) as shard:  # reads only `y`: npz members load lazily
        sizes.append(len(shard["y"]))
    n = sum(sizes)
    x = np.zeros((n, plan.num_persons, num_frames, plan.num_joints, 3), np.float32)
    y, names, i = np.zeros((n,), np.int32), [], 0
    for path, size in zip(paths, sizes):
      part = read_split(path)
      x[i:i + size], y[i:i + size] = part.x, part.y
      names += part.names
      i += size
    save_split(os.path.join(dest, f"{split}.npz"),
               ArrayDataset(x, y, names, plan.layout, plan.num_classes))
    del x
    counts[split] = n
  return counts


def prepare(
    dataset: str,
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    num_frames: int = 50,
    workers: int | None = None,
    skip_list: str | None = None,
    view_normalize: bool | None = None,
    overwrite: bool = False,
    shard_size: int = 64,
    progress: bool = True,
    skip_bad: bool = False,
) -> str:
  """Builds `{out_dir}/{dataset}/{train,test}.npz` from the raw release (see the module doc).

  Args:
    dataset: one of DATASETS.
    raw_dir: the raw release folder.
    out_dir: where the dataset folder goes.
    num_frames: frames per clip after the time resize (50: SkeletonCLR/AimCLR; 64:
      SkeleMixCLR/SkeAttnCLR).
    workers: processes (default: all CPUs); 1 runs in this process.
    skip_list: NTU missing-skeletons list path, 'none', or None to search for it.
    view_normalize: per-frame y-rotation; default on for NTU/PKU, off for NW-UCLA.
    overwrite: replace an existing dataset folder (only once the new one is complete).
    shard_size: raw files per resumable shard.
    progress: show the progress bar on stderr.
    skip_bad: leave out a raw file that a reader rejects (DataError) instead of stopping;
      every rejected file and its reason is listed under "rejected" in `info.json` and a
      summary is printed on stderr.

  Returns:
    The dataset folder.

  Raises:
    FileExistsError: when the dataset exists and `overwrite` is False.
    DataError: for bad raw data (naming the file); finished shards are kept for a rerun.
  """
  raw_dir, out_dir = os.fspath(raw_dir), os.fspath(out_dir)
  final = os.path.join(out_dir, dataset)
  clean_leftovers(out_dir, dataset)
  if os.path.exists(final) and not overwrite:
    raise FileExistsError(f"{final} already exists; pass --overwrite to rebuild it")
  plan = plan_dataset(dataset, raw_dir, skip_list=skip_list, view_normalize=view_normalize)
  partial = os.path.join(out_dir, f".{dataset}.partial")
  fingerprint = _fingerprint(plan, raw_dir, num_frames, skip_bad)
  plan_file = os.path.join(partial, "plan.json")
  if os.path.isdir(partial):
    try:
      with open(plan_file) as f:
        same = json.load(f) == fingerprint
    except (OSError, ValueError):
      same = False
    if not same:
      print(f"{partial}: left by a run with other arguments; starting over", file=sys.stderr)
      shutil.rmtree(partial)
  os.makedirs(partial, exist_ok=True)
  _write_json(plan_file, fingerprint)

  shards = _shards(plan, shard_size)
  todo = [s for s in shards if not os.path.isfile(os.path.join(partial, s[1]))]
  total = sum(len(items) for _, _, items in shards)
  done_before = total - sum(len(items) for _, _, items in todo)
  bar = progress_lib.bar(total, dataset, unit="files", initial=done_before, enabled=progress)
  started = time.monotonic()
  args = (num_frames, plan.view_normalize, plan.layout, plan.num_classes,
          (plan.num_persons, plan.num_joints), skip_bad)
  workers = workers or os.cpu_count() or 1
  try:
    if workers == 1 or len(todo) <= 1:
      for _, fname, items in todo:
        n = _write_shard(os.path.join(partial, fname), items, *args)
        bar.update(n)
    else:
      # spawn, not fork: the caller may have started threads (JAX) before calling us.
      ctx = multiprocessing.get_context("spawn")
      with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = [pool.submit(_write_shard, os.path.join(partial, f), items, *args)
                   for _, f, items in todo]
        try:
          for future in concurrent.futures.as_completed(futures):
            n = future.result()
            bar.update(n)
        except BaseException:
          pool.shutdown(wait=True, cancel_futures=True)
          raise
  except DataError as e:
    raise DataError(f"{e}\n(finished shards are kept in {partial}; fix or remove the file, or "
                    "add --skip_bad, and rerun the same command to resume)") from e
  bar.close()
  if progress:
    resumed = f" ({done_before} done before)" if done_before else ""
    print(f"{dataset}: {total - done_before} files in {time.monotonic() - started:.1f} s"
          f"{resumed}", file=sys.stderr)

  tmp = os.path.join(out_dir, f".{dataset}.tmp-{os.getpid()}")
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  counts = _assemble(partial, shards, plan, num_frames, tmp)
  rejected = _rejected(partial, shards)
  info = dict(fingerprint, layout=plan.layout, num_classes=plan.num_classes, counts=counts,
              rejected=rejected)
  with open(os.path.join(tmp, "info.json"), "w") as f:
    json.dump(info, f, indent=1)
  files_lib.replace_dir(tmp, final, os.path.join(out_dir, f".{dataset}.old-{os.getpid()}"))
  shutil.rmtree(partial)
  if rejected:
    print(_rejected_summary(rejected, final), file=sys.stderr)
  return final


def _rejected_summary(rejected: list[dict], final: str, shown: int = 5) -> str:
  lines = [f"skipped {len(rejected)} bad file(s) (--skip_bad); all are listed with their "
           f"reason under 'rejected' in {os.path.join(final, 'info.json')}:"]
  lines += [f"  {r['reason']}" for r in rejected[:shown]]
  if len(rejected) > shown:
    lines.append(f"  ... and {len(rejected) - shown} more")
  return "\n".join(lines)


_PROG = "python -m skel_jax.prepare"
_FLAGS = flags.FlagValues()
_RAW = flags.DEFINE_string("raw", None, "folder of the raw release", flag_values=_FLAGS)
_OUT = flags.DEFINE_string("out", None, "output folder ({out}/{dataset}/...)",
                           flag_values=_FLAGS)
_FRAMES = flags.DEFINE_integer("frames", None, "frames per clip (default 50; custom: 64)",
                               flag_values=_FLAGS)
_WORKERS = flags.DEFINE_integer("workers", None, "processes (default: all CPUs)",
                                flag_values=_FLAGS)
_SKIP_LIST = flags.DEFINE_string(
    "skip_list", None, "NTU missing-skeletons list, or 'none' (default: search beside --raw)",
    flag_values=_FLAGS)
_VIEW_NORMALIZE = flags.DEFINE_bool(
    "view_normalize", None, "per-frame y-rotation (default: on for NTU/PKU, off for NW-UCLA)",
    flag_values=_FLAGS)
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "replace an existing dataset",
                               flag_values=_FLAGS)
_SHARD_SIZE = flags.DEFINE_integer("shard_size", 64, "raw files per shard", flag_values=_FLAGS)
_SKIP_BAD = flags.DEFINE_bool(
    "skip_bad", False, "leave out raw files that cannot be read (listed with the reason in "
    "info.json) instead of stopping at the first", flag_values=_FLAGS)
# Options of `custom` (one file per clip in --raw).
_LAYOUT = flags.DEFINE_string(
    "layout", None, "custom: the clips' skeleton layout, a built-in name or a .json file "
    "(docs/datasets.md)", flag_values=_FLAGS)
_NAME = flags.DEFINE_string("name", None, "custom: dataset name, the folder under --out and "
                            "--config.data.dataset", flag_values=_FLAGS)
_LABELS = flags.DEFINE_string("labels", None, "custom: CSV with the columns clip, label, split "
                              "(default RAW/labels.csv)", flag_values=_FLAGS)
_CENTER = flags.DEFINE_bool("center", True, "custom: centre every frame on the layout's centre "
                            "joint", flag_values=_FLAGS)
flags.mark_flags_as_required(["raw", "out"], flag_values=_FLAGS)
_DESCRIPTION = (f"{_PROG} DATASET --raw=RAW_DIR --out=DATA_DIR: prepare a skeleton action "
                f"dataset from its raw release. DATASET: {', '.join(DATASETS)}, or "
                f"{custom.KIND} for your own clips.")


def _main_custom() -> int:
  if not _LAYOUT.value or not _NAME.value:
    return cli.usage_error("custom needs --layout=NAME_OR_FILE and --name=DATASET_NAME", _PROG)
  try:
    final = custom.prepare_folder(
        _RAW.value, _OUT.value, _NAME.value, _LAYOUT.value, labels=_LABELS.value,
        num_frames=_FRAMES.value or 64, center=_CENTER.value,
        view_normalize=bool(_VIEW_NORMALIZE.value), overwrite=_OVERWRITE.value)
  except (DataError, LayoutError, FileExistsError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  with open(os.path.join(final, custom.INFO)) as f:
    info = json.load(f)
  print(f"wrote {final}: " + ", ".join(f"{k} {v} clips" for k, v in info["counts"].items())
        + f", {info['num_classes']} classes, layout {info['layout']} "
        f"({info['num_joints']} joints, channels {','.join(info['channels'])})\n"
        f"train with: --config.data.dataset={_NAME.value} --config.data.data_dir={_OUT.value}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (arguments without the program name); returns the exit status.

  Raises:
    SystemExit: status 2 for a bad flag or DATASET, 0 after --help.
  """
  positional = cli.parse(_FLAGS, argv, _PROG, _DESCRIPTION)
  if len(positional) != 1 or positional[0] not in DATASETS + (custom.KIND,):
    raise SystemExit(cli.usage_error(
        f"give one DATASET among {', '.join(DATASETS + (custom.KIND,))}; got {positional}",
        _PROG))
  dataset = positional[0]
  if dataset == custom.KIND:
    return _main_custom()
  try:
    final = prepare(dataset, _RAW.value, _OUT.value, num_frames=_FRAMES.value or 50,
                    workers=_WORKERS.value, skip_list=_SKIP_LIST.value,
                    view_normalize=_VIEW_NORMALIZE.value, overwrite=_OVERWRITE.value,
                    shard_size=_SHARD_SIZE.value, skip_bad=_SKIP_BAD.value)
  except (DataError, FileExistsError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  with open(os.path.join(final, "info.json")) as f:
    counts = json.load(f)["counts"]
  print(f"wrote {final}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
  return 0


if __name__ == "__main__":
  cli.run_tool(main)
