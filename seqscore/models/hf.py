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
* Devices (``load_hf(device="cuda")``): ids, positions and packed rows'
  segments are built on the host and copied to the model's device once a
  pass; the 4-D mask, index tensors and caches are made there; only the
  scored positions' logits come back, as float32 (bfloat16 and float16
  included). On a GPU the head is one product, not slices, and torch's
  CPU threads are left alone. ``tests/models/test_hf_devices.py`` checks
  every route's inputs against a virtual device on the CPU;
  ``bench/gpu_check.py`` compares a GPU with the CPU.
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

Layout: :class:`HFModel` holds the parts and answers seqscore's questions;
each job is a module of its own:

* :mod:`seqscore.models.hf_tokens` -- the tokenizer and the special ids;
* :mod:`seqscore.models.hf_probes` -- what the model allows, probed once;
* :mod:`seqscore.models.hf_forward` -- the forward pass and the head;
* :mod:`seqscore.models.hf_passes` -- the scoring passes, one class per
  way of running them (whole, packed, cached contexts);
* :mod:`seqscore.models.hf_decoding` -- next-token log-probs and the
  decoding cache;
* :mod:`seqscore.models.hf_packing`, :mod:`seqscore.models.hf_keys`,
  :mod:`seqscore.models.batching` -- packed rows, kept keys and values,
  and which requests run together;
