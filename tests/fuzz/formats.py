"""Every input format seqscore reads, as the fuzz suite sees it (issue #24):
valid seed records from ``fixtures/`` and ``tests/golden/inputs/``, how a
mutated input file is built from them, the library reader and the
commands that read it.

A :class:`Format`'s ``build(draws)`` returns the bytes of one input file
(see :mod:`.mutations` for the operators and for :class:`~.mutations.Draws`);
``read(path)`` yields what the library reads from it (prompts, documents,
rankings, rejections); ``commands`` are argument lists for ``seqscore``,
with ``{input}`` (the file), ``{stdin}`` (``-``, the file on standard
input), ``{folder}`` and ``{rejects}`` filled in by :mod:`.harness`.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqscore.formats.inputs import read_prompts
from seqscore.formats.lmeval_results import read_results
from seqscore.formats.rankings import read_candidate_scores, read_rankings
from seqscore.formats.texts import read_documents, read_text_prompts
from tests.fuzz.mutations import (
    Draws,
    mutate_bytes,
    mutate_text_lines,
    mutated_document,
    mutated_line,
)

__all__ = ["FORMATS", "Format", "mutated_arrays", "npz_bytes", "seed_records"]

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures"
GOLDEN = ROOT / "tests" / "golden" / "inputs"
RUN_A = FIXTURES / "lmeval" / "run_a"
DATE = "2026-12-02T21-03-26.264835"
SAMPLES_NAME = f"samples_seqscore_mc_{DATE}.jsonl"
RESULTS_NAME = f"results_{DATE}.json"


def never(data: bytes) -> bool:
    """No line is a record of its own (the file is one record)."""
    return False


def always(data: bytes) -> bool:
    """Every non-blank line is a record of its own."""
    return True


def _not_pairs(data: bytes) -> bool:
    """Not lm-eval style pairs (the first line that parses decides)."""
    for line in data.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue
        return not (isinstance(record, dict) and "continuation" in record)
    return True


def _json_lines_documents(data: bytes) -> bool:
    """Documents as JSON Lines (the first line that is not blank opens an
    object, past a byte-order mark)."""
    for line in data.removeprefix(b"\xef\xbb\xbf").split(b"\n"):
        if line.strip():
            return line.lstrip()[:1] == b"{"
    return False


@dataclass(frozen=True)
class Format:
    """One input format: how to build a mutated file of it and read it.

    ``lines(data)``: whether every non-blank line of the file is a record
    of its own, to be read or rejected (JSON Lines, except lm-eval style
    pairs, grouped by context, and a text read whole). ``parses_json``: its
    lines are parsed by :data:`seqscore.formats.records.loads_line`
    (msgspec when installed), so the fast and careful parsers must agree
    on it. ``beside``: fixed files written into the input's folder.
    """

    name: str
    filename: str
    build: Callable[[Draws], bytes]
    read: Callable[[str], Iterable]
    commands: tuple[tuple[str, ...], ...]
    lines: Callable[[bytes], bool] = never
    parses_json: bool = False
    beside: tuple[tuple[str, Path], ...] = ()


# ------------------------------------------------------------------ seeds


def _json_lines(path: Path, first: int | None = None) -> tuple:
    lines = path.read_bytes().splitlines()[:first]
    return tuple(json.loads(line) for line in lines if line.strip())


@functools.cache
def seed_records(name: str) -> tuple:
    """The valid records of a JSON Lines format (parsed)."""
    if name == "lmeval":
        return _json_lines(RUN_A / SAMPLES_NAME, 4) + _json_lines(
            RUN_A / f"samples_seqscore_mc_pmi_{DATE}.jsonl", 2
        )
    if name == "texts":
        pairs = [
            {"context": "The cat", "continuation": " sat", "id": "p"},
            {"context": "The cat", "continuation": " ran", "id": "p"},
            {"context": "if the", "continuation": " world"},
        ]
        return _json_lines(GOLDEN / "texts.jsonl") + tuple(pairs)
    files = {
        "seqscore": FIXTURES / "seqscore.jsonl",
        "openai_chat": FIXTURES / "openai_chat.jsonl",
        "openai_legacy": FIXTURES / "openai_legacy_echo.jsonl",
        "openai_batch": FIXTURES / "openai_batch.jsonl",
        "vllm": FIXTURES / "vllm.jsonl",
        "documents": GOLDEN / "docs.jsonl",
        "scores": GOLDEN / "scores.jsonl",
    }
    return _json_lines(files[name])


#: What a JSON Lines file may start with before its first record: nothing
#: (mostly), a byte-order mark, blank lines.
_STARTS = (b"",) * 5 + (b"\xef\xbb\xbf", b"\n", b" \r\n", b"\xef\xbb\xbf\n")
#: Formats a record of another format may come from, in one line in ten.
_PROMPT_FORMATS = ("seqscore", "openai_chat", "openai_legacy", "openai_batch", "vllm")


def _seed_format(draws: Draws, name: str) -> str:
    """``name``, or (one time in ten) another format of prompts."""
    if name in _PROMPT_FORMATS and draws.randint(0, 9) == 0:
        return draws.choice(_PROMPT_FORMATS)
    return name


def _jsonl_builder(name: str, documents: bool = True) -> Callable[[Draws], bytes]:
    """Mutated JSON Lines of ``name``'s seeds; sometimes (``documents``)
    one JSON array document of them, over several lines."""

    def build(draws: Draws) -> bytes:
        count = draws.randint(1, 3)
        records = [
            draws.choice(seed_records(_seed_format(draws, name))) for _ in range(count)
        ]
        if documents and draws.randint(0, 7) == 0:
            return mutated_document(draws, records, indent=draws.choice([None, 1]))
        lines = [mutated_line(draws, record) for record in records]
        start = draws.choice(_STARTS)
        return start + draws.choice([b"\n", b"\r\n", b"\n\n"]).join(lines) + b"\n"

    return build


# ------------------------------------------------------------ text formats

_RANKING_SEEDS = (
    b"# best first\na b c d\nb a d c\n\nc, a\nd a b c\n",
    b'["gpt a", "gpt-b", "c"]\n["c", "gpt a"]\n["gpt-b", "c", "gpt a"]\n',
    b"item,ranking_id,position\na,r1,1\nb,r1,2\nc,r1,3\nb,r2,1\na,r2,2\nc,r2,5\n",
)
_SCORE_SEEDS = (
    b"id,score\na,-3.1\nb,-3.4\nc,-0.5\n",
    b'[{"id": "a", "score": -3.2}, {"id": "b", "score": -1.5}]\n',
)


@functools.cache
def _nascar_two_races() -> bytes:
    """The NASCAR table's header and its first two races (86 rows)."""
    lines = (FIXTURES / "nascar2002.txt").read_bytes().splitlines()
    rows = [line for line in lines[1:] if line.split()[1] in (b"1", b"2")]
    return b"\n".join([lines[0], *rows]) + b"\n"


