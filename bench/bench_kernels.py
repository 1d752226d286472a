"""Benchmark of the token kernel (issue: foundation).

Prints, for float32 logits of shape (2048, 50257), measured in one run with
the repeats interleaved:

* ``token_logprobs`` against ``scipy.special.log_softmax`` followed by
  ``np.take_along_axis`` (target: at least 3.5x faster);
* ``token_stats(top_k=0)`` against ``token_logprobs`` (target: within 2x);

for two logit regimes: centred logits (``N(0, 3^2)``, like most modern LMs)
and very negative logits (``N(-80, 3^2)``, like GPT-2's raw output), which
take the kernel's shifted path. Then the peak resident memory added by
scoring a 2 GB memory-mapped ``.npy`` file, measured in a child process
(target: under 300 MB).

Run: ``python bench/bench_kernels.py`` (add ``--quick`` for a smaller run).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.special

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore import token_logprobs, token_stats


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(functions: dict, repeats: int) -> dict:
    """Median seconds of each function, run in turn ``repeats`` times."""
    for function in functions.values():
        function()  # warm-up
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(timed(function))
    return {name: statistics.median(values) for name, values in times.items()}


def speed(rows: int, vocab: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    targets = rng.integers(0, vocab, size=rows)
    for label, offset in (("centred N(0, 3^2)", 0.0), ("negative N(-80, 3^2)", -80.0)):
        logits = rng.standard_normal((rows, vocab), dtype=np.float32) * 3 + offset

        def reference(z=logits):
            log_p = scipy.special.log_softmax(z, axis=-1)
            return np.take_along_axis(log_p, targets[:, None], axis=-1)[:, 0]

        medians = interleaved(
            {
                "scipy log_softmax + take_along_axis": reference,
                "token_logprobs": lambda z=logits: token_logprobs(z, targets),
                "token_stats (top_k=0)": lambda z=logits: token_stats(z, targets),
                "token_stats (top_k=5)": lambda z=logits: token_stats(
                    z, targets, top_k=5
                ),
            },
            repeats,
        )
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
    args = parser.parse_args()
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, {os.cpu_count()} cpus")
    if args.quick:
        speed(256, 50257, 3)
        memory(0.2, 50257)
    else:
        speed(2048, 50257, 7)
        memory(2.0, 50257)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nbenchmark process peak RSS {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
