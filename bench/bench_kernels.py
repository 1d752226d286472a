"""Benchmark of the token kernel (issue: foundation).

Prints, for float32 logits of shape (2048, 50257), measured in one run with
the repeats interleaved:

* ``token_logprobs`` against ``scipy.special.log_softmax`` followed by
  ``np.take_along_axis`` (target: at least 3.5x faster);
* ``token_stats(top_k=0)`` against ``token_logprobs`` (target: within 2x);
* ``token_logprobs`` against numpy's float32 ``exp`` over the same array on
  as many threads (two by default; ``--threads``), the exp bound (issue 25
  item 5, target: within 1.15x), with the kernel's numpy tiles beside it
  (the path without numba);

for two logit regimes: centred logits (``N(0, 3^2)``, like most modern LMs)
and very negative logits (``N(-80, 3^2)``, like GPT-2's raw output), which
take the kernel's shifted path. Then the peak resident memory added by
scoring a 2 GB memory-mapped ``.npy`` file, measured in a child process
(target: under 300 MB).

Run: ``python bench/bench_kernels.py`` (``--quick``: 256 rows and a 0.2 GB
file; ``--repeats N`` rounds; ``--no-memory`` skips the file; ``--passes``
adds each pass of the numpy tiles alone, on one thread). The first line
names the CPU and whether the compiled pass (numba) is there.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.special

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore import token_logprobs, token_stats
from seqscore.numerics.kernels import fused_available, numpy_kernel


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(functions: dict, repeats: int) -> dict:
    """Seconds of each function in each round, run in turn ``repeats`` times."""
    for function in functions.values():
        function()  # warm-up
    times: dict = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(timed(function))
    return times


def exp_ratios(kernel: list, bound: list) -> str:
    """The ratio of the medians; of the fastest rounds (least disturbed on a
    shared machine); and the median and range of the rounds' ratios."""
    rounds = [a / b for a, b in zip(kernel, bound, strict=True)]
    return (
        f"{statistics.median(kernel) / statistics.median(bound):5.2f}x "
        f"(fastest {min(kernel) / min(bound):.2f}x; rounds: median "
        f"{statistics.median(rounds):.2f}x, {min(rounds):.2f}-{max(rounds):.2f}x; "
        "target <= 1.15x)"
    )


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 (Linux), else the
    platform's word for it."""
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.read().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = fields.get("flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    return f"{fields.get('model name', platform.machine())}, {simd}"


def exp_pass(logits: np.ndarray, threads: int):
    """numpy's ``exp`` over ``logits`` on ``threads`` threads (row spans),
    into one output array allocated (and faulted in) once: the exp bound."""
    out = np.empty_like(logits)
    bounds = [len(logits) * i // threads for i in range(threads + 1)]
    spans = list(itertools.pairwise(bounds))
    pool = ThreadPoolExecutor(max(1, threads - 1))

    def span(lo_hi):
        lo, hi = lo_hi
        np.exp(logits[lo:hi], out=out[lo:hi])

    def run():
        futures = [pool.submit(span, lo_hi) for lo_hi in spans[1:]]
        span(spans[0])
        for future in futures:
            future.result()

    return run


def numpy_tiles(logits, targets, threads):
    """``token_logprobs`` on numpy's tiles (as without numba)."""
    with numpy_kernel():
        return token_logprobs(logits, targets, workers=threads)


def speed(rows: int, vocab: int, repeats: int, threads: int) -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, vocab, size=rows)
    for label, offset in (("centred N(0, 3^2)", 0.0), ("negative N(-80, 3^2)", -80.0)):
        logits = rng.standard_normal((rows, vocab), dtype=np.float32) * 3 + offset

        def reference(z=logits):
            log_p = scipy.special.log_softmax(z, axis=-1)
            return np.take_along_axis(log_p, targets[:, None], axis=-1)[:, 0]

        times = interleaved(
            {
                f"np.exp, {threads} threads (exp bound)": exp_pass(logits, threads),
                "scipy log_softmax + take_along_axis": reference,
                "token_logprobs": lambda z=logits: token_logprobs(
                    z, targets, workers=threads
                ),
                "token_logprobs, numpy tiles": lambda z=logits: numpy_tiles(
                    z, targets, threads
                ),
                "token_stats (top_k=0)": lambda z=logits: token_stats(
                    z, targets, workers=threads
                ),
                "token_stats (top_k=5)": lambda z=logits: token_stats(
                    z, targets, top_k=5, workers=threads
                ),
            },
            repeats,
        )
        medians = {name: statistics.median(values) for name, values in times.items()}
        print(f"\nfloat32 logits ({rows}, {vocab}), {label}; median of {repeats}")
        for name, seconds in medians.items():
            print(f"  {name:38s} {seconds * 1e3:8.1f} ms")
        ref = medians["scipy log_softmax + take_along_axis"]
        fast = medians["token_logprobs"]
        print(
            f"  token_logprobs speed-up over scipy: {ref / fast:5.2f}x (target >= 3.5x)"
        )
        stats_ratio = medians["token_stats (top_k=0)"] / fast
        print(
            f"  token_stats / token_logprobs:       {stats_ratio:5.2f}x (target <= 2x)"
        )
        bound = times[f"np.exp, {threads} threads (exp bound)"]
        for name in ("token_logprobs", "token_logprobs, numpy tiles"):
            print(f"  {name + ' / np.exp:':36s}{exp_ratios(times[name], bound)}")


def tile_passes(rows: int, vocab: int, repeats: int) -> None:
    """Each pass of the numpy tiles alone, on one thread, against ``np.exp``
    over the same rows: what keeps the path without numba above the bound."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((rows, vocab), dtype=np.float32) * 3
    targets = rng.integers(0, vocab, size=rows)
    tile = 10  # rows of a 2 MiB tile
    spare, work = np.empty((2, tile, vocab), np.float32)
    whole = np.empty_like(logits)

    def over_tiles(step):
        def run():
            for start in range(0, rows - tile + 1, tile):
                step(logits[start : start + tile])

        return run

    def zero_and_sum(block):
        work[np.arange(tile), 0] = 0
        np.sum(work, axis=1)

    def tiles():
        with numpy_kernel():
            token_logprobs(logits, targets, workers=1)

    times = interleaved(
        {
            "np.exp, one thread": lambda: np.exp(logits, out=whole),
            "tiles: argmax": over_tiles(lambda b: np.argmax(b, axis=1)),
            "tiles: subtract the maximum": over_tiles(
                lambda b: np.subtract(b, b[:, :1], out=spare)
            ),
            "tiles: exp": over_tiles(lambda b: np.exp(spare, out=work)),
            "tiles: zero the maximal term, sum": over_tiles(zero_and_sum),
            "token_logprobs, numpy tiles": tiles,
            "token_logprobs, compiled": lambda: token_logprobs(
                logits, targets, workers=1
            ),
        },
        repeats,
    )
    bound = times["np.exp, one thread"]
    print(f"\nthe passes, one thread, float32 ({rows}, {vocab}); median of {repeats}")
    for name, values in times.items():
        rounds = [a / b for a, b in zip(values, bound, strict=True)]
        print(
            f"  {name:36s} {statistics.median(values) * 1e3:7.2f} ms "
            f"{statistics.median(rounds):5.2f}x of np.exp"
        )


CHILD = r"""
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from seqscore import token_logprobs
path, mode = sys.argv[1], sys.argv[2]
logits = np.load(path, mmap_mode="r")
targets = np.zeros(logits.shape[0], dtype=np.int64)
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
# VmHWM (this address space's peak) resets at exec; ru_maxrss would carry
# the parent's peak over from fork.
before = status_kib("VmRSS")
start = time.perf_counter()
if mode == "kernel":
    token_logprobs(logits, targets)
else:  # the same pass, but through a plain array view: pages stay resident
    token_logprobs(np.asarray(logits), targets)
elapsed = time.perf_counter() - start
print(before, status_kib("VmHWM"), elapsed)
"""


def memory(gigabytes: float, vocab: int) -> None:
    rows = int(gigabytes * 1e9 / (vocab * 4))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "logits.npy")
        array = np.lib.format.open_memmap(path, "w+", np.float32, (rows, vocab))
        rng = np.random.default_rng(0)
        for start in range(0, rows, 256):
            stop = min(rows, start + 256)
            array[start:stop] = rng.standard_normal((stop - start, vocab), np.float32)
        array.flush()
        del array
        size_mb = os.path.getsize(path) / 1e6
        print(f"\nmemory-mapped .npy of {size_mb:,.0f} MB ({rows} x {vocab} float32)")
        for mode in ("kernel", "plain view"):
            output = subprocess.run(
                [sys.executable, "-c", CHILD, path, mode, root],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            before, peak, elapsed = int(output[0]), int(output[1]), float(output[2])
            print(
                f"  {mode:11s} peak RSS {peak / 1024:7.0f} MB, raised by "
                f"{(peak - before) / 1024:7.0f} MB in {elapsed:5.2f} s"
            )
        print("  target: the kernel raises peak RSS by < 300 MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads of the kernel and of np.exp"
    )
    parser.add_argument("--repeats", type=int, help="interleaved rounds (7; quick 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memmap")
    parser.add_argument(
        "--passes", action="store_true", help="also time each pass of the tiles"
    )
    args = parser.parse_args()
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, {os.cpu_count()} cpus "
        f"({cpu_name()}); compiled pass (numba): "
        f"{'yes' if fused_available() else 'no'}"
    )
    rows, gigabytes = (256, 0.2) if args.quick else (2048, 2.0)
    repeats = args.repeats or (3 if args.quick else 7)
    speed(rows, 50257, repeats, args.threads)
    if args.passes:
        # whole tiles, and above the compiled pass's size threshold
        tile_passes(130 if args.quick else 500, 50257, repeats)
    if not args.no_memory:
        memory(gigabytes, 50257)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nbenchmark process peak RSS {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
