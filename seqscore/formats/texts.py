"""Texts for a model to score: prompts with candidate texts, and documents.

Two JSON Lines layouts hold candidate texts (``seqscore score FILE --model
...``), told apart by the keys of the first record:

* seqscore JSONL whose candidates have ``text`` (``tokens`` and ``logprobs``
  are not needed, and are ignored when present)::

      {"id": "q1", "prompt": "The capital of France is",
       "candidates": [{"id": "a", "text": " Paris"}, {"id": "b", "text": " Lyon"}]}

* lm-eval style pairs, one request per line; consecutive lines with the same
  ``context`` (and the same ``id``, when given) are one prompt::

      {"context": "The capital of France is", "continuation": " Paris"}
      {"context": "The capital of France is", "continuation": " Lyon"}

  Optional: ``id`` (the prompt's; default ``line N`` of its first line) and
  ``candidate`` (default: its index in the prompt).

In either layout the context (``prompt``, ``context``) may be a conversation,
a list of ``{"role": ..., "content": ...}`` messages, which the model's chat
template renders (:mod:`seqscore.models.chat`).

Preference pairs (``seqscore preference``) are JSON Lines in TRL's formats:
``{"prompt", "chosen", "rejected"}`` with texts or messages (a response
given as messages is one assistant message), or the "implicit prompt" form
where ``chosen`` and ``rejected`` are whole conversations that share their
first turns and differ in their last: the shared turns are the prompt. Each
pair becomes a :class:`TextPrompt` with the candidates ``chosen`` and
``rejected``.

Documents for rolling perplexity are JSON Lines of ``{"id", "text"}``
(``id`` optional: ``line N``) or, for any other file, its whole text as one
document named after the file.

Every record is read by the rules of :mod:`.records`, texts without lone
surrogates (they have no UTF-8 bytes); a bad one becomes a
:class:`~.records.Rejected` naming the line and field, and so does a prompt
whose id an earlier prompt has.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from seqscore.errors import DataFormatError
from seqscore.formats.inputs import open_binary
from seqscore.formats.records import (
    Rejected,
    as_id,
    as_text,
    field,
    json_lines,
    optional,
    records_to_prompts,
    repeated_id,
)
from seqscore.models.chat import Message
from seqscore.models.loglikelihood import TextCandidate, TextPrompt

__all__ = [
    "Document",
    "read_documents",
    "read_preference_pairs",
    "read_text_prompts",
    "text_prompts",
]


@dataclass(frozen=True)
class Document:
    """A text to score whole; ``source`` locates it."""

    id: str
    text: str
    source: str = ""


@contextlib.contextmanager
def read_text_prompts(
    path: str, on_progress=None
) -> Iterator[Iterator[TextPrompt | Rejected]]:
    """The prompts of ``path`` (``-``: stdin), lazily, as a context;
    ``on_progress(bytes read, file size)`` is called as lines are read."""
    with _lines(path) as (source, numbered):
        if on_progress is not None and path != "-":
            numbered = _counted(numbered, os.path.getsize(path), on_progress)
        yield _not_empty(text_prompts(json_lines(numbered, source)), source)


def _not_empty(items: Iterator, source: str) -> Iterator:
    """``items``; none at all is an error naming ``source`` (as for every
    other input: an empty file scored nothing, and said so by exit 0)."""
    empty = True
    for item in items:
        empty = False
        yield item
    if empty:
        raise DataFormatError(f"{source}: no records (the input is empty)")


def _counted(numbered, size: int, on_progress):
    done = 0
    for number, line in numbered:
        done += len(line)
        on_progress(done, size)
        yield number, line


def text_prompts(
    records: Iterable[tuple[str, Any]],
) -> Iterator[TextPrompt | Rejected]:
    """Prompts from parsed ``(location, record)`` pairs, in either layout
    (decided by the first good record)."""
    records = iter(records)
    kept = []
    for location, record in records:
        kept.append((location, record))
        if not isinstance(record, Rejected):
            break
    layout = _layout(kept[-1]) if kept else None
    chain = _chain(kept, records)
    if layout == "pairs":
        yield from _unique_ids(_grouped_pairs(chain))
    else:
        # records_to_prompts (formats/records.py) is typed for Prompt but yields
        # whatever its converter does: TextPrompt here
        yield from _unique_ids(records_to_prompts(chain, _prompt_record))  # type: ignore[arg-type]


def _unique_ids(items) -> Iterator[TextPrompt | Rejected]:
    """The prompts in order, one whose id an earlier one has rejected (as
    :func:`~.inputs.map_prompts` does for scored prompts)."""
    first_at: dict[str, str] = {}
    for item in items:
        if isinstance(item, TextPrompt):
            first = first_at.setdefault(item.id, item.source)
            if first != item.source:
                yield repeated_id(item.id, item.source, first)
                continue
        yield item


def _chain(first, rest):
    yield from first
    yield from rest


def _layout(entry) -> str | None:
    location, record = entry
    if isinstance(record, Rejected):
        return None
    if isinstance(record, dict) and "candidates" in record:
        return "seqscore"
    if isinstance(record, dict) and "context" in record and "continuation" in record:
        return "pairs"
    keys = (
        ", ".join(list(record)[:8])
        if isinstance(record, dict)
        else type(record).__name__
    )
    raise DataFormatError(
        f"{location}: cannot tell what to score (keys: {keys}); a model scores "
        "seqscore JSONL with candidate texts ('candidates': [{'text': ...}]) or "
        "lines of {'context': ..., 'continuation': ...}"
    )


def _prompt_record(record: Any, location: str) -> Iterator[TextPrompt]:
    candidates = field(record, "candidates", "", list)
    if not candidates:
        raise DataFormatError("candidates: the list is empty (nothing to score)")
    prompt_id = as_id(record.get("id"), "id", f"line {_line(location)}")
    texts = tuple(_candidate(c, i) for i, c in enumerate(candidates))
    _check_unique(prompt_id, texts)
    yield TextPrompt(
        id=prompt_id,
        context=optional(as_context, record, "prompt", "") or "",
        candidates=texts,
        source=location,
    )


def as_context(value: Any, where: str) -> str | tuple[Message, ...]:
    """A context: a text, or a conversation (a non-empty list of
    ``{"role", "content"}`` messages, both strings, the role not empty)."""
    if not isinstance(value, list):
        return as_text(value, where)
    return as_messages(value, where)


def as_messages(value: list, where: str) -> tuple[Message, ...]:
    """A non-empty list of messages."""
    if not value:
        raise DataFormatError(f"{where}: an empty list of messages")
    return tuple(_message(m, f"{where}[{i}]") for i, m in enumerate(value))


def _message(value: Any, where: str) -> Message:
    if not isinstance(value, dict):
        raise DataFormatError(
            f'{where}: expected a message, {{"role": ..., "content": ...}}'
        )
    for key in ("role", "content"):
        if key not in value:
            raise DataFormatError(f"{where}: a message needs a {key!r}")
    role = as_text(value["role"], f"{where}.role")
    if not role:
        raise DataFormatError(f"{where}.role: empty")
    return Message(role, as_text(value["content"], f"{where}.content"))


def _check_unique(prompt_id: str, candidates: tuple[TextCandidate, ...]) -> None:
    """A prompt's candidate ids are unique (its scores would be ambiguous)."""
    ids = [c.id for c in candidates]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise DataFormatError(
            f"prompt {prompt_id!r} has two candidates with id {duplicate!r}"
        )


