"""Training logs a user can read: TensorBoard scalars, JSON lines, config.json, progress lines.

design.md "Outputs a user sees": a workdir holds `config.json`, TensorBoard-readable scalars and
a progress report (steps/s, ETA) while a run is long. Neither TensorFlow, tensorboardX nor clu
is a dependency, so the TensorBoard event file is written here by hand:

* Record framing (TFRecord): `uint64 length | uint32 masked_crc32c(length) | data |
  uint32 masked_crc32c(data)`, all little-endian. crc32c is CRC-32 with the Castagnoli
  polynomial; the mask is `((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)`.
* Each record is a protobuf `tensorflow.Event`: `wall_time = 1` (double), `step = 2` (int64),
  `file_version = 3` (string, "brain.Event:2" in the first record of a file), `summary = 5`.
  `Summary { repeated Value value = 1 }`, `Value { string tag = 1; float simple_value = 2 }`.

`read_scalars` parses such files back (checking every CRC) for the tests and for the report.
Besides the event file, `MetricWriter` appends every logged step to `metrics.jsonl` (one JSON
object per line) so that plain Python or `jq` can read the curves without a protobuf parser.
Non-finite values are logged as they are; `check_finite` is the separate, explicit stop.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

FILE_VERSION = "brain.Event:2"
EVENT_FILE_PREFIX = "events.out.tfevents."
METRICS_FILENAME = "metrics.jsonl"
CONFIG_FILENAME = "config.json"

# ----------------------------------------------------------------------------------------------
# crc32c (Castagnoli), reflected form, polynomial 0x82f63b78.


def _make_crc32c_table() -> tuple[int, ...]:
  table = []
  for byte in range(256):
    crc = byte
    for _ in range(8):
      crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    table.append(crc)
  return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def crc32c(data: bytes, crc: int = 0) -> int:
  """CRC-32C (Castagnoli) of `data`, continuing from a previous `crc` (0 to start).

  Args:
    data: the bytes to checksum.
    crc: the crc32c of the bytes before `data`, to checksum a stream in pieces.

  Returns:
    The unsigned 32-bit checksum, e.g. `crc32c(b"123456789") == 0xE3069283`.
  """
  table = _CRC32C_TABLE
  crc ^= _U32
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  return crc ^ _U32


def masked_crc32c(data: bytes) -> int:
  """The TFRecord checksum: crc32c rotated right by 15 bits plus a constant, mod 2**32.

  The mask exists because a CRC of data that itself holds CRCs is weak (TFRecord format).

  Args:
    data: the bytes to checksum.

  Returns:
    `((crc >> 15) | (crc << 17)) + 0xa282ead8` modulo 2**32, with `crc = crc32c(data)`.
  """
  crc = crc32c(data)
  return ((((crc >> 15) | (crc << 17)) & _U32) + _MASK_DELTA) & _U32


def encode_record(data: bytes) -> bytes:
  """Frames one payload as a TFRecord: length, masked crc of the length, data, masked crc."""
  length = struct.pack("<Q", len(data))
  return (length + struct.pack("<I", masked_crc32c(length)) + data
          + struct.pack("<I", masked_crc32c(data)))


def iter_records(path: str | os.PathLike) -> Iterator[bytes]:
  """Yields the payloads of a TFRecord file, checking both checksums of every record.

  A record cut short at the end of the file (a run killed while writing) ends the iteration
  quietly, as TensorBoard does; a complete record with a wrong checksum is an error.

  Args:
    path: the TFRecord (event) file.

  Yields:
    The payload bytes of each record, in file order.

  Raises:
    ValueError: a checksum does not match; the message names the file and the byte offset.
  """
  with open(path, "rb") as f:
    buf = f.read()
  offset = 0
  while offset < len(buf):
    header = buf[offset:offset + 12]
    if len(header) < 12:
      return  # truncated tail
    (length_crc,) = struct.unpack("<I", header[8:])
    if masked_crc32c(header[:8]) != length_crc:
      raise ValueError(f"{path}: corrupt record length at byte {offset} (crc mismatch)")
    (length,) = struct.unpack("<Q", header[:8])
    end = offset + 12 + length + 4
    if end > len(buf):
      return  # truncated tail
    data = buf[offset + 12:end - 4]
    (data_crc,) = struct.unpack("<I", buf[end - 4:end])
    if masked_crc32c(data) != data_crc:
      raise ValueError(f"{path}: corrupt record data at byte {offset} (crc mismatch)")
    yield data
    offset = end


# ----------------------------------------------------------------------------------------------
# Minimal protobuf wire format: varint (type 0), fixed64 (1), length-delimited (2), fixed32 (5).


def _varint(value: int) -> bytes:
  value &= (1 << 64) - 1  # negative int64 -> two's complement, 10 bytes (protobuf rule)
  out = bytearray()
  while value > 0x7F:
    out.append((value & 0x7F) | 0x80)
    value >>= 7
  out.append(value)
  return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
  return _varint((field << 3) | wire_type)


def _len_field(field: int, payload: bytes) -> bytes:
  return _key(field, 2) + _varint(len(payload)) + payload


def _float32_bytes(value: float) -> bytes:
  # struct.pack("<f") raises on finite values beyond float32 range; numpy rounds them to inf.
  with np.errstate(over="ignore"):
    return np.asarray(value, dtype="<f4").tobytes()


def encode_scalar_event(wall_time: float, step: int, scalars: Mapping[str, float]) -> bytes:
  """Serialises an `Event{wall_time, step, summary{value: [{tag, simple_value}, ...]}}`.

  Args:
    wall_time: seconds since the epoch.
    step: the global step (int64).
    scalars: tag -> value; values are stored as float32 (`simple_value`).

  Returns:
    The protobuf bytes of the event (without the record framing).
  """
  summary = b""
  for tag, value in scalars.items():
    # simple_value sits in a oneof, so 0.0 must be written explicitly to be present.
    value_msg = _len_field(1, tag.encode("utf-8")) + _key(2, 5) + _float32_bytes(value)
    summary += _len_field(1, value_msg)
  return (_key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(int(step))
          + _len_field(5, summary))


def encode_file_version_event(wall_time: float) -> bytes:
  """Serialises the first event of every file: `Event{wall_time, file_version}`."""
  return _key(1, 1) + struct.pack("<d", wall_time) + _len_field(3, FILE_VERSION.encode())


def _iter_fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
  """Yields (field number, wire type, value): int for varints, bytes for the others."""
  pos = 0
  n = len(buf)

  def read_varint() -> int:
    nonlocal pos
    result = shift = 0
    while True:
      if pos >= n:
        raise ValueError("truncated varint")
      byte = buf[pos]
      pos += 1
      result |= (byte & 0x7F) << shift
      if not byte & 0x80:
        return result
      shift += 7

  while pos < n:
    key = read_varint()
    field, wire_type = key >> 3, key & 7
    if wire_type == 0:
      value = read_varint()
    elif wire_type in (1, 5):
      size = 8 if wire_type == 1 else 4
      value = buf[pos:pos + size]
      pos += size
    elif wire_type == 2:
      size = read_varint()
      value = buf[pos:pos + size]
      pos += size
    else:
      raise ValueError(f"unsupported protobuf wire type {wire_type} (field {field})")
    if pos > n:
      raise ValueError(f"truncated protobuf field {field}")
    yield field, wire_type, value


def decode_event(data: bytes) -> dict[str, Any]:
  """Parses the fields of an `Event` that this module writes; other fields are skipped.

  Args:
    data: the protobuf bytes of one event.

  Returns:
    `{"wall_time": float, "step": int, "file_version": str | None,
    "scalars": [(tag, value), ...]}` with the `simple_value`s as Python floats. Values of other
    kinds (images, tensors, histograms) are not returned.

  Raises:
    ValueError: the bytes are not a well-formed protobuf message.
  """
  event = {"wall_time": 0.0, "step": 0, "file_version": None, "scalars": []}
  for field, wire_type, value in _iter_fields(data):
    if field == 1 and wire_type == 1:
      event["wall_time"] = struct.unpack("<d", value)[0]
    elif field == 2 and wire_type == 0:
      event["step"] = value - (1 << 64) if value >= 1 << 63 else value  # int64 sign
    elif field == 3 and wire_type == 2:
      event["file_version"] = value.decode("utf-8")
    elif field == 5 and wire_type == 2:
      for f_sum, wt_sum, value_msg in _iter_fields(value):
        if f_sum != 1 or wt_sum != 2:
          continue
        tag, simple = None, None
        for f_val, wt_val, v in _iter_fields(value_msg):
          if f_val == 1 and wt_val == 2:
            tag = v.decode("utf-8")
          elif f_val == 2 and wt_val == 5:
            simple = struct.unpack("<f", v)[0]
        if tag is not None and simple is not None:
          event["scalars"].append((tag, simple))
  return event


def event_files(logdir: str | os.PathLike) -> list[pathlib.Path]:
  """The event files directly inside `logdir`, oldest first (by creation time in the name)."""
  def order(p: pathlib.Path) -> tuple[int, str]:
    stamp = p.name[len(EVENT_FILE_PREFIX):].split(".", 1)[0]
    return (int(stamp) if stamp.isdigit() else 0, p.name)
  return sorted((p for p in pathlib.Path(logdir).glob(EVENT_FILE_PREFIX + "*") if p.is_file()),
                key=order)


def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
  """Reads every scalar of every event file in `logdir`, checking the record checksums.

  Args:
    logdir: the directory holding `events.out.tfevents.*` files (not searched recursively).

  Returns:
    tag -> [(step, value), ...] in file order (files oldest first). Values are the stored
    float32 numbers as Python floats. A resumed run may log a step twice; both are returned.

  Raises:
    FileNotFoundError: `logdir` holds no event file.
    ValueError: a record is corrupt (names the file and offset).
  """
  files = event_files(logdir)
  if not files:
    raise FileNotFoundError(f"no {EVENT_FILE_PREFIX}* file in {logdir}")
  out: dict[str, list[tuple[int, float]]] = {}
  for path in files:
    for index, record in enumerate(iter_records(path)):
      try:
        event = decode_event(record)
      except ValueError as e:
        raise ValueError(f"{path}: record {index} is not a valid Event: {e}") from e
      for tag, value in event["scalars"]:
        out.setdefault(tag, []).append((event["step"], value))
  return out


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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
  return removed


def _logged_after(line: str, step: int) -> bool:
  try:
    row = json.loads(line)
  except json.JSONDecodeError:
    return False
  return isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step


# ----------------------------------------------------------------------------------------------
# Writers.


class EventFileWriter:
  """Appends scalar events to a new `events.out.tfevents.{int(time)}.{hostname}` file.

  If a file of that name exists already (two writers in the same second), a numeric suffix is
  added rather than overwriting it.
  """

  def __init__(self, logdir: str | os.PathLike, *, clock: Callable[[], float] = time.time):
    """Creates `logdir` if needed and writes the file-version record.

    Args:
      logdir: directory of the event file.
      clock: wall-clock source (seconds since the epoch), for the name and the records.
    """
    self._clock = clock
    logdir = pathlib.Path(logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    now = clock()
    base = f"{EVENT_FILE_PREFIX}{int(now)}.{socket.gethostname()}"
    suffix = 0
    while True:
      self.path = logdir / (base if suffix == 0 else f"{base}.{suffix}")
      try:
        self._file = open(self.path, "xb")
        break
      except FileExistsError:
        suffix += 1
    self._file.write(encode_record(encode_file_version_event(now)))
    self._file.flush()

  def add_scalars(self, step: int, scalars: Mapping[str, float],
                  wall_time: float | None = None) -> None:
    """Writes one event holding all `scalars` (tag -> float) at `step`."""
    wall_time = self._clock() if wall_time is None else wall_time
    self._file.write(encode_record(encode_scalar_event(wall_time, step, scalars)))

  def flush(self) -> None:
    self._file.flush()

  def close(self) -> None:
    if not self._file.closed:
      self._file.close()


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
      self._events = EventFileWriter(self.workdir, clock=clock)
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
    self._events.add_scalars(int(step), values, wall_time=now)
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
    path = self.workdir / CONFIG_FILENAME
    tmp = path.with_name(path.name + ".tmp")  # a kill never leaves half a config.json
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

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
# Progress lines and the non-finite stop.


def print_to_stderr(line: str) -> None:
  """Default progress sink: one line on stderr, flushed at once."""
  print(line, file=sys.stderr, flush=True)


def format_duration(seconds: float) -> str:
  """Formats a duration for humans: '12s', '9m02s', '1h02m' (rounded to whole seconds).

  Args:
    seconds: the duration; negative values count as 0.

  Returns:
    The string; '?' for NaN or infinity.
  """
  if not math.isfinite(seconds):
    return "?"
  total = max(0, round(seconds))
  hours, rest = divmod(total, 3600)
  minutes, secs = divmod(rest, 60)
  if hours:
    return f"{hours}h{minutes:02d}m"
  if minutes:
    return f"{minutes}m{secs:02d}s"
  return f"{secs}s"


def _format_rate(rate: float) -> str:
  return f"{rate:.0f}" if rate >= 100 else f"{rate:.3g}"


def _format_value(value: Any) -> str:
  try:
    return f"{float(value):.4g}"
  except (TypeError, ValueError):
    return str(value)


class ProgressReporter:
  """Prints `step 120/3000 (4.0%) | 5.31 steps/s | 340 samples/s | ETA 9m02s | loss 6.213`.

  Call `update(step)` after every train step (it only reads the clock unless a line is due).
  A line is printed when `every_steps` divides a step crossed since the last line, or
  `every_seconds` have passed since it, and always at `total_steps`. The first update only
  reports how long the first step took: that interval holds the jit compilation, so the rates
  are measured from the first update onwards, each over the interval since the previous line.
  """

  def __init__(self, total_steps: int, *, every_steps: int | None = None,
               every_seconds: float | None = 10.0, start_step: int = 0,
               batch_size: int | None = None, log: Callable[[str], None] = print_to_stderr,
               clock: Callable[[], float] = time.monotonic):
    """Sets up the reporter; the clock starts now.

    Args:
      total_steps: the step at which the run ends (an absolute step, also after a resume).
      every_steps: print when a multiple of this is reached (None: no step criterion).
      every_seconds: print when this many seconds have passed since the last line (None: no
        time criterion).
      start_step: the step the run (re)starts from.
      batch_size: global batch size; adds `samples/s` to the line when given.
      log: where the lines go.
      clock: monotonic seconds, injectable for tests.

    Raises:
      ValueError: `total_steps`, `every_steps`, `every_seconds` or `batch_size` is not positive.
    """
    if total_steps <= 0:
      raise ValueError(f"total_steps must be positive, got {total_steps}")
    for name, value in (("every_steps", every_steps), ("every_seconds", every_seconds),
                        ("batch_size", batch_size)):
      if value is not None and value <= 0:
        raise ValueError(f"{name} must be positive or None, got {value}")
    self.total_steps = total_steps
    self.every_steps = every_steps
    self.every_seconds = every_seconds
    self.batch_size = batch_size
    self._log = log
    self._clock = clock
    self._start_time = clock()
    self._last_step = start_step  # step and time of the last printed line
    self._last_time = self._start_time
    self._first = True

  def _due(self, step: int, now: float) -> bool:
    if step >= self.total_steps:
      return True
    if self.every_steps is not None and (
        step // self.every_steps > self._last_step // self.every_steps):
      return True
    return self.every_seconds is not None and now - self._last_time >= self.every_seconds

  def update(self, step: int, scalars: Mapping[str, Any] | None = None) -> str | None:
    """Records that `step` finished and prints a line when one is due.

    Args:
      step: the global step just completed.
      scalars: metrics shown at the end of the line (e.g. {"loss": 6.213}); converted with
        `float()` only when a line is printed.

    Returns:
      The printed line, or None.
    """
    now = self._clock()
    head = f"step {step}/{self.total_steps} ({100.0 * step / self.total_steps:.1f}%)"
    if self._first:
      self._first = False
      parts = [head, f"first step {format_duration(now - self._start_time)} (incl. compile)"]
    elif self._due(step, now):
      parts = [head]
      elapsed = now - self._last_time
      if elapsed > 0 and step > self._last_step:
        rate = (step - self._last_step) / elapsed
        parts.append(f"{_format_rate(rate)} steps/s")
        if self.batch_size is not None:
          parts.append(f"{_format_rate(rate * self.batch_size)} samples/s")
        parts.append(f"ETA {format_duration(max(0, self.total_steps - step) / rate)}")
    else:
      return None
    parts += [f"{name} {_format_value(v)}" for name, v in (scalars or {}).items()]
    line = " | ".join(parts)
    self._last_step, self._last_time = step, now
    self._log(line)
    return line


def check_finite(step: int, scalars: Mapping[str, Any]) -> None:
  """Stops training on a non-finite metric (design.md: a clear stop on a non-finite loss).

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
