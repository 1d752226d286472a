"""What a Hugging Face model is found to do, probed once when it is wrapped.

Scoring takes its fastest route only where the model is known to allow it,
and a model's documentation seldom says: so the adapter asks the model
itself, on a few tokens, before the first request
(:func:`probe_model`):

* the names its ``forward`` takes (transformers renamed the cache argument
  in 5.x; ``logits_to_keep`` is not universal);
* whether its logits are exactly its output layer applied to its base
  model's last hidden states (:func:`separable_head`): only then may the
  head run on the scored positions alone;
* whether its cache layers are all plain full attention
  (:func:`~seqscore.models.hf_keys.plain_cache`) and whether its attention
  applies a custom 4-D mask, and whether it does after cached keys and
  values too (:func:`~seqscore.models.hf_packing.probe_packing`, which
  also reads how many bytes of keys and values a token costs): only then
  may contexts be packed with their continuations, and shared prefixes run
  once.

:func:`model_max_length` reads the positions the model takes, by lm-eval's
rule.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from seqscore.models._torch import torch
from seqscore.models.hf_keys import plain_cache
from seqscore.models.hf_packing import PackingProbe, probe_packing

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "ModelTraits",
    "model_max_length",
    "probe_model",
    "separable_head",
]

# lm-eval's default when neither the config nor the tokenizer gives one
DEFAULT_MAX_LENGTH = 2048
# tokenizers that state no limit say this (transformers' VERY_LARGE_INTEGER)
_UNSET_TOKENIZER_LIMIT = int(1e30)


@dataclass(frozen=True)
class ModelTraits:
    """What the probes found.

    ``cache_argument``: the name ``forward`` takes its cache under (``cache``
    from transformers 5.x, ``past_key_values`` before); ``keeps_logits``:
    whether ``forward`` takes ``logits_to_keep``; ``head``: the output layer
    when it may run apart from the base model (:func:`separable_head`), else
    None; ``plain_cache``, ``packs`` and ``shares_prefixes``: see the
    module notes; ``token_bytes``: bytes of keys and values per context
    token (0 when prefixes are not shared).
    """

    cache_argument: str
    keeps_logits: bool
    head: Any
    plain_cache: bool
    packs: bool
    shares_prefixes: bool = False
    token_bytes: int = 0

    def route(self) -> str:
        """How requests sharing a context run, and why (``--verbose``)."""
        if not self.plain_cache:
            return (
                "cached contexts, one a pass (its cache keeps a sliding window, "
                "or its layers cannot be told): no packed rows, no shared prefixes"
            )
        if not self.packs:
            return (
                "cached contexts (its attention does not apply a custom 4-D "
                "mask): no packed rows, no shared prefixes"
            )
        if not self.shares_prefixes:
            return (
                "packed rows (its attention ignores a custom 4-D mask after "
                "cached keys): no shared prefixes"
            )
        return "packed rows after shared prefixes"


def probe_model(model) -> ModelTraits:
    """Run every probe on ``model`` (an ``AutoModelForCausalLM``-like module
    in eval mode)."""
    names = inspect.signature(model.forward).parameters
    cache_argument = "cache" if "cache" in names else "past_key_values"
    plain = plain_cache(model.config)
    packing = probe_packing(model, cache_argument) if plain else PackingProbe(False)
    return ModelTraits(
        cache_argument=cache_argument,
        keeps_logits="logits_to_keep" in names,
        head=separable_head(model),
        plain_cache=plain,
        packs=packing.packs,
        shares_prefixes=packing.shares_prefixes,
        token_bytes=packing.token_bytes,
    )


def separable_head(model):
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
    probe = torch().arange(4, device=head.weight.device)[None, :] % size
    try:
        with torch().inference_mode():
            whole = model(input_ids=probe, use_cache=False).logits
            split = head(base(input_ids=probe, use_cache=False).last_hidden_state)
    except (TypeError, AttributeError, RuntimeError):
        return None
    return head if torch().equal(whole, split) else None


def model_max_length(config, tokenizer) -> int:
    """lm-eval's ``resolve_max_length``: the config's ``n_positions``,
    ``max_position_embeddings`` or ``n_ctx`` (its text model's first), else
    the tokenizer's ``model_max_length``, else :data:`DEFAULT_MAX_LENGTH`."""
    config = getattr(config, "text_config", None) or config
    for key in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < _UNSET_TOKENIZER_LIMIT:
        return limit
    return DEFAULT_MAX_LENGTH
