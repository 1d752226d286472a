"""Batched beam search against the search of each prompt alone.

The contract of :func:`beam_search_batch`: result ``i`` equals
``beam_search(model, prompts[i], ...)`` exactly -- same hypotheses (ids,
tokens, per-step log-probs, total, score), in the same order, and the same
``steps``. The reference for every expected value below is therefore the
single-prompt :func:`beam_search` (itself checked against brute-force
enumeration and exact search in ``tests/decoding/test_decoders.py``), run on each
prompt separately; comparisons are ``==``, never approximate. A few cases
(the textbook tree, a flat model) also have values worked out by hand.
"""

from __future__ import annotations

import inspect
import math
import re
from contextlib import nullcontext

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqscore.decoding import PrefixBatch, beam_search, beam_search_batch, handoff
from seqscore.decoding.selection import compiled_available, numpy_selection
from seqscore.errors import InvalidInputError, ShapeError
from seqscore.models.builtin import load_builtin
from seqscore.models.corpus import sentence_starts
from seqscore.models.tree import textbook_tree
from tests.strategies import HashedLM

PENALTIES = [-1, 0, 0.5, 1, 2]
STOPPING = [True, False, "never"]


# ------------------------------------------------------------------ helpers


class View:
    """A :class:`HashedLM` seen through a context window, rounding and a dtype.

    * ``context``: None -- the logits depend on the whole prefix (a hash of
      it seeds the generator); ``k`` -- only on its last ``k`` ids (a random
      table keyed by them);
    * ``quantum``: None -- the rows as drawn; a number -- log-probs rounded to
      multiples of it (many exact ties); ``"flat"`` -- every possible token
      gets ``-log V`` (everything ties);
    * ``dtype``: the dtype of the returned rows (float32 or float64).

    Every call is recorded: ``calls[n]`` lists the prefixes (tuples of ints)
    of call ``n``, ``kinds[n]`` the type of what the model was sent. A
    :class:`PrefixBatch` is checked on arrival (its block, ``tails`` against
    the prefixes it yields); problems go to ``problems``.
    """

    def __init__(self, base, context=None, quantum=None, dtype=np.float64):
        self.base, self.context = base, context
        self.quantum, self.dtype = quantum, dtype
        self.vocab, self.eos_id = base.vocab, base.eos_id
        self.calls: list[list[tuple[int, ...]]] = []
        self.kinds: list[type] = []
        self.problems: list[str] = []

    def next_logprobs(self, prefixes):
        listed = [tuple(int(i) for i in p) for p in prefixes]
        self.calls.append(listed)
        self.kinds.append(type(prefixes))
        if isinstance(prefixes, PrefixBatch):
            self._check_batch(prefixes, listed)
        k = self.context
        keys = listed if k is None else [p[max(0, len(p) - k) :] for p in listed]
        rows = self.base.next_logprobs(keys)
        if self.quantum == "flat":
            rows = np.where(np.isfinite(rows), -np.log(len(self.vocab)), -np.inf)
        elif self.quantum is not None:
            rows = np.round(rows / self.quantum) * self.quantum
        return rows.astype(self.dtype)

    def _check_batch(self, batch, listed):
        ids, lengths = batch.ids, batch.lengths
        if ids.ndim != 2 or not ids.shape[0] == len(lengths) == len(listed):
            self.problems.append(f"block {ids.shape} for {len(lengths)} lengths")
        if [len(p) for p in listed] != lengths.tolist():
            self.problems.append("iterated prefixes do not have the given lengths")
        for k in (1, 2, 3):
            want = [_tail(p, k, -7) for p in listed]
            if batch.tails(k, fill=-7).tolist() != want:
                self.problems.append(f"tails({k}) disagree with the prefixes")

    def __repr__(self):
        base = self.base
        return (
            f"View(HashedLM({len(base.vocab)}, seed={base.seed}, scale={base.scale}, "
            f"mask={base.mask}, eos_bias={base.eos_bias}), context={self.context}, "
            f"quantum={self.quantum!r}, dtype=np.{np.dtype(self.dtype).name})"
        )

    def encode(self, text):
        return self.base.encode(text)

    def decode(self, ids):
        return self.base.decode(ids)


def _tail(prefix, k, fill):
    """The last ``k`` ids of ``prefix``, left-filled with ``fill`` (reference)."""
    kept = list(prefix[len(prefix) - min(k, len(prefix)) :])
    return [fill] * (k - len(kept)) + kept


