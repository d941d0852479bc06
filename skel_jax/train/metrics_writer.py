"""Training logs a user can read: TensorBoard scalars, JSON lines and config.json.

A workdir holds `config.json`, TensorBoard event files (written with tensorboardX, which needs
no TensorFlow) and `metrics.jsonl`, one JSON object per logged step, so that plain Python or
`jq` can read the curves without a protobuf parser. Non-finite values are logged as they are;
`check_finite` is the separate, explicit stop. Progress bars are in `skel_jax.progress`.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tensorboardX import event_file_writer
from tensorboardX.proto import event_pb2, summary_pb2

from skel_jax import files

EVENT_FILE_PREFIX = "events.out.tfevents."
METRICS_FILENAME = "metrics.jsonl"
CONFIG_FILENAME = "config.json"


def read_metrics_jsonl(workdir: str | os.PathLike) -> list[dict[str, Any]]:
  """Reads `{workdir}/metrics.jsonl` back: one dict per logged step, in file order.

  Args:
    workdir: the run directory.

  Returns:
    The logged rows (`step`, `time` and the scalars); NaN and infinities come back as floats.

  Raises:
    ValueError: a complete line is not valid JSON (names the file and line number). A last
      line without its newline (a run killed mid-write) is ignored.
  """
  path = pathlib.Path(workdir) / METRICS_FILENAME
  rows = []
  text = path.read_text()
  lines = text.split("\n")
  if lines and lines[-1]:
    lines = lines[:-1]  # incomplete last line
  for number, line in enumerate(lines, start=1):
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{number}: not a JSON line: {e}") from e
  return rows


def drop_rows_after(workdir: str | os.PathLike, step: int) -> int:
  """Removes the rows of `metrics.jsonl` logged after `step`, before a run resumes there.

  A run stopped after its last checkpoint has logged steps that the resumed run replays and
  logs again; dropping them keeps one row per step. An incomplete last line (a run killed
  mid-write) is dropped too, so that the next row starts on a line of its own. Lines that are
  not JSON are kept. The file is replaced atomically.

  Args:
    workdir: the run directory (nothing happens without a `metrics.jsonl`).
    step: the step the run resumes from (0 for a fresh start).

  Returns:
    The number of lines removed.
  """
  path = pathlib.Path(workdir) / METRICS_FILENAME
  if not path.is_file():
    return 0
  lines = path.read_text().split("\n")
  complete, tail = lines[:-1], lines[-1]  # tail: "" after the final newline, else partial
  kept = [line for line in complete if line.strip() and not _logged_after(line, step)]
  removed = len([line for line in complete if line.strip()]) - len(kept) + bool(tail)
  if removed:
    files.atomic_write(path, "".join(line + "\n" for line in kept))
  return removed


def _logged_after(line: str, step: int) -> bool:
  try:
    row = json.loads(line)
  except json.JSONDecodeError:
    return False
  return isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step


# ----------------------------------------------------------------------------------------------
# Writers.


def _open_event_file(logdir: pathlib.Path) -> event_file_writer.EventsWriter:
  """A new event file in `logdir`; a numbered suffix when one of that second exists already.

  tensorboardX names the file `events.out.tfevents.{seconds}.{hostname}{suffix}` and opens it
  for writing, so two writers started in the same second (a quick resume) would share a name.
  The synchronous `EventsWriter` is used (not `SummaryWriter`): every logged step is on disk at
  once, and tags such as `knn/top1@1` are kept as they are (SummaryWriter rewrites the '@').
  """
  base = f"{EVENT_FILE_PREFIX}{str(time.time())[:10]}.{socket.gethostname()}"
  suffix = 0
  while (logdir / (base + (f".{suffix}" if suffix else ""))).exists():
    suffix += 1
  return event_file_writer.EventsWriter(str(logdir / "events"),
                                        f".{suffix}" if suffix else "")


def _scalar_event(step: int, scalars: Mapping[str, float], wall_time: float) -> event_pb2.Event:
  """One `Event` holding every scalar of a step as a float32 `simple_value`."""
  values = []
  for tag, value in scalars.items():
    with np.errstate(over="ignore"):  # finite values beyond float32 become inf, as in TF
      value = float(np.float32(value))
    values.append(summary_pb2.Summary.Value(tag=tag, simple_value=value))
  return event_pb2.Event(wall_time=wall_time, step=step,
                         summary=summary_pb2.Summary(value=values))


def _to_float_dict(step: int, scalars: Mapping[str, Any]) -> dict[str, float]:
  out = {}
  for name, value in scalars.items():
    if not isinstance(name, str) or not name:
      raise ValueError(f"step {step}: metric names must be non-empty strings, got {name!r}")
    if name in ("step", "time"):
      raise ValueError(f"step {step}: metric name {name!r} is reserved in {METRICS_FILENAME}")
    try:
      out[name] = float(value)  # one host transfer per metric for device arrays
    except (TypeError, ValueError) as e:
      raise ValueError(f"step {step}: metric {name!r} is not a scalar: {value!r}") from e
  return out


def _json_default(obj: Any) -> Any:
  # numpy / jax scalars and arrays, then anything else as its string (config.json is for people).
  if hasattr(obj, "tolist"):
    return obj.tolist()
  return str(obj)


class MetricWriter:
  """Scalars to TensorBoard and to `metrics.jsonl`, and the run configuration to `config.json`.

  With `enabled=False` (every process but process 0 in a multi-host run) every method is a
  no-op and nothing is created. Each `write_scalars` is flushed to disk, so a killed run keeps
  everything it logged (logging happens every `log_every_steps`, so this costs nothing).

  Usage:
    with MetricWriter(workdir, enabled=jax.process_index() == 0) as writer:
      writer.write_config(config)
      writer.write_scalars(step, {"train/loss": loss})
  """

  def __init__(self, workdir: str | os.PathLike, *, enabled: bool = True,
               clock: Callable[[], float] = time.time):
    """Opens (creates) the event file and `metrics.jsonl` in `workdir` when enabled.

    Args:
      workdir: the run directory; created if missing.
      enabled: False on non-zero processes: write nothing.
      clock: wall-clock source (seconds since the epoch), injectable for tests.
    """
    self.workdir = pathlib.Path(workdir)
    self.enabled = enabled
    self._clock = clock
    self._closed = False
    self._events = None
    self._jsonl = None
    if enabled:
      self.workdir.mkdir(parents=True, exist_ok=True)
      self._events = _open_event_file(self.workdir)
      self._jsonl = open(self.workdir / METRICS_FILENAME, "a", encoding="utf-8")

  def _check_open(self) -> None:
    if self._closed:
      raise ValueError(f"MetricWriter for {self.workdir} is closed")

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Logs `scalars` at `step` to the event file and as one line of `metrics.jsonl`.

    Args:
      step: the global step.
      scalars: name -> value; every value goes through `float()` (Python, numpy or jax
        scalars). NaN and infinities are written as they are (JSON: `NaN`, `Infinity`).

    Raises:
      ValueError: the writer is closed, a name is empty, not a string or is "step"/"time",
        or a value is not a scalar.
    """
    self._check_open()
    if not self.enabled:
      return
    values = _to_float_dict(step, scalars)
    now = self._clock()
    self._events.write_event(_scalar_event(int(step), values, now))
    row = {"step": int(step), "time": now, **values}
    self._jsonl.write(json.dumps(row) + "\n")
    self.flush()

  def write_config(self, config: Any) -> None:
    """Writes `{workdir}/config.json` (indent 2, sorted keys), replacing it atomically.

    Args:
      config: an `ml_collections.ConfigDict` (anything with `.to_dict()`) or a mapping.
        numpy values become lists/numbers; other non-JSON values are written as `str()`.

    Raises:
      TypeError: `config` is neither a mapping nor has `.to_dict()`.
      ValueError: the writer is closed.
    """
    self._check_open()
    if hasattr(config, "to_dict"):
      config = config.to_dict()
    if not isinstance(config, Mapping):
      raise TypeError(f"config must be a ConfigDict or a mapping, got {type(config).__name__}")
    if not self.enabled:
      return
    text = json.dumps(dict(config), indent=2, sort_keys=True, default=_json_default) + "\n"
    files.atomic_write(self.workdir / CONFIG_FILENAME, text)  # never half a config.json

  def flush(self) -> None:
    """Pushes buffered lines and events to the operating system."""
    if self.enabled and not self._closed:
      self._events.flush()
      self._jsonl.flush()

  def close(self) -> None:
    """Flushes and closes the files; later writes raise. Closing twice is harmless."""
    if self._closed:
      return
    self.flush()
    if self.enabled:
      self._events.close()
      self._jsonl.close()
    self._closed = True

  def __enter__(self) -> MetricWriter:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


# ----------------------------------------------------------------------------------------------
# The non-finite stop.


def check_finite(step: int, scalars: Mapping[str, Any]) -> None:
  """Stops training on a non-finite metric (a clear stop instead of a run that goes on with NaN weights).

  Args:
    step: the step the metrics belong to.
    scalars: name -> value (Python, numpy or jax scalars or arrays).

  Raises:
    FloatingPointError: naming the step and every non-finite metric with its value, e.g.
      "non-finite metrics at step 120: train/loss=nan, grad_norm=inf".
  """
  bad = []
  for name, value in scalars.items():
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
      bad.append(f"{name}={float(arr)}" if arr.ndim == 0 else f"{name}=<non-finite entries>")
  if bad:
    raise FloatingPointError(f"non-finite metrics at step {step}: {', '.join(bad)}")
