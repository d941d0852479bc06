"""skel_jax.allocator: the mallopt settings, the environment switch and their effect."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from skel_jax import allocator


class FakeLibc:
  """Records mallopt calls; returns glibc's 1 (success) unless told otherwise."""

  def __init__(self, result: int = 1):
    self.calls, self.result = [], result

  def mallopt(self, param, value):
    self.calls.append((param.value, value.value))
    return self.result


def test_heap_mode_sets_no_mmap_no_trim_one_arena():
  libc = FakeLibc()
  assert allocator.configure("heap", libc=libc)
  # glibc malloc.h: M_MMAP_MAX = -4, M_TRIM_THRESHOLD = -1, M_ARENA_MAX = -8.
  assert libc.calls == [(-4, 0), (-1, 2**31 - 1), (-8, 1)]


def test_system_mode_calls_nothing():
  libc = FakeLibc()
  assert not allocator.configure("system", libc=libc)
  assert libc.calls == []


def test_mode_comes_from_the_environment():
  assert allocator.mode_from_env({}) == "heap"
  assert allocator.mode_from_env({"SKEL_JAX_MALLOC": ""}) == "heap"
  assert allocator.mode_from_env({"SKEL_JAX_MALLOC": "system"}) == "system"
  with pytest.raises(ValueError, match="SKEL_JAX_MALLOC='jemalloc'"):
    allocator.mode_from_env({"SKEL_JAX_MALLOC": "jemalloc"})
  with pytest.raises(ValueError, match="unknown allocator mode"):
    allocator.configure("jemalloc", libc=FakeLibc())


def test_a_refused_setting_is_an_error():
  with pytest.raises(OSError, match="mallopt"):
    allocator.configure("heap", libc=FakeLibc(result=0))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux's")
def test_freed_blocks_are_reused_instead_of_faulted_in_again():
  """A 64 MiB block (above glibc's largest mmap threshold) allocated, touched and freed ten
  times: with glibc's defaults every round maps fresh pages (16,384 faults a round), with
  the heap settings only the first round faults."""
  script = textwrap.dedent("""
      import ctypes, resource, sys
      from skel_jax import allocator
      on = allocator.configure(sys.argv[1])
      libc = ctypes.CDLL("libc.so.6")
      libc.malloc.restype = ctypes.c_void_p
      size = 64 << 20
      def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      def touch():
        p = libc.malloc(size)
        ctypes.memset(p, 1, size)
        libc.free(ctypes.c_void_p(p))
      touch()
      before = faults()
      for _ in range(10):
        touch()
      print(on, faults() - before)
      """)
  counts = {}
  for mode in ("system", "heap"):
    out = subprocess.run([sys.executable, "-c", script, mode], check=True, capture_output=True,
                         text=True).stdout.split()
    if mode == "heap" and out[0] != "True":
      pytest.skip("no glibc mallopt in this Python")
    counts[mode] = int(out[1])
  pages = 10 * (64 << 20) // 4096
  assert counts["system"] >= pages // 2  # about one fault per page (4 KiB) and round
  assert counts["heap"] < pages // 100


def test_trim_threshold_is_the_machines_memory_and_at_least_mallopts_limit():
  assert allocator.heap_trim_threshold(24 << 30) == 24 << 30
  assert allocator.heap_trim_threshold(4 << 30) == 4 << 30
  assert allocator.heap_trim_threshold(2 << 30) == 2 << 30
  assert allocator.heap_trim_threshold(1 << 30) == 2**31 - 1
  assert allocator.heap_trim_threshold(0) == 2**31 - 1
  assert allocator.heap_tunables(24 << 30) == (
      "glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:"
      f"glibc.malloc.trim_threshold={24 << 30}")


def test_an_explicit_trim_threshold_replaces_the_rule():
  assert allocator.heap_tunables(24 << 30, trim_threshold=8 << 30) == (
      "glibc.malloc.mmap_max=0:glibc.malloc.arena_max=1:"
      f"glibc.malloc.trim_threshold={8 << 30}")
  env = allocator.heap_tunables_env({"A": "1"}, total_memory=24 << 30, trim_threshold=5 << 30)
  assert env["GLIBC_TUNABLES"].endswith(f"glibc.malloc.trim_threshold={5 << 30}")


def test_tunables_env_keeps_other_tunables_and_is_idempotent():
  env = allocator.heap_tunables_env({"GLIBC_TUNABLES": "glibc.pthread.rseq=0", "A": "1"},
                                    total_memory=24 << 30)
  assert env["A"] == "1"
  assert env["GLIBC_TUNABLES"] == "glibc.pthread.rseq=0:" + allocator.heap_tunables(24 << 30)
  assert allocator.tunables_in_force(env)
  assert allocator.heap_tunables_env(env) == env
  assert not allocator.tunables_in_force({})
  assert not allocator.tunables_in_force({"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0"})


def test_configure_leaves_tunables_in_force_alone(monkeypatch):
  # mallopt's int threshold would lower the tunable one glibc read at start.
  monkeypatch.setenv("GLIBC_TUNABLES", allocator.heap_tunables(24 << 30))
  libc = FakeLibc()
  assert allocator.configure("heap", libc=libc)
  assert libc.calls == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's tunables are Linux's")
def test_reexec_restarts_once_with_the_tunables_and_glibc_keeps_a_large_freed_block(tmp_path):
  """A 2.25 GiB block (above mallopt's largest trim threshold) touched, freed and touched
  again: after the restart with the tunables the second touch faults almost nothing."""
  if os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") < 12 << 30:
    pytest.skip("needs 12 GiB of memory (a 2.25 GiB block, a trim threshold above it)")
  script = tmp_path / "touch.py"
  script.write_text(textwrap.dedent("""
      import ctypes, os, resource, sys
      from skel_jax import allocator
      print("start", flush=True)
      allocator.reexec_with_heap_tunables(sys.argv, mode="heap")
      libc = ctypes.CDLL("libc.so.6")
      libc.malloc.restype = ctypes.c_void_p
      size = (2 << 30) + (1 << 28)
      def touch():
        p = libc.malloc(ctypes.c_size_t(size))
        ctypes.memset(p, 1, size)
        libc.free(ctypes.c_void_p(p))
      touch()
      before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
      touch()
      print(os.environ["GLIBC_TUNABLES"])
      print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
      """))
  env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
  out = subprocess.run([sys.executable, str(script)], check=True, capture_output=True,
                       text=True, env=env).stdout.split()
  assert out[:2] == ["start", "start"]  # restarted once, not again
  assert allocator.tunables_in_force({"GLIBC_TUNABLES": out[2]})
  assert int(out[3]) < ((2 << 30) // 4096) // 100
