r"""Any Hugging Face causal language model as a seqscore language model.

Needs the optional extra ``seqscore[hf]`` (transformers and torch).
:class:`HFModel` wraps a loaded model and, optionally, its tokenizer. It
answers both questions seqscore asks of a model:

**Scoring** (``continuation_logits``, used by
:mod:`seqscore.models.loglikelihood`): the logits of every position of a batch of
sequences in one forward pass, under ``torch.inference_mode()``.

* Requests are sorted by length and batched with right padding; a batch
  holds at most ``batch_size`` rows, or by default as many as make at most
  :data:`LOGITS_BUDGET` / (4 V) padded positions (about 670 for V = 50,257).
* The output layer runs only where logits are read: the base model gives
  the last hidden states of a pass, and the head is applied to the positions
  that predict a continuation token, gathered without padding or context,
  in runs of at most 128 MiB of float32 logits, each going to the token
  kernel and then dropped (GPT-2 small's head is a third of its
  multiply-adds per position: contexts and padding no longer pay it). A
  model whose logits are not exactly its head applied to its base model's
  output (soft-capped or scaled logits: checked on a probe when the model
  is wrapped) runs the model's own forward pass instead, and the scored
  positions' rows are gathered from its ``(B, T, V)`` logits, in the same
  runs.
* Memory: each pass allocates tensors of new shapes, which the blocks
  glibc's malloc kept from earlier passes seldom fit, so its heaps grew
  with the run. Free heap pages go back to the system after each pass
  once more than 64 MiB are free (:func:`seqscore.numerics._pages.release_free_heap`;
  nothing elsewhere than glibc). Releasing after every logits block too
  took 12% more time for no lower peak.
* Shared contexts: each distinct context runs once. A *packed row* holds
  the context and then several of its continuations (each but its last
  token), with a 4-D attention mask that lets each continuation see the
  context and itself only, and position ids that restart after the
  context (:mod:`seqscore.models.hf_packing`): one pass, no keys and
  values copied or kept, the context's last position predicting every
  continuation's first token. Rows are sorted by width and batched like
  whole sequences; a context whose continuations do not fit one row of at
  most ``min(positions, max_length)`` gets more rows. A prompt with 4
  candidates thus costs one row, where lm-eval and minicons run the
  context 4 times. Models that cannot pack (checked on a probe when the
  model is wrapped: attention that ignores a custom mask, sliding-window
  layers) run each chunk of contexts in a *context pass* (keys and values
  only) and every continuation of it as ``[last context token] +
  continuation[:-1]`` after those keys and values
  (:mod:`seqscore.models.hf_keys`); a sliding-window model's contexts run
  one per chunk, unpadded. ``share_contexts=False`` runs every request as
  one whole sequence instead (the lm-eval layout).

**Decoding** (``next_logprobs``): next-token log-probs after each prefix,
float32 ``(B, V)``, normalised by :func:`seqscore.numerics.softmax.log_softmax`.
Prefixes are grouped by length (no padding). The keys and values of the
last call are kept, so a call whose prefixes each extend one of the last
call's prefixes by one token -- a step of greedy or beam search, with the
beams reselected in any order -- runs one position per row, as
``generate()`` does with its cache. Anything else (a first step, the jumps
of best-first search) runs the whole prefixes. An empty prefix is fed as
``[bos_id]``, as ``generate`` does without input.

Tokens: ``vocab`` is the tokenizer's token strings (ids the tokenizer does
not name show as ``<id N>``); ``encode`` adds the special tokens the
tokenizer adds by default (none for GPT-2, BOS for Llama), as
lm-evaluation-harness's ``tok_encode`` does; ``prefix_id`` is lm-eval's
``prefix_token_id`` (BOS, else EOS), the context of an empty context;
``max_length`` is the most positions the model reads (lm-eval's rule: the
config's ``n_positions``, ``max_position_embeddings`` or ``n_ctx``, else the
tokenizer's ``model_max_length``, else 2048). ``eos_id`` comes from the
argument, else the generation config, else the config, else the tokenizer
(the first of several).

Decoding parity, checked in the test suite on a small random GPT-2:
:func:`~seqscore.decoding.greedy` gives the ids of
``model.generate(do_sample=False, num_beams=1, max_new_tokens=n)`` and
:func:`~seqscore.decoding.beam_search` with ``width=b, length_penalty=lp,
early_stopping=es`` gives the sequences and ``sequences_scores`` of
``generate(num_beams=b, num_return_sequences=b, length_penalty=lp,
early_stopping=es, max_new_tokens=n, output_scores=True,
return_dict_in_generate=True)``: score = sum of log-probs / (generated
length including EOS) ** lp, to about 1e-5 (transformers sums in float32).
No logits processor is applied: pass ``generate`` no
``repetition_penalty``, ``min_length`` and the like when comparing. Checked
with transformers 5.24.0 and torch 2.13.0 (CPU).
"""

from __future__ import annotations

import inspect
import os
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from seqscore.errors import InvalidInputError
from seqscore.models.batching import (
    context_chunks,
    length_batches,
    packed_rows,
    position_runs,
)
from seqscore.models.hf_keys import (
    Keys,
    cache_layers,
    continuation_cache,
    decoding_cache,
    plain_cache,
)
from seqscore.models.hf_packing import packed_inputs, packing_works
from seqscore.models.loglikelihood import LogitsBlock
from seqscore.numerics._pages import release_free_heap
from seqscore.numerics.softmax import log_softmax

__all__ = ["DTYPES", "LOGITS_BUDGET", "HFModel", "load_hf"]

#: Bytes of float32 logits one forward pass may produce when no batch size
#: is given (about 670 positions of a 50,257-token vocabulary).
LOGITS_BUDGET = 128 << 20
#: Output-layer rows (vocabulary entries) per matrix product when the head
#: is a plain linear layer: a slice of 512 x hidden weights stays in cache
#: while every scored position passes. On GPT-2 small's head (50,257 x 768,
#: 2 threads) one product over the whole vocabulary ran at 29-44 G
#: multiply-adds/s for 64-667 positions, slices of 512 at 44-62.
HEAD_SLICE = 512
#: Bytes of keys and values next_logprobs keeps between calls.
DECODE_CACHE_BUDGET = 1 << 30
#: ``--dtype`` names and their torch dtypes' attribute names.
DTYPES = ("float32", "bfloat16", "float16")
# lm-eval's default when neither the config nor the tokenizer gives one
DEFAULT_MAX_LENGTH = 2048
# tokenizers that state no limit say this (transformers' VERY_LARGE_INTEGER)
_UNSET_TOKENIZER_LIMIT = int(1e30)


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
    >>> model.eos_id, model.vocab[:2], model.max_length
    (1, ('<id 0>', '<id 1>'), 16)
    """

    def __init__(
        self,
        model,
        tokenizer=None,
        *,
        eos_id=None,
        bos_id=None,
        batch_size: int | None = None,
        max_length: int | None = None,
    ):
        self._torch = _torch()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = None if batch_size is None else int(batch_size)
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
        self.max_length = max_length or _max_length(model.config, tokenizer)
        self.device = next(model.parameters()).device
        self._forward_kwargs = _forward_parameters(model)
        self._head = _separable_head(model, self._torch)
        self._plain_cache = plain_cache(model.config)
        self._dtype = next(model.parameters()).dtype
        self._packs = self._plain_cache and packing_works(model, self._torch)
        self._decode_cache: dict[int, Keys] = {}
        self._kv_bytes_per_position: float | None = None

    # ------------------------------------------------------------ tokens

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
        return list(self._tokenize(text, add_special_tokens)["input_ids"])

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

    def _tokenize(self, text: str, add_special_tokens, offsets: bool = False):
        if self.tokenizer is None:
            raise InvalidInputError(
                "this model has no tokenizer: give the prompt as token ids"
            )
        options = {"return_offsets_mapping": True} if offsets else {}
        if add_special_tokens is not None:
            options["add_special_tokens"] = add_special_tokens
        elif text.startswith(self.tokenizer.decode([self.prefix_id])):
            options["add_special_tokens"] = False
        return self.tokenizer(text, **options)

    def decode(self, ids: Sequence[int]) -> str:
        """The tokenizer's text for ``ids`` (token names without one)."""
        if self.tokenizer is None:
            return " ".join(self.vocab[int(i)] for i in ids)
        return self.tokenizer.decode([int(i) for i in ids])

    # ----------------------------------------------------------- scoring

    def continuation_logits(self, requests, *, share_contexts: bool = True):
        """:class:`~seqscore.models.loglikelihood.LogitsBlock` s over ``requests``
        (:class:`~seqscore.models.requests.Request` s that fit the model): the
        logits of the positions that predict continuation tokens, at most
        :data:`LOGITS_BUDGET` bytes a block (see the module notes)."""
        for request in requests:
            self._check_length(request.input_length, request.context)
        if not share_contexts:
            passes = self._whole_passes(requests)
        elif self._packs:
            passes = self._packed_passes(requests)
        else:
            passes = self._shared_passes(requests)
        for batch, states, picks in passes:
            yield from self._blocks(batch, states, picks)
            del states  # one pass's output alive at a time, not two

    def _blocks(self, batch, states, picks):
        """LogitsBlocks of one pass: request ``batch[r]`` is scored by the
        outputs at the flat positions ``picks[r]`` of ``states`` (hidden
        states, or logits without a separable head), one per token.

        Freed heap goes back to the system after the pass
        (:func:`~seqscore.numerics._pages.release_free_heap`): every pass allocates
        tensors of new shapes, which freed blocks seldom fit."""
        release_free_heap()
        torch = self._torch
        flat = states.reshape(-1, states.shape[-1])
        lengths = [len(p) for p in picks]
        for group in position_runs(lengths, self._limits()[1]):
            index = torch.tensor(
                [i for r in group for i in picks[r]], device=self.device
            )
            with torch.inference_mode():
                rows = flat.index_select(0, index)
                if self._head is not None:
                    rows = _apply_head(self._head, rows, self._torch)
                logits = self._numpy(rows)
            offsets = np.cumsum([0] + [lengths[r] for r in group[:-1]]).tolist()
            yield LogitsBlock(logits, [batch[r] for r in group], offsets)
            del logits, rows

    def _limits(self) -> tuple[int, int]:
        """``(rows, positions)`` one pass may take."""
        if self.batch_size is not None:
            return self.batch_size, 1 << 62
        return 1 << 30, max(64, LOGITS_BUDGET // (4 * len(self.vocab)))

    def _whole_passes(self, requests):
        """Each request as one sequence, ``context + continuation[:-1]``."""
        inputs = [(*self._context(r), *r.continuation[:-1]) for r in requests]
        lengths = [len(i) for i in inputs]
        order = sorted(range(len(inputs)), key=lengths.__getitem__, reverse=True)
        rows, positions = self._limits()
        for batch in length_batches(lengths, order, rows, positions):
            # right padding never reaches a real position of a causal model
            ids, _ = self._padded([inputs[i] for i in batch])
            states = self._states(ids)
            starts = [max(len(requests[i].context), 1) - 1 for i in batch]
            yield batch, states, _row_picks(ids.shape[1], starts, requests, batch)
            del states

    def _packed_passes(self, requests):
        """Each distinct context once, its continuations after it in the
        same row (:mod:`seqscore.models.hf_packing`); rows sorted by width
        and batched like whole sequences."""
        rows, positions = self._limits()
        continuations = [r.continuation for r in requests]
        packed = packed_rows(
            [self._context(r) for r in requests],
            [len(c) for c in continuations],
            max_width=min(positions, self.max_length),
        )
        widths = [row.width for row in packed]
        order = sorted(range(len(packed)), key=widths.__getitem__, reverse=True)
        for batch in length_batches(widths, order, rows, positions):
            chosen = [packed[i] for i in batch]
            ids, mask, places, picks = packed_inputs(
                chosen,
                continuations,
                self.eos_id,
                self._dtype,
                self._torch,
                self.device,
            )
            states = self._states(ids, mask, positions=places)
            yield [r for row in chosen for r in row.requests], states, picks
            del states

    def _shared_passes(self, requests):
        """Each distinct context once, then its continuations after it,
        through a cache of its keys and values (models that cannot pack)."""
        contexts = [self._context(r) for r in requests]
        rows, positions = self._limits()
        chunks = context_chunks(
            contexts,
            [len(r.continuation) for r in requests],
            max_rows=rows,
            max_positions=positions,
            max_context_positions=positions,
            # padded contexts only where every layer keeps every position
            max_contexts=rows if self._plain_cache else 1,
        )
        for chunk in chunks:
            keys = self._context_pass(chunk.contexts)
            for batch in chunk.batches:
                members = [chunk.requests[i] for i in batch]
                slots = [chunk.slots[i] for i in batch]
                starts = [len(chunk.contexts[s]) - 1 for s in slots]
                inputs = [
                    (contexts[r][-1], *requests[r].continuation[:-1]) for r in members
                ]
                states = self._continue(keys, slots, inputs, starts)
                firsts = [0] * len(members)  # every position is scored
                picks = _row_picks(states.shape[1], firsts, requests, members)
                yield members, states, picks
                del states

    def _context_pass(self, contexts) -> Keys | None:
        """Keys and values of every context but its last token (None when
        every context is one token: nothing runs before the continuations)."""
        heads = [c[:-1] for c in contexts]
        if not heads[0]:
            return None
        ids, mask = self._padded(heads)
        if self._head is None:
            _, cache = self._forward(ids, mask, keep_last=True, use_cache=True)
        else:
            _, cache = self._forward(ids, mask, use_cache=True, head=False)
        return Keys(cache_layers(cache), mask)

    def _continue(self, keys, slots, inputs, starts):
        """The states (see :meth:`_states`) of ``inputs`` run after the keys
        and values of the contexts ``slots`` (``starts``: each context's
        length - 1)."""
        torch = self._torch
        ids, mask = self._padded(inputs)
        positions = torch.tensor(starts, device=self.device)[:, None] + torch.arange(
            ids.shape[1], device=self.device
        )
        positions = positions * mask  # padding positions stay in range
        if keys is None:
            return self._states(ids, mask, positions=positions)
        rows = torch.tensor(slots, device=self.device)
        full_mask = torch.cat([keys.mask[rows], mask], dim=1)
        cache = continuation_cache(
            keys, rows, self.model.config, plain=self._plain_cache
        )
        return self._states(ids, full_mask, positions=positions, cache=cache)

    # ----------------------------------------------------------- decoding

    def next_logprobs(self, prefixes) -> np.ndarray:
        """Next-token log-probs after each prefix, float32 ``(B, V)``."""
        out = np.empty((len(prefixes), len(self.vocab)), dtype=np.float32)
        groups = defaultdict(list)
        for row, prefix in enumerate(prefixes):
            groups[len(prefix)].append(row)
        kept: dict[int, Keys] = {}
        for length, rows in groups.items():
            self._check_length(max(length, 1), prefixes[rows[0]])
            group = [tuple(int(i) for i in prefixes[r]) for r in rows]
            logits, keys = self._next_logits(length, group)
            out[rows] = logits
            if keys is not None:
                kept[length] = keys
        self._decode_cache = kept
        return log_softmax(out)

    def _next_logits(self, length: int, prefixes: list[tuple[int, ...]]):
        """``(last-position logits, keys to keep or None)`` for prefixes of
        one length, from the last call's keys where each extends one."""
        parent = self._decode_cache.get(length - 1) if length >= 2 else None
        if parent is not None and all(p[:-1] in parent.index for p in prefixes):
            return self._extend(parent, prefixes, length)
        keep = self._may_keep(len(prefixes), length)
        chunks, caches = [], []
        size = self.batch_size or 64
        for start in range(0, len(prefixes), size):
            chunk = [self._input(p) for p in prefixes[start : start + size]]
            ids = self._torch.tensor(chunk, dtype=self._torch.long, device=self.device)
            logits, cache = self._forward(ids, keep_last=True, use_cache=keep)
            chunks.append(self._numpy(logits)[:, -1])
            if keep:
                caches.append(cache_layers(cache))
        keys = Keys.join(caches, prefixes, self._torch) if keep else None
        self._note_size(keys, len(prefixes), length)
        return np.concatenate(chunks), keys

    def _extend(self, parent: Keys, prefixes, length: int):
        torch = self._torch
        rows = torch.tensor(
            [parent.index[p[:-1]] for p in prefixes], device=self.device
        )
        ids = torch.tensor([[p[-1]] for p in prefixes], device=self.device)
        positions = torch.full_like(ids, length - 1)
        logits, cache = self._forward(
            ids,
            positions=positions,
            cache=decoding_cache(parent.select(rows), self.model.config),
            keep_last=True,
            use_cache=True,
        )
        keys = Keys(cache_layers(cache), None, {p: i for i, p in enumerate(prefixes)})
        if not self._may_keep(len(prefixes), length):
            keys = None
        return self._numpy(logits)[:, -1], keys

    def _may_keep(self, rows: int, length: int) -> bool:
        """Whether the keys of ``rows`` prefixes of ``length`` fit the
        decoding cache's budget (unknown before the first measurement)."""
        per = self._kv_bytes_per_position
        return per is None or rows * length * per <= DECODE_CACHE_BUDGET

    def _note_size(self, keys, rows: int, length: int) -> None:
        if keys is not None and self._kv_bytes_per_position is None:
            self._kv_bytes_per_position = keys.nbytes() / max(1, rows * length)

    def _check_length(self, length: int, prefix) -> None:
        """A prefix longer than the model's positions is an error naming it
        (torch would fail with "index out of range in self")."""
        if length > self.max_length:
            shown = [int(i) for i in prefix[:8]]
            raise InvalidInputError(
                f"a prefix of {length} tokens ({shown}...) is longer than the "
                f"model's {self.max_length} positions: use a shorter prompt or "
                "fewer max_tokens"
            )

    def _context(self, request) -> tuple[int, ...]:
        """A request's context; an empty one is ``[bos_id]``, as for decoding
        (requests from text always have one: the prefix token)."""
        return tuple(request.context) or tuple(self._input(()))

    def _input(self, prefix) -> list[int]:
        if prefix:
            return list(prefix)
        if self.bos_id is None:
            raise InvalidInputError(
                "the model has no bos_token_id, so it cannot start from an empty "
                "prompt: give a prompt"
            )
        return [self.bos_id]

    # ------------------------------------------------------------ torch

    def _padded(self, rows: Sequence[Sequence[int]]):
        """Right-padded ids (padding: EOS, masked) and the attention mask."""
        torch = self._torch
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.eos_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _forward(
        self,
        ids,
        mask=None,
        *,
        positions=None,
        cache=None,
        keep_last=False,
        use_cache=False,
        head=True,
    ):
        """``(logits, cache)`` of one forward pass; ``(last hidden states,
        cache)`` of the base model when not ``head``."""
        kwargs = {"input_ids": ids, "use_cache": use_cache}
        if mask is not None:
            kwargs["attention_mask"] = mask
        if positions is not None:
            kwargs["position_ids"] = positions
        if cache is not None:
            kwargs[self._forward_kwargs["cache"]] = cache
        if keep_last and head and self._forward_kwargs["logits_to_keep"]:
            kwargs["logits_to_keep"] = 1
        with self._torch.inference_mode():
            out = (self.model if head else self.model.base_model)(**kwargs)
        states = out.logits if head else out.last_hidden_state
        # read under the name the forward took (the other one warns)
        return states, getattr(out, self._forward_kwargs["cache"], None)

    def _states(self, ids, mask=None, *, positions=None, cache=None):
        """What a scoring pass hands to :meth:`_blocks`: the last hidden
        states when the head is applied separately (only to the positions
        that are scored), else the logits of every position."""
        return self._forward(
            ids, mask, positions=positions, cache=cache, head=self._head is None
        )[0]

    def _numpy(self, logits) -> np.ndarray:
        """Logits as a float32 numpy array (a view for float32 on the CPU)."""
        if logits.dtype != self._torch.float32:
            logits = logits.float()
        return logits.cpu().numpy()


def _row_picks(width: int, starts, requests, batch) -> list[list[int]]:
    """Flat positions of a pass of one request a row: row ``r`` predicts
    its continuation from position ``starts[r]`` on."""
    return [
        list(
            range(r * width + start, r * width + start + len(requests[i].continuation))
        )
        for r, (start, i) in enumerate(zip(starts, batch, strict=True))
    ]


def _apply_head(head, states, torch):
    """``head(states)``: a plain linear layer in slices of
    :data:`HEAD_SLICE` output rows written into one ``(N, V)`` tensor, the
    same products as one ``linear`` (each logit is the same dot product);
    any other module as it is."""
    if type(head) is not torch.nn.Linear:
        return head(states)
    weight, bias = head.weight, head.bias
    out = torch.empty(
        (states.shape[0], weight.shape[0]), dtype=weight.dtype, device=states.device
    )
    for start in range(0, weight.shape[0], HEAD_SLICE):
        part = slice(start, start + HEAD_SLICE)
        if bias is None:
            torch.mm(states, weight[part].t(), out=out[:, part])
        else:
            torch.addmm(bias[part], states, weight[part].t(), out=out[:, part])
    return out


def _separable_head(model, torch):
    """The output layer, when the logits are exactly that layer applied to
    the base model's last hidden states (checked on a probe: models that
    scale or soft-cap their logits after it fail the check), else None.

    Scoring applies it only to the positions whose logits it reads: no
    logits for contexts or padding, and none held for a whole batch."""
    head = model.get_output_embeddings()
    base = getattr(model, "base_model", None)
    if head is None or base is None or base is model:
        return None
    size = int(head.weight.shape[0])
    probe = torch.arange(4, device=head.weight.device)[None, :] % size
    try:
        with torch.inference_mode():
            whole = model(input_ids=probe, use_cache=False).logits
            split = head(base(input_ids=probe, use_cache=False).last_hidden_state)
    except (TypeError, AttributeError, RuntimeError):
        return None
    return head if torch.equal(whole, split) else None


def _forward_parameters(model) -> dict:
    """What the model's ``forward`` calls its cache argument (``cache`` from
    transformers 5.x, ``past_key_values`` before) and whether it takes
    ``logits_to_keep``."""
    names = inspect.signature(model.forward).parameters
    return {
        "cache": "cache" if "cache" in names else "past_key_values",
        "logits_to_keep": "logits_to_keep" in names,
    }


def _max_length(config, tokenizer) -> int:
    """lm-eval's ``resolve_max_length``: the config's text model first."""
    config = getattr(config, "text_config", None) or config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _UNSET_TOKENIZER_LIMIT:
        return limit
    return DEFAULT_MAX_LENGTH


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


def load_hf(
    name_or_path: str | os.PathLike,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    **kwargs,
) -> HFModel:
    """Load a causal LM and its tokenizer with ``from_pretrained``, offline.

    Only local files are read (a folder, or a name already in the Hugging
    Face cache). A folder without a tokenizer gives an :class:`HFModel`
    that works on ids. ``dtype`` is one of :data:`DTYPES`; ``kwargs`` go to
    :class:`HFModel` (``batch_size``, ``max_length``, ...).
    """
    torch = _torch()
    try:
        import transformers
    except ImportError:
        raise InvalidInputError(
            "the Hugging Face adapter needs transformers: pip install 'seqscore[hf]'"
        ) from None
    if dtype not in DTYPES:
        raise InvalidInputError(
            f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}"
        )
    source = os.fspath(name_or_path)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            source, local_files_only=True, dtype=getattr(torch, dtype)
        )
        model = model.to(device)
    except (OSError, ValueError, RuntimeError) as exc:
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
    if tokenizer is not None and len(tokenizer) <= len(tokenizer.all_special_tokens):
        # transformers 5 builds a tokenizer with no vocabulary from the config
        # alone (it encodes every text to nothing): that is no tokenizer
        tokenizer = None
    return HFModel(model, tokenizer, **kwargs)