def _candidate(record: Any, index: int) -> TextCandidate:
    where = f"candidates[{index}]"
    if not isinstance(record, dict):
        raise DataFormatError(f"{where}: expected a JSON object")
    text = as_text(field(record, "text", where), f"{where}.text")
    if not text:
        raise DataFormatError(f"{where}.text: empty (an empty text has no score)")
    return TextCandidate(as_id(record.get("id"), f"{where}.id", index), text)


def _grouped_pairs(records) -> Iterator[TextPrompt | Rejected]:
    """Consecutive pairs with one context (and id) as one prompt each."""
    group: list[tuple[str, dict]] = []
    for location, record in records:
        pair = record if isinstance(record, Rejected) else _pair(record, location)
        if isinstance(pair, Rejected):
            yield from _flush(group)
            group = []
            yield pair
            continue
        if group and _key(group[0][1]) != _key(pair):
            yield from _flush(group)
            group = []
        group.append((location, pair))
    yield from _flush(group)


def _pair(record: Any, location: str) -> dict | Rejected:
    try:
        context = as_context(field(record, "context", ""), "context")
        text = as_text(field(record, "continuation", ""), "continuation")
        if not text:
            raise DataFormatError("continuation: empty (an empty text has no score)")
        prompt_id = record.get("id")
        as_id(prompt_id, "id", "")
        candidate = record.get("candidate")
        as_id(candidate, "candidate", "")
    except DataFormatError as exc:
        return Rejected(location, str(exc), None)
    return {"context": context, "text": text, "id": prompt_id, "candidate": candidate}


def _key(pair: dict) -> tuple:
    return pair["context"], pair["id"]


def _flush(group) -> list[TextPrompt | Rejected]:
    if not group:
        return []
    location, first = group[0]
    prompt_id = as_id(first["id"], "id", f"line {_line(location)}")
    candidates = tuple(
        TextCandidate(as_id(p["candidate"], "candidate", i), p["text"])
        for i, (_, p) in enumerate(group)
    )
    try:
        _check_unique(prompt_id, candidates)
    except DataFormatError as exc:
        return [Rejected(location, str(exc), None)]
    return [TextPrompt(prompt_id, first["context"], candidates, source=location)]


def _line(location: str) -> str:
    return location.rsplit(":", 1)[-1]


# ------------------------------------------------------------- preferences