* :mod:`seqscore.models._torch` -- the one import of torch and
  transformers (the optional extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from seqscore.errors import InvalidInputError
from seqscore.models._torch import torch, transformers
from seqscore.models.hf_decoding import DECODE_CACHE_BUDGET, CachedDecoder
from seqscore.models.hf_forward import HEAD_SLICE, ForwardRunner
from seqscore.models.hf_passes import (
    LOGITS_BUDGET,
    CachedPasses,
    PackedPasses,
    PassLimits,
    PrefixSharing,
    ScoringPasses,
    WholePasses,
)
from seqscore.models.hf_probes import (
    DEFAULT_MAX_LENGTH,
    ModelTraits,
    model_max_length,
    probe_model,
)
from seqscore.models.hf_tokens import HFTokens, check_length

__all__ = [
    "DECODE_CACHE_BUDGET",
    "DEFAULT_MAX_LENGTH",
    "DEFAULT_PREFIX_CACHE_MB",
    "DTYPES",
    "HEAD_SLICE",
    "LOGITS_BUDGET",
    "MIN_SHARED_PREFIX",
    "HFModel",
    "load_hf",
]

#: MiB of shared prefixes' keys and values held at once by default
#: (``--max-prefix-cache``): 7,281 tokens of GPT-2 small in float32 (72 KiB
#: a token), 1,024 of a 7B Llama in bfloat16 (512 KiB).
DEFAULT_PREFIX_CACHE_MB = 512

#: The shortest prefix that runs once for the contexts sharing it: a
#: shorter one saves less than the pass that computes it costs.
MIN_SHARED_PREFIX = 16

#: ``--dtype`` names and their torch dtypes' attribute names.
DTYPES = ("float32", "bfloat16", "float16")


class HFModel:
    """A causal LM (``AutoModelForCausalLM``-like) plus an optional tokenizer.

    ``batch_size`` (rows a pass; by default as many as keep a pass's logits
    within :data:`LOGITS_BUDGET`) and ``max_length`` (by default the
    model's own) are read once, here.

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
        max_prefix_cache: int | None = None,
    ):
        torch()  # without the extra, say so before touching the model
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = None if batch_size is None else int(batch_size)
        self._tokens = HFTokens(model, tokenizer, eos_id=eos_id, bos_id=bos_id)
        self.vocab = self._tokens.vocab
        self.vocab_text = self._tokens.vocab_text
        self.eos_id = self._tokens.eos_id
        self.bos_id = self._tokens.bos_id
        self.max_length = max_length or model_max_length(model.config, tokenizer)
        self.device = next(model.parameters()).device
        traits = self.traits = probe_model(model)
        # _packs may be switched off to score a packing model through cached
        # contexts (the tests compare the two ways)
        self._packs = traits.packs
        runner = self._runner = ForwardRunner(model, traits, pad_id=self.eos_id)
        limits = PassLimits.of(self.batch_size, len(self.vocab))
        self._whole = WholePasses(runner, self.bos_id, limits)
        self._packed = PackedPasses(
            runner,
            self.bos_id,
            limits,
            self.max_length,
            _prefix_sharing(traits, max_prefix_cache),
        )
        self._cached = CachedPasses(runner, self.bos_id, limits, traits.plain_cache)
        self._decoder = CachedDecoder(
            runner,
            bos_id=self.bos_id,
            batch_size=self.batch_size,
            max_length=self.max_length,
            vocab_size=len(self.vocab),
        )

    # ------------------------------------------------------------ tokens

    @property
    def prefix_id(self) -> int:
        """The context of an empty context: BOS, else EOS (lm-eval's
        ``prefix_token_id``)."""
        return self._tokens.prefix_id

    def encode(self, text: str, *, add_special_tokens: bool | None = None) -> list[int]:
        """The tokenizer's ids for ``text``, by lm-eval's rule for special
        tokens (:meth:`seqscore.models.hf_tokens.HFTokens.encode`)."""
        return self._tokens.encode(text, add_special_tokens=add_special_tokens)

    def encode_offsets(
        self, text: str, *, add_special_tokens: bool | None = None
    ) -> tuple[list[int], list[tuple[int, int]]]:
        """:meth:`encode` with each token's characters ``[start, end)``
        (a fast tokenizer's ``offset_mapping``)."""
        return self._tokens.encode_offsets(text, add_special_tokens=add_special_tokens)

    def decode(self, ids: Sequence[int]) -> str:
        """The tokenizer's text for ``ids`` (token names without one)."""
        return self._tokens.decode(ids)

    # ----------------------------------------------------------- scoring

    def continuation_logits(self, requests, *, share_contexts: bool = True):
        """:class:`~seqscore.models.loglikelihood.LogitsBlock` s over ``requests``
        (:class:`~seqscore.models.requests.Request` s that fit the model): the
        logits of the positions that predict continuation tokens, at most
        :data:`LOGITS_BUDGET` bytes a block (see the module notes)."""
        for request in requests:
            check_length(request.input_length, request.context, self.max_length)
        yield from self._scoring_passes(share_contexts).blocks(requests)

    def scoring_route(self, share_contexts: bool = True) -> str:
        """How this model scores requests, and why (``--verbose``)."""
        if not share_contexts:
            return "whole sequences, one a row (--no-share-contexts)"
        route = self.traits.route()
        sharing = self._packed.sharing
        if self._packs and self.traits.shares_prefixes:
            if sharing is None:
                return "packed rows (--max-prefix-cache 0): no shared prefixes"
            return (
                f"{route} of {MIN_SHARED_PREFIX}+ tokens, holding at most "
                f"{sharing.max_path_tokens:,} prefix tokens' keys and values "
                f"({self.traits.token_bytes:,} bytes a token)"
            )
        return route

    def _scoring_passes(self, share_contexts: bool) -> ScoringPasses:
        """The fastest way this model allows: packed rows, else cached
        contexts; whole sequences when contexts are not to be shared."""
        if not share_contexts:
            return self._whole
        return self._packed if self._packs else self._cached

    # ----------------------------------------------------------- decoding

    def next_logprobs(self, prefixes) -> np.ndarray:
        """Next-token log-probs after each prefix, float32 ``(B, V)``."""
        return self._decoder.next_logprobs(prefixes)


def _prefix_sharing(traits: ModelTraits, megabytes: int | None) -> PrefixSharing | None:
    """Shared prefixes of :data:`MIN_SHARED_PREFIX` tokens or more, their
    keys and values within ``megabytes`` MiB (default
    :data:`DEFAULT_PREFIX_CACHE_MB`); None where the model cannot (or 0 MiB)."""
    if megabytes is None:
        megabytes = DEFAULT_PREFIX_CACHE_MB
    if not traits.shares_prefixes or megabytes <= 0:
        return None
    tokens = (megabytes << 20) // max(traits.token_bytes, 1)
    return PrefixSharing(MIN_SHARED_PREFIX, tokens)


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
    torch()
    transformers()
    if dtype not in DTYPES:
        raise InvalidInputError(
            f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}"
        )
    source = os.fspath(name_or_path)
    _check_device(device)
    model = _load_model(source, dtype, device)
    return HFModel(model, _load_tokenizer(source), **kwargs)


def _check_device(device: str) -> None:
    """Refuse a device this torch cannot use, naming what it has (torch
    itself fails later, with an AssertionError from deep inside)."""
    try:
        wanted = torch().device(device)
    except (RuntimeError, ValueError):
        raise InvalidInputError(
            f"device {device!r} is not a torch device (cpu, cuda, cuda:N, mps)"
        ) from None
    if wanted.type == "cuda":
        count = _cuda_devices()
        # the index from the text: torch keeps it in 8 bits (cuda:999 is -25)
        _, _, number = device.partition(":")
        if int(number or 0) < count:  # no index: the first device
            return
        have = f"{count} CUDA device(s)" if count else "no CUDA"
        raise InvalidInputError(
            f"device {device!r}: this torch ({torch().__version__}) has {have}; "
            f"available: {', '.join(_devices())}"
        )
    if wanted.type == "mps" and not torch().backends.mps.is_available():
        raise InvalidInputError(
            f"device {device!r}: MPS is not available here; available: "
            f"{', '.join(_devices())}"
        )


def _devices() -> list[str]:
    """The devices this torch can use."""
    return ["cpu", *(f"cuda:{i}" for i in range(_cuda_devices()))]


def _cuda_devices() -> int:
    """How many CUDA devices this torch sees (0 for a CPU build)."""
    return torch().cuda.device_count() if torch().cuda.is_available() else 0


def _load_model(source: str, dtype: str, device: str):
    """The causal LM at ``source`` (local files only) on ``device``; any
    failure is a data error naming the source."""
    try:
        model = transformers().AutoModelForCausalLM.from_pretrained(
            source, local_files_only=True, dtype=getattr(torch(), dtype)
        )
        return model.to(device)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(
            f"cannot load a causal LM from {source!r} (local files only): "
            f"{str(exc).splitlines()[0]}"
        ) from None


def _load_tokenizer(source: str):
    """The tokenizer at ``source``, or None: a model folder without one
    works on ids."""
    try:
        tokenizer = transformers().AutoTokenizer.from_pretrained(
            source, local_files_only=True
        )
    except (OSError, ValueError):
        return None
    if len(tokenizer) <= len(tokenizer.all_special_tokens):
        # transformers 5 builds a tokenizer with no vocabulary from the config
        # alone (it encodes every text to nothing): that is no tokenizer
        return None
    return tokenizer