def assert_same(got, want, label=""):
    """``got`` (a batch result) equals ``want`` (the single search) exactly."""
    assert got.steps == want.steps, f"{label}steps {got.steps} != {want.steps}"
    got_ids = [h.ids for h in got.hypotheses]
    want_ids = [h.ids for h in want.hypotheses]
    assert got_ids == want_ids, f"{label}hypotheses {got_ids} != {want_ids}"
    for g, w in zip(got.hypotheses, want.hypotheses, strict=True):
        assert g.tokens == w.tokens, label
        assert g.logprobs == w.logprobs, f"{label}{g.ids}: logprobs differ"
        assert g.total == w.total, f"{label}{g.ids}: total {g.total} != {w.total}"
        assert g.score == w.score, f"{label}{g.ids}: score {g.score} != {w.score}"
        assert g.finished == w.finished, label
    assert (got.width, got.length_penalty, got.early_stopping) == (
        want.width,
        want.length_penalty,
        want.early_stopping,
    )
    assert got == want  # the whole dataclass, once more


def assert_batch_equals_singles(model, prompts, max_tokens, width, **options):
    """beam_search_batch(...)[i] == beam_search(model, prompts[i], ...) for all i:
    the reference is the plain single-prompt step (Python over lists);
    checked against it are the numpy batched step and (when numba is
    installed, as in CI) the compiled one, batched and one prompt at a time."""
    with numpy_selection():
        singles = [beam_search(model, p, max_tokens, width, **options) for p in prompts]
        batch = beam_search_batch(model, prompts, max_tokens, width, **options)
    runs = [("numpy: ", batch)]
    if compiled_available():
        compiled = beam_search_batch(model, prompts, max_tokens, width, **options)
        runs.append(("compiled: ", compiled))
        alone = [beam_search(model, p, max_tokens, width, **options) for p in prompts]
        runs.append(("compiled, one prompt: ", alone))
    for how, results in runs:
        assert len(results) == len(prompts)
        for i, (got, want) in enumerate(zip(results, singles, strict=True)):
            assert_same(got, want, f"{how}prompts[{i}] = {list(prompts[i])}: ")
    return batch, singles


@st.composite
def batch_cases(draw, quanta=(None,), vocab=(3, 8), prompts=(1, 6), max_tokens=(1, 6)):
    """``(model, prompts, max_tokens, width, options)``: a small random model
    (vocabulary of 3 to 8 tokens, EOS last; masked entries but never a whole
    row -- HashedLM never masks a row's best token), 1 to 6 prompts of 0 to 4
    ids, width 1-5, max_tokens 1-6 and every stopping setting."""
    vocab_size = draw(st.integers(*vocab))
    base = HashedLM(
        vocab_size,
        seed=draw(st.integers(0, 2**32 - 1)),
        scale=draw(st.sampled_from([0.3, 1.0, 3.0])),
        mask=draw(st.sampled_from([0.0, 0.3, 0.6])),
        eos_bias=draw(st.sampled_from([0.0, -2.0, 1.5])),
    )
    model = View(
        base,
        context=draw(st.sampled_from([None, 1, 2])),
        quantum=draw(st.sampled_from(quanta)),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
    )
    prompt = st.lists(st.integers(0, vocab_size - 1), max_size=4)
    prompts = draw(st.lists(prompt, min_size=prompts[0], max_size=prompts[1]))
    max_tokens = draw(st.integers(*max_tokens))
    width = draw(st.integers(1, 5))
    options = {
        "length_penalty": draw(st.sampled_from(PENALTIES)),
        "early_stopping": draw(st.sampled_from(STOPPING)),
    }
    return model, prompts, max_tokens, width, options


# ----------------------------------------------- 1. batch equals single, random


@settings(max_examples=200, deadline=None)
@given(batch_cases())
def test_batch_equals_single_search_on_random_models(case):
    # expected: beam_search of each prompt alone (see the module docstring)
    model, prompts, max_tokens, width, options = case
    assert_batch_equals_singles(model, prompts, max_tokens, width, **options)


@settings(max_examples=60, deadline=None)
@given(batch_cases(vocab=(9, 40), prompts=(2, 5), max_tokens=(3, 6)))
def test_batch_equals_single_search_on_larger_vocabularies(case):
    # more candidates than 2 * width per beam and longer searches: the
    # guessed thresholds and the histogram narrowing of beam_batch come into
    # play; expected: the single searches, as above
    model, prompts, max_tokens, width, options = case
    assert_batch_equals_singles(model, prompts, max_tokens, width, **options)


def test_a_width_past_the_compiled_limit_takes_the_numpy_step():
    # 2 * width = 1026 > MAX_COMPILED_NEED: the compiled selection's sorted
    # list is quadratic in the width (width 10**6, 2 steps: still running
    # after minutes, against 11 s for the plain step), so both searches take
    # the numpy / plain step; expected: the same results as ever (a
    # vocabulary of 40 and 3 steps)
    from seqscore.decoding.selection import MAX_COMPILED_NEED, compiled_suits

    assert MAX_COMPILED_NEED == 1024
    assert compiled_suits(512) is compiled_available()
    assert not compiled_suits(513)
    model = View(HashedLM(40, seed=5, scale=1.0, mask=0.3, eos_bias=0.0))
    assert_batch_equals_singles(model, [[1], [2, 3], []], 3, 513)