def _mutated_text(draws: Draws, text: bytes) -> bytes:
    for _ in range(draws.randint(0, 3)):
        text = mutate_text_lines(draws, text)
    return text


def _build_rankings(draws: Draws) -> bytes:
    seed = draws.choice([*_RANKING_SEEDS, _nascar_two_races()])
    return _mutated_text(draws, seed)


def _build_scores(draws: Draws) -> bytes:
    if draws.randint(0, 2) == 0:
        return _jsonl_builder("scores")(draws)
    return _mutated_text(draws, draws.choice(_SCORE_SEEDS))


def _build_documents(draws: Draws) -> bytes:
    if draws.randint(0, 2) == 0:
        return _mutated_text(draws, (GOLDEN / "essay.txt").read_bytes()[:600])
    return _jsonl_builder("documents", documents=False)(draws)


def _build_results(draws: Draws) -> bytes:
    seed = json.loads((RUN_A / RESULTS_NAME).read_bytes())
    return mutated_document(draws, seed, indent=2)


# --------------------------------------------------------------------- npz

_MEMBERS = (
    "logits",
    "targets",
    "lengths",
    "input_ids",
    "n_context",
    "group",
    "unconditional",
    "n_chars",
    "n_bytes",
    "README",
)
_DTYPES = (
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.int32,
    np.int64,
    np.uint64,
    np.bool_,
    np.complex64,
    "U3",
    "S2",
    object,
)
_FLOAT_POKES = (np.nan, np.inf, -np.inf, 1e308, -1e308, 0.5, -0.0, 5e-324, 3e38)
_INT_POKES = (-1, 0, 1, 8, 9, 13, 14, 10**6, 2**31 - 1, -(2**62), 2**62)


