"""Packaged example prompts with candidate completions, drawn from the corpus.

``seqscore/data/example_prompts.json`` (made by
``tools/make_example_prompts.py``) holds twelve sentence starts from
CPython's ``pydoc_data.topics`` and, for each, up to four real endings of
corpus sentences that start that way, each ending with ``"."`` (the built-in
model's ``<eos>``). They are what ``seqscore score`` ranks when it is given no
input; score them with :func:`seqscore.models.forced.teacher_force_text`:

>>> from seqscore.models.forced import teacher_force_text
>>> from seqscore.models.builtin import load_builtin
>>> example = example_prompts()[2]
>>> example.prompt, len(example.candidates)
('if the', 4)
>>> scores = teacher_force_text(load_builtin(), example.prompt, example.candidates)
>>> scores[0].token[-1], len(scores[0].logprob) == len(scores[0].entropy)
('<eos>', True)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from seqscore.models.forced import teacher_force_text
from seqscore.models.loglikelihood import TextCandidate, TextPrompt
from seqscore.scoring.candidates import Candidate, Prompt

__all__ = [
    "ExamplePrompt",
    "example_prompts",
    "example_text_prompts",
    "scored_examples",
]


@dataclass(frozen=True)
class ExamplePrompt:
    """A prompt and its candidate completions (text)."""

    prompt: str
    candidates: tuple[str, ...]


@lru_cache(maxsize=1)
def example_prompts() -> tuple[ExamplePrompt, ...]:
    """The packaged prompts, in file order."""
    source = resources.files("seqscore").joinpath("data", "example_prompts.json")
    data = json.loads(source.read_text(encoding="utf-8"))
    return tuple(
        ExamplePrompt(item["prompt"], tuple(item["candidates"]))
        for item in data["prompts"]
    )


def scored_examples(model) -> Iterator[Prompt]:
    """The packaged prompts as the scorer's :class:`~seqscore.scoring.Prompt`,
    each candidate teacher-forced through ``model`` (the built-in one, say).

    >>> from seqscore.models.builtin import load_builtin
    >>> prompt = next(scored_examples(load_builtin()))
    >>> prompt.id == example_prompts()[0].prompt, len(prompt.candidates) >= 2
    (True, True)
    """
    for example in example_prompts():
        forced = teacher_force_text(model, example.prompt, example.candidates)
        candidates = tuple(
            Candidate(f"c{i}", tokens, text=text)
            for i, (text, tokens) in enumerate(
                zip(example.candidates, forced, strict=True)
            )
        )
        yield Prompt(
            example.prompt, candidates, text=example.prompt, source="packaged example"
        )


def example_text_prompts() -> list[TextPrompt]:
    """The packaged prompts as text, for any model
    (:func:`seqscore.models.loglikelihood.forced_items`); each candidate continues
    its prompt after a space.

    >>> example_text_prompts()[2].candidates[0].text[:1]
    ' '
    """
    return [
        TextPrompt(
            example.prompt,
            example.prompt,
            tuple(
                TextCandidate(f"c{i}", " " + text)
                for i, text in enumerate(example.candidates)
            ),
            source="packaged example",
        )
        for example in example_prompts()
    ]
