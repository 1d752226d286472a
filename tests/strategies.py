"""Hypothesis strategies shared by the whole test suite (one place for them).

Logits are drawn in the regimes that break naive code: tiny and huge
magnitudes, float16/32/64, masked (``-inf``) entries, ties. The building
blocks are the public strategies of :mod:`seqscore.testing` (offered to users
for their own tests); this module only shapes them for the suite.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from seqscore.testing import FLOAT_DTYPES, candidate_batches, finite_floats, logits

__all__ = [
    "FLOAT_DTYPES",
    "candidate_batches",
    "dominated_rows",
    "finite_floats",
    "lmeval_records",
    "logit_arrays",
    "logit_vectors",
]


@st.composite
def logit_vectors(draw, min_size=1, max_size=12, dtype=np.float64, magnitude=1e4):
    """A 1-D logits vector (finite entries)."""
    size = draw(st.integers(min_size, max_size))
    return draw(logits((size,), dtype, magnitude))


@st.composite
def logit_arrays(
    draw,
    dtypes=FLOAT_DTYPES,
    max_lead_dims: int = 2,
    max_vocab: int = 40,
    magnitude: float = 1e3,
    masked: bool = True,
):
    """``(logits, targets)``: logits ``(..., V)`` with optional ``-inf`` masks.

    Every row keeps at least one finite entry (a fully masked row has no
    distribution and is tested separately). Targets may point at a masked
    entry, whose log-prob is then ``-inf``.
    """
    dtype = draw(st.sampled_from(dtypes))
    lead = tuple(draw(st.lists(st.integers(1, 4), max_size=max_lead_dims)))
    vocab = draw(st.integers(1, max_vocab))
    values = draw(logits((*lead, vocab), dtype, magnitude, masked=masked))
    targets = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, vocab - 1)))
    return values, targets


# Widest gap below the row's maximum worth drawing: past it every exp is 0
# in the compute dtype (float16 logits are computed in float32).
_WIDEST_GAP = {np.float16: 110.0, np.float32: 110.0, np.float64: 760.0}


@st.composite
def dominated_rows(draw, dtypes=FLOAT_DTYPES, max_size: int = 8):
    """A 1-D row of logits whose maximum may dominate the rest by far.

    Every other entry lies below the maximum ``m`` by a gap drawn from 0 to
    beyond the compute dtype's ``exp`` range (so some rows have a
    probability-1 token up to rounding, and some tie or nearly tie), or is
    ``-inf``; ``m`` is anything from 0 to ``+-1e4`` (``+-60,000`` in float16).
    Entries are rounded to the dtype, never above ``m``.
    """
    dtype = draw(st.sampled_from(dtypes))
    magnitude = 6e4 if dtype == np.float16 else 1e4
    peak = dtype(draw(st.one_of(st.just(0.0), finite_floats(dtype, magnitude))))
    size = draw(st.integers(2, max_size))
    gap = st.floats(0.0, _WIDEST_GAP[dtype], allow_nan=False)
    gaps = draw(
        st.lists(st.one_of(gap, st.just(np.inf)), min_size=size - 1, max_size=size - 1)
    )
    with np.errstate(over="ignore"):
        others = (np.float64(peak) - np.array(gaps)).astype(dtype)
    others = np.minimum(others, peak)  # a rounding up to m would be a tie, not above
    row = np.concatenate([[peak], others]).astype(dtype)
    return row[draw(st.permutations(range(size)))]


# --- Plackett-Luce ---------------------------------------------------------


def pl_scores(min_items: int = 1, max_items: int = 7, magnitude: float = 50.0):
    """Finite float64 score vectors (log-worths), ties and big gaps included."""
    return st.integers(min_items, max_items).flatmap(
        lambda n: hnp.arrays(
            np.float64,
            n,
            elements=st.one_of(
                finite_floats(np.float64, magnitude),
                st.sampled_from([0.0, 1.0, -1.0]),  # exact ties
            ),
        )
    )


@st.composite
def padded_rankings(draw, n_items: int, max_rankings: int = 6, full: bool = False):
    """A ``(N, L)`` int64 array of rankings over ``n_items``, ``-1`` padded.

    Each row is a prefix (of random length, or all items with ``full``) of a
    random permutation; ``L`` is the longest row.
    """
    count = draw(st.integers(1, max_rankings))
    rows = []
    for _ in range(count):
        order = draw(st.permutations(range(n_items)))
        length = n_items if full else draw(st.integers(0, n_items))
        rows.append(list(order[:length]))
    width = max(len(r) for r in rows)
    out = np.full((count, width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@st.composite
def pl_problems(draw, max_items: int = 6, magnitude: float = 50.0):
    """``(scores, rankings, universe)`` with universe 'listed', 'all' or a mask."""
    scores = draw(pl_scores(1, max_items, magnitude))
    n = len(scores)
    rankings = draw(padded_rankings(n))
    kind = draw(st.sampled_from(["listed", "all", "mask"]))
    if kind != "mask":
        return scores, rankings, kind
    mask = draw(hnp.arrays(np.bool_, (len(rankings), n)))
    for i, row in enumerate(rankings):
        mask[i, row[row >= 0]] = True  # the universe holds the listed items
    return scores, rankings, mask


# ------------------------------------------------------ small language models


class HashedLM:
    """A random language model small enough to enumerate.

    The next-token logits of a prefix are drawn from a generator seeded by
    ``(seed, *prefix)``: the same prefix always gets the same distribution,
    any prefix length works, and nothing is stored. ``scale`` sets how peaked
    the distributions are; ``mask`` is the chance that a token (never the
    best one) is impossible (log-prob ``-inf``) at a step; ``eos_bias`` is
    added to the EOS logit (very negative: sequences run to full length).
    """

    def __init__(self, vocab_size, seed, scale=2.0, mask=0.0, eos_bias=0.0):
        self.vocab = (*(f"t{i}" for i in range(vocab_size - 1)), "<eos>")
        self.eos_id = vocab_size - 1
        self.seed, self.scale, self.mask = seed, scale, mask
        self.eos_bias = eos_bias
        self.calls = 0

    def next_logprobs(self, prefixes):
        from seqscore.numerics.softmax import log_softmax

        self.calls += 1
        rows = []
        for prefix in prefixes:
            rng = np.random.default_rng([self.seed, *(int(i) for i in prefix)])
            logits = rng.normal(size=len(self.vocab)) * self.scale
            logits[self.eos_id] += self.eos_bias
            drop = rng.random(len(self.vocab)) < self.mask
            drop[np.argmax(logits)] = False
            rows.append(log_softmax(np.where(drop, -np.inf, logits)))
        return np.array(rows).reshape(len(rows), len(self.vocab))

    def encode(self, text):
        return [self.vocab.index(word) for word in text.split()]

    def decode(self, ids):
        return " ".join(self.vocab[i] for i in ids)


@st.composite
def hashed_models(draw, max_vocab: int = 4, masked: bool = True):
    """``(model, prompt, max_tokens)`` small enough to enumerate every sequence."""
    vocab_size = draw(st.integers(2, max_vocab))
    model = HashedLM(
        vocab_size,
        seed=draw(st.integers(0, 2**32 - 1)),
        scale=draw(st.sampled_from([0.3, 1.0, 3.0])),
        mask=draw(st.sampled_from([0.0, 0.3])) if masked else 0.0,
    )
    prompt = draw(st.lists(st.integers(0, vocab_size - 1), max_size=2))
    max_tokens = draw(st.integers(1, 5 if vocab_size <= 3 else 4))
    return model, prompt, max_tokens


def enumerate_sequences(model, prompt, max_tokens):
    """Every leaf (finished, or truncated at ``max_tokens``) with its total.

    Brute force by depth-first search, summing log-probs left to right as the
    decoders do, so totals compare bit for bit. Probability-0 leaves are left
    out.
    """
    leaves = []

    def visit(ids, total):
        row = model.next_logprobs([[*prompt, *ids]])[0]
        for token, logprob in enumerate(row):
            if not np.isfinite(logprob):
                continue
            path, score = [*ids, token], total + float(logprob)
            if token == model.eos_id or len(path) == max_tokens:
                leaves.append((score, tuple(path)))
            else:
                visit(path, score)

    visit([], 0.0)
    return leaves


# --- lm-evaluation-harness samples ---------------------------------------

LMEVAL_CHOICE_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=6
)
#: Log-likelihoods as lm-eval logs them: ties, -inf, 0 and tiny positives
#: (float32 rounding) included.
LMEVAL_LOGLIKELIHOODS = st.one_of(
    st.floats(-60.0, 0.0),
    st.sampled_from([0.0, -0.0, -1.0, -2.5, -np.inf, 3e-7]),
)


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@st.composite
def lmeval_records(draw, max_choices: int = 5, layout: str | None = None):
    """A samples record of a multiple-choice document in lm-eval's own
    layouts (0.4.3+: ``gen_args_N`` and strings; or the older list layout
    with JSON values), hashes as lm-eval computes them, with or without
    unconditional requests; no per-document metrics (tests log their own)."""
    import json

    layout = layout or draw(st.sampled_from(["gen_args", "list"]))
    k = draw(st.integers(1, max_choices))
    choices = draw(st.lists(LMEVAL_CHOICE_TEXT, min_size=k, max_size=k, unique=True))
    lls = draw(st.lists(LMEVAL_LOGLIKELIHOODS, min_size=k, max_size=k))
    greedy = draw(st.lists(st.booleans(), min_size=k, max_size=k))
    mutual = draw(st.booleans())
    unconditional = draw(st.lists(LMEVAL_LOGLIKELIHOODS, min_size=k, max_size=k))
    gold = draw(st.integers(0, k - 1))
    context = draw(st.text(max_size=20))
    requests = [(context, " " + c) for c in choices]
    responses = list(zip(lls, greedy, strict=True))
    if mutual:
        requests += [("", " " + c) for c in choices]
        responses += [(u, False) for u in unconditional]
    if layout == "gen_args":
        arguments = {
            f"gen_args_{i}": {"arg_0": ctx, "arg_1": cont}
            for i, (ctx, cont) in enumerate(requests)
        }
        filtered = [[str(ll), str(g)] for ll, g in responses]
        target = str(gold)
    else:
        arguments = [[ctx, cont] for ctx, cont in requests]
        filtered = [[ll, g] for ll, g in responses]
        target = gold
    doc = {"question": context, "choices": choices, "label": gold}
    record = {
        "doc_id": draw(st.integers(0, 10**6)),
        "doc": doc,
        "target": target,
        "arguments": arguments,
        "resps": [[r] for r in filtered],
        "filtered_resps": filtered,
        "filter": "none",
        "metrics": ["acc", "acc_norm", *(["acc_mutual_info"] if mutual else [])],
        "doc_hash": _sha256(json.dumps(doc, indent=2, ensure_ascii=False)),
        "prompt_hash": _sha256(context),
        "target_hash": _sha256(str(target)),
    }
    return record


# --- lm-eval samples lines, valid and then broken (issues #23, #24) --------

#: Raw JSON text put where a value belongs after ``json.dumps`` (which cannot
#: write most of these): what ``json`` reads and msgspec may not, or the
#: reverse -- NaN, infinities, numbers out of range, integers too long for
#: ``int()``, lone surrogates, bad UTF-8 inside a string, nesting.
LMEVAL_RAW_VALUES = (
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"1e400",
    b"-1e400",
    b"1E2",
    b"-0",
    b"123456789012345678901234567890",
    b"9" * 4301,
    b"-" + b"1" * 4400,
    b"0." + b"1" * 5000,
    b'"\\ud800"',
    b'"a\\udc80b"',
    b'"\\ud83d\\ude00"',
    b'"\xff"',
    b'"\xc0\xaf"',
    b'"\xed\xa0\x80"',
    b'"\xe2\x82"',
    b'"\x7f"',
    b'"\\u0000"',
    b"[[[[[[[[[[]]]]]]]]]]",
    b'{"a": {"b": [1, {"c": null}]}}',
)
#: Bytes a broken line may gain: bad UTF-8 (the first seven, drawn half the
#: time), control bytes, JSON punctuation.
LMEVAL_STRAY_BYTES = (
    b"\xff",
    b"\x80",
    b"\xc3",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xef\xbb\xbf",
    b"\x00",
    b"\x01",
    b"\x1f",
    b"\x7f",
    b"\t",
    b"\r",
    b"\x0c",
    b'"',
    b"\\",
    b",",
    b":",
    b"{",
    b"}",
    b"[",
    b"]",
    b"0",
    b"-",
    b"e",
    b" ",
    b"null",
)
#: Values a field may be flipped to: every JSON type, and the odd ones.
LMEVAL_ODD_VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            1,
            -1,
            2,
            -0.5,
            1.5,
            2**63,
            -(2**64) - 1,
            10**30,
            1e308,
            5e-324,
            float("nan"),
            float("inf"),
            float("-inf"),
            "",
            " ",
            "0",
            "1",
            "-1.5",
            " -1.5 ",
            "1_0",
            "0x1",
            "True",
            "False",
            "true",
            "nan",
            "inf",
            "-Infinity",
            "1e400",
            "[0, 1]",
            "[0, x]",
            "acc_mutual_info",
            [],
            {},
            [0, 1],
            [["-1.0", "False"]],
            [[-1.0, False], [-2.0, True]],
            ["acc", "acc_mutual_info"],
            {"arg_0": "", "arg_1": " a"},
            {"until": ["\n"]},
        ]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.one_of(st.none(), st.integers(-2, 5), st.text(max_size=2)), max_size=3),
)
#: Names a key may be renamed to.
LMEVAL_KEYS = (
    "doc_id",
    "doc",
    "target",
    "arguments",
    "resps",
    "filtered_resps",
    "filter",
    "metrics",
    "doc_hash",
    "prompt_hash",
    "target_hash",
    "acc",
    "acc_norm",
    "acc_mutual_info",
    "exact_match",
    "gen_args_0",
    "gen_args_1",
    "gen_args_7",
    "arg_0",
    "arg_1",
    "arg_2",
    "label",
    "",
    "Doc_id",
)


@st.composite
def lmeval_sample_records(draw, recent: bool | None = None):
    """A valid samples record in one of the layouts lm-eval has written:
    0.4.3+ (``gen_args_N``, responses as strings), older JSON values (in
    either ``arguments`` layout), ``arguments`` as a list of pairs, with
    ``acc_mutual_info``'s unconditional requests or not, a target that is an
    index, a choice's text or several indices; with or without the logged
    per-document metrics, ``doc``, hashes and ``filtered_resps``.
    ``recent``: only lm-eval 0.4.3+'s layout (True), or never (False)."""
    recent = draw(st.booleans()) if recent is None else recent
    layout = "gen_args" if recent else draw(st.sampled_from(["gen_args", "list"]))
    record = draw(lmeval_records(max_choices=4, layout=layout))
    listed = isinstance(record["arguments"], list)
    choices = record["doc"]["choices"]
    k = len(choices)
    if not listed and not recent:  # 0.4.0-0.4.2: JSON values
        record["filtered_resps"] = [
            [float(ll), g == "True"] for ll, g in record["filtered_resps"]
        ]
        record["resps"] = [[r] for r in record["filtered_resps"]]
    target = draw(st.sampled_from(["index", "text", "several"]))
    if target == "text" and choices[0] and not choices[0].isdigit():
        record["target"] = choices[0]
    elif target == "several":
        gold = sorted(draw(st.sets(st.integers(0, k - 1), min_size=1)))
        record["target"] = str(gold) if not listed else gold
    for name in draw(st.sets(st.sampled_from(LOGGED_FOR_TESTS))):
        record[name] = draw(st.sampled_from([0.0, 1.0, 1, 0]))
    optional = ["doc", "filtered_resps", "doc_hash", "filter"]
    for name in draw(st.sets(st.sampled_from(optional), max_size=2)):
        if draw(st.booleans()):  # most records keep them all
            del record[name]
    return record


