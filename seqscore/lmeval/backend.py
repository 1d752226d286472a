"""seqscore as an lm-evaluation-harness model backend.

Two backends of lm-eval's ``LM`` interface (``lm_eval.api.model.LM``,
0.4.13), registered as:

* ``seqscore`` -- a local Hugging Face model
  (``--model_args pretrained=PATH,dtype=...,device=...,batch_size=...,
  add_bos_token=...,max_length=...``), loaded by
  :func:`seqscore.models.load_model`;
* ``seqscore-openai`` -- a model behind an OpenAI-compatible server
  (``--model_args base_url=http://HOST:PORT/v1,model=...,tokenizer=...,
  num_concurrent=...``), by :func:`seqscore.models.served.load_served`.

What each request type goes through:

* ``loglikelihood``: every request of the run at once to
  :func:`seqscore.models.loglikelihood.loglikelihoods` (lm-eval's
  tokenisation rule, left truncation and ``is_greedy``), so packed rows and
  shared few-shot prefixes apply across the whole task;
* ``loglikelihood_rolling``: :func:`seqscore.models.perplexity.rolling_perplexity`
  with lm-eval's windows (window = stride = ``max_length``, the prefix token
  first: ``get_rolling_token_windows`` with ``context_len=1``, made disjoint);
  a served model scores each document whole;
* ``generate_until``: Hugging Face ``generate`` (greedy unless the task's
  generation arguments say otherwise), one request at a time, with lm-eval's
  own helpers for the arguments (``until``, ``max_gen_toks`` default 256,
  the context left-truncated to ``max_length - max_gen_toks``), stop
  criteria and the cut at the first stop sequence; a served model's
  completions endpoint (``max_tokens``, ``stop``, ``temperature`` 0).

lm-eval is optional (the extra ``seqscore[lm-eval]``): this module imports
it only when a backend class is first asked for (PEP 562), and registers
the backends with lm-eval's registry only in :func:`register`. The classes
are also lm-eval plugins under the entry-point group ``lm_eval.models``
(lm-eval's PR #4013, after 0.4.13), so that plain ``lm-eval run --model
seqscore`` works with versions that read it.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqscore.errors import InvalidInputError
from seqscore.models import load_model
from seqscore.models._torch import torch, transformers
from seqscore.models.hf import DTYPES, HFModel
from seqscore.models.loglikelihood import loglikelihoods
from seqscore.models.perplexity import rolling_perplexity
from seqscore.models.served import ServedOptions, load_served
from seqscore.models.served_http import in_order

# SeqScoreLM and SeqScoreOpenAILM come from __getattr__ (they import lm-eval)
__all__ = [  # noqa: F822
    "BACKENDS",
    "SeqScoreLM",
    "SeqScoreOpenAILM",
    "register",
    "run_lm_eval",
]

#: lm-eval's name for each backend -> the class's name in this module.
BACKENDS = {"seqscore": "SeqScoreLM", "seqscore-openai": "SeqScoreOpenAILM"}

#: lm-eval's default ``max_gen_toks`` (``HFLM.max_gen_toks``).
MAX_GEN_TOKS = 256


# ------------------------------------------------------------ arguments


def _flag(value, name: str) -> bool | None:
    """A boolean model argument (lm-eval's parser gives ``True``/``False``
    or a string)."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise InvalidInputError(f"{name} must be true or false, got {value!r}")


def _rows(batch_size) -> int | None:
    """lm-eval's ``batch_size`` (an int, a string of one, ``auto`` or
    ``auto:N``) as seqscore's rows a pass: ``auto`` is seqscore's own
    choice (rows within its logits budget)."""
    if batch_size is None or str(batch_size).startswith("auto"):
        return None
    try:
        rows = int(batch_size)
    except ValueError:
        raise InvalidInputError(
            f"batch_size must be a number or auto, got {batch_size!r}"
        ) from None
    if rows < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {rows}")
    return rows


def _dtype(dtype, pretrained: str) -> str:
    """lm-eval's ``dtype`` as one of seqscore's: ``auto`` (lm-eval's
    default) is the dtype the model was saved in, float32 where that is
    none of :data:`~seqscore.models.hf.DTYPES`."""
    if dtype is None or dtype == "auto":
        try:
            config = json.loads((Path(pretrained) / "config.json").read_text())
        except (OSError, ValueError):
            return "float32"
        saved = config.get("dtype") or config.get("torch_dtype")
        return saved if saved in DTYPES else "float32"
    return str(dtype)


