"""The side-by-side benchmark's bookkeeping (experiments/benchmark_vs_official.py).

Only the driver's pure parts run here (no official checkout, no worker processes): the
per-round rate and ratio, the summary, the markdown table, the /proc load probe and the
flag-to-shape defaults.
"""

import os
import pathlib

import pytest

from tests.conftest import load_script

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "benchmark_vs_official.py"


@pytest.fixture(scope="module")
def bench():
  return load_script(SCRIPT, "benchmark_vs_official")


def _side(rate, others=0.1):
  return {"rate": rate, "times_s": [1.0], "loadavg_1min": [0.5, 0.7], "others_cores": others}


def test_round_rate_uses_the_median_step(bench):
  assert bench.round_rate(128, [2.0, 1.0, 100.0]) == 64.0


def test_summary_and_table(bench):
  rounds = [{"round": i, "order": ["ours", "official"], "ours": _side(o), "official": _side(f),
             "ratio": o / f} for i, (o, f) in enumerate([(20.0, 10.0), (30.0, 10.0), (12.0, 12.0)])]
  s = bench.summarize(rounds)
  assert s["median_ratio"] == 2.0 and s["min_ratio"] == 1.0 and s["max_ratio"] == 3.0
  assert s["median_ours"] == 20.0 and s["median_official"] == 10.0
  table = bench.markdown({"bench": "aimclr", "unit": "samples/s", "shapes": {"batch": 128},
                          "rounds": rounds, "summary": s})
  lines = table.splitlines()
  assert len(lines) == 4 + 3 + 1  # title, blank, header, rule, three rounds, the median
  assert "**2.00** (1.00-3.00)" in lines[-1]


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux /proc")
def test_load_probe_counts_this_process(bench):
  probe = bench.LoadProbe(os.getpid())
  probe.start()
  x = 0
  for i in range(2_000_000):  # some CPU time of our own
    x += i
  out = probe.stop()
  assert out["wall_s"] > 0 and len(out["loadavg_1min"]) == 2
  assert 0.0 <= out["others_cores"] <= (os.cpu_count() or 1) + 0.5
  assert all(p["pid"] != os.getpid() for p in out["top_others"])


def test_defaults_follow_the_official_configs(bench):
  args = bench.argparse.Namespace(threads=2, warmup=1, jax_platform="cpu", batch=0, frames=0,
                                  hidden=0, queue=32768, mix_segments="", skeletonclr_repo="a",
                                  aimclr_repo="b", skelemixclr_repo="c", skeattnclr_repo="d",
                                  gemm_size=64, empty_second_person=0.8, eval_batches=8,
                                  our_malloc="heap", official_malloc="system")
  assert bench.bench_options("aimclr", args)["frames"] == 50
  # Each side's allocator mode reaches its worker (ours as skel_jax.main runs it).
  assert bench.bench_options("gemm", args)["malloc"] == {"ours": "heap", "official": "system"}
  mix = bench.bench_options("skelemixclr", args)
  assert (mix["batch"], mix["frames"], mix["hidden"], mix["repo_path"]) == (128, 64, 16, "c")
  assert "segments" not in mix
  attn = bench.bench_options("skeattnclr", args)
  assert (attn["frames"], attn["hidden"]) == (64, 64)
  enc = bench.bench_options("encoder", args, width=64)
  assert (enc["batch"], enc["frames"], enc["hidden"], enc["empty_fraction"],
          enc["eval_batches"]) == (64, 50, 64, 0.8, 8)
  args.mix_segments = "1,2"
  assert bench.bench_options("skeattnclr", args)["segments"] == (1, 2)


def test_benchmark_clips_have_the_asked_share_of_empty_second_persons(bench):
  for fraction, empty in ((0.5, 5), (0.8, 8), (0.0, 0)):
    x = bench._random_clips(10, 4, empty_fraction=fraction)  # pylint: disable=protected-access
    assert x.shape == (10, 2, 4, 25, 3)
    second_empty = ~x[:, 1].reshape(10, -1).any(axis=1)
    assert second_empty.sum() == empty
    assert x[:, 0].reshape(10, -1).any(axis=1).all()


def _die_by_sigkill(conn):
  import signal  # pylint: disable=g-import-not-at-top
  os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_for_memory_is_reported_not_awaited(bench):
  # The driver used to wait forever on a worker the kernel had killed (out of memory).
  import multiprocessing as mp  # pylint: disable=g-import-not-at-top
  ctx = mp.get_context("fork")
  parent, child = ctx.Pipe()
  proc = ctx.Process(target=_die_by_sigkill, args=(child,))
  proc.start()
  child.close()
  with pytest.raises(RuntimeError, match=r"ours worker died, exit code -9 \(killed: SIGKILL"):
    bench._receive("skeattnclr", "ours", proc, parent)
  proc.join()


def test_release_free_memory_returns_the_heap_top(bench):
  # A freed 256 MiB block at the heap's top is given back (glibc only; a no-op elsewhere).
  import ctypes  # pylint: disable=g-import-not-at-top
  try:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc_trim
  except (OSError, AttributeError):
    pytest.skip("not glibc")
  libc.malloc.restype = ctypes.c_void_p
  libc.free.argtypes = [ctypes.c_void_p]
  size = 256 << 20
  block = libc.malloc(size)
  ctypes.memset(block, 1, size)  # touched: resident
  before = bench._rss_bytes()
  libc.free(block)
  bench._release_free_memory(settle_s=0.01)
  assert before - bench._rss_bytes() > size // 2