LOGGED_FOR_TESTS = ("acc", "acc_norm", "acc_bytes", "acc_mutual_info", "exact_match")


def _json_paths(value, path=()):
    """Every place in a parsed JSON value: ``(path, value)``, outer first."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _json_paths(item, (*path, i))


def _at(value, path):
    for step in path:
        value = value[step]
    return value


@st.composite
def _mutate_value(draw, record: dict, raw_values: list[bytes]) -> None:
    """Change one place of ``record`` in place: flip its type, drop it,
    rename its key, give its key a second value later in the object, or put
    raw JSON text there (a placeholder string, replaced in the line by
    :func:`mutated_lmeval_lines`)."""
    import copy
    import json

    places = [path for path, _ in _json_paths(record) if path]
    path = draw(st.sampled_from(places))
    parent, last = _at(record, path[:-1]), path[-1]
    how = draw(st.sampled_from(["flip", "flip", "drop", "rename", "twice", "raw"]))
    if how == "twice" and isinstance(parent, dict):  # the key again, later
        raw_values.append(json.dumps(last).encode())
        parent[f"@@raw{len(raw_values) - 1}@@"] = copy.deepcopy(draw(LMEVAL_ODD_VALUES))
    elif how == "drop":
        del parent[last]
    elif how == "rename" and isinstance(parent, dict):
        new = draw(st.sampled_from(LMEVAL_KEYS))
        items = [(new if key == last else key, item) for key, item in parent.items()]
        parent.clear()
        parent.update(items)  # a name already there: the later value stays
    elif how == "raw":
        raw_values.append(draw(st.sampled_from(LMEVAL_RAW_VALUES)))
        parent[last] = f"@@raw{len(raw_values) - 1}@@"
    else:  # a copy: the values drawn from lists are shared between draws
        parent[last] = copy.deepcopy(draw(LMEVAL_ODD_VALUES))


@st.composite
def _mutate_bytes(draw, line: bytes, in_text: bool = False) -> bytes:
    """Cut, insert or replace bytes anywhere in ``line``; or (``in_text``)
    insert or replace them at the start of a string, where JSON stays JSON
    and only the bytes of a text are wrong (what a reader that only scans
    some fields may miss)."""
    import re

    if in_text:
        starts = [m.end() for m in re.finditer(rb'(?:: |\[|, )"', line)]
        where = draw(st.sampled_from(starts))
        how = draw(st.sampled_from(["insert", "replace"]))
    else:
        where = draw(st.integers(0, len(line)))
        how = draw(st.sampled_from(["cut", "truncate", "insert", "replace"]))
    if how == "truncate":
        return line[:where]
    if how == "cut":
        return line[:where] + line[where + draw(st.integers(1, 8)) :]
    stray = draw(
        st.sampled_from(LMEVAL_STRAY_BYTES[:7]) | st.sampled_from(LMEVAL_STRAY_BYTES)
    )
    if how == "insert":
        return line[:where] + stray + line[where:]
    return line[:where] + stray + line[where + len(stray) :]


@st.composite
def mutated_lmeval_lines(draw):
    """A samples line (bytes, no newline) made from a valid record by a few
    changes of its values (types flipped, keys dropped, renamed or repeated,
    huge, NaN or infinite numbers, raw JSON text that ``json.dumps`` cannot
    write) and then of its bytes (cut, inserted, replaced: bad UTF-8,
    control bytes, punctuation); sometimes unchanged, to keep the valid
    layouts in the draw. Two lines in three are lm-eval 0.4.3+'s (the layout
    the typed fast path reads) with one flaw only, which leaves the rest of
    the line readable: one value changed, or bytes put in one text."""
    import json

    flaw = draw(st.sampled_from(["many", "value", "text"]))
    recent = flaw != "many" or draw(st.booleans())
    # a copy that shares no list (resps holds filtered_resps' own lists)
    record = json.loads(json.dumps(draw(lmeval_sample_records(recent))))
    raw_values: list[bytes] = []
    values = {"many": (0, 3), "value": (1, 1), "text": (0, 0)}[flaw]
    for _ in range(draw(st.integers(*values))):
        draw(_mutate_value(record, raw_values))
    line = json.dumps(record, ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    for i, raw in enumerate(raw_values):
        line = line.replace(f'"@@raw{i}@@"'.encode(), raw)
    if flaw == "text":
        line = draw(_mutate_bytes(line, in_text=True))
    for _ in range(draw(st.integers(0, 2)) if flaw == "many" else 0):
        line = draw(_mutate_bytes(line))
    return line.replace(b"\n", b" ")
