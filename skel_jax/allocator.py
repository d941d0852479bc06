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

2 GiB is too little where one call's temporaries are larger: XLA:CPU allocates a call's
temporaries as one block, SkeletonCLR's train step at batch 128 (T 50, h 16) frees about 4 GB
at its end, glibc trims it, and the next step faulted it in again (1.04 million page faults,
3.2 s of system time in a 9.3 s step). mallopt takes an int, so the larger threshold
(`heap_trim_threshold`: the machine's memory, at least 2 GiB) is only
settable through glibc's tunables, which glibc reads at process start:
`reexec_with_heap_tunables()` restarts the process once with `GLIBC_TUNABLES` set (the CLI
does, before anything else); `heap_tunables_env()` gives a child process the same environment.
With them the step above took 745 faults and 0.05 s of system time, 1.28x faster
(docs/benchmarks.md, Allocator).
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


TUNABLES_ENV = "GLIBC_TUNABLES"
MIN_TRIM_THRESHOLD = 2**31 - 1  # mallopt's largest value, the floor of the tunable one


def heap_trim_threshold(total_memory: int | None = None) -> int:
  """Free heap top (bytes) above which glibc gives memory back in the heap mode: the machine's
  memory (24 GiB on a 24 GiB machine), at least 2 GiB, so a heap top the step has touched is
  never returned.

  It must exceed the largest block a train step frees, or every step faults that block in
  again. A fraction of memory is not enough: SkeleMixCLR+'s step at batch 64 (T 64, h 16)
  frees 8.6 GB and under a third of memory (8 GiB) spent 25-30 s of system time in each 31-34 s
  step on 2.1 million page faults; SkeAttnCLR's at batch 64 (T 64, h 64) frees about 19 GB of
  its 19.8 GB peak, and under three quarters (18 GiB) took 4.75 million faults and 90-112 s of
  system time (both threads) in each 88-105 s call; under the machine's memory none, and 36 s
  calls (docs/benchmarks.md, SkeAttnCLR section). Keeping a freed block costs no memory beyond
  the step's own peak, which needed it anyway; a heap top larger than the machine's memory can
  only be address space never touched, which is all that is given back. The price is near the
  machine's memory: with no trimming the heap's holes can add a few GB, and SkeleMixCLR+ at
  batch 128 (peak 21.6-21.8 GB on 23.5 GiB) was killed for memory in one of three runs
  (docs/usage.md, Memory allocator: `SKEL_JAX_MALLOC=system` or a smaller step there).
  """
  if total_memory is None:
    try:
      total_memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
      total_memory = 0
  return max(MIN_TRIM_THRESHOLD, total_memory)


def heap_tunables(total_memory: int | None = None, trim_threshold: int | None = None) -> str:
  """The heap mode as glibc tunables (`GLIBC_TUNABLES` syntax); `trim_threshold` (bytes)
  replaces `heap_trim_threshold`'s rule where given (benchmarks compare thresholds)."""
  if trim_threshold is None:
    trim_threshold = heap_trim_threshold(total_memory)
  return ("glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:"
          f"glibc.malloc.trim_threshold={int(trim_threshold)}")


def tunables_in_force(environ=None) -> bool:
  """Whether this environment's `GLIBC_TUNABLES` already holds the heap mode's settings."""
  current = (os.environ if environ is None else environ).get(TUNABLES_ENV, "")
  names = {item.split("=", 1)[0] for item in current.split(":") if item}
  return {"glibc.malloc.mmap_max", "glibc.malloc.arena_max",
          "glibc.malloc.trim_threshold"} <= names


def heap_tunables_env(environ=None, total_memory: int | None = None,
                      trim_threshold: int | None = None) -> dict:
  """A copy of `environ` whose `GLIBC_TUNABLES` adds the heap mode's (other tunables kept)."""
  env = dict(os.environ if environ is None else environ)
  if not tunables_in_force(env):
    current = env.get(TUNABLES_ENV, "")
    env[TUNABLES_ENV] = ":".join(
        filter(None, [current, heap_tunables(total_memory, trim_threshold)]))
  return env


def reexec_with_heap_tunables(argv: list[str], mode: str | None = None,
                              trim_threshold: int | None = None) -> None:
  """Restarts this Python process as `python *argv` with the heap mode's tunables, once.

  Does nothing in the 'system' mode (or an unknown one, which `configure()` rejects), off
  glibc, or when the tunables are already in force (the restarted process). Call it first
  thing, before work worth keeping: `os.execve` replaces the process.
  """
  try:
    mode = mode_from_env() if mode is None else mode
  except ValueError:
    return  # `configure()` reports it, where the caller reports errors
  if mode != "heap" or _libc() is None or tunables_in_force():
    return
  sys.stdout.flush()
  sys.stderr.flush()
  os.execve(sys.executable, [sys.executable, *argv],
            heap_tunables_env(trim_threshold=trim_threshold))


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
  if tunables_in_force():  # glibc read them at start; mallopt would lower the threshold
    return True
  for param, value in HEAP_SETTINGS:
    if libc.mallopt(ctypes.c_int(param), ctypes.c_int(value)) != 1:
      raise OSError(f"mallopt({param}, {value}) failed")
  return True
