"""The TFDS builder `skeleton_actions`: one config per prepared dataset and frame count.

Configs are `{dataset}_f{frames}` for every dataset of `skel_jax.prepare.DATASETS` and
frames 50 (SkeletonCLR, AimCLR) or 64 (SkeleMixCLR, SkeAttnCLR), e.g. `ntu60_xsub_f50`.
The raw release is the manual download folder; the preprocessing is the same as
`python -m skel_jax.prepare` (docs/datasets.md), run in parallel worker processes.

Build (no TensorFlow needed; tfds 4.9 writes array_record with its own example serializer):

    from skel_jax.data import tfds as skel_tfds
    skel_tfds.build("ntu60_xsub_f50", data_dir="/data/tfds", manual_dir="/data/ntu_raw")

Read, with or without this module imported (tfds reads the dataset_info.json on disk):

    import tensorflow_datasets as tfds
    source = tfds.data_source("skeleton_actions/ntu60_xsub_f50", data_dir="/data/tfds")
    example = source["train"][0]  # {'clip': float32 [M, T, V, 3], 'label': int, 'name': bytes}

Features: `clip` float32 `[M, T, V, 3]`, `label` ClassLabel, `name` Text (the sample name).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os

import numpy as np

try:  # the optional extra `[tfds]`; the rest of skel_jax never imports this module eagerly
  import tensorflow_datasets as tfds
  from etils import epath
except ImportError as e:
  raise ImportError("the TFDS builders need tensorflow-datasets: pip install -e '.[tfds]' "
                    f"(or pip install skel_jax[tfds]); import failed with: {e}") from e

from skel_jax import prepare as prep
from skel_jax.data import registry

FRAME_CHOICES = (50, 64)
_MANUAL = """\
Put the raw release in the manual folder (download_config.manual_dir):
* NTU RGB+D 60/120: the .skeleton files, plus ntu60_samples_with_missing_skeletons.txt or
  ntu120_samples_with_missing_skeletons.txt in that folder or its meta/ subfolder;
* PKU-MMD part I/II: the skeleton and label folders and the cross-subject/cross-view files;
* NW-UCLA: the all_sqe folder of json clips (or its parent).
"""


@dataclasses.dataclass(eq=False)
class SkeletonConfig(tfds.core.BuilderConfig):
  """A dataset of `skel_jax.prepare.DATASETS` at a given frame count."""

  dataset: str = ""
  num_frames: int = 50


def _configs() -> list[SkeletonConfig]:
  return [SkeletonConfig(name=f"{d}_f{t}", version="1.0.0", dataset=d, num_frames=t,
                         description=f"{d}, clips preprocessed to {t} frames")
          for d in prep.DATASETS for t in FRAME_CHOICES]


def dataset_constants(dataset: str) -> tuple[int, int, int, str]:
  """(persons, joints, classes, layout) of a dataset, without reading any file."""
  if dataset not in prep.DATASETS:
    raise ValueError(f"unknown dataset {dataset!r}; known: {list(prep.DATASETS)}")
  layout, num_classes = registry.DATASETS[dataset]
  persons, joints = (1, 20) if dataset == prep.NWUCLA else (2, 25)  # NW-UCLA: one person
  return persons, joints, num_classes, layout


def parse_config(config: str) -> tuple[str, int]:
  """'ntu60_xsub_f50' -> ('ntu60_xsub', 50)."""
  dataset, _, frames = config.rpartition("_f")
  if dataset not in prep.DATASETS or not frames.isdigit():
    raise ValueError(f"unknown config {config!r}; use '<dataset>_f<frames>' with a dataset of "
                     f"{list(prep.DATASETS)} and frames in {FRAME_CHOICES}")
  return dataset, int(frames)


def _process(item, num_frames, view_normalize):
  kind, args = item
  return prep.run_item(kind, args, num_frames, view_normalize)


class SkeletonActions(tfds.core.GeneratorBasedBuilder):
  """Skeleton action clips `[M, T, V, 3]` with labels, preprocessed as the reference code."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = _configs()
  MANUAL_DOWNLOAD_INSTRUCTIONS = _MANUAL

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # tfds' own lookup goes through importlib_resources for installed packages, a module
    # that etils imports lazily and that this environment lacks; the file path is enough.
    return epath.Path(__file__)

  def __init__(self, *, workers: int | None = None, skip_list: str | None = None, **kwargs):
    """Args: workers (processes for the raw reading), skip_list (NTU list path or 'none')."""
    self._workers = workers
    self._skip_list = skip_list
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    persons, joints, classes, _ = dataset_constants(self.builder_config.dataset)
    shape = (persons, self.builder_config.num_frames, joints, 3)
    return tfds.core.DatasetInfo(
        builder=self,
        description="Skeleton action clips preprocessed as in the reference code.",
        features=tfds.features.FeaturesDict({
            "clip": tfds.features.Tensor(shape=shape, dtype=np.float32),
            "label": tfds.features.ClassLabel(num_classes=classes),
            "name": tfds.features.Text(),
        }),
        supervised_keys=("clip", "label"),
    )

  def _split_generators(self, dl_manager):
    plan = prep.plan_dataset(self.builder_config.dataset, os.fspath(dl_manager.manual_dir),
                             skip_list=self._skip_list)
    return {split: self._generate_examples(plan.items[split], plan.view_normalize)
            for split in prep.SPLITS}

  def _generate_examples(self, items, view_normalize):
    num_frames = self.builder_config.num_frames
    workers = self._workers or os.cpu_count() or 1
    if workers == 1:
      results = (_process(item, num_frames, view_normalize) for item in items)
      yield from _examples(results)
      return
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
      results = pool.map(_process, items, [num_frames] * len(items),
                         [view_normalize] * len(items), chunksize=16)
      yield from _examples(results)


def _examples(results):
  for samples in results:
    for name, clip, label in samples:
      yield name, {"clip": clip, "label": int(label), "name": name}


def build(config: str, data_dir: str, manual_dir: str, *, workers: int | None = None,
          skip_list: str | None = None) -> SkeletonActions:
  """Builds `skeleton_actions/{config}` as array_record files under `data_dir`.

  Args:
    config: e.g. 'ntu60_xsub_f50' (see the module docstring).
    data_dir: the TFDS data folder.
    manual_dir: the raw release folder.
    workers: processes for the raw reading (default: all CPUs).
    skip_list: NTU missing-skeletons list path or 'none' (default: search manual_dir).

  Returns:
    The prepared builder (`builder.as_data_source()` reads it).
  """
  builder = SkeletonActions(config=config, data_dir=data_dir, workers=workers,
                            skip_list=skip_list, file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder
