"""The probability of a word under a model (Pimentel & Meister 2024), end to
end: seqscore's ``word_surprisal`` against

* a brute-force computation in plain torch on a tiny byte-level BPE GPT-2
  (one forward pass over the whole text plus EOS, ``log_softmax``, the
  begin-of-word mass summed over a mask of the vocabulary's pieces written
  here from the pieces themselves), and
* ``wordsprobability`` 0.17 (the paper's authors' package, PyPI) run offline
  on the same local model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqscore.models import word_marks
from seqscore.models.builtin import load_builtin
from seqscore.models.hf import HFModel
from seqscore.models.loglikelihood import (
    TextCandidate,
    TextPrompt,
    TextScoring,
    forced_prompts,
)
from seqscore.models.tree import textbook_tree
from seqscore.models.word_marks import VocabMarks, vocab_marks
from seqscore.scoring.words import word_surprisals
from tests.tiny_lm import END, bpe_tokenizer, save_tiny_gpt2, tiny_gpt2

WORDS = TextScoring(offsets=True, words=True)

CASES = [
    ("The default value of the", " function is None"),
    ("If the", " value is"),
    ("Return a new", "  view   of the  object"),  # runs of spaces
    ("The first line\n", "of the file\nis read."),  # newlines, punctuation
    ("", "The attribute of an object"),  # a text's first word: no space
]


@pytest.fixture(scope="module")
def tiny():
    tokenizer = bpe_tokenizer()
    return tokenizer, tiny_gpt2(tokenizer)


def _begins(tokenizer) -> torch.Tensor:
    """Plain reading of the pieces: a byte-level piece whose first character
    stands for a whitespace byte (GPT-2's bytes_to_unicode maps space, tab,
    newline, CR, VT, FF to these)."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor([p[0] in "ĠĉĊċČč" for p in pieces])


def _brute(tokenizer, model, context: str, continuation: str):
    """(word, subword sum, word surprisal) by the paper's formula, from one
    plain forward pass over BOS/context + continuation + EOS."""
    end = tokenizer.convert_tokens_to_ids(END)
    # lm-eval's rule: the context's trailing whitespace goes to the continuation
    kept = context.rstrip()
    context, continuation = kept, context[len(kept) :] + continuation
    context_ids = tokenizer.encode(context) if context else [end]
    whole = tokenizer.encode(context + continuation) if context else []
    ids = whole[len(context_ids) :] if context else tokenizer.encode(continuation)
    rows_in = torch.tensor([[*context_ids, *ids, end]])
    with torch.no_grad():
        logp = torch.log_softmax(model(rows_in).logits[0].double(), -1)
    rows = logp[len(context_ids) - 1 : len(context_ids) + len(ids)]
    begins = _begins(tokenizer)
    begin_class = begins.clone()
    begin_class[end] = True
    token_logp = [float(rows[t, x]) for t, x in enumerate(ids)]
    begin = [float(torch.logsumexp(r[begin_class], 0)) for r in rows]
    inside = [float(torch.logsumexp(r[~begins], 0)) for r in rows]
    groups: list[list[int]] = []
    for t, x in enumerate(ids):  # a new word at each token that begins one,
        # but a token of spaces only opens the word after it
        blank = groups and not tokenizer.decode([ids[i] for i in groups[-1]]).strip()
        if not groups or (begins[x] and not blank):
            groups.append([t])
        else:
            groups[-1].append(t)
    out = []
    for group in groups:
        first, stop = group[0], group[-1] + 1
        subwords = -math.fsum(token_logp[first:stop])
        start = begin[first] if begins[ids[first]] else inside[first]
        text = tokenizer.decode(ids[first:stop]).strip()
        out.append((text, subwords, subwords - begin[stop] + start))
    return out


def _seqscore(model, context: str, continuation: str, scoring=WORDS):
    prompt = TextPrompt("p", context, (TextCandidate("a", continuation),))
    ((candidate,),) = [p.candidates for p in forced_prompts(model, [prompt], scoring)]
    return word_surprisals(candidate)


