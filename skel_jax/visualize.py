r"""Look at skeletons: a layout, a clip of any layout, and a method's augmented views.

    # a layout's joints and bones (check a layout file by eye)
    python -m skel_jax.visualize --layout=my_layout.json --out=layout.png
    # a clip: a strip of frames (PNG) or an animation (GIF)
    python -m skel_jax.visualize --clip=clips/a.npy --layout=coco17 --out=a.gif
    python -m skel_jax.visualize --dataset=mydata --data_dir=/data/skel_jax --index=3 \
        --out=clip3.png
    # the augmented views a method trains on: normal, extreme, mixed (its region in red)
    python -m skel_jax.visualize --dataset=mydata --data_dir=/data/skel_jax --index=3 \
        --views=normal,extreme,mixed --config=configs/skelemixclr.py:demo --out=views.png

A clip is drawn in the plane of its first two coordinates (x right, y up; image coordinates
of 2D layouts have y down and are flipped unless --noy_down), bones from the layout's parents,
joints coloured by body part, the centre joint ringed. A `.npy` / `.json` / `.csv` clip file is
read as `python -m skel_jax.prepare custom` reads it; `--dataset` reads a prepared dataset (or
any name `load_dataset` knows). Views come from the config's `aug.normal` and `aug.extreme`
chains and SkeleMix with the config's `skelemix` (or `skeattn`) ranges; every random draw
comes from `jax.random.key(--seed)`. Files are written under a temporary name, then renamed.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402
from matplotlib import animation  # noqa: E402

from skel_jax import cli  # noqa: E402
from skel_jax import files as files_lib  # noqa: E402
from skel_jax.data.preprocess import DataError  # noqa: E402
from skel_jax.data.skeletons import LayoutError, SkeletonLayout, get_layout  # noqa: E402

VIEWS = ("normal", "extreme", "mixed")
_MIXED_COLOUR = "red"


# ---------------------------------------------------------------------------------------------
# A layout as a picture (no clip needed).


def _side(name: str) -> int:
  """-1 for the subject's right (drawn on the viewer's left), +1 left, 0 middle."""
  return 1 if "left" in name else -1 if "right" in name else 0


def layout_positions(layout: SkeletonLayout) -> np.ndarray:
  """2D positions `[V, 2]` of a layout's tree for a diagram: the root on top, each child a row
  lower; leaves spread left to right, the subject's right side first (as seen facing it),
  each parent centred above its children."""
  children = {v: [] for v in range(layout.num_joints)}
  for v, p in enumerate(layout.parents):
    if v != p:
      children[p].append(v)
  for v in children:
    children[v].sort(key=lambda c: (_side(layout.joint_names[c]), c))
  pos = np.zeros((layout.num_joints, 2))
  next_x = [0.0]

  def place(v: int, depth: int) -> float:
    if children[v]:
      x = float(np.mean([place(c, depth + 1) for c in children[v]]))
    else:
      x, next_x[0] = next_x[0], next_x[0] + 1.0
    pos[v] = (x, -depth)
    return x

  for root in (v for v, p in enumerate(layout.parents) if v == p):
    place(root, 0)
  return pos


def _part_colours(layout: SkeletonLayout) -> list:
  cmap = plt.get_cmap("tab10")
  colours = ["grey"] * layout.num_joints
  for i, (_, joints) in enumerate(layout.parts):
    for j in joints:
      colours[j] = cmap(i % 10)
  return colours


def _draw_skeleton(ax, points: np.ndarray, layout: SkeletonLayout, *, labels: bool = False,
                   highlight: np.ndarray | None = None) -> None:
  """Bones and joints of one person-frame `[V, 2]` (all-zero persons are skipped)."""
  if not np.any(points):
    return
  colours = _part_colours(layout)
  for child, parent in layout.edges:
    ax.plot(*points[[child, parent]].T, color="0.35", lw=1.2, zorder=1)
  ax.scatter(points[:, 0], points[:, 1], s=14, zorder=2,
             c=[_MIXED_COLOUR if highlight is not None and highlight[j] else colours[j]
                for j in range(layout.num_joints)])
  ax.scatter(*points[layout.center], s=60, facecolors="none", edgecolors="k", zorder=3)
  if labels:
    for j, (x, y) in enumerate(points):
      ax.annotate(f"{j} {layout.joint_names[j]}", (x, y), fontsize=6, xytext=(3, 2),
                  textcoords="offset points")


def _legend(ax, layout: SkeletonLayout) -> None:
  cmap = plt.get_cmap("tab10")
  handles = [plt.Line2D([], [], marker="o", ls="", color=cmap(i % 10), label=name)
             for i, (name, _) in enumerate(layout.parts)]
  ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0),
            frameon=False)


def draw_layout(layout: SkeletonLayout | str) -> plt.Figure:
  """A diagram of a layout: every joint with its index and name, bones, parts, centre."""
  layout = get_layout(layout)
  pos = layout_positions(layout)
  width = max(4.0, 1.05 * (pos[:, 0].max() + 1)) + 1.2  # room for the labels and the legend
  fig, ax = plt.subplots(figsize=(width, 0.6 * (1 - pos[:, 1].min()) + 1.0))
  _draw_skeleton(ax, pos, layout, labels=True)
  _legend(ax, layout)
  ax.set_title(f"{layout.name}: {layout.num_joints} joints, channels "
               f"{', '.join(layout.channels)} (ringed: centre)", fontsize=8)
  ax.axis("off")
  ax.margins(0.08)
  fig.tight_layout()
  return fig


# ---------------------------------------------------------------------------------------------
# Clips.


def _plane(clip: np.ndarray, y_down: bool) -> np.ndarray:
  """`[M, T, V, C]` -> `[M, T, V, 2]` drawing coordinates (x right, y up)."""
  xy = np.asarray(clip, np.float64)[..., :2].copy()
  if y_down:
    xy[..., 1] *= -1
  return xy


def _limits(xy: Sequence[np.ndarray]):
  present = [a[np.any(a != 0, axis=-1)] for a in xy]
  pts = np.concatenate([p for p in present if p.size] or [np.zeros((1, 2))])
  lo, hi = pts.min(axis=0), pts.max(axis=0)
  pad = 0.05 * max(float((hi - lo).max()), 1e-6)
  return (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad)


def frame_indices(num_frames: int, count: int) -> np.ndarray:
  """`count` frames spread evenly over the clip (first and last included)."""
  return np.unique(np.round(np.linspace(0, num_frames - 1, min(count, num_frames))).astype(int))


def draw_strips(rows: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
                layout: SkeletonLayout | str, frames: int = 8, y_down: bool = False
                ) -> plt.Figure:
  """One row of frames per clip.

  Args:
    rows: (title, clip `[M, T, V, C]`, optional `[T, V]` mask of mixed joints drawn in red).
    layout: the clips' layout.
    frames: frames per row.
    y_down: the clips' y axis points down (image coordinates).
  """
  layout = get_layout(layout)
  xy = [_plane(clip, y_down) for _, clip, _ in rows]
  xlim, ylim = _limits(xy)
  idx = frame_indices(xy[0].shape[1], frames)
  fig, axes = plt.subplots(len(rows), len(idx), figsize=(1.4 * len(idx), 1.8 * len(rows)),
                           squeeze=False)
  for r, ((title, _, mask), pts) in enumerate(zip(rows, xy)):
    for col, t in enumerate(idx):
      ax = axes[r, col]
      for person in pts[:, t]:
        _draw_skeleton(ax, person, layout, highlight=None if mask is None else mask[t] > 0)
      ax.set_xlim(*xlim)
      ax.set_ylim(*ylim)
      ax.set_aspect("equal")
      ax.set_xticks([])
      ax.set_yticks([])
      if col == 0:
        ax.set_ylabel(title, fontsize=8)
      if r == 0:
        ax.set_title(f"t={t}", fontsize=7)
  fig.tight_layout()
  return fig


def animate(rows: Sequence[tuple[str, np.ndarray, np.ndarray | None]],
            layout: SkeletonLayout | str, y_down: bool = False, fps: int = 10):
  """A matplotlib animation of the clips side by side, one frame per time step."""
  layout = get_layout(layout)
  xy = [_plane(clip, y_down) for _, clip, _ in rows]
  xlim, ylim = _limits(xy)
  fig, axes = plt.subplots(1, len(rows), figsize=(2.4 * len(rows), 2.8), squeeze=False)
  axes = axes[0]

  def draw(t):
    for ax, (title, _, mask), pts in zip(axes, rows, xy):
      ax.clear()
      for person in pts[:, t]:
        _draw_skeleton(ax, person, layout, highlight=None if mask is None else mask[t] > 0)
      ax.set_xlim(*xlim)
      ax.set_ylim(*ylim)
      ax.set_aspect("equal")
      ax.axis("off")
      ax.set_title(f"{title} t={t}", fontsize=8)

  return animation.FuncAnimation(fig, draw, frames=xy[0].shape[1], interval=1000 // fps)


# ---------------------------------------------------------------------------------------------
# Augmented views.


def augmented_views(key, batch: np.ndarray, layout: str, config, views: Sequence[str]
                    ) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
  """The views of `batch[0]` that a method trains on, after the original.

  Args:
    key: JAX key; a view uses `fold_in(key, VIEWS.index(view))`, so it is the same whichever
      other views are drawn.
    batch: `[N, M, T, V, C]` clips; row 0 is shown, rows 1.. are SkeleMix partners (N >= 3
      for 'mixed').
    layout: the clips' layout.
    config: a method config (its `aug` chains and SkeleMix ranges).
    views: among VIEWS.

  Returns:
    (title, clip, mixed-region mask or None) rows.
  """
  import jax  # pylint: disable=g-import-not-at-top

  from skel_jax.augment import mixing, registry  # pylint: disable=g-import-not-at-top

  rows = [("original", batch[0], None)]
  for view in views:
    if view not in VIEWS:
      raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    k = jax.random.fold_in(key, VIEWS.index(view))
    if view in ("normal", "extreme"):
      out = registry.build(config.aug[view], layout)(k, batch)
      rows.append((view, np.asarray(out[0]), None))
    elif view == "mixed":
      # The method's own ranges (SkeleMixCLR: skelemix.*, SkeAttnCLR: skeattn.mix_*), else
      # SkeleMixCLR+'s; the segment range is fitted to the clip length either way.
      if "skelemix" in config:
        parts, segments = config.skelemix.parts_range, config.skelemix.segments_range
      elif "skeattn" in config:
        parts, segments = config.skeattn.mix_parts, config.skeattn.mix_segments
      else:
        parts, segments = (2, 3), (7, 11)
      kw = dict(parts_range=tuple(parts),
                segments_range=mixing.fit_segments(tuple(segments), batch.shape[2], 4, "floor"))
      if batch.shape[0] < 3:
        raise ValueError("the mixed view needs at least 3 clips (partners); give a dataset "
                         "or several --clip files")
      result = mixing.skelemix(k, batch, layout, **kw)
      rows.append((f"mixed (from clip {int(result.partner[0])})", np.asarray(result.mixed[0]),
                   np.asarray(result.region)))
  return rows


# ---------------------------------------------------------------------------------------------
# Files and the command line.


def save_figure(fig_or_animation, path: str, fps: int = 10) -> str:
  """Writes a PNG (figure) or GIF (animation) atomically; returns the path."""
  path = os.fspath(path)
  ext = os.path.splitext(path)[1].lower()
  if isinstance(fig_or_animation, animation.Animation):
    if ext != ".gif":
      raise ValueError(f"{path}: an animation is written as .gif")
    # PillowWriter only takes a file name (it checks the name's folder), hence by_name.
    files_lib.atomic_write(
        path, lambda tmp: fig_or_animation.save(tmp, writer=animation.PillowWriter(fps=fps)),
        by_name=True)
    plt.close(fig_or_animation._fig)  # pylint: disable=protected-access
  else:
    # savefig takes the format from the name's extension; the temporary name keeps it too.
    files_lib.atomic_write(path, lambda tmp: fig_or_animation.savefig(tmp, dpi=120),
                           by_name=True)
    plt.close(fig_or_animation)
  return path


def _load_clips(args, layout_arg: str | None):
  """(clips `[N, M, T, V, C]`, layout) from --clip files or --dataset."""
  if args.clip:
    from skel_jax.data import custom  # pylint: disable=g-import-not-at-top
    if not layout_arg:
      raise ValueError("--clip needs --layout (the clip files do not name their skeleton)")
    layout = get_layout(layout_arg)
    clips = [custom.read_clip(p, layout) for p in args.clip]
    for path, clip in zip(args.clip, clips):
      if clip.shape[2] != layout.num_joints or clip.shape[3] != len(layout.channels):
        raise DataError(f"{path}: {clip.shape[2]} joints, but layout {layout.name!r} has "
                        f"{layout.num_joints}" if clip.shape[2] != layout.num_joints else
                        f"{path}: {clip.shape[3]} channels, but layout {layout.name!r} names "
                        f"{list(layout.channels)}")
    m = max(c.shape[0] for c in clips)
    t = max(c.shape[1] for c in clips)
    x = np.zeros((len(clips), m, t) + clips[0].shape[2:], np.float32)
    for i, c in enumerate(clips):
      x[i, :c.shape[0], :c.shape[1]] = c
    return x, layout_arg
  from skel_jax.data import registry  # pylint: disable=g-import-not-at-top
  ds = registry.load_dataset(args.dataset, args.split, data_dir=args.data_dir,
                             num_frames=args.num_frames)
  n = len(ds)
  if not 0 <= args.index < n:
    raise ValueError(f"--index {args.index} out of range: {args.dataset} {args.split} has {n} clips")
  picks = [(args.index + k) % n for k in range(min(3, n))]
  return ds.x[picks], layout_arg or ds.layout


_PROG = "python -m skel_jax.visualize"
_FLAGS = flags.FlagValues()
flags.DEFINE_string("layout", None, "layout name or file (required for --clip; alone: draw it)",
                    flag_values=_FLAGS)
flags.DEFINE_multi_string("clip", None, "clip file: .npy, .json or .csv (repeat the flag, or "
                          "list more files after it, for several)", flag_values=_FLAGS)
flags.DEFINE_string("dataset", None, "a dataset name (as --config.data.dataset)",
                    flag_values=_FLAGS)
flags.DEFINE_string("data_dir", None, "its data folder", flag_values=_FLAGS)
flags.DEFINE_enum("split", "train", ("train", "test"), "split of --dataset", flag_values=_FLAGS)
flags.DEFINE_integer("index", 0, "clip index in the split", flag_values=_FLAGS)
flags.DEFINE_integer("num_frames", 64, "frames when reading --dataset", flag_values=_FLAGS)
flags.DEFINE_string("views", "", f"comma-separated views among {VIEWS}", flag_values=_FLAGS)
flags.DEFINE_string("config", "configs/skelemixclr.py:demo",
                    "method config whose augmentations make the views", flag_values=_FLAGS)
flags.DEFINE_integer("frames", 8, "frames per row of a PNG strip", flag_values=_FLAGS)
flags.DEFINE_integer("seed", 0, "JAX key of the augmentation draws", flag_values=_FLAGS)
flags.DEFINE_bool("y_down", None, "y points down (default: for 2D layouts)", flag_values=_FLAGS)
flags.DEFINE_integer("fps", 10, "frames per second of a GIF", flag_values=_FLAGS)
flags.DEFINE_string("out", None, ".png (strip / diagram) or .gif (animation)", flag_values=_FLAGS)
flags.mark_flag_as_required("out", flag_values=_FLAGS)


def _parse_args(argv: Sequence[str] | None) -> types.SimpleNamespace:
  """The flags' values by name; files after `--clip=A` (`--clip A B`) are more clips."""
  rest = cli.parse(_FLAGS, argv, _PROG, "Draw a skeleton layout, clips and augmented views.")
  args = types.SimpleNamespace(**{name: _FLAGS[name].value for name in _FLAGS})
  if rest and not args.clip:
    raise SystemExit(cli.usage_error(f"unexpected arguments {rest}", _PROG))
  args.clip = (args.clip or []) + rest
  return args


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point; returns the exit status."""
  args = _parse_args(argv)
  try:
    if not args.clip and not args.dataset:
      if not args.layout:
        raise ValueError("give --layout (to draw it), --clip FILES or --dataset NAME")
      save_figure(draw_layout(args.layout), args.out)
      print(f"wrote {args.out}")
      return 0
    clips, layout = _load_clips(args, args.layout)
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    if views:
      import jax  # pylint: disable=g-import-not-at-top

      from skel_jax import config_lib  # pylint: disable=g-import-not-at-top
      path, arg = args.config, None
      if ".py:" in path:
        path, arg = path.split(".py:", 1)
        path += ".py"
      config = config_lib.load_config(path, arg)
      rows = augmented_views(jax.random.key(args.seed), clips, layout, config, views)
    else:
      rows = [(f"clip {i}", c, None) for i, c in enumerate(clips if args.clip else clips[:1])]
    y_down = args.y_down if args.y_down is not None else get_layout(layout).num_coords == 2
    if args.out.lower().endswith(".gif"):
      save_figure(animate(rows, layout, y_down=y_down, fps=args.fps), args.out, fps=args.fps)
    else:
      save_figure(draw_strips(rows, layout, frames=args.frames, y_down=y_down), args.out)
  except (DataError, LayoutError, ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  cli.run_tool(main)