def test_long_searches_that_file_many_hypotheses(monkeypatch):
    # 40 steps, filing at most of them: the finished store outgrows its first
    # room (2 x prompts x width rows of 32 tokens) in both directions;
    # expected: the plain step's results, hypotheses over 32 tokens included
    from seqscore.decoding import beam_batch

    stores = []

    class Recorded(beam_batch._Finished):
        def __init__(self, *arguments):
            super().__init__(*arguments)
            stores.append(self)

    monkeypatch.setattr(beam_batch, "_Finished", Recorded)
    model = View(HashedLM(5, seed=11, scale=1.0, eos_bias=0.5))
    prompts = [[0], [1, 2], [3], [2, 2, 1]]
    options = {"length_penalty": 2.0, "early_stopping": "never"}
    _, singles = assert_batch_equals_singles(model, prompts, 40, 3, **options)
    assert max(len(h) for r in singles for h in r.hypotheses) > 32
    assert all(store.count > 2 * len(prompts) * 3 for store in stores)
    assert all(store.ids.shape[1] > 32 for store in stores)


class Alternating(View):
    """A View whose answers alternate between float16 and float32 from call
    to call, its log-probs multiples of 0.5 (the same values in either)."""

    def next_logprobs(self, prefixes):
        self.dtype = np.float16 if len(self.calls) % 2 else np.float32
        return super().next_logprobs(prefixes)


@pytest.mark.parametrize("seed", range(6))
def test_a_search_may_take_the_numpy_step_and_the_compiled_one_by_turns(seed):
    # float16 rows take the numpy step, float32 rows the compiled one, so the
    # state between steps must mean the same to both; expected: the plain
    # step's results (the values do not depend on the dtype)
    model = Alternating(
        HashedLM(7, seed=seed, scale=2.0, mask=0.3, eos_bias=-1.0), quantum=0.5
    )
    prompts = [[0], [1, 2], [], [3, 3, 3], [5]]
    for options in ({}, {"length_penalty": 0.0, "early_stopping": "never"}):
        assert_batch_equals_singles(model, prompts, 6, 3, **options)


# ------------------------------------------------------------------ 2. ties


@settings(max_examples=150, deadline=None)
@given(batch_cases(quanta=(0.5, 1.0, "flat")))
def test_batch_equals_single_search_when_log_probs_tie(case):
    # rows rounded to 0.5 or 1 nats, or flat: many candidates of equal total,
    # so the tie-breaks (earlier beam, then smaller id; earlier filed) decide;
    # expected: the single searches, order included
    model, prompts, max_tokens, width, options = case
    assert_batch_equals_singles(model, prompts, max_tokens, width, **options)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_model_ties_go_to_the_earlier_beam_then_the_smaller_id(dtype):
    # By hand: 3 tokens (t0, t1, <eos>), every row -log 3, width 2,
    # length_penalty 0, max_tokens 2. Step 1: t0, t1, <eos> tie; ranked by id,
    # <eos> is third (not among the best 2), so it is not filed; beams t0, t1.
    # Step 2 (the last): all six candidates tie at -2 log 3; the best 2 by
    # (beam, id) are t0 t0 and t0 t1, filed in that order. The same for every
    # prompt, since the model ignores the prefix.
    model = View(HashedLM(3, seed=0), quantum="flat", dtype=dtype)
    prompts = [[], [2], [0, 1], [1, 1, 1, 2]]
    batch, _ = assert_batch_equals_singles(model, prompts, 2, 2, length_penalty=0)
    third = float(dtype(-np.log(3)))
    for result in batch:
        assert [h.ids for h in result.hypotheses] == [(0, 0), (0, 1)]
        assert all(h.logprobs == (third, third) for h in result.hypotheses)
        assert result.steps == 2