@functools.cache
def _npz_seeds() -> tuple[dict, ...]:
    seeds = []
    for name in ("aligned.npz", "raw.npz"):
        with np.load(FIXTURES / name) as archive:
            seeds.append({key: archive[key] for key in archive.files})
    return tuple(seeds)


def _poked(draws: Draws, array: np.ndarray) -> np.ndarray:
    """``array`` with one entry set to an odd value of its kind (in int64
    where its own integers cannot hold it)."""
    if not array.size or array.dtype.kind not in "fiu":
        return array
    index = draws.randint(0, array.size - 1)
    value = draws.choice(_FLOAT_POKES if array.dtype.kind == "f" else _INT_POKES)
    for dtype in (array.dtype, np.int64):
        poked = array.astype(dtype)  # a copy
        try:
            poked.flat[index] = value
        except (OverflowError, ValueError):
            continue
        return poked
    return array


def _reshaped(draws: Draws, array: np.ndarray) -> np.ndarray:
    how = draws.choice(["shorter", "empty", "axis", "flat", "transpose", "scalar"])
    if how == "shorter" and array.ndim:
        return array[:-1]
    if how == "empty" and array.ndim:
        return array[:0]
    if how == "axis":
        return array[None]
    if how == "flat":
        return array.ravel()
    if how == "transpose":
        return array.T
    return np.asarray(array.flat[0] if array.size else 0)


