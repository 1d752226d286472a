"""Scoring candidate texts with a model, against lm-eval's rule in plain torch.

The model is a tiny random GPT-2 with a byte-level BPE tokenizer trained
offline (:mod:`tests.tiny_lm`); its context is 64 positions, so truncation
is exercised with short texts. The reference, :func:`lm_eval_reference`, is
lm-evaluation-harness 0.4.13's ``loglikelihood`` written out here in plain
torch: ``TemplateLM.loglikelihood`` / ``_encode_pair`` for the ids, and
``HFLM._loglikelihood_tokens`` for the forward pass, ``log_softmax``, the
continuation slice, ``gather`` and the greedy check.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers

from seqscore.decoding import beam_search, greedy
from seqscore.errors import InvalidInputError
from seqscore.models.builtin import load_builtin
from seqscore.models.forced import teacher_force_text
from seqscore.models.hf import HFModel
from seqscore.models.hf_keys import continuation_cache
from seqscore.models.loglikelihood import (
    ModelScoring,
    Tally,
    TextCandidate,
    TextPrompt,
    TextScoring,
    forced_items,
    forced_prompts,
    loglikelihoods,
    prompt_requests,
    score_texts,
)
from seqscore.models.served import ServedOptions
from tests.tiny_lm import bpe_tokenizer, tiny_gpt2, tiny_llama, tiny_sliding_mistral

MAX = 64


@pytest.fixture(scope="module")
def tokenizer():
    return bpe_tokenizer()


@pytest.fixture(scope="module")
def gpt2(tokenizer):
    return tiny_gpt2(tokenizer, n_positions=MAX)


def lm_eval_reference(model, tokenizer, context, continuation, max_length=MAX):
    """``(loglikelihood, is_greedy)`` as lm-eval 0.4.13 computes them."""
    if context == "":
        cont = tokenizer.encode(continuation, add_special_tokens=False)
        prefix = tokenizer.bos_token_id
        ctx, cont = ([prefix], cont) if prefix != cont[0] else (cont[:1], cont[1:])
    else:
        spaces = len(context) - len(context.rstrip())
        if spaces:
            continuation = context[-spaces:] + continuation
            context = context[:-spaces]
        whole = tokenizer.encode(context + continuation)
        ctx = tokenizer.encode(context)
        cont = whole[len(ctx) :]
    inp = (ctx + cont)[-(max_length + 1) :][:-1]
    with torch.no_grad():
        logits = model(torch.tensor([inp])).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)[len(inp) - len(cont) : len(inp)]
    target = torch.tensor(cont)
    greedy_ok = bool((logp.argmax(dim=-1) == target).all())
    # lm-eval sums the float32 log-probs in float32; summed in float64 here,
    # so that long continuations compare to 1e-5 without its rounding
    return float(logp.gather(1, target[:, None]).double().sum()), greedy_ok


LONG = " ".join(["The quick brown fox jumps over the lazy dog."] * 8)

CASES = [
    ("The value of the", " expression is"),
    ("Return the value ", "of the attribute"),  # trailing space moves over
    ("", "Hello there"),  # empty context: the prefix token
    (LONG, " and then it sleeps."),  # truncated from the left to 64 positions
    ("x", "y"),
]


def test_scores_equal_lm_evals_rule(gpt2, tokenizer):
    model = HFModel(gpt2, tokenizer)
    ours = loglikelihoods(model, CASES)
    for (context, continuation), result in zip(CASES, ours, strict=True):
        expected, is_greedy = lm_eval_reference(gpt2, tokenizer, context, continuation)
        assert result.logprob == pytest.approx(expected, abs=1e-5)
        assert result.is_greedy == is_greedy
    assert len(tokenizer.encode(LONG)) > MAX  # the long case was truncated


def test_a_greedy_continuation_is_greedy_as_in_lm_eval(gpt2, tokenizer):
    # continuations made by greedy decoding, kept where the text re-encodes
    # to the same ids after the context (lm-eval then calls them greedy)
    model = HFModel(gpt2, tokenizer)
    found = 0
    for context in ("the value", "of the", "returns a", "an class", "return the"):
        ids = tokenizer.encode(context)
        for steps in (1, 2, 3):
            generated = list(greedy(model, ids, steps).ids)
            text = tokenizer.decode(generated)
            if tokenizer.encode(context + text)[len(ids) :] == generated:
                break
        else:
            continue
        expected, is_greedy = lm_eval_reference(gpt2, tokenizer, context, text)
        (result,) = loglikelihoods(model, [(context, text)])
        assert result.logprob == pytest.approx(expected, abs=1e-5)
        assert is_greedy and result.is_greedy
        found += 1
    assert found >= 3


def _candidates(rng, words, *, longest: int, most: int) -> tuple[TextCandidate, ...]:
    """1 to ``most`` candidates of 1 to ``longest`` random words each."""
    return tuple(
        TextCandidate(
            f"c{c}", " " + " ".join(rng.choice(words, rng.integers(1, longest + 1)))
        )
        for c in range(rng.integers(1, most + 1))
    )


def _prompts(seed: int, count: int = 24) -> list[TextPrompt]:
    rng = np.random.default_rng(seed)
    words = [*LONG.split(), "value", "object", "return", "class", "the", "of"]
    prompts = []
    for p in range(count):
        context = " ".join(rng.choice(words, rng.integers(0, 12)))
        candidates = _candidates(rng, words, longest=8, most=5)
        prompts.append(TextPrompt(f"p{p}", context, candidates))
    return prompts


def _scores(model, prompts, **options):
    return {
        (p.id, c.id): c.tokens.logprob
        for p in forced_prompts(model, prompts, **options)
        for c in p.candidates
    }


@pytest.mark.parametrize("batch_size", [1, 7, 64, None])
@pytest.mark.parametrize("share", [True, False])
def test_scores_do_not_depend_on_batching_or_sharing(
    gpt2, tokenizer, batch_size, share
):
    prompts = _prompts(0)
    reference = _scores(
        HFModel(gpt2, tokenizer, batch_size=1), prompts, share_contexts=False
    )
    ours = _scores(
        HFModel(gpt2, tokenizer, batch_size=batch_size), prompts, share_contexts=share
    )
    assert ours.keys() == reference.keys()
    for key, logprob in ours.items():
        np.testing.assert_allclose(logprob, reference[key], atol=1e-5, rtol=0)


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_a_sliding_window_model_shares_contexts_without_padding_them(
    tokenizer, batch_size
):
    # Its cache keeps the last 4 positions of each context row: had contexts
    # of different lengths been right-padded together, a shorter one's
    # continuations would attend to padding (scores off by up to 4.5 nats
    # before contexts ran one per chunk for such models)
    mistral = tiny_sliding_mistral(tokenizer, sliding_window=4)
    prompts = _prompts(0)
    reference = _scores(
        HFModel(mistral, tokenizer, batch_size=1), prompts, share_contexts=False
    )
    ours = _scores(HFModel(mistral, tokenizer, batch_size=batch_size), prompts)
    assert max(len(p.context.split()) for p in prompts) > 4  # the window bites
    for key, logprob in ours.items():
        np.testing.assert_allclose(logprob, reference[key], atol=1e-5, rtol=0)


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_a_rotary_model_packs_its_rows_and_scores_as_whole_sequences(
    tokenizer, batch_size
):
    # Llama's positions enter through rotations of queries and keys: the
    # position ids of a packed row restart after the context, so each
    # continuation is rotated as in its own sequence
    llama = tiny_llama(tokenizer)
    prompts = _prompts(4)
    reference = _scores(
        HFModel(llama, tokenizer, batch_size=1), prompts, share_contexts=False
    )
    model = HFModel(llama, tokenizer, batch_size=batch_size)
    assert model._packs
    for key, logprob in _scores(model, prompts).items():
        np.testing.assert_allclose(logprob, reference[key], atol=1e-5, rtol=0)


def _few_shot_prompts(seed: int, count: int = 12) -> list[TextPrompt]:
    """Prompts after one of two blocks of shots (each well over 16 tokens),
    one block inside the other: nested shared prefixes."""
    rng = np.random.default_rng(seed)
    words = [*LONG.split(), "value", "object", "return", "class"]
    shots = " ".join(rng.choice(words, 20))
    blocks = [shots, shots + " " + " ".join(rng.choice(words, 12))]
    prompts = []
    for p in range(count):
        question = " ".join(rng.choice(words, rng.integers(1, 6)))
        candidates = _candidates(rng, words, longest=3, most=3)
        prompts.append(TextPrompt(f"p{p}", f"{blocks[p % 2]} {question}", candidates))
    return prompts


@pytest.mark.parametrize("make", ["gpt2", "llama"])
@pytest.mark.parametrize("batch_size", [1, 5, None])
def test_shared_prefixes_score_as_whole_sequences(gpt2, tokenizer, make, batch_size):
    # rotary positions (Llama) and learned ones (GPT-2) both continue after
    # the prefix: each remainder is placed as in its own sequence
    lm = gpt2 if make == "gpt2" else tiny_llama(tokenizer)
    prompts = _few_shot_prompts(1)
    reference = _scores(
        HFModel(lm, tokenizer, batch_size=1), prompts, share_contexts=False
    )
    model = HFModel(lm, tokenizer, batch_size=batch_size)
    assert model._packed.sharing is not None
    ours = _scores(model, prompts)
    assert ours.keys() == reference.keys()
    for key, logprob in ours.items():
        np.testing.assert_allclose(logprob, reference[key], atol=1e-5, rtol=0)


def test_a_continuation_pass_reads_context_keys_and_keeps_none(gpt2, tokenizer):
    # GPT-2's layers are plain full attention: each layer of a continuation
    # pass gathers its rows' context keys when it runs and stores nothing
    # (the context's tensors are untouched after the pass), and the pass
    # computes what it computes from a DynamicCache filled with copies
    model = HFModel(gpt2, tokenizer)
    assert model._cached.plain_cache
    keys = model._cached.context_pass([(5, 6, 7, 8), (9, 10)])  # padded to 3
    layers = list(keys.layers)
    rows = torch.tensor([0, 0, 1])
    ids = torch.tensor([[8, 11], [8, 12], [10, 13]])
    mask = torch.cat([keys.mask[rows], torch.ones(3, 2, dtype=torch.long)], dim=1)
    positions = torch.tensor([[3, 4], [3, 4], [1, 2]])
    caches, states = {}, {}
    for plain in (True, False):
        caches[plain] = continuation_cache(keys, rows, gpt2.config, plain=plain)
        states[plain] = model._runner.forward(
            ids, mask, positions=positions, cache=caches[plain], head=False
        )[0]
    torch.testing.assert_close(states[True], states[False], rtol=0, atol=1e-6)
    for layer, (k, v) in zip(caches[True].layers, layers, strict=True):
        assert layer.keys is k and layer.values is v
        assert layer.get_seq_length() == 3


def test_a_candidates_score_does_not_depend_on_the_others(gpt2, tokenizer):
    model = HFModel(gpt2, tokenizer, batch_size=4)
    prompts = _prompts(1, count=8)
    together = _scores(model, prompts)
    for prompt in prompts[:4]:
        for candidate in prompt.candidates:
            alone = _scores(
                model, [TextPrompt(prompt.id, prompt.context, (candidate,))]
            )
            np.testing.assert_allclose(
                alone[prompt.id, candidate.id],
                together[prompt.id, candidate.id],
                atol=1e-5,
            )


class _Passes:
    """Records every forward pass of a torch model: (rows, positions, cache)."""

    def __init__(self, module):
        self.calls, self.ids = [], []
        self.handle = module.register_forward_pre_hook(self._record, with_kwargs=True)

    def _record(self, module, args, kwargs):
        ids = kwargs["input_ids"]
        self.calls.append((ids.shape[0], ids.shape[1], bool(kwargs.get("use_cache"))))
        self.ids.append(ids.tolist())

    def close(self):
        self.handle.remove()


def _ten_prompts_of_four(candidate_words: int = 2):
    words = ["alpha", "beta", "gamma", "delta", "the", "value"]
    return [
        TextPrompt(
            f"p{p}",
            f"Context number {p} says " + " ".join(words[: 1 + p % 5]),
            tuple(
                TextCandidate(
                    f"c{c}", " " + " ".join([words[c], words[p % 6]][:candidate_words])
                )
                for c in range(4)
            ),
        )
        for p in range(10)
    ]


def _passes_of(model, prompts):
    passes = _Passes(model.model.base_model)  # the transformer, with or without head
    try:
        forced_prompts(model, prompts)
    finally:
        passes.close()
    return passes


def test_packed_rows_run_each_context_once_in_one_pass_per_batch(gpt2, tokenizer):
    # 10 prompts x 4 candidates, 8 rows a pass: each prompt is one row (its
    # context, then its 4 continuations), so 2 passes (8 + 2 rows) in all,
    # where a pass per token would be hundreds, and each context's ids
    # start exactly one row (one-word candidates: the rows fit 64 positions)
    model = HFModel(gpt2, tokenizer, batch_size=8)
    assert model._packs
    prompts = _ten_prompts_of_four(candidate_words=1)
    passes = _passes_of(model, prompts)
    assert [rows for rows, _, _ in passes.calls] == [8, 2]
    starts = [row for batch in passes.ids for row in batch]
    for prompt in prompts:
        context = tokenizer.encode(prompt.context)
        assert sum(row[: len(context)] == context for row in starts) == 1


def test_one_context_pass_per_chunk_of_prompts_and_one_pass_per_candidate_batch(
    gpt2, tokenizer
):
    # Without packing (a model whose attention takes no custom mask): the
    # contexts run in two passes (8 + 2 distinct contexts), their 32 + 8
    # candidates in 4 + 1 passes -- 7 passes in all
    model = HFModel(gpt2, tokenizer, batch_size=8)
    model._packs = False
    passes = _passes_of(model, _ten_prompts_of_four())
    context_passes = [c for c in passes.calls if c[2]]
    continuation_passes = [c for c in passes.calls if not c[2]]
    assert [rows for rows, _, _ in context_passes] == [8, 2]
    assert [rows for rows, _, _ in continuation_passes] == [8, 8, 8, 8, 8]
    assert len(passes.calls) == 7


@pytest.mark.parametrize("share", [True, False])
def test_logits_are_computed_only_for_the_scored_positions(gpt2, tokenizer, share):
    # no rows for context tokens or padding: one per continuation token
    model = HFModel(gpt2, tokenizer, batch_size=5)
    requests = [r for p in _prompts(3) for r in prompt_requests(model, p)[0]]
    blocks = list(model.continuation_logits(requests, share_contexts=share))
    assert sum(len(block.logits) for block in blocks) == sum(
        len(r.continuation) for r in requests
    )
    scored = sorted(i for block in blocks for i in block.requests)
    assert scored == list(range(len(requests)))


class _HalvedLogits(transformers.GPT2LMHeadModel):
    """A model that changes its logits after the output layer, as soft-capped
    or scaled models (Gemma 2, Cohere) do."""

    def forward(self, input_ids=None, cache=None, logits_to_keep=0, **kwargs):
        out = super().forward(
            input_ids, cache=cache, logits_to_keep=logits_to_keep, **kwargs
        )
        out.logits = out.logits / 2
        return out


def test_a_model_that_changes_its_logits_after_the_head_is_scored_by_them(
    gpt2, tokenizer
):
    halved = _HalvedLogits(gpt2.config)
    halved.load_state_dict(gpt2.state_dict())
    halved.eval()
    ours = loglikelihoods(HFModel(halved, tokenizer), CASES)
    for (context, continuation), result in zip(CASES, ours, strict=True):
        expected, is_greedy = lm_eval_reference(
            halved, tokenizer, context, continuation
        )
        assert result.logprob == pytest.approx(expected, abs=1e-5)
        assert result.is_greedy == is_greedy


def test_unconditional_scores_share_one_context(gpt2, tokenizer):
    prompts = _prompts(2, count=6)
    scored = forced_prompts(HFModel(gpt2, tokenizer), prompts, unconditional="")
    for prompt, text_prompt in zip(scored, prompts, strict=True):
        for candidate, text in zip(
            prompt.candidates, text_prompt.candidates, strict=True
        ):
            expected, _ = lm_eval_reference(gpt2, tokenizer, "", text.text)
            assert candidate.unconditional == pytest.approx(expected, abs=1e-5)
            assert candidate.reductions().pmi == pytest.approx(
                candidate.reductions().sum - expected, abs=1e-5
            )


def test_the_builtin_model_scores_texts_by_teacher_forcing():
    model = load_builtin()
    prompt = TextPrompt("q", "if the", (TextCandidate("a", " value is not."),))
    (scores,) = score_texts(model, [prompt])
    (forced,) = teacher_force_text(model, "if the", ["value is not."])
    assert scores[0].score == pytest.approx(float(np.sum(forced.logprob)), abs=1e-12)
    assert scores[0].n_tokens == len(forced.logprob) == 4  # value is not <eos>


# ------------------------------------------------------------ settings


def test_a_model_job_is_one_frozen_object_and_its_key_is_the_model():
    texts = TextScoring(unconditional="", share_contexts=False, offsets=True)
    job = ModelScoring("hf:./gpt2", batch_size=8, dtype="bfloat16", texts=texts)
    assert job.load_options == {
        "batch_size": 8,
        "dtype": "bfloat16",
        "device": None,
        "max_prefix_cache": None,
        "served": ServedOptions(),
    }
    assert job.load_key == ("hf:./gpt2", 8, "bfloat16", None, None, ServedOptions())
    # how texts are scored is no part of which model is loaded
    assert job.load_key == ModelScoring("hf:./gpt2", 8, "bfloat16").load_key
    assert ModelScoring("builtin").texts == TextScoring()
    with pytest.raises(AttributeError):
        job.texts = TextScoring()  # type: ignore[misc]
    assert hash(job) == hash(ModelScoring("hf:./gpt2", 8, "bfloat16", None, texts))


def test_text_scoring_given_whole_or_by_its_fields_scores_alike():
    model = load_builtin()
    prompts = [
        TextPrompt(
            "q", "if the", (TextCandidate("a", " value"), TextCandidate("b", " end"))
        ),
        TextPrompt("r", "", (TextCandidate("c", "the value is"),)),
    ]
    scoring = TextScoring(unconditional="", offsets=True)
    whole = forced_prompts(model, prompts, scoring)
    fields = forced_prompts(model, prompts, unconditional="", offsets=True)
    tally = Tally()
    streamed = list(forced_items(model, iter(prompts), scoring, tally=tally))
    assert tally.requests == 2 * 3  # each candidate, and after the unconditional text
    for a, b, c in zip(whole, fields, streamed, strict=True):
        for x, y, z in zip(a.candidates, b.candidates, c.candidates, strict=True):
            assert x.unconditional is not None
            assert x.unconditional == y.unconditional == z.unconditional
            np.testing.assert_array_equal(x.tokens.logprob, y.tokens.logprob)
            np.testing.assert_array_equal(x.tokens.logprob, z.tokens.logprob)
            np.testing.assert_array_equal(x.tokens.offsets, z.tokens.offsets)
    assert score_texts(model, prompts, "sum", 1.0, scoring) == score_texts(
        model, prompts, unconditional="", offsets=True
    )
    with pytest.raises(TypeError, match="not both"):
        forced_prompts(model, prompts, scoring, offsets=True)


# ------------------------------------------------------------ bad input


def test_an_empty_candidate_is_an_error_naming_it(gpt2, tokenizer):
    prompt = TextPrompt("q", "The", (TextCandidate("a", " x"), TextCandidate("b", "")))
    with pytest.raises(InvalidInputError, match=r"prompt 'q': candidate 'b'.*empty"):
        forced_prompts(HFModel(gpt2, tokenizer), [prompt])


def test_a_continuation_longer_than_the_model_is_an_error_naming_it(gpt2, tokenizer):
    prompt = TextPrompt("q", "The", (TextCandidate("long", " " + LONG),))
    with pytest.raises(
        InvalidInputError, match=r"candidate 'long'.*more than the model's 64"
    ):
        forced_prompts(HFModel(gpt2, tokenizer), [prompt])


def test_text_needs_a_tokenizer(gpt2):
    prompt = TextPrompt("q", "The", (TextCandidate("a", " x"),))
    with pytest.raises(InvalidInputError, match="no tokenizer"):
        forced_prompts(HFModel(gpt2), [prompt])


# ------------------------------------------------------------- decoding


class _Uncached(HFModel):
    """The adapter with its key-value cache emptied before every call."""

    def next_logprobs(self, prefixes):
        self._decoder.cache.kept = {}
        return super().next_logprobs(prefixes)


@pytest.mark.parametrize("width", [1, 4])
def test_cached_decoding_equals_uncached_and_runs_one_position_per_step(
    gpt2, tokenizer, width
):
    prompt = tokenizer.encode("The value of the")
    cached, plain = HFModel(gpt2, tokenizer), _Uncached(gpt2, tokenizer)
    passes = _Passes(gpt2)
    try:
        ours = beam_search(cached, prompt, 12, width) if width > 1 else None
        mine = greedy(cached, prompt, 12) if width == 1 else None
    finally:
        passes.close()
    # after the first step every pass reads one new position per row
    assert passes.calls[0][1] == len(prompt)
    assert all(positions == 1 for _, positions, _ in passes.calls[1:])
    if width == 1:
        theirs = greedy(plain, prompt, 12)
        assert mine.ids == theirs.ids
        np.testing.assert_allclose(mine.logprobs, theirs.logprobs, atol=1e-5)
    else:
        theirs = beam_search(plain, prompt, 12, width)
        assert [h.ids for h in ours.hypotheses] == [h.ids for h in theirs.hypotheses]
        np.testing.assert_allclose(
            [h.score for h in ours.hypotheses],
            [h.score for h in theirs.hypotheses],
            atol=1e-5,
        )


@pytest.mark.parametrize("bias", [False, True])
def test_the_head_in_slices_is_the_linear_layer(bias):
    # 1,500 outputs: two whole slices of 512 and a part one
    from seqscore.models.hf_forward import apply_head

    torch.manual_seed(0)
    head = torch.nn.Linear(64, 1500, bias=bias)
    states = torch.randn(37, 64)
    with torch.inference_mode():
        torch.testing.assert_close(
            apply_head(head, states), head(states), rtol=1e-6, atol=1e-6
        )


class _IgnoresMasks(transformers.GPT2LMHeadModel):
    """A model whose forward drops the attention mask it is given."""

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        return super().forward(input_ids, **kwargs)


def test_packing_is_used_only_where_the_probe_finds_the_mask_applied(gpt2, tokenizer):
    from seqscore.models.hf_packing import packing_works

    assert packing_works(gpt2)
    ignoring = _IgnoresMasks(gpt2.config)
    ignoring.load_state_dict(gpt2.state_dict())
    ignoring.eval()
    assert not packing_works(ignoring)
    assert not HFModel(ignoring, tokenizer)._packs


def test_top_alternatives_are_named_by_their_texts():
    """With ``top_k``, each step's alternatives are the tokens' texts (the
    ids' order: best first), as the scored tokens themselves are."""
    tokenizer = bpe_tokenizer()
    torch_model = tiny_gpt2(tokenizer)
    model = HFModel(torch_model, tokenizer)
    prompt = TextPrompt("q", "The value of", (TextCandidate("a", " the object"),))
    (scored,) = forced_prompts(model, [prompt], TextScoring(top_k=3))
    tokens = scored.candidates[0].tokens
    context = tokenizer.encode("The value of")
    ids = tokenizer.encode("The value of the object")
    with torch.no_grad():
        logits = torch_model(torch.tensor([ids])).logits[0]
    for step, row in enumerate(logits[len(context) - 1 : len(ids) - 1]):
        best = torch.topk(row, 3).indices.tolist()
        # a byte that is part of a character is kept as its surrogate escape
        # (models/token_text.py), where the tokenizer decodes it to U+FFFD
        shown = [
            text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            for text in tokens.top_tokens[step]
        ]
        assert shown == [tokenizer.decode([i]) for i in best]
