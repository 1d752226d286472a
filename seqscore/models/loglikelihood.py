r"""Scoring candidate *texts* with a model.

The path from a model and texts to scores:

    texts -> :func:`~seqscore.models.requests.encode_request` (lm-eval's rule)
      -> :func:`~seqscore.models.requests.fit_request` (left truncation)
      -> the model's logits, block by block (:class:`LogitsBlock`)
      -> :func:`~seqscore.numerics.kernels.token_stats`
      -> :class:`~seqscore.scoring.TokenScores`
      -> :class:`~seqscore.scoring.Prompt` -> :func:`~seqscore.scoring.score_prompt`

A model scores requests in one of two ways:

* a *sequence model* has ``continuation_logits(requests)``, yielding
  :class:`LogitsBlock` s: one forward pass gives the logits of every
  position of a batch of sequences (the Hugging Face adapter, which also
  runs each distinct context once for all its continuations);
* any other :class:`~seqscore.decoding.LanguageModel` (the built-in model,
  logit trees) is teacher-forced through ``next_logprobs``: every prefix of
  every continuation, 256 prefixes per call (:func:`prefix_blocks`).

Either way each block goes through the token kernel and is dropped, so the
logits of all requests are never held at once, and a request's scores
depend on nothing but its own ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

import numpy as np

from seqscore.decoding.protocol import next_logprobs, vocab_text
from seqscore.errors import InvalidInputError, Rejected
from seqscore.models.chat import ChatSettings, Message, render_chat
from seqscore.models.requests import (
    Request,
    continuation_offsets,
    encode_request,
    fit_request,
)
from seqscore.models.served import ServedOptions
from seqscore.models.word_marks import VocabMarks, vocab_marks
from seqscore.numerics.boundaries import class_logmass
from seqscore.numerics.kernels import token_stats
from seqscore.scoring.candidates import (
    Candidate,
    CandidateScore,
    Loglikelihood,
    Prompt,
    TokenScores,
    score_prompt,
    sequence_logprob,
    token_scores_from_stats,
)

__all__ = [
    "LogitsBlock",
    "ModelScoring",
    "Tally",
    "TextCandidate",
    "TextPrompt",
    "TextScoring",
    "context_text",
    "forced_items",
    "forced_prompts",
    "loglikelihoods",
    "model_request",
    "prefix_blocks",
    "prompt_requests",
    "request_token_scores",
    "score_texts",
]

# prefixes per next_logprobs call of the teacher-forcing fallback: bounds
# the (rows, V) block held at once
PREFIXES_PER_CALL = 256

Progress = Callable[[int, int], None]


class LogitsBlock(NamedTuple):
    """Logits of one forward pass, aligned to the continuations they score.

    ``logits`` is ``(R, V)``; request ``requests[i]`` (an index into the
    caller's list) is scored by rows ``offsets[i] .. offsets[i] + n - 1``
    for its ``n`` continuation ids: row ``offsets[i] + t`` holds the logits
    (or log-probs) that predict continuation token ``t``.
    """

    logits: np.ndarray
    requests: Sequence[int]
    offsets: Sequence[int]


@dataclass(frozen=True)
class TextCandidate:
    """A candidate completion given as text."""

    id: str
    text: str


@dataclass(frozen=True)
class TextPrompt:
    """A context and its candidate completions, as text; ``source`` locates
    the record in its file. The context may be a conversation (chat
    :class:`~seqscore.models.chat.Message` s), rendered with the model's
    chat template when scored."""

    id: str
    context: str | tuple[Message, ...]
    candidates: tuple[TextCandidate, ...]
    source: str = ""

    def __post_init__(self):
        if not self.candidates:
            raise InvalidInputError(f"prompt {self.id!r} has no candidates")


# ----------------------------------------------------------------- requests


def request_token_scores(
    model,
    requests: Sequence[Request],
    *,
    top_k: int = 0,
    share_contexts: bool = True,
    labels: Sequence[str] | None = None,
    on_progress: Progress | None = None,
    refused: dict[int, str] | None = None,
    words: VocabMarks | None = None,
) -> list[TokenScores]:
    """The :class:`~seqscore.scoring.TokenScores` of each request's
    continuation under ``model``, in input order.

    ``labels[i]`` names request ``i`` in errors (a record and candidate);
    with ``refused``, a served model's requests that the server or the
    split refuses (:class:`~seqscore.errors.InvalidInputError`) are kept
    there, ``{index: reason}``, their scores None, instead of raised;
    ``share_contexts=False`` makes a sequence model run every request as a
    whole sequence (the results agree to float32 rounding: a check, not a
    mode anyone needs). ``words`` (a model's
    :class:`~seqscore.models.word_marks.VocabMarks`) adds what word
    probabilities need to each :class:`~seqscore.scoring.TokenScores`
    (``word_start``, ``boundary_logmass``): each request runs with one more
    position, the row after its last token, where the model has room.

    >>> from seqscore.models.tree import textbook_tree
    >>> tree = textbook_tree()
    >>> requests = [Request((), (0, 2, 5)), Request((), (1, 2, 5))]
    >>> a, b = request_token_scores(tree, requests)
    >>> np.exp(a.logprob).round(4).tolist(), np.exp(b.logprob).round(4).tolist()
    ([0.6, 0.3333, 1.0], [0.4, 0.9, 1.0])
    """
    if hasattr(model, "request_scores"):  # a served model: no logits here
        return model.request_scores(
            requests,
            top_k=top_k,
            labels=labels,
            on_progress=on_progress,
            refused=refused,
        )
    out: list[TokenScores | None] = [None] * len(requests)
    sizes = [len(r.continuation) for r in requests]
    if words is not None:
        requests = [_with_next_row(r, words, model) for r in requests]
    if hasattr(model, "continuation_logits"):
        blocks = model.continuation_logits(requests, share_contexts=share_contexts)
    else:
        blocks = prefix_blocks(model, requests)
    done = 0
    for block in blocks:
        scored = _block_scores(model, block, requests, top_k, labels, sizes, words)
        for index, scores in scored:
            out[index] = scores
        done += len(block.requests)
        if on_progress is not None:
            on_progress(done, len(requests))
        del block  # not held while the model computes the next one
    return out  # type: ignore[return-value]


def prefix_blocks(model, requests: Sequence[Request]) -> Iterator[LogitsBlock]:
    """Teacher forcing through ``model.next_logprobs``: blocks of the
    next-token log-probs after every prefix of each continuation (for models
    that only answer next-token questions)."""
    batch: list[int] = []
    prefixes: list[tuple[int, ...]] = []
    for index, request in enumerate(requests):
        ids = request.continuation
        steps = [(*request.context, *ids[:t]) for t in range(len(ids))]
        if batch and len(prefixes) + len(steps) > PREFIXES_PER_CALL:
            yield _prefix_block(model, batch, prefixes, requests)
            batch, prefixes = [], []
        batch.append(index)
        prefixes.extend(steps)
    if batch:
        yield _prefix_block(model, batch, prefixes, requests)


def _prefix_block(model, batch, prefixes, requests) -> LogitsBlock:
    rows = next_logprobs(model, prefixes)
    sizes = [len(requests[i].continuation) for i in batch]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    return LogitsBlock(rows, batch, offsets)


def _with_next_row(request: Request, words: VocabMarks, model) -> Request:
    """``request`` scoring one more token (end of sequence, or id 0 for a
    model without one: never reported, only its row is read), so that the
    model computes the row after the continuation's last token; unchanged
    where that would not fit the model."""
    probe = words.end_id if words.end_id is not None else 0
    longer = replace(request, continuation=(*request.continuation, probe))
    limit = getattr(model, "max_length", None)
    return request if limit is not None and longer.input_length > limit else longer


def _block_scores(model, block: LogitsBlock, requests, top_k, labels, real, words):
    """``(request index, TokenScores)`` for each request of ``block``, over
    its ``real[index]`` own tokens (a token past them asks for the row after
    the last); the kernel runs once over a block whose requests tile it in
    order."""
    sizes = [len(requests[i].continuation) for i in block.requests]
    targets = [requests[i].continuation for i in block.requests]
    if _tiles(block, sizes):
        stats = _stats(block.logits, np.concatenate(targets), top_k, block, labels)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()
    else:
        stats = None
        starts = [0] * len(sizes)
    vocab, texts = model.vocab, vocab_text(model)
    named = texts is not vocab  # a tokenizer's pieces, besides their texts
    for j, index in enumerate(block.requests):
        rows = block.logits[block.offsets[j] : block.offsets[j] + sizes[j]]
        mine = stats
        if mine is None:
            mine = _stats(rows, targets[j], top_k, block, labels, j)
        ids = targets[j][: real[index]]
        span = slice(int(starts[j]), int(starts[j]) + len(ids))
        tokens = token_scores_from_stats(
            mine, span, np.array(ids), texts, vocab if named else None
        )
        if words is not None:
            tokens = replace(
                tokens,
                word_start=words.begins[np.asarray(ids)],
                boundary_logmass=_boundary_logmass(rows, len(ids), words),
            )
        yield index, tokens


def _boundary_logmass(rows, size: int, words: VocabMarks) -> np.ndarray:
    """The ``(size + 1, 2)`` boundary log-masses of a continuation of
    ``size`` tokens from its rows (one per token, and the row after the
    last where the model had room for it; NaN where not)."""
    mass = np.full((size + 1, 2), np.nan)
    mass[: len(rows)] = class_logmass(rows, words.classes)
    return mass


def _tiles(block: LogitsBlock, sizes: list[int]) -> bool:
    """The requests' rows are the whole block, in order, without gaps."""
    return list(block.offsets) == np.concatenate(
        [[0], np.cumsum(sizes)[:-1]]
    ).tolist() and sum(sizes) == len(block.logits)


def _stats(logits, targets, top_k, block, labels, position=None):
    """The kernel's stats; a bad logit is reported against the request."""
    try:
        return token_stats(logits, np.asarray(targets, dtype=np.int64), top_k=top_k)
    except InvalidInputError as exc:
        which = (
            f"request {block.requests[position]}"
            if position is not None
            else f"requests {block.requests[0]}..{block.requests[-1]}"
        )
        if labels is not None and position is not None:
            which = labels[block.requests[position]]
        raise InvalidInputError(f"the model's output for {which}: {exc}") from None


# -------------------------------------------------------------------- texts


@dataclass(frozen=True)
class TextScoring:
    """How texts are scored, beyond the model.

    ``unconditional``: a text (``""`` is lm-eval's ``acc_mutual_info``
    context) after which every candidate is scored too, for the ``pmi``
    reduction; ``top_k``: alternatives kept per step; ``share_contexts``:
    see :func:`request_token_scores`; ``offsets``: record each token's
    characters in the candidate's text (for words, :mod:`seqscore.scoring.words`);
    ``words``: also what a word's probability needs, the masses of a word
    boundary after each token (one more row per candidate);
    ``chat``: how a conversation context becomes text
    (:class:`~seqscore.models.chat.ChatSettings`).
    """

    unconditional: str | None = None
    top_k: int = 0
    share_contexts: bool = True
    offsets: bool = False
    words: bool = False
    chat: ChatSettings = ChatSettings()  # noqa: RUF009 (frozen: shared safely)


@dataclass(frozen=True)
class ModelScoring:
    """One job's model and how it scores texts: built once, from a command's
    flags, and passed down whole (to the process that loads the model, or to
    every Dask worker).

    ``spec`` names the model (``builtin``, ``tree:FILE`` or ``hf:NAME_OR_PATH``);
    every other field but ``texts`` is a keyword of
    :func:`~seqscore.models.load_model` (an ``hf:`` model's options; None:
    its default); ``texts`` is how it scores texts (:class:`TextScoring`).

    >>> job = ModelScoring("hf:./gpt2", dtype="bfloat16")
    >>> sorted(job.load_options)
    ['batch_size', 'device', 'dtype', 'max_prefix_cache', 'served']
    >>> job.load_options["dtype"]
    'bfloat16'
    >>> job.load_key == ModelScoring("hf:./gpt2", dtype="bfloat16",
    ...                              texts=TextScoring(unconditional="")).load_key
    True
    """

    spec: str
    batch_size: int | None = None
    dtype: str | None = None
    device: str | None = None
    texts: TextScoring = TextScoring()
    max_prefix_cache: int | None = None  # MiB (seqscore.models.hf.HFModel)
    served: ServedOptions = ServedOptions()  # noqa: RUF009 (frozen: shared safely)

    @property
    def load_options(self) -> dict[str, object]:
        """The keywords of :func:`~seqscore.models.load_model` besides the spec."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("spec", "texts")
        }

    @property
    def load_key(self) -> tuple:
        """What tells loaded models apart: the spec and its load options (how
        texts are scored does not change the model)."""
        return (self.spec, *self.load_options.values())


def _text_scoring(scoring: TextScoring | None, keywords: dict) -> TextScoring:
    """``scoring``, or a :class:`TextScoring` of its fields given as
    ``keywords`` (the public functions' shorthand, e.g. ``unconditional=""``)."""
    if scoring is None:
        return TextScoring(**keywords)
    if keywords:
        raise TypeError(
            f"give a TextScoring or its fields, not both: {sorted(keywords)}"
        )
    return scoring


def forced_prompts(
    model,
    prompts: Iterable[TextPrompt],
    scoring: TextScoring | None = None,
    *,
    on_progress: Progress | None = None,
    **keywords,
) -> list[Prompt]:
    """Each text prompt as a scorer :class:`~seqscore.scoring.Prompt`, its
    candidates teacher-forced through ``model`` after its context.

    ``scoring`` says how (:class:`TextScoring`; or give its fields as
    keywords). Errors name the prompt's ``source`` and the candidate.
    """
    settings = _text_scoring(scoring, keywords)
    prompts = list(prompts)
    encoded = []
    for prompt in prompts:
        try:
            encoded.append(prompt_requests(model, prompt, settings))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{_place(prompt)}: {exc}") from None
    return _score_encoded(model, prompts, encoded, settings, on_progress=on_progress)


def forced_items(
    model,
    items: Iterable,
    scoring: TextScoring = TextScoring(),
    *,
    prompts_per_pass: int = 256,
    tally: Tally | None = None,
) -> Iterator:
    """:func:`forced_prompts` over a stream of :class:`TextPrompt` s and
    reader rejections, ``prompts_per_pass`` prompts at a time, in order.

    A prompt that cannot be encoded (an empty candidate, a continuation
    longer than the model), or one a served model refuses, becomes a
    :class:`~seqscore.errors.Rejected` naming it; the rest of its pass is
    scored. ``tally`` counts truncations.
    """
    for chunk in _batched(items, prompts_per_pass):
        out: list = list(chunk)
        good, encoded = [], []
        for position, item in enumerate(chunk):
            if not isinstance(item, TextPrompt):
                continue
            try:
                encoded.append(prompt_requests(model, item, scoring))
            except InvalidInputError as exc:
                out[position] = Rejected(_place(item), str(exc), None)
                continue
            good.append(position)
        scored = _score_encoded(
            model, [chunk[i] for i in good], encoded, scoring, tally, refused={}
        )
        for position, prompt in zip(good, scored, strict=True):
            out[position] = prompt
        yield from out


@dataclass
class Tally:
    """What a scoring run did that its user should hear about."""

    requests: int = 0
    truncated: int = 0  # requests whose context was cut to fit the model


def prompt_requests(model, prompt: TextPrompt, scoring: TextScoring = TextScoring()):
    """``(requests, labels)``: each candidate of ``prompt`` after its context,
    then (with ``scoring.unconditional``) after that text, fitted to the
    model."""
    context = context_text(model, prompt, scoring.chat)
    contexts = [(context, "")]
    if scoring.unconditional is not None:
        contexts.append((scoring.unconditional, " (unconditional)"))
    requests, labels = [], []
    for context, suffix in contexts:
        for candidate in prompt.candidates:
            where = f"candidate {candidate.id!r}{suffix}"
            requests.append(model_request(model, context, candidate.text, where))
            labels.append(f"{_place(prompt)}: {where}")
    return requests, labels


def context_text(model, prompt: TextPrompt, chat: ChatSettings | None = None) -> str:
    """``prompt``'s context as the text the model reads: itself, or a
    conversation rendered with the chat template."""
    if isinstance(prompt.context, str):
        return prompt.context
    return render_chat(model, prompt.context, chat or ChatSettings())


def model_request(model, context: str, continuation: str, where: str):
    """What ``model`` scores for ``continuation`` after ``context``: token
    ids by lm-eval's rule, fitted to its positions, or (a served model) the
    texts it sends (``model.text_request``)."""
    text_request = getattr(model, "text_request", None)
    if text_request is not None:
        return text_request(context, continuation, where)
    request = encode_request(model, context, continuation, where)
    return fit_request(request, getattr(model, "max_length", None), where)


def _score_encoded(
    model,
    prompts,
    encoded,
    settings: TextScoring,
    tally=None,
    on_progress=None,
    refused: dict[int, str] | None = None,
):
    """Each prompt scored (a :class:`Prompt`), or with ``refused`` a
    :class:`Rejected` where a served model refused one of its requests."""
    requests = [r for rs, _ in encoded for r in rs]
    labels = [x for _, ls in encoded for x in ls]
    if tally is not None:
        tally.requests += len(requests)
        tally.truncated += sum(1 for r in requests if r.truncated)
    scores = request_token_scores(
        model,
        requests,
        top_k=settings.top_k,
        share_contexts=settings.share_contexts,
        labels=labels,
        on_progress=on_progress,
        refused=refused,
        words=vocab_marks(model) if settings.words else None,
    )
    out: list[Prompt | Rejected] = []
    start = 0
    for prompt, (rs, _) in zip(prompts, encoded, strict=True):
        span = range(start, start + len(rs))
        start += len(rs)
        failed = next((i for i in span if i in refused), None) if refused else None
        if failed is not None:  # named by its candidate: the label past the place
            where = labels[failed].removeprefix(f"{_place(prompt)}: ")
            reason = f"{where}: {refused[failed]}"  # type: ignore[index]
            out.append(Rejected(_place(prompt), reason, None))
            continue
        mine = [scores[i] for i in span]
        out.append(_prompt(model, prompt, rs, mine, settings))
    return out


def _place(prompt: TextPrompt) -> str:
    return prompt.source or f"prompt {prompt.id!r}"


def _prompt(model, prompt: TextPrompt, requests, scores, settings) -> Prompt:
    """The scorer's prompt: the first scores are the candidates', the rest
    (if any) their unconditional scores."""
    context = context_text(model, prompt, settings.chat)
    size = len(prompt.candidates)
    alone = scores[size:]
    candidates = []
    for i, (candidate, tokens) in enumerate(
        zip(prompt.candidates, scores[:size], strict=True)
    ):
        if settings.offsets:
            spans = continuation_offsets(model, context, candidate.text, requests[i])
            if spans is not None:
                tokens = replace(tokens, offsets=np.array(spans, dtype=np.int64))
        base = sequence_logprob(alone[i].logprob) if alone else None
        candidates.append(
            Candidate(candidate.id, tokens, text=candidate.text, unconditional=base)
        )
    return Prompt(prompt.id, tuple(candidates), text=context, source=prompt.source)


def _batched(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_texts(
    model,
    prompts: Iterable[TextPrompt],
    normalize: str = "sum",
    alpha: float = 1.0,
    scoring: TextScoring | None = None,
    **keywords,
) -> list[tuple[CandidateScore, ...]]:
    """Score every candidate text of every prompt with ``model``: the same
    :class:`~seqscore.scoring.CandidateScore` s as for dumps (every
    reduction, rank, probability, ``is_greedy``, weakest token), one tuple
    per prompt. ``scoring`` (or its fields as keywords) as for
    :func:`forced_prompts`.

    >>> from seqscore.models.tree import textbook_tree
    >>> prompt = TextPrompt("q", "", (TextCandidate("a", "A C <eos>"),
    ...                               TextCandidate("b", "B C <eos>")))
    >>> [(s.candidate_id, s.rank, round(s.probability, 3), s.is_greedy)
    ...  for s in score_texts(textbook_tree(), [prompt])[0]]
    [('a', 2, 0.357, True), ('b', 1, 0.643, False)]
    """
    return [
        score_prompt(prompt, normalize, alpha)
        for prompt in forced_prompts(model, prompts, _text_scoring(scoring, keywords))
    ]


def loglikelihoods(
    model, pairs: Iterable[tuple[str, str]], **options
) -> list[Loglikelihood]:
    """lm-evaluation-harness's ``loglikelihood``: for each ``(context,
    continuation)`` pair, the continuation's summed log-prob after the
    context and whether greedy decoding would produce it.

    >>> from seqscore.models.tree import textbook_tree
    >>> [(round(float(np.exp(r.logprob)), 4), r.is_greedy)
    ...  for r in loglikelihoods(textbook_tree(), [("", "B C"), ("A", " C")])]
    [(0.36, False), (0.3333, True)]
    """
    pairs = list(pairs)
    requests = [
        model_request(model, c, x, f"pair {i}") for i, (c, x) in enumerate(pairs)
    ]
    labels = [f"pair {i}" for i in range(len(pairs))]
    scores = request_token_scores(model, requests, labels=labels, **options)
    return [
        Loglikelihood(
            logprob=sequence_logprob(s.logprob),
            is_greedy=bool(np.all(s.is_argmax)),
            token_logprobs=s.logprob,
            tokens=s,
        )
        for s in scores
    ]
