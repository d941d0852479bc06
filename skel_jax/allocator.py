"""Keeps freed memory inside the process (glibc), so XLA:CPU's temporaries stop page-faulting.

XLA:CPU allocates every call's temporaries with `malloc` and frees them when the call ends.
glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh `mmap` and gives
them back with `munmap`, and threads other than the main one allocate from arenas that are
trimmed the same way, so the next call faults every page in again and the kernel zeroes it:
SkeleMixCLR+'s train step of the `nwucla` preset took 312,000 page faults and 0.7 s of system
time per 2.2 s step. With `mmap` off, one arena and trimming only above 2 GiB of free heap top,
freed blocks are reused: no faults, and the step 5-8 % faster (0-15 % for SkeletonCLR's), at the
price of a peak resident size that can grow (the heap keeps its holes); docs/benchmarks.md,
Allocator.

`configure()` applies this with `mallopt` before JAX's first computation; `python -m
skel_jax.main` and the benchmarks call it. `SKEL_JAX_MALLOC=system` (or `configure("system")`)
keeps glibc's defaults; other C libraries (no `mallopt`) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV = "SKEL_JAX_MALLOC"
MODES = ("heap", "system")
# mallopt parameters (glibc malloc.h) and the values of the "heap" mode.
M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8
HEAP_SETTINGS = (
    (M_MMAP_MAX, 0),  # no block is served by its own mmap (freed with munmap)
    # Free heap top above 2 GiB (mallopt's largest int) still goes back to the kernel: with
    # no trimming at all (-1) SkeleMixCLR+'s step at the official shapes (batch 128) grew
    # past 24 GiB through the heap's holes and was killed (docs/benchmarks.md, Allocator).
    (M_TRIM_THRESHOLD, 2**31 - 1),
    (M_ARENA_MAX, 1),  # XLA's worker threads share the main heap instead of their own arenas
)


def mode_from_env(environ=None) -> str:
  """The mode `SKEL_JAX_MALLOC` asks for ('heap' when unset).

  Raises:
    ValueError: an unknown mode, naming the variable.
  """
  mode = (os.environ if environ is None else environ).get(ENV, "heap") or "heap"
  if mode not in MODES:
    raise ValueError(f"{ENV}={mode!r}: expected one of {MODES}")
  return mode


def _libc():
  if not sys.platform.startswith("linux"):
    return None
  try:
    libc = ctypes.CDLL("libc.so.6")
  except OSError:
    return None
  return libc if hasattr(libc, "mallopt") else None


def configure(mode: str | None = None, libc=None) -> bool:
  """Applies `mode` ('heap' | 'system'; default from `SKEL_JAX_MALLOC`) to this process.

  Call it before JAX's first computation: the arena limit only binds threads that have not
  allocated yet. Returns True when the heap settings are in force (False: 'system', or no
  glibc `mallopt`).

  Raises:
    ValueError: an unknown mode.
    OSError: glibc refused a setting (mallopt returned 0).
  """
  mode = mode_from_env() if mode is None else mode
  if mode not in MODES:
    raise ValueError(f"unknown allocator mode {mode!r}; known: {MODES}")
  if mode == "system":
    return False
  libc = _libc() if libc is None else libc
  if libc is None:
    return False
  for param, value in HEAP_SETTINGS:
    if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
      raise OSError(f"mallopt({param}, {value}) failed")
  return True