def _retyped(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` as ``dtype``, or as it is where numpy cannot cast it
    (strings that spell no number)."""
    try:
        return array.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return array


def _mutate_arrays(draws: Draws, arrays: dict) -> dict:
    """``arrays`` with one member dropped, renamed, retyped, reshaped,
    poked (NaN, inf, -1, a huge id) or added."""
    arrays = dict(arrays)
    name = draws.choice(sorted(arrays)) if arrays else "logits"
    how = draws.choice(["drop", "rename", "retype", "reshape", "poke", "poke", "add"])
    if how == "add" or name not in arrays:
        first = np.asarray(next(iter(arrays.values()), ()))
        n = len(first) if first.ndim else 1
        values = draws.choice([np.arange(n), -np.arange(n), np.full(n, np.nan)])
        arrays[draws.choice(_MEMBERS)] = _retyped(values, draws.choice(_DTYPES))
    elif how == "drop":
        del arrays[name]
    elif how == "rename":
        arrays[draws.choice(_MEMBERS)] = arrays.pop(name)
    elif how == "retype":
        arrays[name] = _retyped(arrays[name], draws.choice(_DTYPES))
    elif how == "reshape":
        arrays[name] = _reshaped(draws, arrays[name])
    else:
        arrays[name] = _poked(draws, arrays[name])
    return arrays


def mutated_arrays(draws: Draws) -> dict[str, np.ndarray]:
    """The arrays of a fixture ``.npz``, changed a few times (or not)."""
    arrays = copy.deepcopy(draws.choice(_npz_seeds()))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # casts of NaN and overflows
        for _ in range(draws.randint(0, 3)):
            arrays = _mutate_arrays(draws, arrays)
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray], compressed: bool) -> bytes:
    """``arrays`` as ``np.savez`` (or ``np.savez_compressed``) writes them."""
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _build_npz(draws: Draws) -> bytes:
    data = npz_bytes(mutated_arrays(draws), draws.choice([False, True]))
    if draws.randint(0, 5) == 0:
        data = mutate_bytes(draws, data)
    return data


# ----------------------------------------------------------------- readers


def _prompts(path: str) -> Iterator:
    with read_prompts(path) as (_, items):
        yield from items


def _text_prompts(path: str) -> Iterator:
    with read_text_prompts(path) as items:
        yield from items


def _documents(path: str) -> Iterator:
    with read_documents(path) as items:
        yield from items


def _rankings(path: str) -> Iterator:
    yield read_rankings(path)


def _scores(path: str) -> Iterator:
    yield from read_candidate_scores(path)


def _results(path: str) -> Iterator:
    yield read_results(path)


# ---------------------------------------------------------------- formats

SKIP = ("--format", "jsonl", "--on-error", "skip", "--rejects", "{rejects}")
SCORE_SKIP = ("score", "{input}", *SKIP)
SCORE_FAIL = ("score", "{input}")
SCORE_STDIN = ("score", "{stdin}", *SKIP)
#: Every reduction and extra of a record: tokens, words, pmi, ranks by char.
SCORE_DETAIL = (
    "score",
    "{input}",
    *("--normalize", "pmi", "--tokens", "--words", "--format", "json"),
)
SCORE_SORTED = ("score", "{input}", "--normalize", "char", "--sort", "--top", "1")
EVALUATE = ("evaluate", "{input}", "--resamples", "20", "--workers", "1")


def _json_format(name: str, *commands: tuple[str, ...]) -> Format:
    return Format(
        name,
        f"{name}.jsonl",
        _jsonl_builder(name),
        _prompts,
        (SCORE_SKIP, SCORE_FAIL, SCORE_DETAIL, SCORE_SORTED, SCORE_STDIN, *commands),
        lines=always,
        parses_json=True,
    )


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        _json_format("seqscore", ("compare", "{input}", "--format", "json")),
        _json_format("openai_chat"),
        _json_format("openai_legacy"),
        _json_format("openai_batch"),
        _json_format("vllm"),
        Format(
            "lmeval",
            SAMPLES_NAME,
            _jsonl_builder("lmeval", documents=False),
            _prompts,
            (
                SCORE_SKIP,
                SCORE_STDIN,
                (*EVALUATE, "--check", "--format", "json"),
                (*EVALUATE, "--doc-hashes", "--format", "markdown"),
            ),
            lines=always,
            parses_json=True,
        ),
        Format(
            "lmeval_results",
            RESULTS_NAME,
            _build_results,
            _results,
            (("evaluate", f"{{folder}}/{SAMPLES_NAME}", *EVALUATE[2:], "--check"),),
            beside=((SAMPLES_NAME, RUN_A / SAMPLES_NAME),),
        ),
        Format(
            "npz",
            "run.npz",
            _build_npz,
            _prompts,
            (
                SCORE_SKIP,
                SCORE_FAIL,
                SCORE_DETAIL,
                (*SCORE_SORTED, "--format", "csv"),
                SCORE_STDIN,
            ),
        ),
        Format(
            "texts",
            "texts.jsonl",
            _jsonl_builder("texts", documents=False),
            _text_prompts,
            (
                ("score", "{input}", "--model", "builtin", *SKIP),
                ("score", "{stdin}", "--model", "builtin", *SKIP),
            ),
            lines=_not_pairs,
            parses_json=True,
        ),
        Format(
            "documents",
            "docs.jsonl",
            _build_documents,
            _documents,
            (
                ("perplexity", "{input}", "--format", "jsonl"),
                ("perplexity", "{stdin}", "--format", "csv"),
            ),
            lines=_json_lines_documents,
            parses_json=True,
        ),
        Format(
            "rankings",
            "rankings.txt",
            _build_rankings,
            _rankings,
            (
                ("fit-rankings", "{input}", "--universe", "listed", "--format", "json"),
                ("fit-rankings", "{input}", "--universe", "all", "--prior", "ghost"),
                ("fit-rankings", "{stdin}", "--universe", "all", "--format", "csv"),
            ),
        ),
        Format(
            "scores",
            "scores.csv",
            _build_scores,
            _scores,
            (
                ("rank", "{input}", "--format", "json"),
                ("rank", "{input}", "--group-field", "prompt", "--top-k", "2"),
                ("rank", "{stdin}", "--samples", "3", "--seed", "0", "-t", "0.5"),
            ),
        ),
    )
}
