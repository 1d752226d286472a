"""Benchmark of ``seqscore audit`` against ``token_stats`` (issue 6).

Target: auditing N candidates x T steps x V vocabulary, memory-mapped, takes
at most 3x the time of one ``token_stats`` call over the same array, both
measured in the same run.

The full size (10,000 x 64 x 32,000) is 82 GB in float32 -- more than this
machine's free disk -- so the default stores it as float16 (41 GB, still
larger than RAM, so both passes stream from disk). The ``.npz`` is written
uncompressed, candidate block by candidate block, so it is memory-mapped in
place and never held in memory. Its candidates cycle through a pool of
``--pool`` random sequences (N(0, 3^2) logits, random tokens, prompts of
4..32 tokens, prompts of ``--group`` candidates): the timing does not depend
on the values, and the pool's correct scores give the reported numbers
without a pass over the whole file.

Page cache (``--cache``): ``cold`` drops the file's cached pages before each
timed pass (``posix_fadvise(DONTNEED)``, this file only), so every pass
streams from disk -- the default when the file is larger than half the RAM,
where caching is partial and would favour whichever pass runs second;
``warm`` reads the file once before each timed pass, so both run from memory
and the audit's own overhead is not hidden behind the disk.

Scenarios (``--scenarios``): ``correct`` (reported = the correct sums, rounded
to 4 decimals: one pass), ``top_token`` (a bug the one pass explains) and
``temperature`` (reported with T = 0.7: the fitted temperature is confirmed by
the audit's only second pass).

Run:
  python bench/bench_audit.py                         # full size, float16
  python bench/bench_audit.py --candidates 1000 --dtype float32 \\
      --scenarios correct,top_token,temperature       # in page cache
  python bench/bench_audit.py --quick                 # 200 candidates
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
import zipfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from seqscore import token_logprobs, token_stats
from seqscore.audit import PipelineRun, audit
from seqscore.formats.npz import open_npz
from seqscore.scoring.candidates import loglikelihood

TEMPERATURE = 0.7


def pool(args, rng):
    """``--pool`` random sequences: logits, ids, prompt length, and scores."""
    out = []
    for _ in range(args.pool):
        logits = (rng.standard_normal((args.steps, args.vocab), np.float32) * 3).astype(
            args.dtype
        )
        ids = rng.integers(0, args.vocab, args.steps)
        context = int(rng.integers(4, 33))
        wide = logits.astype(np.float32)
        correct = loglikelihood(wide, ids, context)
        window = wide[context - 1 : -1]
        top = float(np.sum(correct.tokens.argmax_logprob))
        hot = token_logprobs(window / np.float32(TEMPERATURE), ids[context:])
        out.append(
            {
                "logits": logits,
                "ids": ids,
                "context": context,
                "correct": correct.logprob,
                "top_token": top,
                "temperature": float(np.sum(hot)),
            }
        )
    return out


def write_run(path, args, sequences) -> dict:
    """Stream the raw-layout ``.npz`` to ``path``; return the reported numbers."""
    n, shape = args.candidates, (args.candidates, args.steps, args.vocab)
    which = np.arange(n) % len(sequences)
    small = {
        "input_ids": np.stack([sequences[k]["ids"] for k in which]),
        "lengths": np.full(n, args.steps, np.int64),
        "n_context": np.array([sequences[k]["context"] for k in which], np.int64),
        "group": np.arange(n) // args.group,
    }
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(args.dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("logits.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_2_0(member, header)
            for i, k in enumerate(which):
                member.write(sequences[k]["logits"].tobytes())
                if i % 500 == 0:
                    print(f"  writing candidate {i}/{n}", file=sys.stderr)
        for name, array in small.items():
            with archive.open(name + ".npy", "w") as member:
                np.lib.format.write_array(member, array)
    return {
        name: np.round([sequences[k][name] for k in which], 4)
        for name in ("correct", "top_token", "temperature")
    }


def prepare_cache(path: str, mode: str) -> None:
    """Drop the file's cached pages (cold) or read it all once (warm)."""
    with open(path, "rb") as handle:
        if mode == "cold":
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            return
        while handle.read(1 << 26):
            pass


def timed(function, path: str, cache: str):
    prepare_cache(path, cache)
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--vocab", type=int, default=32_000)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--pool", type=int, default=64)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--scenarios", default="correct")
    parser.add_argument("--path", default=os.path.join("bench", "out", "audit.npz"))
    parser.add_argument("--keep", action="store_true", help="keep the .npz")
    parser.add_argument("--cache", choices=["auto", "cold", "warm"], default="auto")
    parser.add_argument("--quick", action="store_true", help="200 candidates, float32")
    args = parser.parse_args()
    if args.quick:
        args.candidates, args.dtype = 200, "float32"
    os.makedirs(os.path.dirname(os.path.abspath(args.path)), exist_ok=True)
    size = args.candidates * args.steps * args.vocab * np.dtype(args.dtype).itemsize
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(args.path))).free
    if size > 0.8 * free:
        sys.exit(f"{size / 1e9:.1f} GB needed, {free / 1e9:.1f} GB free: scale down")
    if args.cache == "auto":
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        args.cache = "cold" if size > memory / 2 else "warm"
    rng = np.random.default_rng(0)
    print(f"generating {size / 1e9:.1f} GB at {args.path}", file=sys.stderr)
    reported = write_run(args.path, args, pool(args, rng))
    try:
        measure(args, reported, size)
    finally:
        if not args.keep:
            os.unlink(args.path)


def measure(args, reported, size) -> None:
    command = "python " + " ".join(sys.argv)
    print(f"\n{command}")
    print(
        f"logits ({args.candidates}, {args.steps}, {args.vocab}) {args.dtype}, "
        f"{size / 1e9:.1f} GB memory-mapped .npz; {os.cpu_count()} cores; "
        f"page cache {args.cache} before each pass"
    )
    with open_npz(args.path, args.path, extra=("reported",)) as arrays:
        ids = arrays.small["input_ids"]
        targets = np.concatenate([ids[:, 1:], ids[:, -1:]], axis=1)
        baseline, _ = timed(
            lambda: token_stats(arrays.logits, targets), args.path, args.cache
        )
        print(f"  token_stats over the array      {baseline:8.1f} s")
        for scenario in args.scenarios.split(","):
            run = PipelineRun.from_arrays(
                arrays.logits,
                ids,
                arrays.small["lengths"],
                arrays.small["n_context"],
                reported[scenario],
                arrays.small["group"],
            )
            seconds, report = timed(lambda run=run: audit(run), args.path, args.cache)
            names = ",".join(r.name for r in report.explanations) or "-"
            print(
                f"  audit, {scenario:11s} reported  {seconds:8.1f} s  "
                f"{seconds / baseline:5.2f}x token_stats  verdict {report.verdict}"
                f" ({names})"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident memory of the process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
