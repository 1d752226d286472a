"""Language models that implement :class:`seqscore.decoding.LanguageModel`.

* :mod:`seqscore.models.tree` -- a "logit tree" read from JSON, to reproduce a
  textbook case exactly;
* :mod:`seqscore.models.builtin` -- a small word-level softmax-regression model
  trained on the English text that ships with CPython (no download);
* :mod:`seqscore.models.hf` -- any Hugging Face causal LM and its tokenizer
  (the optional extra ``seqscore[hf]``);
* :mod:`seqscore.models.served` -- a model behind an OpenAI-compatible
  server (vLLM, SGLang, llama-cpp-python; the extra ``seqscore[serve]``),
  which scores texts only.
"""

from __future__ import annotations

from typing import Any

from seqscore.errors import InvalidInputError
from seqscore.models.builtin import load_builtin
from seqscore.models.hf import load_hf
from seqscore.models.served import load_served
from seqscore.models.tree import load_tree

__all__ = ["MODEL_SPECS", "load_model"]

MODEL_SPECS = "builtin, tree:FILE.json, hf:NAME_OR_PATH or openai:URL"


def load_model(spec: str, served: Any = None, **hf_options):
    """A language model from a spec: ``builtin``, ``tree:FILE``, ``hf:PATH``
    or ``openai:URL``.

    ``hf:`` loads with ``from_pretrained`` (a local folder, or a name already
    in the Hugging Face cache: seqscore never downloads); ``hf_options``
    (``dtype``, ``device``, ``batch_size``; None means the default) go to
    :func:`~seqscore.models.hf.load_hf` and are an error for other models;
    ``served`` (:class:`~seqscore.models.served.ServedOptions`) is how to
    use an ``openai:`` model, and an error for others.

    >>> load_model("builtin").vocab[-1]
    '<eos>'
    >>> load_model("gpt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    seqscore.errors.InvalidInputError: unknown model 'gpt': use builtin, ...
    """
    kind, _, target = spec.partition(":")
    hf_options = {k: v for k, v in hf_options.items() if v is not None}
    if hf_options and kind != "hf":
        names = ", ".join(sorted(hf_options))
        raise InvalidInputError(f"{names}: only for hf: models, not {spec!r}")
    if served is not None and served.given and kind != "openai":
        names = ", ".join(served.given)
        raise InvalidInputError(f"{names}: only for openai: models, not {spec!r}")
    if kind == "builtin" and not target:
        return load_builtin()
    if kind == "tree" and target:
        return load_tree(target)
    if kind == "hf" and target:
        return load_hf(target, **hf_options)
    if kind == "openai" and target:
        return load_served(target, served)
    raise InvalidInputError(f"unknown model {spec!r}: use {MODEL_SPECS}")