@contextlib.contextmanager
def read_preference_pairs(path: str) -> Iterator[Iterator[TextPrompt | Rejected]]:
    """The preference pairs of ``path`` (``-``: stdin), lazily, each a
    :class:`TextPrompt` whose candidates are ``chosen`` and ``rejected``."""
    with _lines(path) as (source, numbered):
        records = json_lines(numbered, source)
        yield _unique_ids(_not_empty(map(_preference_or_rejected, records), source))


def _preference_or_rejected(item) -> TextPrompt | Rejected:
    location, record = item
    if isinstance(record, Rejected):
        return record
    try:
        return _preference(record, location)
    except DataFormatError as exc:
        return Rejected(location, str(exc), None)


def _preference(record: Any, location: str) -> TextPrompt:
    if not isinstance(record, dict):
        raise DataFormatError("expected a JSON object {prompt, chosen, rejected}")
    for key in ("chosen", "rejected"):
        if key not in record:
            raise DataFormatError(f"a preference pair needs {key!r}")
    pair_id = as_id(record.get("id"), "id", f"line {_line(location)}")
    if "prompt" in record:
        prompt = as_context(record["prompt"], "prompt")
        chosen = _response(record["chosen"], "chosen")
        rejected = _response(record["rejected"], "rejected")
    else:
        prompt, chosen, rejected = _implicit_prompt(record)
    candidates = (TextCandidate("chosen", chosen), TextCandidate("rejected", rejected))
    return TextPrompt(pair_id, prompt, candidates, source=location)


def _response(value: Any, where: str) -> str:
    """A response: a text, or one message (TRL's conversational form)."""
    if isinstance(value, list):
        messages = as_messages(value, where)
        if len(messages) != 1:
            raise DataFormatError(
                f"{where}: a response is one message, not {len(messages)} (put "
                "the earlier turns in 'prompt')"
            )
        value = messages[0].content
    text = as_text(value, where)
    if not text:
        raise DataFormatError(f"{where}: empty (an empty response has no score)")
    return text


def _implicit_prompt(record: dict):
    """TRL's implicit prompt: two conversations sharing their first turns."""
    chosen, rejected = record["chosen"], record["rejected"]
    if not (isinstance(chosen, list) and isinstance(rejected, list)):
        raise DataFormatError(
            "without a 'prompt', 'chosen' and 'rejected' must be conversations "
            "(lists of messages) that share their first turns"
        )
    a, b = as_messages(chosen, "chosen"), as_messages(rejected, "rejected")
    shared = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
        min(len(a), len(b)),
    )
    if shared == 0 or len(a) != shared + 1 or len(b) != shared + 1:
        raise DataFormatError(
            "'chosen' and 'rejected' must share their first turns (the prompt) "
            f"and differ in their last message only: they share {shared} of "
            f"{len(a)} and {len(b)} messages"
        )
    return (
        a[:shared],
        _response([chosen[shared]], "chosen"),
        _response([rejected[shared]], "rejected"),
    )


# ---------------------------------------------------------------- documents


@contextlib.contextmanager
def read_documents(path: str) -> Iterator[Iterator[Document | Rejected]]:
    """The documents of ``path``: JSON Lines of ``{"id", "text"}``, or the
    whole file as one text (UTF-8) when its first line that is not blank is
    not a JSON object. A leading byte-order mark is not part of either."""
    with _lines(path) as (source, numbered):
        head = _through_content(numbered)
        if not head:
            raise DataFormatError(f"{source}: empty (no text to score)")
        if head[-1][1].removeprefix(_BOM).lstrip()[:1] == b"{":
            yield _documents(json_lines(_chain(head, numbered), source))
            return
        raw = b"".join([*(line for _, line in head), *(line for _, line in numbered)])
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DataFormatError(
                f"{source}: not UTF-8 text (byte {exc.start})"
            ) from None
        name = os.path.basename(source) if source != "<stdin>" else "stdin"
        yield iter([Document(name, text, source)])


_BOM = b"\xef\xbb\xbf"


def _through_content(numbered) -> list[tuple[int, bytes]]:
    """The numbered lines up to and including the first that is not blank
    (a lone byte-order mark is blank)."""
    head = []
    for number, line in numbered:
        head.append((number, line))
        if line.removeprefix(_BOM).strip():
            break
    return head


def _documents(records) -> Iterator[Document | Rejected]:
    for location, record in records:
        if isinstance(record, Rejected):
            yield record
            continue
        try:
            text = as_text(field(record, "text", ""), "text")
            if not text:
                raise DataFormatError("text: empty (an empty text has no score)")
            name = as_id(record.get("id"), "id", f"line {_line(location)}")
        except DataFormatError as exc:
            yield Rejected(location, str(exc), None)
            continue
        yield Document(name, text, location)


@contextlib.contextmanager
def _lines(path: str):
    """``(source name, numbered raw lines)`` of ``path`` or stdin."""
    with open_binary(path) as (stream, real_path):
        yield real_path or "<stdin>", enumerate(stream, 1)