class Cast:
    """A model with its rows cast to ``dtype`` (float32: what the builtin
    model and HFModel return)."""

    def __init__(self, model, dtype):
        self.model, self.dtype = model, dtype
        self.vocab, self.eos_id = model.vocab, model.eos_id

    def next_logprobs(self, prefixes):
        return np.asarray(self.model.next_logprobs(prefixes)).astype(self.dtype)

    def encode(self, text):
        return self.model.encode(text)

    def decode(self, ids):
        return self.model.decode(ids)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_prompt_whose_only_continuation_is_eos_stops_at_once(dtype):
    # By hand: tokens a, b, <eos>; after the prefix [a] only <eos> is
    # possible, every other prefix gets a uniform row (-log 3 each). Width 2,
    # length_penalty 0, early stopping, max_tokens 2.
    # * Prompt [a]: step 1 has one candidate, <eos> (log-prob 0); it is
    #   filed and no beam is left, so the search stops after 1 step.
    # * Prompt [b]: step 1 ranks a, b, <eos> (a tie: smaller id first);
    #   <eos> is third, not among the best 2, so not filed; beams a, b.
    #   Step 2 (the last): six candidates tie at -2 log 3; the best 2 by
    #   (beam, id) are a a and a b, filed in that order.
    # Masked (-inf) candidates must be dropped for float32 rows as well.
    from seqscore.models.tree import tree_from_dict

    tree = tree_from_dict(
        {
            "vocab": ["a", "b", "<eos>"],
            "eos": "<eos>",
            "logits": {"a": ["-inf", "-inf", 0.0]},
            "default": [0.0, 0.0, 0.0],
        }
    )
    model = Cast(tree, dtype)
    options = {"length_penalty": 0, "early_stopping": True}
    batch, _ = assert_batch_equals_singles(model, [[0], [1]], 2, 2, **options)
    third = float(dtype(-np.log(3)))
    expected = [
        ([(2,)], [(0.0,)], 1),
        ([(0, 0), (0, 1)], [(third, third)] * 2, 2),
    ]
    for result, (ids, logprobs, steps) in zip(batch, expected, strict=True):
        assert [h.ids for h in result.hypotheses] == ids
        # to 2 ulps: -log 3 comes out of log1p(2), which numpy's SIMD builds
        # round differently (1.0986122886681096 with AVX2, ...098 with AVX-512)
        got = np.array([h.logprobs for h in result.hypotheses], dtype=np.float64)
        np.testing.assert_array_max_ulp(got, np.array(logprobs, dtype=dtype), 2)
        assert result.steps == steps


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
@pytest.mark.parametrize("width", [1, 2, 3])
@pytest.mark.parametrize("max_tokens", [2, 3, 4])
def test_textbook_tree_with_rows_of_every_float_dtype(dtype, width, max_tokens):
    # the textbook tree's rows hold many -inf entries (4 of 6 tokens are
    # impossible at the start, 3 after A or B, 5 after any longer prefix),
    # so a prompt often has fewer than 2 * width possible candidates;
    # float16 and long double rows take the numpy selection even with numba
    # installed; expected: the single searches
    tree = Cast(textbook_tree(), dtype)
    for prompts in ([[], []], [[], [0]], [[0], [1], []]):
        assert_batch_equals_singles(tree, prompts, max_tokens, width, length_penalty=0)


# -------------------------------------------------------- 3. the builtin model


@pytest.fixture(scope="module")
def builtin_prompts():
    model = load_builtin()
    starts = sentence_starts(20, rng=np.random.default_rng(0), max_words=3)
    # plus an empty prompt and one that holds a sentence end (an <eos> id)
    prompts = [[], *(model.encode(text) for text in starts), model.encode("It is. A")]
    assert len({len(p) for p in prompts}) > 2  # the lengths differ
    return model, prompts


@pytest.mark.parametrize("width", [1, 4, 16])
def test_builtin_model_batch_equals_single_search(builtin_prompts, width):
    # float32 rows over a ~1000-word vocabulary, prompts of 0 to 4 words; the
    # model reads PrefixBatch tails directly. Expected: the single searches
    model, prompts = builtin_prompts
    assert_batch_equals_singles(model, prompts, 12, width)


@pytest.mark.parametrize(
    "length_penalty, early_stopping", [(0, "never"), (2, True), (-1, False)]
)
def test_builtin_model_batch_equals_single_search_other_settings(
    builtin_prompts, length_penalty, early_stopping
):
    model, prompts = builtin_prompts
    assert_batch_equals_singles(
        model,
        prompts,
        12,
        4,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
    )


def test_builtin_model_reads_a_prefix_batch_as_the_list_of_its_prefixes():
    # the PrefixBatch fast path (tails) against the list path, bit for bit
    model = load_builtin()
    ids = np.array([[5, 6, 7, 8], [0, 0, 9, 10], [0, 0, 0, 11], [0, 0, 0, 0]])
    batch = PrefixBatch(ids, np.array([4, 2, 1, 0]))
    listed = [list(map(int, p)) for p in batch]
    assert listed == [[5, 6, 7, 8], [9, 10], [11], []]
    np.testing.assert_array_equal(
        model.next_logprobs(batch), model.next_logprobs(listed)
    )


# ------------------------------------------------------ 4. the textbook tree


