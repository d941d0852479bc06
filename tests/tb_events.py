"""Reads TensorBoard event files back for the tests (tensorboard's own reader needs TensorFlow
or the tensorboard package; tensorboardX, which writes them, has no reader).

An event file is a TFRecord file: records `uint64 length | uint32 masked crc32c(length) | data |
uint32 masked crc32c(data)` (little-endian), each `data` a serialised `tensorflow.Event`.
"""

import pathlib
import struct

from tensorboardX.proto import event_pb2
from tensorboardX.record_writer import masked_crc32c


def iter_events(path):
  """Yields the `Event`s of one file, checking both checksums of every record."""
  buf = pathlib.Path(path).read_bytes()
  offset = 0
  while offset + 12 <= len(buf):
    header = buf[offset:offset + 8]
    (length,) = struct.unpack("<Q", header)
    assert struct.unpack("<I", buf[offset + 8:offset + 12])[0] == masked_crc32c(header), offset
    data = buf[offset + 12:offset + 12 + length]
    (data_crc,) = struct.unpack("<I", buf[offset + 12 + length:offset + 16 + length])
    assert data_crc == masked_crc32c(data), offset
    yield event_pb2.Event.FromString(data)
    offset += 16 + length
  assert offset == len(buf), f"{path}: {len(buf) - offset} trailing bytes"


def event_files(logdir):
  """The event files in `logdir`, in the order they were created."""
  return sorted(pathlib.Path(logdir).glob("events.out.tfevents.*"),
                key=lambda p: (p.stat().st_mtime_ns, p.name))


def read_scalars(logdir):
  """tag -> [(step, value), ...] over every event file in `logdir`, oldest file first."""
  out = {}
  for path in event_files(logdir):
    for event in iter_events(path):
      for value in event.summary.value:
        out.setdefault(value.tag, []).append((event.step, value.simple_value))
  return out
