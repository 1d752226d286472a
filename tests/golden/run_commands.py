#!/usr/bin/env python3
"""Run every seqscore command over ``fixtures/`` in every ``--format``.

A refactoring must not change a byte of what the commands print. This script
runs a fixed list of invocations (each command, each output format, the
options that change the rendering, and a few errors) from the repository
root, and writes each one's stdout, stderr, exit code and any file it wrote
into OUT_DIR, one folder per invocation. Run it before and after a change
and compare the two folders with ``diff -r``.

Usage: python tests/golden/run_commands.py OUT_DIR [NAME_FILTER]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INPUTS = "tests/golden/inputs"
RECORDS = ("table", "json", "jsonl", "csv")
REPORTS = ("text", "markdown", "json")
RUN_A = "fixtures/lmeval/run_a"
RUN_B = "fixtures/lmeval/run_b"
SAMPLES_A = f"{RUN_A}/samples_seqscore_mc_2026-12-02T21-03-26.264835.jsonl"
SAMPLES_B = f"{RUN_B}/samples_seqscore_mc_2026-12-02T21-03-59.495673.jsonl"
PMI_A = f"{RUN_A}/samples_seqscore_mc_pmi_2026-12-02T21-03-26.264835.jsonl"

SCORE_FILES = (
    "fixtures/seqscore.jsonl",
    "fixtures/openai_chat.jsonl",
    "fixtures/openai_batch.jsonl",
    "fixtures/openai_chat_example.json",
    "fixtures/openai_legacy_echo.jsonl",
    "fixtures/vllm.jsonl",
    "fixtures/aligned.npz",
    "fixtures/raw.npz",
    "fixtures/raw_compressed.npz",
    SAMPLES_A,
    PMI_A,
)


def _score() -> list[tuple[str, list[str]]]:
    runs = []
    for path in SCORE_FILES:
        for fmt in RECORDS:
            runs.append((f"score {path} {fmt}", ["score", path, "--format", fmt]))
    for fmt in RECORDS:
        runs.append((f"score builtin {fmt}", ["score", "--format", fmt]))
        runs.append(
            (
                f"score options {fmt}",
                [
                    "score",
                    "fixtures/seqscore.jsonl",
                    "--format",
                    fmt,
                    "--sort",
                    "--normalize",
                    "mean",
                    "--top",
                    "2",
                    "--alpha",
                    "0.8",
                ],
            )
        )
        runs.append(
            (
                f"score pmi {fmt}",
                [
                    "score",
                    "fixtures/seqscore.jsonl",
                    "--format",
                    fmt,
                    "--normalize",
                    "pmi",
                ],
            )
        )
        runs.append(
            (
                f"score texts {fmt}",
                [
                    "score",
                    f"{INPUTS}/texts.jsonl",
                    "--model",
                    "builtin",
                    "--format",
                    fmt,
                    "--unconditional",
                    "",
                    "--normalize",
                    "gnmt",
                ],
            )
        )
        runs.append(
            (
                f"score tree {fmt}",
                [
                    "score",
                    f"{INPUTS}/tree_texts.jsonl",
                    "--model",
                    "tree:fixtures/textbook_tree.json",
                    "--format",
                    fmt,
                ],
            )
        )
    for fmt in ("json", "jsonl"):
        for path in ("fixtures/seqscore.jsonl", "fixtures/raw.npz"):
            runs.append(
                (
                    f"score tokens words {path} {fmt}",
                    ["score", path, "--format", fmt, "--tokens", "--words"],
                )
            )
    runs += [
        (
            "score shards jsonl",
            [
                "score",
                "fixtures/seqscore.jsonl",
                "fixtures/vllm.jsonl",
                "--format",
                "jsonl",
                "--workers",
                "1",
            ],
        ),
        (
            "score parts dir",
            [
                "score",
                "fixtures/seqscore.jsonl",
                "fixtures/vllm.jsonl",
                "--format",
                "jsonl",
                "--workers",
                "1",
                "-o",
                "{out}/parts/",
            ],
        ),
        (
            "score parquet",
            [
                "score",
                "fixtures/seqscore.jsonl",
                "--format",
                "parquet",
                "-o",
                "{out}/parquet/",
            ],
        ),
        (
            "score csv file",
            [
                "score",
                "fixtures/seqscore.jsonl",
                "--format",
                "csv",
                "-o",
                "{out}/scores.csv",
            ],
        ),
        ("score bad fail", ["score", f"{INPUTS}/bad.jsonl"]),
        (
            "score bad skip",
            [
                "score",
                f"{INPUTS}/bad.jsonl",
                "--on-error",
                "skip",
                "--rejects",
                "{out}/rejects.jsonl",
                "--format",
                "jsonl",
            ],
        ),
        ("score mean lmeval", ["score", SAMPLES_A, "--normalize", "mean"]),
        ("score missing", ["score", "fixtures/no_such_file.jsonl"]),
        ("score bad flag", ["score", "fixtures/seqscore.jsonl", "--top", "0"]),
    ]
    return runs


def _perplexity() -> list[tuple[str, list[str]]]:
    runs = []
    for fmt in RECORDS:
        runs.append(
            (
                f"perplexity {fmt}",
                ["perplexity", f"{INPUTS}/docs.jsonl", "--format", fmt],
            )
        )
        runs.append(
            (
                f"perplexity stride {fmt}",
                [
                    "perplexity",
                    f"{INPUTS}/docs.jsonl",
                    "--format",
                    fmt,
                    "--window",
                    "8",
                    "--stride",
                    "3",
                ],
            )
        )
    essay = ["perplexity", f"{INPUTS}/essay.txt", "--window", "16"]
    runs.append(("perplexity text file", essay))
    return runs


def _each_report(command: str, paths) -> list[tuple[str, list[str]]]:
    """``command PATH --format F`` for every path and every report format."""
    return [
        (f"{command} {path} {fmt}", [command, path, "--format", fmt])
        for path in paths
        for fmt in REPORTS
    ]


def _compare() -> list[tuple[str, list[str]]]:
    runs = _each_report(
        "compare",
        (
            "fixtures/seqscore.jsonl",
            "fixtures/openai_chat.jsonl",
            "fixtures/vllm.jsonl",
            "fixtures/aligned.npz",
            "fixtures/raw.npz",
        ),
    )
    for fmt in REPORTS:
        runs.append(
            (
                f"compare all {fmt}",
                [
                    "compare",
                    "fixtures/seqscore.jsonl",
                    "--all",
                    "--alpha",
                    "0.5",
                    "--prompt",
                    "q1",
                    "--format",
                    fmt,
                ],
            )
        )
    return runs


def _diagnose() -> list[tuple[str, list[str]]]:
    runs = []
    for fmt in REPORTS:
        runs += [
            (
                f"diagnose tree {fmt}",
                [
                    "diagnose",
                    "--model",
                    "tree:fixtures/textbook_tree.json",
                    "--format",
                    fmt,
                ],
            ),
            (
                f"diagnose builtin {fmt}",
                [
                    "diagnose",
                    "--prompt",
                    "if the",
                    "--max-tokens",
                    "6",
                    "--beam",
                    "3",
                    "--format",
                    fmt,
                ],
            ),
            (
                f"diagnose survey {fmt}",
                [
                    "diagnose",
                    "--survey",
                    "6",
                    "--max-tokens",
                    "4",
                    "--seed",
                    "3",
                    "--format",
                    fmt,
                ],
            ),
        ]
    runs.append(
        (
            "diagnose plot",
            [
                "diagnose",
                "--model",
                "tree:fixtures/textbook_tree.json",
                "--plot",
                "{out}/paths.svg",
            ],
        )
    )
    return runs


def _rank() -> list[tuple[str, list[str]]]:
    runs = []
    for fmt in RECORDS:
        runs += [
            (f"rank {fmt}", ["rank", f"{INPUTS}/scores.jsonl", "--format", fmt]),
            (
                f"rank options {fmt}",
                [
                    "rank",
                    f"{INPUTS}/scores.jsonl",
                    "--format",
                    fmt,
                    "--ranks",
                    "2",
                    "--top-k",
                    "2",
                    "-t",
                    "0.7",
                ],
            ),
            (
                f"rank groups {fmt}",
                [
                    "rank",
                    f"{INPUTS}/scores.csv",
                    "--format",
                    fmt,
                    "--group-field",
                    "prompt",
                    "--id-field",
                    "id",
                ],
            ),
            (
                f"rank samples {fmt}",
                [
                    "rank",
                    f"{INPUTS}/scores.jsonl",
                    "--format",
                    fmt,
                    "--samples",
                    "4",
                    "--seed",
                    "7",
                ],
            ),
        ]
    return runs


def _fit_rankings() -> list[tuple[str, list[str]]]:
    runs = []
    for fmt in RECORDS:
        runs += [
            (
                f"fit-rankings {fmt}",
                [
                    "fit-rankings",
                    "fixtures/nascar2002.txt",
                    "--universe",
                    "listed",
                    "--format",
                    fmt,
                ],
            ),
            (
                f"fit-rankings ghost {fmt}",
                [
                    "fit-rankings",
                    f"{INPUTS}/rankings.txt",
                    "--prior",
                    "ghost",
                    "--format",
                    fmt,
                ],
            ),
        ]
    runs.append(("fit-rankings short", ["fit-rankings", "fixtures/nascar2002.txt"]))
    return runs


def _lmeval() -> list[tuple[str, list[str]]]:
    quick = ["--resamples", "300", "--workers", "1"]
    runs = []
    for fmt in REPORTS:
        runs += [
            (
                f"evaluate run_a {fmt}",
                ["evaluate", RUN_A, "--check", "--format", fmt, *quick],
            ),
            (
                f"evaluate doc-hashes {fmt}",
                [
                    "evaluate",
                    SAMPLES_B,
                    "--doc-hashes",
                    "--listed",
                    "2",
                    "--format",
                    fmt,
                    *quick,
                ],
            ),
            (
                f"compare-runs {fmt}",
                ["compare-runs", SAMPLES_A, SAMPLES_B, "--format", fmt, *quick],
            ),
        ]
    return runs


def _audit() -> list[tuple[str, list[str]]]:
    runs = _each_report(
        "audit",
        (
            "fixtures/audit/correct.npz",
            "fixtures/audit/reported.npz",
            "fixtures/audit/run.npz",
            "fixtures/audit/top_token.npz",
            "fixtures/audit/eos_appended.jsonl",
        ),
    )
    for fmt in ("text", "json"):
        for fn in ("correct", "correct_aligned"):
            layout = "causal" if fn == "correct" else "aligned"
            runs.append(
                (
                    f"audit-fn {fn} {fmt}",
                    [
                        "audit-fn",
                        f"fixtures.audit.scorers:{fn}",
                        "--layout",
                        layout,
                        "--max-examples",
                        "15",
                        "--format",
                        fmt,
                    ],
                )
            )
    return runs


def _softmax() -> list[tuple[str, list[str]]]:
    runs = []
    for fmt in RECORDS:
        runs += [
            (f"softmax {fmt}", ["softmax", "--format", fmt, "--", "2", "1", "0.1"]),
            (
                f"softmax t {fmt}",
                ["softmax", "-t", "0.5", "--format", fmt, "--", "-1", "0", "1", "-inf"],
            ),
        ]
    runs.append(("softmax nan", ["softmax", "1", "nan"]))
    return runs


def _reader_errors() -> list[tuple[str, list[str]]]:
    """Inputs the readers refuse, with the hints the commands add."""
    return [
        ("error zip as json", ["score", "fixtures/raw.npz", "--input-format", "vllm"]),
        ("error unknown record", ["score", f"{INPUTS}/unknown.jsonl"]),
        ("error texts for a model", ["score", f"{INPUTS}/context_pairs.jsonl"]),
        ("error candidate texts", ["score", f"{INPUTS}/texts.jsonl"]),
        (
            "error candidate texts skipped",
            [
                "score",
                f"{INPUTS}/texts.jsonl",
                "--on-error",
                "skip",
                "--rejects",
                "{out}/rejects.jsonl",
            ],
        ),
        (
            "error candidate texts stderr",
            ["score", f"{INPUTS}/texts.jsonl", "--on-error", "skip"],
        ),
        *_texts_in_shards(),
        ("error compare candidate texts", ["compare", f"{INPUTS}/texts.jsonl"]),
        (
            "error audit zip as jsonl",
            ["audit", "fixtures/audit/correct.npz", "--input-format", "jsonl"],
        ),
        ("error no position", ["fit-rankings", f"{INPUTS}/no_position.csv"]),
        (
            "error unknown long",
            ["fit-rankings", f"{INPUTS}/unknown_long.csv", "--layout", "long"],
        ),
        ("error compare unknown", ["compare", f"{INPUTS}/unknown.jsonl"]),
    ]


def _texts_in_shards() -> list[tuple[str, list[str]]]:
    """Candidate texts without scores in a sharded run: the rejection's hint
    in the error, on stderr, in --rejects and in a part's rejects file."""
    shards = ["score", f"{INPUTS}/texts.jsonl", "fixtures/seqscore.jsonl"]
    skip = ["--on-error", "skip", "--format", "jsonl"]
    parts = ["--workers", "1", "-o", "{out}/parts/", "--format", "jsonl"]
    return [
        ("error candidate texts shards", [*shards, "--workers", "2"]),
        (
            "error candidate texts shards skipped",
            [*shards, "--workers", "1", *skip, "--rejects", "{out}/rejects.jsonl"],
        ),
        ("error candidate texts shards stderr", [*shards, "--workers", "2", *skip]),
        ("error candidate texts parts", [*shards, *parts]),
        (
            "error candidate texts parts skipped",
            [*shards, *parts, "--on-error", "skip"],
        ),
    ]