def test_textbook_tree_batch_by_hand_and_against_single_search():
    # By hand (see textbook_tree's docstring), width 2, length_penalty 0:
    # * prompt []: step 1 keeps A (0.6), B (0.4); step 2's best four are
    #   B C 0.36, then A C, A D, A E at 0.2 (ties: earlier beam, smaller id),
    #   beams B C and A C; step 3 ends both: B C <eos> 0.36, A C <eos> 0.2.
    # * prompt A: C, D, E at 1/3; beams C, D (tie: smaller id); both end at
    #   step 2: C <eos>, D <eos>, 1/3 each, C first (filed first).
    # * prompt B: C 0.9, D 0.05 kept; C <eos> 0.9, D <eos> 0.05 at step 2.
    tree = textbook_tree()
    prompts = [[], tree.encode("A"), tree.encode("B")]
    batch, _ = assert_batch_equals_singles(tree, prompts, 4, 2, length_penalty=0.0)
    expected = [
        ([("B", "C", "<eos>"), ("A", "C", "<eos>")], [0.36, 0.2], 3),
        ([("C", "<eos>"), ("D", "<eos>")], [1 / 3, 1 / 3], 2),
        ([("C", "<eos>"), ("D", "<eos>")], [0.9, 0.05], 2),
    ]
    for result, (tokens, probabilities, steps) in zip(batch, expected, strict=True):
        assert [h.tokens for h in result.hypotheses] == tokens
        assert [h.probability for h in result.hypotheses] == pytest.approx(
            probabilities, rel=1e-12
        )
        assert [h.score for h in result.hypotheses] == [
            h.total for h in result.hypotheses
        ]  # length_penalty 0: score is the total
        assert result.steps == steps


def test_textbook_tree_docstring_values():
    # the example in beam_search_batch's docstring
    tree = textbook_tree()
    results = beam_search_batch(
        tree, [[], tree.encode("A")], max_tokens=4, width=2, length_penalty=0.0
    )
    assert [(r.best.tokens, round(r.best.probability, 6)) for r in results] == [
        (("B", "C", "<eos>"), 0.36),
        (("C", "<eos>"), 0.333333),
    ]


def test_textbook_tree_length_penalty_one():
    # the default length_penalty 1: score = total / length; expected: singles,
    # and the best is B C <eos> with score log(0.36) / 3 (as for one prompt)
    tree = textbook_tree()
    prompts = [tree.encode("B"), [], tree.encode("A")]
    for early_stopping in STOPPING:
        batch, _ = assert_batch_equals_singles(
            tree, prompts, 5, 2, early_stopping=early_stopping
        )
        assert batch[1].best.tokens == ("B", "C", "<eos>")
        assert math.isclose(batch[1].best.score, math.log(0.36) / 3)


# ------------------------------------------------------------- 5. PrefixBatch


def test_prefix_batch_docstring_example():
    batch = PrefixBatch(np.array([[0, 7, 8], [4, 5, 6]]), np.array([2, 3]))
    assert len(batch) == 2
    assert batch[0].tolist() == [7, 8]
    assert [p.tolist() for p in batch] == [[7, 8], [4, 5, 6]]
    assert batch.tails(3, fill=-1).tolist() == [[-1, 7, 8], [4, 5, 6]]


@st.composite
def prefix_batches(draw):
    """``(batch, prefixes)``: prefixes of 0-5 ids right-aligned in a block
    wider than needed, the padding filled with junk (-5) that must never show."""
    prefixes = draw(st.lists(st.lists(st.integers(0, 50), max_size=5), max_size=6))
    width = max((len(p) for p in prefixes), default=0) + draw(st.integers(0, 2))
    ids = np.full((len(prefixes), width), -5, dtype=np.int64)
    for row, prefix in enumerate(prefixes):
        ids[row, width - len(prefix) :] = prefix
    lengths = np.array([len(p) for p in prefixes], dtype=np.int64)
    return PrefixBatch(ids, lengths), prefixes


@settings(max_examples=150, deadline=None)
@given(prefix_batches(), st.integers(0, 8), st.integers(-9, 99))
def test_prefix_batch_is_the_sequence_of_its_prefixes(case, k, fill):
    # expected values come from the Python lists the block was built from
    batch, prefixes = case
    assert len(batch) == len(prefixes)
    assert [p.tolist() for p in batch] == prefixes
    assert [batch[i].tolist() for i in range(len(prefixes))] == prefixes
    for i in range(1, len(prefixes) + 1):
        assert batch[-i].tolist() == prefixes[-i]
        assert batch[np.int64(len(prefixes) - i)].tolist() == prefixes[-i]
    tails = batch.tails(k, fill=fill)
    assert tails.shape == (len(prefixes), k)
    assert tails.tolist() == [_tail(p, k, fill) for p in prefixes]