@pytest.mark.parametrize(("context", "continuation"), CASES)
def test_word_surprisal_equals_plain_torch(tiny, context, continuation):
    tokenizer, torch_model = tiny
    model = HFModel(torch_model, tokenizer)
    ours = _seqscore(model, context, continuation)
    theirs = _brute(tokenizer, torch_model, context, continuation)
    assert [w.word for w in ours] == [text for text, _, _ in theirs]
    for word, (_, subwords, surprisal) in zip(ours, theirs, strict=True):
        assert word.subword_sum == pytest.approx(subwords, abs=2e-5)
        assert word.word_surprisal == pytest.approx(surprisal, abs=2e-5)
        assert word.word_bits == pytest.approx(surprisal / math.log(2), abs=3e-5)
    # the correction is real here: the sums are not the words' surprisals
    assert any(abs(w.word_surprisal - w.subword_sum) > 1e-3 for w in ours)


def test_every_scoring_path_gives_the_same_words(tiny):
    """Packed rows with shared contexts, whole sequences, batch sizes: the
    extra row after each candidate is the same row."""
    tokenizer, torch_model = tiny
    prompts = [
        TextPrompt(
            f"p{i}",
            context,
            (TextCandidate("a", continuation), TextCandidate("b", " the value")),
        )
        for i, (context, continuation) in enumerate(CASES)
    ]
    runs = []
    for batch_size, share in ((None, True), (1, True), (3, False)):
        model = HFModel(torch_model, tokenizer, batch_size=batch_size)
        scoring = TextScoring(offsets=True, words=True, share_contexts=share)
        runs.append(
            [
                [w.word_surprisal for c in p.candidates for w in word_surprisals(c)]
                for p in forced_prompts(model, prompts, scoring)
            ]
        )
    for other in runs[1:]:
        np.testing.assert_allclose(
            np.concatenate(runs[0]), np.concatenate(other), atol=2e-5
        )


def test_words_leave_the_scores_unchanged(tiny):
    """The row after the candidate is computed, never counted."""
    tokenizer, torch_model = tiny
    model = HFModel(torch_model, tokenizer)
    prompts = [
        TextPrompt(f"p{i}", c, (TextCandidate("a", x),))
        for i, (c, x) in enumerate(CASES)
    ]
    plain = forced_prompts(model, prompts)
    worded = forced_prompts(model, prompts, WORDS)
    for a, b in zip(plain, worded, strict=True):
        np.testing.assert_array_equal(
            a.candidates[0].tokens.logprob, b.candidates[0].tokens.logprob
        )


def test_no_room_after_the_candidate_leaves_only_its_last_word_unknown(tiny):
    tokenizer, torch_model = tiny  # 64 positions
    model = HFModel(torch_model, tokenizer)
    continuation = " of the value"
    size = len(tokenizer.encode(continuation))
    context_ids = tokenizer.encode(" the object" * 40)[: 64 - size + 1]
    context = tokenizer.decode(context_ids)  # input fills all 64 positions
    words = _seqscore(model, context, continuation)
    assert words[-1].word_surprisal is None
    assert all(w.word_surprisal is not None for w in words[:-1])


def test_which_tokens_begin_a_word(tiny):
    tokenizer, torch_model = tiny
    marks = vocab_marks(HFModel(torch_model, tokenizer))
    assert marks.scheme == "bow"
    np.testing.assert_array_equal(marks.begins, _begins(tokenizer).numpy())
    end = tokenizer.convert_tokens_to_ids(END)
    assert not marks.begins[end] and marks.begin_class[end]  # EOS ends a word
    assert marks.inside_class[end]
    assert f"{int(marks.begins.sum())} of {len(tokenizer)} tokens" in marks.rule


def test_sentencepiece_marks():
    """A SentencePiece-style BPE (``▁`` for a space, trained here on the
    same documentation): its ``▁`` pieces and its raw newline begin words,
    its specials do not."""
    from pydoc_data.topics import topics

    import transformers
    from tokenizers import SentencePieceBPETokenizer

    backend = SentencePieceBPETokenizer()
    backend.train_from_iterator(
        [topics[k] for k in sorted(topics)][:50],
        vocab_size=300,
        special_tokens=["<s>", "</s>", "<unk>"],
        show_progress=False,
    )
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend._tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    marks = vocab_marks(HFModel(tiny_gpt2(tokenizer), tokenizer))
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    # "▁" for a space; a raw newline piece begins a word too
    expected = [p.startswith("▁") or p[:1].isspace() for p in pieces]
    assert marks.begins.tolist() == expected and any(expected)
    assert "SentencePiece" in marks.rule


