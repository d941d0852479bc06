"""PKU-MMD parts I and II: cut the long recordings into action clips.

As AimCLR (Levigty/AimCLR) tools/pku_part{1,2}_skeleton.py, tools/pku_part{1,2}_gendata.py
and feeder/preprocess_pku.py (docs/datasets.md).

Raw release (both parts):

* skeleton files `<video>.txt`, one frame per line of 150 values = 2 bodies x 25 joints
  (Kinect v2 order, as NTU) x (x, y, z); a missing second body is all zero;
* label files `<video>.txt` with the same name, one action per line `class,start,end,confidence`
  (class 1..51, start and end 1-based and inclusive);
* split files (`cross-subject.txt`, `cross-view.txt`, or `cross_subject_v2.txt`,
  `cross_view_v2.txt` for part II): line 2 lists the training videos, line 4 the test videos,
  comma separated.

Video ids are `0002-L` (part I: file 0002, view L/M/R) or `A01N01-L` (part II). Clips get the
reference's names, `F002V001C007L003` (part I) and `A001N001V001C007L003` (part II): file,
view 1/2/3 for L/M/R, class, 1-based index of the action in its label file.

Each clip is frames `[start - 1, end)`; body 2 is kept in the frames where its 75 values are
not all zero (zero elsewhere, which is what the reference's one-or-two-body NTU-style files
amount to); clips longer than 300 frames keep their central 300 (`(T - 300) // 2` first);
labels are class - 1 (51 classes). Then the reference's step B (`preprocess_clip`, `ntu25`).
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings

import numpy as np

from skel_jax.data.dataset import ArrayDataset
from skel_jax.data.errors import reading
from skel_jax.data.preprocess import DataError, preprocess_clip

LAYOUT = "ntu25"
NUM_CLASSES = 51
NUM_JOINTS = 25
FRAME_VALUES = 150  # 2 bodies x 25 joints x 3
MAX_FRAMES = 300
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_VIEWS = {"L": 1, "M": 2, "R": 3}
_PART1_RE = re.compile(r"^0*(\d+)-([LMR])$")
_PART2_RE = re.compile(r"^A(\d+)N(\d+)-([LMR])$")

# Dataset name -> (part, benchmark).
DATASETS = {
    "pku1_xsub": (1, "xsub"),
    "pku1_xview": (1, "xview"),
    "pku2_xsub": (2, "xsub"),
    "pku2_xview": (2, "xview"),
}


@dataclasses.dataclass(frozen=True)
class PkuClip:
  """One action of a PKU-MMD video, as given by its label file."""

  name: str
  video: str
  label: int  # 0-based
  start: int  # 1-based, inclusive
  end: int  # 1-based, inclusive
  label_line: int  # 1-based line in the label file, for error messages


def dataset_info(dataset: str) -> tuple[int, str]:
  """(part, benchmark) of a PKU dataset name."""
  if dataset not in DATASETS:
    raise ValueError(f"unknown PKU-MMD dataset {dataset!r}; known: {sorted(DATASETS)}")
  return DATASETS[dataset]


def clip_name(video: str, label: int, index: int) -> str:
  """Reference-style clip name of action `index` (1-based) of `video` with 0-based `label`."""
  tail = f"C{label + 1:03d}L{index:03d}"
  m1, m2 = _PART1_RE.match(video), _PART2_RE.match(video)
  if m1:
    return f"F{int(m1.group(1)):03d}V{_VIEWS[m1.group(2)]:03d}{tail}"
  if m2:
    return f"A{int(m2.group(1)):03d}N{int(m2.group(2)):03d}V{_VIEWS[m2.group(3)]:03d}{tail}"
  return f"{video}{tail}"


def read_split_file(path: str | os.PathLike) -> tuple[list[str], list[str]]:
  """Training and test video ids of an official split file (lines 2 and 4).

  Raises:
    DataError: when the file has fewer than 4 lines or a video is in both lists.
  """
  path = os.fspath(path)
  with reading(path, "split file"):
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  if len(lines) < 4:
    raise DataError(f"{path}: a split file needs 4 lines (title, training ids, title, test ids),"
                    f" found {len(lines)}")
  train, test = ([v.strip() for v in lines[i].split(",") if v.strip()] for i in (1, 3))
  both = sorted(set(train) & set(test))
  if both:
    raise DataError(f"{path}: videos in both the training and the test list: {both[:5]}")
  if not train or not test:
    raise DataError(f"{path}: empty training or test list (lines 2 and 4)")
  return train, test


def read_label_file(path: str | os.PathLike, video: str | None = None) -> list[PkuClip]:
  """The actions of one label file (`class,start,end,confidence` lines).

  Raises:
    DataError: naming the file and line for a malformed line, a class outside 1..51 or
      start/end not 1 <= start <= end.
  """
  path = os.fspath(path)
  video = video or os.path.splitext(os.path.basename(path))[0]
  with reading(path, "label file"):
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  clips = []
  for line_no, line in enumerate(lines, 1):
    if not line.strip():
      continue
    fields = [v.strip() for v in line.split(",")]
    try:
      if len(fields) < 3:
        raise ValueError
      numbers = [float(v) for v in fields[:3]]
      if not all(np.isfinite(numbers)) or any(v != int(v) for v in numbers):
        raise ValueError
      cls, start, end = (int(v) for v in numbers)
    except ValueError:
      raise DataError(f"{path}, line {line_no}: expected 'class,start,end,confidence' with "
                      f"whole numbers, got {line.strip()[:80]!r}") from None
    if not 1 <= cls <= NUM_CLASSES:
      raise DataError(f"{path}, line {line_no}: class {cls} outside 1..{NUM_CLASSES}")
    if not 1 <= start <= end:
      raise DataError(f"{path}, line {line_no}: bad frame range start={start} end={end}")
    index = len(clips) + 1
    clips.append(PkuClip(clip_name(video, cls - 1, index), video, cls - 1, start, end,
                         line_no))
  return clips


def read_skeleton_file(path: str | os.PathLike) -> np.ndarray:
  """Reads a PKU skeleton file: float64 `[T, 150]` (extra columns, if any, are dropped).

  Raises:
    DataError: naming the file and line for a line with fewer than 150 values or with
      another value count than the first line, non-numeric or non-finite values, or an
      empty file.
  """
  path = os.fspath(path)
  with reading(path, "PKU-MMD skeleton file"):
    with open(path, "rb") as f:
      lines = [line for line in f.read().split(b"\n") if line.strip()]
  if not lines:
    raise DataError(f"{path}: no frame in the skeleton file")
  try:
    values = np.loadtxt(lines, dtype=np.float64, comments=None, ndmin=2)
  except ValueError:
    values = None
  if values is None or values.shape[0] != len(lines) or values.shape[1] < FRAME_VALUES:
    _raise_bad_line(path, lines)
  values = values[:, :FRAME_VALUES]
  # Clips are float32: a value beyond its range would become inf, as bad as a NaN.
  bad = ~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX)
  if np.any(bad):
    row = int(np.argwhere(bad)[0][0])
    raise DataError(f"{path}, frame {row + 1}: non-finite coordinate (or one beyond the float32 range)")
  return values


def _raise_bad_line(path: str, lines: list[bytes]) -> None:
  """Finds the first bad frame line (slow path, only on error) and raises."""
  first = len(lines[0].split())
  for i, line in enumerate(lines):
    tokens = line.split()
    if len(tokens) < FRAME_VALUES or len(tokens) != first:
      raise DataError(f"{path}, frame {i + 1}: {len(tokens)} values, expected {FRAME_VALUES} "
                      f"(2 bodies x 25 joints x 3) on every line")
    for token in tokens:
      try:
        float(token)
      except ValueError:
        shown = token.decode("utf-8", "replace")
        raise DataError(f"{path}, frame {i + 1}: non-numeric value {shown!r}") from None
  raise DataError(f"{path}: malformed skeleton file")


def cut_clip(frames: np.ndarray, clip: PkuClip, *, source: str = "") -> np.ndarray:
  """Frames `[start - 1, end)` of a recording as float32 `[2, T, 25, 3]`.

  Body 2 is zeroed in the frames where its 75 values are all zero (already the case in the
  raw data, so this only makes the rule explicit).

  Raises:
    DataError: when `end` is past the last frame of the recording.
  """
  if clip.end > len(frames):
    raise DataError(f"{source or clip.video}: label line {clip.label_line} ends at frame "
                    f"{clip.end}, but the recording has {len(frames)} frames")
  part = frames[clip.start - 1:clip.end].reshape(-1, 2, NUM_JOINTS, 3).copy()  # [T, M, V, C]
  present = np.any(part[:, 1] != 0, axis=(1, 2))  # [T]
  part[:, 1] *= present[:, None, None]
  return part.transpose(1, 0, 2, 3).astype(np.float32)  # [M, T, V, C]


def central_frames(clip: np.ndarray, max_frames: int = MAX_FRAMES) -> np.ndarray:
  """The central `max_frames` frames of a longer `[M, T, V, C]` clip, else the clip, padded.

  Returns float32 `[M, max_frames, V, C]`: longer clips start at `(T - max_frames) // 2`,
  shorter ones are zero-padded at the end (the reference's 300-frame array).
  """
  m, t, v, c = clip.shape
  if t > max_frames:
    first = (t - max_frames) // 2
    clip = clip[:, first:first + max_frames]
  out = np.zeros((m, max_frames, v, c), np.float32)
  out[:, :clip.shape[1]] = clip
  return out


def process_video(
    skeleton_path: str,
    clips: list[PkuClip],
    num_frames: int = 50,
    view_normalize: bool = True,
) -> list[tuple[str, np.ndarray, int]]:
  """Cuts and preprocesses the given actions of one recording.

  Returns:
    (clip name, float32 `[2, num_frames, 25, 3]`, 0-based label) per action.
  """
  frames = read_skeleton_file(skeleton_path)
  out = []
  for clip in clips:
    x = central_frames(cut_clip(frames, clip, source=skeleton_path))
    out.append((clip.name, preprocess_clip(x, LAYOUT, num_frames, view_normalize=view_normalize,
                                           name=f"{skeleton_path} ({clip.name})"), clip.label))
  return out


@dataclasses.dataclass(frozen=True)
class PkuFiles:
  """Where the parts of a raw PKU-MMD release are."""

  skeleton_dir: str
  label_dir: str
  split_files: dict  # benchmark ('xsub' | 'xview') -> path
  skip_file: str | None = None


def _is_video_id(stem: str) -> bool:
  return bool(_PART1_RE.match(stem) or _PART2_RE.match(stem))


def find_files(raw_dir: str | os.PathLike, part: int) -> PkuFiles:
  """Finds the skeleton folder, the label folder and the split files under `raw_dir`.

  The label folder is the folder of video-named `.txt` files whose path mentions 'label';
  the skeleton folder is the other one. Split files are `.txt` files named like
  `cross-subject*` / `cross_view*` (for part II the ones with 'v2' are preferred).

  Raises:
    DataError: explaining what is missing.
  """
  raw_dir = os.fspath(raw_dir)
  if not os.path.isdir(raw_dir):
    raise DataError(f"{raw_dir}: PKU-MMD raw folder not found")
  video_dirs: dict[str, int] = {}
  split_candidates: dict[str, list[str]] = {"xsub": [], "xview": []}
  skip = []
  for folder, _, files in os.walk(raw_dir):
    for fname in files:
      if not fname.endswith(".txt"):
        continue
      stem, low = fname[:-4], fname.lower()
      if _is_video_id(stem):
        video_dirs[folder] = video_dirs.get(folder, 0) + 1
      elif "cross" in low and "subject" in low:
        split_candidates["xsub"].append(os.path.join(folder, fname))
      elif "cross" in low and "view" in low:
        split_candidates["xview"].append(os.path.join(folder, fname))
      elif "missing" in low:
        skip.append(os.path.join(folder, fname))
  label_dirs = [d for d in video_dirs if "label" in os.path.relpath(d, raw_dir).lower()]
  skeleton_dirs = [d for d in video_dirs if d not in label_dirs]
  if len(label_dirs) != 1 or len(skeleton_dirs) != 1:
    raise DataError(
        f"{raw_dir}: expected one folder of label files (its path containing 'label') and one "
        f"folder of skeleton files, each with video-named .txt files such as 0002-L.txt or "
        f"A01N01-L.txt; found label folders {label_dirs} and skeleton folders {skeleton_dirs}")
  splits = {}
  for bench, paths in split_candidates.items():
    preferred = [p for p in paths if ("v2" in os.path.basename(p).lower()) == (part == 2)]
    chosen = preferred or paths
    if len(chosen) != 1:
      raise DataError(f"{raw_dir}: expected one {bench} split file (cross-subject / cross-view "
                      f".txt) for PKU-MMD part {part}, found {chosen}")
    splits[bench] = chosen[0]
  skip = [p for p in skip if ("v2" in os.path.basename(p).lower()) == (part == 2)]
  return PkuFiles(skeleton_dirs[0], label_dirs[0], splits, skip[0] if len(skip) == 1 else None)


def list_videos(
    files: PkuFiles,
    benchmark: str,
    split: str,
    skip: frozenset[str] | set[str] = frozenset(),
) -> list[tuple[str, list[PkuClip]]]:
  """The recordings of a split with their actions (sorted by video id).

  Args:
    files: the located raw files.
    benchmark: 'xsub' or 'xview'.
    split: 'train', 'test' or 'all'.
    skip: clip names to leave out (a missing-skeletons list).

  Returns:
    (skeleton file path, actions) per recording that has a label file and is in the split.

  Videos of the split lists without a label file are left out with a warning (the
  reference prints a note and goes on).

  Raises:
    DataError: when a labelled video has no skeleton file.
  """
  train, test = read_split_file(files.split_files[benchmark])
  videos = {"train": train, "test": test, "all": train + test}
  if split not in videos:
    raise ValueError(f"unknown split {split!r}; use 'train', 'test' or 'all'")
  out, unlabelled = [], []
  for video in sorted(videos[split]):
    label_path = os.path.join(files.label_dir, f"{video}.txt")
    skeleton_path = os.path.join(files.skeleton_dir, f"{video}.txt")
    if not os.path.isfile(label_path):
      unlabelled.append(video)
      continue
    if not os.path.isfile(skeleton_path):
      raise DataError(f"{skeleton_path}: skeleton file of video {video} (labelled in "
                      f"{label_path}) not found")
    clips = [c for c in read_label_file(label_path, video) if c.name not in skip]
    if clips:
      out.append((skeleton_path, clips))
  if unlabelled:
    warnings.warn(f"{len(unlabelled)} videos of {files.split_files[benchmark]} have no label "
                  f"file in {files.label_dir} and are left out: {unlabelled[:5]}", stacklevel=2)
  return out


def read_skip_file(path: str | os.PathLike | None) -> frozenset[str]:
  """Clip names of a missing-skeletons list (None -> empty)."""
  if path is None:
    return frozenset()
  with reading(path, "skip list"):
    with open(path, encoding="utf-8") as f:
      return frozenset(line.strip().removesuffix(".skeleton") for line in f if line.strip())


def load_pku_mmd(
    raw_dir: str | os.PathLike,
    dataset: str,
    split: str,
    *,
    num_frames: int = 50,
    view_normalize: bool = True,
) -> ArrayDataset:
  """Reads, cuts and preprocesses one PKU-MMD split in this process.

  For the full datasets prefer `python -m skel_jax.prepare` (parallel, resumable).

  Args:
    raw_dir: folder of the raw release (see `find_files`).
    dataset: 'pku1_xsub', 'pku1_xview', 'pku2_xsub' or 'pku2_xview'.
    split: 'train', 'test' or 'all'.
    num_frames: frames after the time resize.
    view_normalize: per-frame y-rotation (`preprocess.rotate_view`).

  Returns:
    ArrayDataset with x `[N, 2, num_frames, 25, 3]`, clips in video order, 51 classes.
  """
  part, benchmark = dataset_info(dataset)
  files = find_files(raw_dir, part)
  samples = []
  for skeleton_path, clips in list_videos(files, benchmark, split,
                                          read_skip_file(files.skip_file)):
    samples.extend(process_video(skeleton_path, clips, num_frames, view_normalize))
  x = np.zeros((len(samples), 2, num_frames, NUM_JOINTS, 3), np.float32)
  for i, (_, clip, _) in enumerate(samples):
    x[i] = clip
  return ArrayDataset(x, np.array([s[2] for s in samples], np.int32),
                      [s[0] for s in samples], LAYOUT, NUM_CLASSES)