def test_prefix_batch_short_and_empty_prefixes():
    # by hand: prefixes [], [3], [1, 2] in a block of width 2 (padding 9)
    batch = PrefixBatch(np.array([[9, 9], [9, 3], [1, 2]]), np.array([0, 1, 2]))
    assert [p.tolist() for p in batch] == [[], [3], [1, 2]]
    assert batch.tails(1, fill=-1).tolist() == [[-1], [3], [2]]
    assert batch.tails(2, fill=-1).tolist() == [[-1, -1], [-1, 3], [1, 2]]
    assert batch.tails(4, fill=0).tolist() == [[0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 1, 2]]
    every_empty = PrefixBatch(np.zeros((2, 0), dtype=np.int64), np.array([0, 0]))
    assert [p.tolist() for p in every_empty] == [[], []]
    assert every_empty.tails(2, fill=4).tolist() == [[4, 4], [4, 4]]


def test_prefix_batch_slices_are_prefix_batches_of_those_prefixes():
    # a model may work through its input in chunks (before: a TypeError for
    # prompts of different lengths only); expected: the listed prefixes
    batch = PrefixBatch(
        np.array([[9, 0, 1], [2, 3, 4], [9, 9, 5]]), np.array([2, 3, 1])
    )
    prefixes = [p.tolist() for p in batch]
    for part in (slice(0, 2), slice(1, None), slice(None, None, 2), slice(5, 9)):
        got = batch[part]
        assert isinstance(got, PrefixBatch)
        assert [p.tolist() for p in got] == prefixes[part]
    assert [3] not in batch and [2, 3, 4] in batch and np.array([5]) in batch
    assert batch.index([5]) == 2 and batch.count([0, 1]) == 1
    with pytest.raises(ValueError):
        batch.index([7])
    with pytest.raises(TypeError):
        batch["0"]
    with pytest.raises(IndexError):
        batch[3]


def test_a_model_that_reads_its_input_in_chunks():
    class Chunked:
        vocab, eos_id = ("a", "b", "<eos>"), 2

        def next_logprobs(self, prefixes):
            rows = []
            for start in range(0, len(prefixes), 2):
                rows += [np.log([0.5, 0.3, 0.2])] * len(prefixes[start : start + 2])
            return np.array(rows)

    assert_batch_equals_singles(Chunked(), [[0], [1, 1], []], 3, 2)


@settings(max_examples=100, deadline=None)
@given(batch_cases(quanta=(None, 0.5)))
def test_the_model_is_sent_exactly_the_beams_of_the_live_prompts(case):
    # Expected: the prefixes each prompt's single search sends at step n (its
    # recorded calls). The batch's n-th call must hold exactly those of every
    # prompt still searching at step n -- each a prompt followed by n - 1
    # generated ids -- as a multiset; and there is one call per step.
    model, prompts, max_tokens, width, options = case
    singles = []
    for prompt in prompts:
        alone = View(model.base, model.context, model.quantum, model.dtype)
        singles.append(
            (beam_search(alone, prompt, max_tokens, width, **options), alone)
        )
        assert len(alone.calls) == singles[-1][0].steps  # one call per step
    batch = beam_search_batch(model, prompts, max_tokens, width, **options)
    assert not model.problems, model.problems
    assert len(model.calls) == max(result.steps for result, _ in singles)
    for n, sent in enumerate(model.calls):
        for prefix in sent:
            assert any(
                len(prefix) == len(p) + n and list(prefix[: len(p)]) == p
                for p in prompts
            ), f"call {n + 1}: {prefix} is no prompt + {n} generated ids"
        expected = [
            prefix
            for result, alone in singles
            if result.steps > n
            for prefix in alone.calls[n]
        ]
        assert sorted(sent) == sorted(expected), f"call {n + 1}"
        lengths = {len(prefix) for prefix in sent}
        if len(lengths) > 1:  # different lengths come as a PrefixBatch
            assert issubclass(model.kinds[n], PrefixBatch)
    for i, (got, (want, _)) in enumerate(zip(batch, singles, strict=True)):
        assert_same(got, want, f"prompts[{i}]: ")


# ----------------------------------------------------------------- 6. errors


def test_an_invalid_prompt_is_named_by_its_index():
    tree = textbook_tree()  # 6 tokens
    cases = [
        ([[0], [1, 9]], r"prompts\[1\]\[1\] = 9 is outside the vocabulary \[0, 6\)"),
        ([[0, -1], []], r"prompts\[0\]\[1\] = -1 is outside the vocabulary"),
        ([[], [], [0, "A"]], r"prompts\[2\]\[1\] = 'A' is not an integer token id"),
        ([[1.0]], r"prompts\[0\]\[0\] = 1.0 is not an integer token id"),
        ([[0], [True]], r"prompts\[1\]\[0\] = True is not an integer token id"),
        ([[0], [np.int64(7)]], r"prompts\[1\]\[0\] = 7 is outside the vocabulary"),
    ]
    for prompts, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            beam_search_batch(tree, prompts, 3, 2)