def _device(device) -> str:
    """lm-eval's ``hf`` rule for the device: the one given where this torch
    has it (``cuda``, ``cpu``, ``mps``, ``cuda:N`` of its GPUs), else CUDA
    where there is one, else the CPU (the command line's default,
    ``cuda:0``, on a machine without a GPU)."""

    count = torch().cuda.device_count() if torch().cuda.is_available() else 0
    known = {"cuda", "cpu", "mps", "mps:0", *(f"cuda:{i}" for i in range(count))}
    if device and str(device) in known:
        return str(device)
    return "cuda" if count else "cpu"


# ------------------------------------------------------------ generation


def _generation_settings(gen_kwargs: dict, eos: str | None, default_max: int):
    """``(until, max_gen_toks, kwargs)`` by lm-eval's own helpers: the stop
    sequences with EOS added, the token budget, the rest for ``generate``."""
    from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs

    kwargs = dict(normalize_gen_kwargs(gen_kwargs, default_max))
    until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
    max_gen_toks = int(kwargs.pop("max_gen_toks"))
    return until, max_gen_toks, kwargs


def _cut(text: str, until: Sequence[str]) -> str:
    """lm-eval's cut of a generation at its first stop sequence."""
    from lm_eval.models.utils import postprocess_generated_text

    return postprocess_generated_text(
        generation=text, stop=list(until), think_end_token=None
    )


# ------------------------------------------------------------- backends


class _Backend:
    """What both backends share: lm-eval's request objects in, seqscore's
    scoring underneath, lm-eval's cache hook told of every answer."""

    model: Any
    cache_hook: Any

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        pairs = [tuple(request.args) for request in requests]
        results = loglikelihoods(self.model, pairs)
        out = [(float(r.logprob), bool(r.is_greedy)) for r in results]
        for pair, answer in zip(pairs, out, strict=True):
            self.cache_hook.add_partial("loglikelihood", pair, answer)
        return out

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        texts = [request.args[0] for request in requests]
        # a text with no tokens has log-likelihood 0 in lm-eval (no windows)
        scored = [i for i, text in enumerate(texts) if self._has_tokens(text)]
        documents = [(str(i), texts[i]) for i in scored]
        out = [0.0] * len(texts)
        for index, document in zip(
            scored, rolling_perplexity(self.model, documents), strict=True
        ):
            out[index] = float(document.loglikelihood)
        for text, value in zip(texts, out, strict=True):
            self.cache_hook.add_partial("loglikelihood_rolling", (text,), value)
        return out

    def _has_tokens(self, text: str) -> bool:
        return bool(text)

    def generate_until(self, requests, disable_tqdm: bool = False):
        args = [tuple(request.args) for request in requests]
        out = in_order(lambda i: self._generate(*args[i]), len(args), self._workers)
        for (context, gen_kwargs), text in zip(args, out, strict=True):
            self.cache_hook.add_partial("generate_until", (context, gen_kwargs), text)
        return out

    _workers = 1

    def _generate(self, context: str, gen_kwargs: dict) -> str:
        raise NotImplementedError