def test_an_end_of_word_tokenizer_needs_no_correction():
    """Pieces that mark a word's end (``</w>``): the word's last token says
    it ends and the next begins, so the subword sum is the word's
    probability (the paper's end-of-word case)."""
    from pydoc_data.topics import topics

    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers
    from tokenizers.trainers import BpeTrainer

    backend = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = BpeTrainer(
        vocab_size=300, special_tokens=[END], end_of_word_suffix="</w>"
    )
    backend.train_from_iterator([topics[k] for k in sorted(topics)][:50], trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=END, eos_token=END
    )
    marks = vocab_marks(HFModel(tiny_gpt2(tokenizer), tokenizer))
    assert marks.scheme == "eow" and not marks.corrects
    assert not marks.begins.any()


@pytest.mark.parametrize("load", [load_builtin, textbook_tree])
def test_word_level_models_need_no_correction(load):
    """Models whose tokens are words: every token begins one, the boundary's
    mass is 1 and a word's surprisal is its token's, exactly."""
    model = load()
    marks = vocab_marks(model)
    assert marks.scheme == "word" and marks.begins.all()
    context, continuation = (
        ("the", " attribute of an object") if load is load_builtin else ("", "A C")
    )
    for word in _seqscore(model, context, continuation):
        assert word.word_surprisal == word.subword_sum


def test_against_wordsprobability(tiny, tmp_path):
    """The authors' package on the same model, read from disk. It scores
    each line after BOS and appends EOS, as seqscore does for an empty
    context. Its class of word-beginning tokens is the pieces starting with
    ``Ġ`` (it splits texts at newlines, so a newline never comes next);
    seqscore also counts the other whitespace bytes (``Ċ``...), since a
    newline ends a word too. Given the package's class, words after the
    first agree to float32 rounding. The first word (no space before it) is
    divided by P(the first token does not begin a word); the package counts
    EOS twice in that class (its ``mid`` mask already holds EOS, and it adds
    the EOS mask again), so there the two differ by exactly log(P(inside))
    - log(P(inside) + P(EOS)), which is checked too."""
    import wordsprobability  # the test extra's: never skipped
    from wordsprobability.models import MODELS
    from wordsprobability.models.bow_lm import GPT2BaseModel

    folder = save_tiny_gpt2(tmp_path / "m")

    class Local(GPT2BaseModel):
        model_name = str(folder)

    MODELS["seqscore-tiny"] = Local
    text = "The attribute of an object is the value of its name"
    try:
        frame = wordsprobability.get_surprisal_per_word(
            text, "seqscore-tiny", return_buggy_surprisals=True
        )
    finally:
        del MODELS["seqscore-tiny"]
    tokenizer, _ = tiny
    model = HFModel(*_load(folder))
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    space_only = torch.tensor([p.startswith("Ġ") for p in pieces])
    end = tokenizer.convert_tokens_to_ids(END)
    word_marks._READ[model] = VocabMarks(
        "bow", space_only.numpy(), end, "the package's class: 'Ġ' pieces"
    )
    ours = _seqscore(model, "", text)
    assert [w.word for w in ours] == list(frame["word"])
    theirs = frame["surprisal"].to_numpy(dtype=float)
    np.testing.assert_allclose(
        [w.subword_sum for w in ours],
        frame["surprisal_buggy"].to_numpy(float),
        atol=1e-4,
    )
    np.testing.assert_allclose(
        [w.word_surprisal for w in ours][1:], theirs[1:], atol=1e-4
    )
    with torch.no_grad():
        first_row = torch.log_softmax(
            model.model(torch.tensor([[end]])).logits[0, 0].double(), -1
        )
    inside = float(torch.logsumexp(first_row[~space_only], 0))
    doubled = float(torch.logaddexp(torch.tensor(inside), first_row[end]))
    assert ours[0].word_surprisal - theirs[0] == pytest.approx(
        inside - doubled, abs=1e-4
    )


def _load(folder):
    import transformers

    return (
        transformers.AutoModelForCausalLM.from_pretrained(folder).eval(),
        transformers.AutoTokenizer.from_pretrained(folder),
    )
