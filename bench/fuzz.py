"""Fuzz seqscore's readers and commands for as long as you like (issue #24).

    python bench/fuzz.py --budget 100000 [--seed 0] [--format npz ...]
    python bench/fuzz.py --replay 0:npz:1234      # one case again, shown

Runs mutated records of every input format (the operators and seeds of
``tests/fuzz``: structure mutations of valid fixture records, then byte
mutations) through the library readers, the fast and careful JSON paths
side by side, and one input in ``--cli-every`` through the commands that
read the format, in process. Case ``I`` of format ``NAME`` under seed ``S``
is built from ``random.Random("S:NAME:I")``, so any case can be replayed.

Counts: records read, rejected (with their reason) or stopped at (a
file-level error, by class), and escapes: an exception outside seqscore's
errors, an exit code outside 0/1/2, a record neither read nor rejected,
fast and careful paths that disagree. Known escapes (``tests/fuzz/harness.py``
``KNOWN``, each pinned by a strict xfail test) are counted apart. Exit
status 1 on any escape (known ones too, unless ``--allow-known``), else 0.

The CI runs the same checks, bounded, as ``tests/fuzz`` (hypothesis).
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.fuzz.formats import FORMATS, Format  # noqa: E402
from tests.fuzz.harness import (  # noqa: E402
    Escape,
    KnownEscape,
    Outcome,
    check_command,
    check_reading,
    read_outcome,
    run_command,
    without_msgspec,
    write_case,
)


@dataclass
class Tally:
    """What the run saw, per format and in all."""

    cases: collections.Counter = field(default_factory=collections.Counter)
    records: collections.Counter = field(default_factory=collections.Counter)
    accepted: collections.Counter = field(default_factory=collections.Counter)
    rejected: collections.Counter = field(default_factory=collections.Counter)
    errors: collections.Counter = field(default_factory=collections.Counter)
    commands: collections.Counter = field(default_factory=collections.Counter)
    exits: collections.Counter = field(default_factory=collections.Counter)
    escapes: list = field(default_factory=list)
    known: list = field(default_factory=list)
    seconds: collections.Counter = field(default_factory=collections.Counter)


def run_case(fmt: Format, data: bytes, folder: str, cli: bool, tally: Tally):
    """Read ``data`` as ``fmt`` (both JSON paths), check it, and with
    ``cli`` run its commands; tally what happened. Raises :class:`Escape`."""
    path = write_case(fmt, data, folder)
    outcome = read_outcome(fmt, path)
    check_reading(fmt, path, data, outcome)
    if fmt.parses_json:
        with without_msgspec():
            careful = read_outcome(fmt, path)
        if careful != outcome:
            raise Escape(f"{fmt.name}: msgspec and json disagree: {outcome} {careful}")
    _count(fmt.name, outcome, tally)
    if cli:
        rejects = os.path.join(folder, "rejects.jsonl")
        for args in fmt.commands:
            run = run_command(fmt, args, path, rejects)
            check_command(fmt, run, path, rejects, outcome)
            tally.commands[fmt.name] += 1
            tally.exits[run.exit_code] += 1
            if os.path.exists(rejects):
                os.unlink(rejects)


def _count(name: str, outcome: Outcome, tally: Tally) -> None:
    if outcome.error is not None:
        tally.errors[outcome.error.split(":", 1)[0]] += 1
        tally.records[name] += 1  # the file's record(s), stopped at
        return
    tally.accepted[name] += len(outcome.accepted)
    tally.rejected[name] += len(outcome.rejected)
    tally.records[name] += max(len(outcome.items), 1)  # an empty read: one


def fuzz(args, tally: Tally) -> None:
    """Cases round-robin over the formats until ``args.budget`` records."""
    names = args.format or sorted(FORMATS)
    with tempfile.TemporaryDirectory() as folder:
        index = 0
        while sum(tally.records.values()) < args.budget:
            for name in names:
                _one(name, index, args, folder, tally)
            index += 1


def _one(name: str, index: int, args, folder: str, tally: Tally) -> None:
    fmt = FORMATS[name]
    case = f"{args.seed}:{name}:{index}"
    data = fmt.build(random.Random(case))
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(dir=folder) as own:  # nothing beside
            run_case(fmt, data, own, index % args.cli_every == 0, tally)
    except KnownEscape as escape:
        tally.known.append((case, str(escape).splitlines()[0]))
    except Escape as escape:
        tally.escapes.append((case, str(escape)))
        _keep(args.keep, case, fmt, data)
    finally:
        tally.seconds[name] += time.perf_counter() - started
        tally.cases[name] += 1


def _keep(folder: str | None, case: str, fmt: Format, data: bytes) -> None:
    if folder:
        os.makedirs(folder, exist_ok=True)
        Path(folder, case.replace(":", "-") + "-" + fmt.filename).write_bytes(data)


def replay(case: str) -> int:
    """Build case ``S:NAME:I`` again, show it and what each check says."""
    name = case.split(":")[1]
    fmt = FORMATS[name]
    data = fmt.build(random.Random(case))
    print(f"input ({len(data)} bytes): {data[:2000]!r}")
    with tempfile.TemporaryDirectory() as folder:
        try:
            run_case(fmt, data, folder, True, Tally())
        except Escape as escape:
            print(f"ESCAPE: {escape}")
            return 1
    print("no escape")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(args, tally: Tally, seconds: float) -> None:
    records = sum(tally.records.values())
    print(
        f"seqscore fuzz: budget {args.budget}, seed {args.seed}, CPU {_cpu()} "
        f"({os.cpu_count()} cores), Python {platform.python_version()}"
    )
    print(
        f"{records} records in {sum(tally.cases.values())} inputs, "
        f"{seconds:.1f} s: {records / seconds:,.0f} records/s; "
        f"{sum(tally.commands.values())} commands run in process"
    )
    print(
        f"{'format':<16}{'inputs':>8}{'records':>9}{'read':>8}{'rejected':>9}"
        f"{'commands':>9}{'rec/s':>8}"
    )
    for name in sorted(tally.cases):
        rate = tally.records[name] / max(tally.seconds[name], 1e-9)
        print(
            f"{name:<16}{tally.cases[name]:>8}{tally.records[name]:>9}"
            f"{tally.accepted[name]:>8}{tally.rejected[name]:>9}"
            f"{tally.commands[name]:>9}{rate:>8.0f}"
        )
    print("file-level errors by class: " + _counts(tally.errors))
    print("command exit codes: " + _counts(tally.exits))
    print(
        f"escapes: {len(tally.escapes)}; known (pinned by strict xfail "
        f"tests): {len(tally.known)}"
    )
    for case, text in tally.escapes[:10]:
        print(f"--- {case}\n{text[-1500:]}")
    for case, text in tally.known[:3]:
        print(f"--- known {case}: {text[:300]}")


def _counts(counter: collections.Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--budget", type=int, default=10_000, help="records to read (default 10,000)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--format",
        action="append",
        choices=sorted(FORMATS),
        help="only these formats (repeat; default: all)",
    )
    parser.add_argument(
        "--cli-every",
        type=int,
        default=20,
        help="run the commands on one input in N (default 20)",
    )
    parser.add_argument("--keep", help="write each escaping input into this folder")
    parser.add_argument(
        "--allow-known", action="store_true", help="known escapes do not fail the run"
    )
    parser.add_argument(
        "--replay", metavar="SEED:FORMAT:I", help="build one case again and show it"
    )
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    tally = Tally()
    started = time.perf_counter()
    fuzz(args, tally)
    report(args, tally, time.perf_counter() - started)
    failed = tally.escapes or (tally.known and not args.allow_known)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