class _LocalBackend(_Backend):
    """lm-eval's ``seqscore`` backend: a local Hugging Face model."""

    def __init__(
        self,
        pretrained: str,
        dtype: str | None = None,
        device: str | None = None,
        batch_size=None,
        max_batch_size=None,  # lm-eval's, for batch_size=auto: seqscore sizes its own
        add_bos_token=None,
        max_length=None,
        max_prefix_cache=None,
        max_gen_toks=MAX_GEN_TOKS,
    ):
        super().__init__()
        pretrained = str(pretrained)
        options = {
            "dtype": _dtype(dtype, pretrained),
            "device": _device(device),
            "batch_size": _rows(batch_size),
            "max_length": None if max_length is None else int(max_length),
            "max_prefix_cache": None
            if max_prefix_cache is None
            else int(max_prefix_cache),
        }
        self.add_bos_token = _flag(add_bos_token, "add_bos_token")
        if self.add_bos_token is None:
            self.model: HFModel = load_model(f"hf:{pretrained}", **options)
        else:
            self.model = _with_bos_choice(pretrained, self.add_bos_token, options)
        self.pretrained = pretrained
        self.max_gen_toks = int(max_gen_toks)

    @property
    def max_length(self) -> int:
        return int(self.model.max_length)

    @property
    def device(self):
        return self.model.device

    @property
    def tokenizer_name(self) -> str:
        return self.pretrained.replace("/", "__")

    def _has_tokens(self, text: str) -> bool:
        return bool(text) or bool(self.model.encode(text))

    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True):
        """lm-eval's ``hf`` rule (``--apply_chat_template``): the tokenizer's
        template, the system turn dropped where the template refuses one."""
        import jinja2

        options = {
            "tokenize": False,
            "add_generation_prompt": add_generation_prompt,
            "continue_final_message": not add_generation_prompt,
        }
        template = self.model.tokenizer.apply_chat_template
        try:
            return template(chat_history, **options)
        except jinja2.exceptions.TemplateError:
            turns = [turn for turn in chat_history if turn["role"] != "system"]
            return template(turns, **options)

    def _generate(self, context: str, gen_kwargs: dict) -> str:
        from lm_eval.models.utils_hf import stop_sequences_criteria

        model, tokenizer = self.model, self.model.tokenizer
        eos = tokenizer.decode(model.eos_id, skip_special_tokens=False)
        until, max_gen_toks, kwargs = _generation_settings(
            gen_kwargs, eos, self.max_gen_toks
        )
        room = self.max_length - max_gen_toks
        if room <= 0:
            raise InvalidInputError(
                f"max_gen_toks ({max_gen_toks}) must be less than the model's "
                f"{self.max_length} positions"
            )
        # lm-eval's tok_batch_encode: special tokens as the tokenizer adds
        # them (or add_bos_token), none where the text starts with BOS
        starts_with_bos = tokenizer.bos_token is not None and context.startswith(
            tokenizer.bos_token
        )
        if starts_with_bos:
            ids = model.encode(context, add_special_tokens=False)
        else:
            ids = model.encode(context, add_special_tokens=self.add_bos_token)
        ids = ids[-room:]
        max_length = kwargs.pop("max_length", len(ids) + max_gen_toks)
        # lm-eval's _model_generate: temperature 0 means greedy
        kwargs["temperature"] = kwargs.get("temperature", 0.0)
        if kwargs["temperature"] == 0.0 and kwargs.get("do_sample") is None:
            kwargs["do_sample"] = False
        if kwargs.get("do_sample") is False and kwargs["temperature"] == 0.0:
            kwargs.pop("temperature")
        inputs = torch().tensor([ids], dtype=torch().long, device=model.device)
        pad = tokenizer.pad_token_id
        with torch().no_grad():
            generated = model.model.generate(
                input_ids=inputs,
                attention_mask=torch().ones_like(inputs),
                max_length=max_length,
                stopping_criteria=stop_sequences_criteria(
                    tokenizer, until, inputs.shape[1], 1
                ),
                pad_token_id=model.eos_id if pad is None else pad,
                use_cache=True,
                **kwargs,
            )
        text = tokenizer.decode(
            generated[0, inputs.shape[1] :].tolist(), skip_special_tokens=True
        )
        return _cut(text, until)


def _with_bos_choice(pretrained: str, add_bos: bool, options: dict) -> HFModel:
    """The model with its tokenizer loaded as lm-eval's ``add_bos_token``
    loads it (``AutoTokenizer.from_pretrained(..., add_bos_token=...)``)
    and encoding with ``add_special_tokens`` set to it."""
    loaded = load_model(f"hf:{pretrained}", **options)
    tokenizer = transformers().AutoTokenizer.from_pretrained(
        pretrained, local_files_only=True, add_bos_token=add_bos
    )
    return _BosChoice(
        loaded.model,
        tokenizer,
        add_bos,
        batch_size=options["batch_size"],
        max_length=options["max_length"],
        max_prefix_cache=options["max_prefix_cache"],
    )