def invocations() -> list[tuple[str, list[str]]]:
    """Every (name, argv) the golden run makes, in a fixed order."""
    return [
        *_score(),
        *_perplexity(),
        *_compare(),
        *_diagnose(),
        *_rank(),
        *_fit_rankings(),
        *_lmeval(),
        *_audit(),
        *_softmax(),
        *_reader_errors(),
    ]


def _folder(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def _portable(data: bytes, scratch: str) -> bytes:
    """``data`` without what differs between two checkouts of the same commit:
    the scratch folder, the checkout's path and the files' times (manifests
    record the shards' absolute paths and modification times)."""
    data = data.replace(scratch.encode(), b"{out}").replace(bytes(ROOT), b"{root}")
    return re.sub(rb'"shard_mtime_ns": \d+', b'"shard_mtime_ns": 0', data)


def run(name: str, argv: list[str], out_dir: Path) -> None:
    """Run one invocation; keep what it printed and what it wrote."""
    target = out_dir / _folder(name)
    target.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as scratch:
        args = [a.replace("{out}", scratch) for a in argv]
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            COLUMNS="100",
            SOURCE_DATE_EPOCH="0",  # plots: a fixed date, and the ids of
            MATPLOTLIBRC=str(Path(__file__).with_name("matplotlibrc")),  # a salt
        )
        done = subprocess.run(
            [sys.executable, "cli.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        (target / "argv").write_text("\n".join(argv) + "\n")
        (target / "stdout").write_bytes(_portable(done.stdout, scratch))
        (target / "stderr").write_bytes(_portable(done.stderr, scratch))
        (target / "exit").write_text(f"{done.returncode}\n")
        written = Path(scratch)
        for path in sorted(written.rglob("*")):
            if path.is_file():
                keep = target / "files" / path.relative_to(written)
                keep.parent.mkdir(parents=True, exist_ok=True)
                keep.write_bytes(_portable(path.read_bytes(), scratch))


def main() -> None:
    out_dir = Path(sys.argv[1])
    wanted = sys.argv[2] if len(sys.argv) > 2 else ""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, argv in invocations():
        if wanted in name:
            run(name, argv, out_dir)
    print(f"{sum(wanted in n for n, _ in invocations())} invocations -> {out_dir}")


if __name__ == "__main__":
    main()