def test_numpy_integer_prompts_are_accepted():
    # expected: the same search with the ids as Python ints
    tree = textbook_tree()
    prompts = [np.array([0], dtype=np.int64), np.array([], dtype=np.int32), [1]]
    got = beam_search_batch(tree, prompts, 4, 2)
    want = beam_search_batch(tree, [[0], [], [1]], 4, 2)
    for g, w in zip(got, want, strict=True):
        assert_same(g, w)


def test_no_prompts_give_no_results():
    assert beam_search_batch(textbook_tree(), [], 3, 2) == ()


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": -2}, "max_tokens"),
        ({"max_tokens": 2.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"width": 0}, "beam width"),
        ({"width": 1.5}, "beam width"),
        ({"width": False}, "beam width"),
        ({"early_stopping": "sometimes"}, "early_stopping"),
        ({"length_penalty": float("nan")}, "length_penalty"),
        ({"length_penalty": float("inf")}, "length_penalty"),
    ],
)
def test_settings_are_checked_as_for_one_prompt(arguments, message):
    # expected: the error beam_search raises for the same settings
    tree = textbook_tree()
    call = {"max_tokens": 3, "width": 2, **arguments}
    max_tokens, width = call.pop("max_tokens"), call.pop("width")
    with pytest.raises(InvalidInputError, match=message) as single:
        beam_search(tree, [], max_tokens, width, **call)
    for prompts in ([[], [0]], [[1]], []):
        with pytest.raises(InvalidInputError, match=message) as batch:
            beam_search_batch(tree, prompts, max_tokens, width, **call)
        assert str(batch.value) == str(single.value)


def test_equivalent_settings_give_equal_results():
    # 1 and 0 for early_stopping mean True and False, integral floats count
    tree = textbook_tree()
    prompts = [[], [0], [1]]
    for alias, plain in ((1, True), (0, False)):
        got = beam_search_batch(tree, prompts, 4.0, 2.0, early_stopping=alias)
        want = [beam_search(tree, p, 4, 2, early_stopping=plain) for p in prompts]
        for g, w in zip(got, want, strict=True):
            assert_same(g, w)


# --------------------------------------------------------- 7. broken models


class Faulty(View):
    """A View that breaks on the prefixes of prompt ``[1]`` from step ``at``
    on: ``fault`` is "nan", "+inf", "-inf row" (no finite entry), "columns"
    (one column short) or "rows" (one row short)."""

    def __init__(self, fault, at):
        super().__init__(HashedLM(4, seed=11, scale=1.0))
        self.fault, self.at = fault, at

    def next_logprobs(self, prefixes):
        rows = super().next_logprobs(prefixes)
        bad = [
            r
            for r, p in enumerate(self.calls[-1])
            if p[:1] == (1,) and len(p) >= self.at
        ]
        if not bad:
            return rows
        if self.fault == "columns":
            return rows[:, :-1]
        if self.fault == "rows":
            return rows[:-1]
        value = {"nan": np.nan, "+inf": np.inf}.get(self.fault)
        if value is None:
            rows[bad] = -np.inf
        else:
            rows[bad, 2] = value
        return rows


# only the beams of prompt [1] start with the id 1
PROMPTS_WITH_A_BAD_ONE = [[0, 2], [2, 2, 0], [1], [3]]


@pytest.mark.parametrize("at", [1, 2, 3])
@pytest.mark.parametrize("fault", ["nan", "+inf", "-inf row"])
def test_a_bad_row_in_a_batch_is_reported_as_for_one_prompt(fault, at):
    # expected: the error (type and message, which names the prefix) that
    # the plain single search of the faulty prompt raises; the same from the
    # compiled single search and from the numpy and compiled batched ones
    with numpy_selection(), pytest.raises(InvalidInputError) as single:
        beam_search(Faulty(fault, at), [1], 4, 2, early_stopping="never")
    assert re.search(r"for prefix \[1(, \d+)*\] have maximum", str(single.value))
    for compiled in (False, True):
        with nullcontext() if compiled else numpy_selection():
            with pytest.raises(InvalidInputError) as alone:
                beam_search(Faulty(fault, at), [1], 4, 2, early_stopping="never")
            with pytest.raises(InvalidInputError) as batch:
                beam_search_batch(
                    Faulty(fault, at),
                    PROMPTS_WITH_A_BAD_ONE,
                    4,
                    2,
                    early_stopping="never",
                )
        assert str(alone.value) == str(batch.value) == str(single.value)


