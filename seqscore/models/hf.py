r"""Any Hugging Face causal language model as a seqscore language model.

Needs the optional extra ``seqscore[hf]`` (transformers and torch).
:class:`HFModel` wraps a loaded model and, optionally, its tokenizer:

* ``next_logprobs`` groups the prefixes by length (so no padding, attention
  mask or position-id shifting is involved), runs the model on each group in
  chunks of ``batch_size`` rows under ``torch.no_grad()``, takes the logits
  at the last position -- the position that predicts the next token -- as
  float32, and normalises them with :func:`seqscore.softmax.log_softmax`. An
  empty prefix is fed as ``[bos_id]``, as ``generate`` does without input.
* ``vocab`` is the tokenizer's token strings (ids the tokenizer does not
  name, e.g. padding rows of the embedding, show as ``<id N>``); without a
  tokenizer every token is ``<id N>`` and prompts must be given as ids.
* ``eos_id`` is taken from the argument, else the model's generation config,
  else its config, else the tokenizer. A model with several EOS ids uses the
  first unless ``eos_id`` is given (seqscore ends sequences on one id).

Decoding parity, checked in the test suite on a small random GPT-2:
:func:`~seqscore.decoding.greedy` gives the ids of
``model.generate(do_sample=False, num_beams=1, max_new_tokens=n)`` and
:func:`~seqscore.decoding.beam_search` with ``width=b, length_penalty=lp,
early_stopping=es`` gives the sequences and ``sequences_scores`` of
``generate(num_beams=b, num_return_sequences=b, length_penalty=lp,
early_stopping=es, max_new_tokens=n, output_scores=True,
return_dict_in_generate=True)``: score = sum of log-probs / (generated
length including EOS) ** lp. transformers sums in float32 and uses a key-value
cache, so scores agree to about 1e-5, not bit for bit. No logits processor
is applied: pass ``generate`` no ``repetition_penalty``, ``min_length``,
``no_repeat_ngram_size`` and the like when comparing. Checked with
transformers 5.23.0 and torch 2.13.0 (CPU).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..softmax import log_softmax

__all__ = ["HFModel", "load_hf"]


def _torch():
    try:
        import torch
    except ImportError:
        raise InvalidInputError(
            "the Hugging Face adapter needs torch and transformers: "
            "pip install 'seqscore[hf]'"
        ) from None
    return torch


class HFModel:
    """A causal LM (``AutoModelForCausalLM``-like) plus an optional tokenizer.

    >>> import torch, transformers
    >>> _ = torch.manual_seed(0)
    >>> config = transformers.GPT2Config(vocab_size=16, n_positions=16, n_embd=8,
    ...     n_layer=1, n_head=1, bos_token_id=0, eos_token_id=1)
    >>> model = HFModel(transformers.GPT2LMHeadModel(config))
    >>> rows = model.next_logprobs([[3, 4], [5], []])  # [] is fed as [bos]
    >>> rows.shape, bool(np.allclose(np.exp(rows).sum(axis=1), 1, atol=1e-5))
    ((3, 16), True)
    >>> model.eos_id, model.vocab[:2]
    (1, ('<id 0>', '<id 1>'))
    """

    def __init__(
        self, model, tokenizer=None, *, eos_id=None, bos_id=None, batch_size: int = 64
    ):
        self._torch = _torch()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        size = int(model.get_output_embeddings().weight.shape[0])
        self.vocab = _vocab(tokenizer, size)
        self.eos_id = _first_id(
            eos_id, _config_value(model, "eos_token_id"), tokenizer, "eos"
        )
        self.bos_id = _first_id(
            bos_id,
            _config_value(model, "bos_token_id"),
            tokenizer,
            "bos",
            required=False,
        )

    def next_logprobs(self, prefixes) -> np.ndarray:
        """Next-token log-probs after each prefix, float32 ``(B, V)``."""
        out = np.empty((len(prefixes), len(self.vocab)), dtype=np.float32)
        groups = defaultdict(list)
        for row, prefix in enumerate(prefixes):
            groups[len(prefix)].append(row)
        for length, rows in groups.items():
            self._check_length(max(length, 1), prefixes[rows[0]])
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                ids = [self._input(prefixes[r], length) for r in chunk]
                out[chunk] = self._last_logits(ids)
        return log_softmax(out)

    def _check_length(self, length: int, prefix) -> None:
        """A prefix longer than the model's positions is an error naming it
        (torch would fail with "index out of range in self")."""
        config = getattr(self.model, "config", None)
        limit = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        if isinstance(limit, int) and length > limit:
            shown = [int(i) for i in prefix[:8]]
            raise InvalidInputError(
                f"a prefix of {length} tokens ({shown}...) is longer than the "
                f"model's {limit} positions: use a shorter prompt or fewer "
                "max_tokens"
            )

    def _input(self, prefix, length: int) -> list[int]:
        if length:
            return [int(i) for i in prefix]
        if self.bos_id is None:
            raise InvalidInputError(
                "the model has no bos_token_id, so it cannot start from an empty "
                "prompt: give a prompt"
            )
        return [self.bos_id]

    def _last_logits(self, ids: list[list[int]]) -> np.ndarray:
        torch = self._torch
        device = next(self.model.parameters()).device
        with torch.no_grad():
            batch = torch.tensor(ids, dtype=torch.long, device=device)
            logits = self.model(input_ids=batch).logits[:, -1, :]
        return logits.float().cpu().numpy()

    def encode(self, text: str) -> list[int]:
        """The tokenizer's ids for ``text`` (with the special tokens it adds)."""
        if self.tokenizer is None:
            raise InvalidInputError(
                "this model has no tokenizer: give the prompt as token ids"
            )
        return list(self.tokenizer(text)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        """The tokenizer's text for ``ids`` (token names without one)."""
        if self.tokenizer is None:
            return " ".join(self.vocab[int(i)] for i in ids)
        return self.tokenizer.decode([int(i) for i in ids])


def _vocab(tokenizer, size: int) -> tuple[str, ...]:
    names = [f"<id {i}>" for i in range(size)]
    if tokenizer is not None:
        known = min(size, len(tokenizer))
        names[:known] = tokenizer.convert_ids_to_tokens(list(range(known)))
    return tuple(str(n) for n in names)


def _config_value(model, key: str):
    generation = getattr(model, "generation_config", None)
    value = getattr(generation, key, None) if generation is not None else None
    return value if value is not None else getattr(model.config, key, None)


def _first_id(given, configured, tokenizer, kind: str, required: bool = True):
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


def load_hf(name_or_path: str | os.PathLike, **kwargs) -> HFModel:
    """Load a causal LM and its tokenizer with ``from_pretrained``, offline.

    Only local files are read (a folder, or a name already in the Hugging
    Face cache). A folder without a tokenizer gives an :class:`HFModel`
    that works on ids.
    """
    _torch()
    try:
        import transformers
    except ImportError:
        raise InvalidInputError(
            "the Hugging Face adapter needs transformers: pip install 'seqscore[hf]'"
        ) from None
    source = os.fspath(name_or_path)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source, local_files_only=True
        )
    except (OSError, ValueError) as exc:
        raise InvalidInputError(
            f"cannot load a causal LM from {source!r} (local files only): "
            f"{str(exc).splitlines()[0]}"
        ) from None
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            source, local_files_only=True
        )
    except (OSError, ValueError):
        tokenizer = None  # a model folder without a tokenizer: ids only
    return HFModel(model, tokenizer, **kwargs)