class _BosChoice(HFModel):
    """An :class:`HFModel` that encodes with ``add_special_tokens`` =
    lm-eval's ``add_bos_token`` wherever lm-eval's ``tok_encode`` would
    leave the tokenizer's default."""

    def __init__(self, model, tokenizer, add_bos: bool, **options):
        super().__init__(model, tokenizer, **options)
        self._add_bos = add_bos

    def encode(self, text: str, *, add_special_tokens: bool | None = None):
        if add_special_tokens is None and not text.startswith(
            self.tokenizer.decode([self.prefix_id])
        ):
            add_special_tokens = self._add_bos
        return super().encode(text, add_special_tokens=add_special_tokens)


class _ServedBackend(_Backend):
    """lm-eval's ``seqscore-openai`` backend: a served model."""

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        tokenizer: str | None = None,
        num_concurrent=None,
        api_key_env: str | None = None,
        timeout=None,
        max_retries=None,
        cache: str | None = None,
        max_gen_toks=MAX_GEN_TOKS,
        batch_size=None,  # lm-eval's; a server takes one request at a time
        max_batch_size=None,
        device=None,
    ):
        super().__init__()
        url = str(base_url).rstrip("/")
        for suffix in ("/completions", "/chat/completions"):
            if url.endswith(suffix):  # lm-eval's local-completions takes these
                url = url[: -len(suffix)]
        options = ServedOptions(
            served_model=model,
            api_key_env=api_key_env,
            tokenizer=tokenizer,
            concurrency=None if num_concurrent is None else int(num_concurrent),
            request_timeout=None if timeout is None else float(timeout),
            retries=None if max_retries is None else int(max_retries),
            cache=cache,
        )
        self.model = load_served(url, options)
        self.max_gen_toks = int(max_gen_toks)
        self._workers = self.model.concurrency

    @property
    def tokenizer_name(self) -> str:
        return str(self.model.name).replace("/", "__")

    def _generate(self, context: str, gen_kwargs: dict) -> str:
        until, max_gen_toks, kwargs = _generation_settings(
            gen_kwargs, None, self.max_gen_toks
        )
        payload = {
            "model": self.model.name,
            "prompt": context,
            "max_tokens": max_gen_toks,
            "temperature": kwargs.get("temperature", 0.0),
        }
        if until:
            payload["stop"] = list(until)
        body = self.model.client.post("completions", payload)
        try:
            text = body["choices"][0]["text"]
        except (KeyError, IndexError, TypeError):
            raise InvalidInputError(
                f"the server's completion has no choices[0].text: {str(body)[:200]}"
            ) from None
        return _cut(str(text), until)


# ------------------------------------------------------- lm-eval's classes


@functools.cache
def _classes() -> dict[str, type]:
    """The backends as subclasses of lm-eval's ``LM`` (imports lm-eval)."""
    try:
        from lm_eval.api.model import LM
    except ImportError:
        raise InvalidInputError(
            "lm-evaluation-harness is not installed: pip install 'seqscore[lm-eval]'"
        ) from None
    out = {}
    for name, base in (
        ("SeqScoreLM", _LocalBackend),
        ("SeqScoreOpenAILM", _ServedBackend),
    ):
        out[name] = type(
            name, (base, LM), {"__module__": __name__, "__doc__": base.__doc__}
        )
    return out


def __getattr__(name: str):
    """``SeqScoreLM`` and ``SeqScoreOpenAILM``, built on first use (PEP 562)."""
    if name in BACKENDS.values():
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register() -> None:
    """Register ``seqscore`` and ``seqscore-openai`` with lm-eval's model
    registry (lazily: the classes are built when lm-eval asks for one)."""
    import lm_eval.models  # noqa: F401 (lm-eval's own names first)
    from lm_eval.api.registry import model_registry

    for alias, name in BACKENDS.items():
        if alias not in model_registry:
            model_registry.register(alias, target=f"{__name__}:{name}")


def run_lm_eval(args: Sequence[str]) -> None:
    """lm-eval's own command line (``lm-eval ARGS...``, 0.4.13's
    ``HarnessCLI``) with seqscore's backends registered."""
    try:
        from lm_eval.__main__ import cli_evaluate
    except ImportError:
        raise InvalidInputError(
            "lm-evaluation-harness is not installed: pip install 'seqscore[lm-eval]'"
        ) from None
    register()
    saved = sys.argv
    sys.argv = ["lm-eval", *args]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