class _Wide:
    """4,096 tokens of random log-probs; the rows of prompt ``[bad]`` hold a
    NaN. With 130 prompts the first step has 532,480 candidates: enough for
    the compiled step to split the check and the selection between threads."""

    vocab = tuple(f"t{i}" for i in range(4096))
    eos_id = 4095

    def __init__(self, bad):
        self.bad = bad

    def next_logprobs(self, prefixes):
        rng = np.random.default_rng(0)
        rows = rng.normal(size=(len(prefixes), 4096))
        rows -= np.log(np.exp(rows).sum(axis=1, keepdims=True))
        for r, prefix in enumerate(prefixes):
            if prefix[0] == self.bad:
                rows[r, 7] = np.nan
        return rows


@pytest.mark.parametrize("bad", [3, 120])  # in the first half, in the second
def test_a_bad_row_in_a_step_shared_between_threads_is_named(bad):
    prompts = [[i] for i in range(130)]
    message = rf"for prefix \[{bad}\] have maximum nan"
    for context in (nullcontext(), numpy_selection()):
        with context, pytest.raises(InvalidInputError, match=message):
            beam_search_batch(_Wide(bad), prompts, 3, 1)


@pytest.mark.parametrize("at", [1, 3])
@pytest.mark.parametrize("fault", ["columns", "rows"])
def test_a_wrong_shape_in_a_batch_is_a_shape_error(fault, at):
    # expected: ShapeError, as for the single search; the numbers of rows
    # differ (the batch sends every prompt's beams), the kind of error not
    with pytest.raises(ShapeError, match="expected"):
        beam_search(Faulty(fault, at), [1], 4, 2, early_stopping="never")
    with pytest.raises(ShapeError, match=r"expected \(\d+, 4\)"):
        beam_search_batch(
            Faulty(fault, at), PROMPTS_WITH_A_BAD_ONE, 4, 2, early_stopping="never"
        )


def test_a_prompt_that_is_not_a_sequence_of_ids_is_named():
    tree = textbook_tree()
    with pytest.raises(InvalidInputError, match=r"prompts\[0\] must be a sequence"):
        beam_search_batch(tree, [0, 1], 4)
    with pytest.raises(InvalidInputError, match=r"model\.encode"):
        beam_search(tree, "A", 4)


class _Wrapped:
    """The textbook tree with its rows passed through ``convert``."""

    def __init__(self, convert):
        self.tree, self.convert = textbook_tree(), convert
        self.vocab, self.eos_id = self.tree.vocab, self.tree.eos_id

    def next_logprobs(self, prefixes):
        return self.convert(self.tree.next_logprobs(prefixes))


@pytest.mark.parametrize("order", [">f4", ">f8", "<f4"])
def test_rows_in_either_byte_order_give_the_same_search(order):
    # before: big-endian rows crashed the compiled selection (a numba
    # TypingError); expected: the search of the native rows
    model = _Wrapped(lambda rows: rows.astype(order))
    prompts = [[], [0], [1]]
    assert_batch_equals_singles(model, prompts, 4, 2, length_penalty=0)
    want = beam_search_batch(textbook_tree(), prompts, 4, 2, length_penalty=0)
    got = beam_search_batch(model, prompts, 4, 2, length_penalty=0)
    assert [r.best.ids for r in got] == [r.best.ids for r in want]


@pytest.mark.parametrize(
    "convert, message",
    [
        # before: the mask was dropped silently (masked tokens were chosen),
        # complex rows passed with a ComplexWarning
        (lambda rows: np.ma.masked_array(rows, rows < -2), "masked array"),
        (lambda rows: rows.astype(complex), "complex"),
        (lambda rows: rows.astype(object).astype(str), "must be real numbers"),
    ],
)
def test_model_output_that_is_not_real_rows_is_an_error(convert, message):
    model = _Wrapped(convert)
    for search in (
        lambda: beam_search(model, [], 3, 2),
        lambda: beam_search_batch(model, [[], [0]], 3, 2),
    ):
        with pytest.raises(InvalidInputError, match=message):
            search()


@pytest.mark.parametrize(
    "builder, named",
    [
        (handoff.beams, handoff.Beams),
        (handoff.search, handoff.Search),
        (handoff.store, handoff.Store),
        (handoff.rule, handoff.Rule),
    ],
)
def test_each_handoff_builder_takes_its_named_tuples_fields_in_order(builder, named):
    """The compiled step names the builders' plain tuples with the named
    tuples: the two lists of fields must be one."""
    parameters = inspect.signature(builder).parameters
    assert tuple(parameters) == named._fields
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters.values())
    values = {name: i for i, name in enumerate(named._fields)}
    assert named._make(builder(**values)) == named(**values)
