"""Token ids and text for a Hugging Face model: its tokenizer, or none.

seqscore's models speak ids; a Hugging Face tokenizer turns text into them
by lm-evaluation-harness's rules, so that seqscore scores the very tokens
lm-eval does:

* ``encode`` adds the special tokens the tokenizer adds by default (none
  for GPT-2, BOS for Llama), as lm-eval's ``tok_encode`` does, unless the
  text already starts with the prefix token's string;
* ``prefix_id`` is lm-eval's ``prefix_token_id`` (BOS, else EOS): the
  context of an empty context;
* ``vocab`` is the tokenizer's token strings, ``<id N>`` for ids it does
  not name (and for every id of a model without a tokenizer, which then
  works on ids only); ``vocab_text`` each one's decoded text
  (:mod:`seqscore.models.token_text`: ``Ġthe`` is `` the``);
* ``eos_id`` and ``bos_id`` come from the argument, else the generation
  config, else the config, else the tokenizer (the first of several).

:func:`model_input` and :func:`check_length` say what the model reads for
a prefix, for scoring and decoding alike.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from seqscore.errors import InvalidInputError
from seqscore.models.token_text import token_texts

__all__ = ["ENCODED_KEPT", "HFTokens", "check_length", "model_input"]

#: Texts whose ids :meth:`HFTokens.encode` keeps: a prompt's context is
#: encoded once for all its candidates (a 5-shot context of 440 tokens,
#: encoded 8 times for 4 candidates, took a third of a small model's time).
ENCODED_KEPT = 1024


class HFTokens:
    """A model's tokenizer (or None) and its special ids, as seqscore asks
    for them; ``model`` None: the tokenizer alone (of a served model)."""

    def __init__(self, model, tokenizer=None, *, eos_id=None, bos_id=None):
        self.tokenizer = tokenizer
        self._ids = functools.lru_cache(maxsize=ENCODED_KEPT)(self._encoded)
        size = (
            len(tokenizer)  # a tokenizer alone (a served model's)
            if model is None
            else int(model.get_output_embeddings().weight.shape[0])
        )
        self.vocab = _vocabulary(tokenizer, size)
        self.vocab_text = token_texts(tokenizer, self.vocab)
        self.eos_id: int = _first_id(
            eos_id, _config_value(model, "eos_token_id"), tokenizer, "eos"
        )
        self.bos_id: int | None = _first_id(
            bos_id,
            _config_value(model, "bos_token_id"),
            tokenizer,
            "bos",
            required=False,
        )

    @property
    def prefix_id(self) -> int:
        """The context of an empty context: BOS, else EOS (lm-eval's
        ``prefix_token_id``)."""
        if self.tokenizer is None:
            return self.eos_id if self.bos_id is None else self.bos_id
        for token in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id):
            if token is not None:
                return int(token)
        return self.eos_id

    def encode(self, text: str, *, add_special_tokens: bool | None = None) -> list[int]:
        """The tokenizer's ids for ``text``.

        By default with the special tokens the tokenizer adds itself, unless
        ``text`` already starts with the prefix token's string (lm-eval's
        ``tok_encode``).
        """
        return list(self._ids(text, add_special_tokens))

    def _encoded(self, text: str, add_special_tokens: bool | None) -> tuple[int, ...]:
        return tuple(self._tokenize(text, add_special_tokens)["input_ids"])

    def encode_offsets(
        self, text: str, *, add_special_tokens: bool | None = None
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """:meth:`encode` with each token's characters ``[start, end)``
        (a fast tokenizer's ``offset_mapping``)."""
        try:
            encoded = self._tokenize(text, add_special_tokens, offsets=True)
        except NotImplementedError:  # a slow (Python) tokenizer has no offsets
            raise InvalidInputError(
                "this model's tokenizer gives no character offsets (not a fast "
                "tokenizer), so tokens cannot be grouped into words"
            ) from None
        pairs = [(int(a), int(b)) for a, b in encoded["offset_mapping"]]
        return list(encoded["input_ids"]), pairs

    def decode(self, ids: Sequence[int]) -> str:
        """The tokenizer's text for ``ids`` (token names without one)."""
        if self.tokenizer is None:
            return " ".join(self.vocab[int(i)] for i in ids)
        return self.tokenizer.decode([int(i) for i in ids])

    @functools.cached_property
    def _prefix_text(self) -> str:
        return self.tokenizer.decode([self.prefix_id])

    def _tokenize(self, text: str, add_special_tokens, offsets: bool = False):
        """The tokenizer's encoding of ``text`` by lm-eval's rule for special
        tokens (see :meth:`encode`)."""
        if self.tokenizer is None:
            raise InvalidInputError(
                "this model has no tokenizer: give the prompt as token ids"
            )
        options = {"return_offsets_mapping": True} if offsets else {}
        if add_special_tokens is not None:
            options["add_special_tokens"] = add_special_tokens
        elif text.startswith(self._prefix_text):
            options["add_special_tokens"] = False
        return self.tokenizer(text, **options)


def model_input(prefix: Sequence[int], bos_id: int | None) -> list[int]:
    """The ids the model reads for ``prefix``: an empty one is ``[bos_id]``,
    as ``generate`` does without input (a model has no output before its
    first position)."""
    if prefix:
        return list(prefix)
    if bos_id is None:
        raise InvalidInputError(
            "the model has no bos_token_id, so it cannot start from an empty "
            "prompt: give a prompt"
        )
    return [bos_id]


def check_length(length: int, prefix: Sequence[int], max_length: int) -> None:
    """A prefix longer than the model's positions is an error naming it
    (torch would fail with "index out of range in self")."""
    if length > max_length:
        shown = [int(i) for i in prefix[:8]]
        raise InvalidInputError(
            f"a prefix of {length} tokens ({shown}...) is longer than the "
            f"model's {max_length} positions: use a shorter prompt or "
            "fewer max_tokens"
        )


def _vocabulary(tokenizer, size: int) -> tuple[str, ...]:
    """Token strings of ids ``0..size-1``; ``<id N>`` where the tokenizer
    names none (a model's embedding is often padded past its vocabulary)."""
    names = [f"<id {i}>" for i in range(size)]
    if tokenizer is not None:
        known = min(size, len(tokenizer))
        names[:known] = tokenizer.convert_ids_to_tokens(list(range(known)))
    return tuple(str(n) for n in names)


def _config_value(model, key: str):
    """``key`` from the generation config, else the model config: the
    generation config is what ``generate`` follows."""
    generation = getattr(model, "generation_config", None)
    value = getattr(generation, key, None) if generation is not None else None
    config = getattr(model, "config", None)
    return value if value is not None else getattr(config, key, None)


def _first_id(given, configured, tokenizer, kind: str, required: bool = True):
    """The first id of ``given``, ``configured`` and the tokenizer's
    ``{kind}_token_id`` that is set (a list counts by its first id: some
    configs name several EOS tokens)."""
    for value in (given, configured, getattr(tokenizer, f"{kind}_token_id", None)):
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            if not value:
                continue
            value = value[0]
        return int(value)
    if required:
        raise InvalidInputError(
            f"the model names no {kind} token id: pass {kind}_id explicitly"
        )
    return None
