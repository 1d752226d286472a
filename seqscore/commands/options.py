"""Options and helpers shared by several commands.

Every command is made by :func:`command`, so that each option shows its
default in the help (one without a default shows none): no option says
``show_default``. The options that several commands take are one decorator
per group here (:func:`model_options`, :func:`output_option`,
:func:`input_format_option`, :func:`bootstrap_options`, ...), a group being a
:func:`stack` of click options.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import math
import os
import sys
from collections.abc import Callable

import click

from seqscore.errors import MissingExtraError
from seqscore.formats.inputs import INPUT_FORMATS
from seqscore.models import MODEL_SPECS, load_model
from seqscore.models._torch import quiet_loading
from seqscore.models.chat import ChatSettings
from seqscore.models.hf import DEFAULT_PREFIX_CACHE_MB, DTYPES
from seqscore.models.loglikelihood import ModelScoring, TextScoring
from seqscore.models.served import DEFAULT_CONCURRENCY, ServedOptions
from seqscore.models.word_marks import vocab_marks
from seqscore.report.writers import FORMATS

__all__ = [
    "REPORT_FORMATS",
    "ModelSpec",
    "alpha_option",
    "check_html",
    "choice_option",
    "command",
    "count_option",
    "format_option",
    "gathered",
    "input_format_option",
    "load_cli_model",
    "model_options",
    "output_option",
    "positive_finite",
    "progress_callback",
    "progress_option",
    "report_format_option",
    "stack",
    "temperature_option",
]


def command(name: str, context_settings: dict | None = None, **attrs):
    """``click.command``, its options showing their defaults in the help, and
    refusing to write over any of its own input files."""
    settings = {"show_default": True, **(context_settings or {})}
    return click.command(name, cls=_Command, context_settings=settings, **attrs)


#: Parameters that name a file the command writes.
OUTPUTS = ("output", "rejects", "plot")


def _files_named(given: str) -> list[str]:
    """The files an argument names: itself, a folder's files (shards), or
    a glob's matches."""
    if os.path.isfile(given):
        return [given]
    if os.path.isdir(given):
        return [entry.path for entry in os.scandir(given) if entry.is_file()]
    return glob.glob(given) if any(c in given for c in "*?[") else []


class _Command(click.Command):
    """A command that checks, before it runs, that no file it would write is
    one it reads: ``score same.jsonl -o same.jsonl`` would replace its input."""

    def invoke(self, ctx: click.Context):
        _refuse_writing_over_inputs(ctx.params)
        return super().invoke(ctx)


def _refuse_writing_over_inputs(params: dict) -> None:
    inputs = [
        path
        for name, value in params.items()
        if name not in OUTPUTS
        for given in (value if isinstance(value, (tuple, list)) else (value,))
        if isinstance(given, str) and given != "-"
        for path in _files_named(given)
    ]
    for name in OUTPUTS:
        target = params.get(name)
        if not isinstance(target, str) or not os.path.isfile(target):
            continue  # standard output, a folder, or a file not there yet
        same = next((p for p in inputs if os.path.samefile(p, target)), None)
        if same is not None:
            flag = "-o/--output" if name == "output" else f"--{name}"
            raise click.UsageError(
                f"{flag} {target} is the input file {same}: writing it would "
                "replace what is being read; choose another path"
            )


def stack(*decorators):
    """Click decorators as one, in the order they are listed (the first is
    the first option in the help)."""

    def decorate(function):
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return decorate


def gathered(name: str, build: Callable[..., object], *options):
    """``options`` as one decorator (a :func:`stack`) whose values reach the
    command as one argument, ``name``: ``build`` called with them as keywords
    (the options' parameter names)."""
    probe = stack(*options)(lambda: None)
    names = tuple(param.name for param in probe.__click_params__)

    def decorate(function):
        @functools.wraps(function)
        def gather(*args, **kwargs):
            values = {key: kwargs.pop(key) for key in names}
            return function(*args, **kwargs, **{name: build(**values)})

        return stack(*options)(gather)

    return decorate


def choice_option(*decls: str, choices, **attrs):
    """``click.option`` whose value is one of ``choices``."""
    return click.option(*decls, type=click.Choice(choices), **attrs)


def count_option(*decls: str, at_least: int, **attrs):
    """``click.option`` whose value is a whole number, ``at_least`` or more."""
    return click.option(*decls, type=click.IntRange(min=at_least), **attrs)


def format_option(default: str = "table", choices=FORMATS):
    """``--format`` with the formats every command offers."""
    return choice_option(
        "--format",
        "fmt",
        choices=choices,
        default=default,
        help="Output format: an aligned table for reading, json, jsonl or csv "
        "for programs"
        + (", parquet for parts (-o DIR/)" if "parquet" in choices else "")
        + (f", {REPORTS['html']}" if "html" in choices else "")
        + ".",
    )


REPORTS = {
    "text": "text for reading",
    "markdown": "markdown for a document",
    "json": "json for programs",
    "html": "html for a page to look at in a browser (-o FILE.html; needs "
    "seqscore[html])",
}
#: The report formats every report command offers (html: those that name it).
REPORT_FORMATS = ("text", "markdown", "json")


def check_html(fmt: str) -> None:
    """``--format html`` without Jinja2 is bad usage (exit 2), said before
    any work is done, naming what to install."""
    if fmt != "html":
        return
    # the page's modules load only for --format html (start-up time)
    from seqscore.report.html import import_jinja2

    try:
        import_jinja2()
    except MissingExtraError as exc:
        raise click.UsageError(str(exc)) from None


def report_format_option(choices=REPORT_FORMATS):
    """``--format`` for commands that write a report rather than records."""
    return choice_option(
        "--format",
        "fmt",
        choices=choices,
        default="text",
        help="Output format: " + ", ".join(REPORTS[c] for c in choices) + ".",
    )


def alpha_option():
    """``--alpha``: the exponent of the length_penalty and gnmt reductions."""
    return click.option(
        "--alpha",
        type=float,
        default=1.0,
        callback=_finite,
        help="Exponent of the length_penalty (sum / L^alpha) and gnmt "
        "(sum / ((5 + L) / 6)^alpha) reductions.",
    )


def _finite(context, parameter, value):
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}")
    return value


def positive_finite(context, parameter, value):
    """Click callback: the option's value must be a finite number > 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter(f"must be a finite number > 0, got {value}")
    return value


def input_format_option(choices=INPUT_FORMATS):
    """``--input-format`` for commands that read scorer inputs."""
    return choice_option(
        "--input-format",
        choices=choices,
        default="auto",
        help="Input format; auto-detected from the content by default.",
    )


def progress_option():
    """``--progress/--no-progress`` (see :func:`progress_callback`)."""
    return click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bar on stderr [default: when stderr is a terminal].",
    )


def output_option(folders: bool = False):
    """``-o/--output FILE`` (``-`` for standard output), written atomically;
    ``folders``: or ``DIR/``, for a command that writes parts into one."""
    help_text = (
        "Write here instead of standard output. The file appears only when "
        "the command succeeds."
    )
    if folders:
        help_text += (
            " DIR/ (a trailing slash, or an existing directory): one part per "
            "input file plus manifest.json, each part renamed into place when "
            "complete."
        )
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=folders, writable=True, allow_dash=True),
        default="-",
        help=help_text,
    )


@contextlib.contextmanager
def progress_callback(enabled: bool | None, label: str):
    """A ``(done, total)`` callback drawing a progress bar on stderr.

    ``enabled=None`` means: only when stderr is a terminal, so logs and pipes
    never fill with bar updates. Yields ``None`` when disabled.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    with click.progressbar(length=1000, label=label, file=sys.stderr) as bar:
        state = {"shown": 0}

        def update(done: int, total: int) -> None:
            target = int(1000 * done / total) if total else 1000
            if target > state["shown"]:
                bar.update(target - state["shown"])
                state["shown"] = target

        yield update


class ModelSpec(click.ParamType):
    """``builtin``, ``tree:FILE``, ``hf:NAME_OR_PATH`` or, where ``served``,
    ``openai:URL`` (checked, not loaded)."""

    name = "MODEL"

    def __init__(self, served: bool = False):
        self.served = served

    def convert(self, value, param, ctx):
        kind, colon, target = value.partition(":")
        if (kind == "builtin" and not colon) or (kind in ("tree", "hf") and target):
            return value
        if kind == "openai" and target and self.served:
            return value
        if kind == "openai" and target:
            self.fail(
                "a served model (openai:URL) scores texts: use it with "
                "seqscore score; this command needs a model loaded here "
                "(builtin, tree:FILE or hf:PATH)",
                param,
                ctx,
            )
        self.fail(f"{value!r} is not a model: use {MODEL_SPECS}", param, ctx)


def served_options():
    """How to reach and use an ``openai:URL`` model, reaching the command
    as one argument, ``served``: a
    :class:`~seqscore.models.served.ServedOptions`."""
    return gathered(
        "served",
        ServedOptions,
        click.option(
            "--served-model",
            metavar="NAME",
            help="openai: the model name to send [default: the server's only "
            "model, from GET /v1/models].",
        ),
        click.option(
            "--api-key-env",
            metavar="VAR",
            help="openai: read the API key (sent as a Bearer token) from "
            "environment variable VAR.",
        ),
        click.option(
            "--tokenizer",
            metavar="PATH",
            help="openai: the served model's tokenizer (a local Hugging Face "
            "folder): continuation tokens are counted by lm-eval's rule with it "
            "and every request's token count is checked against the server's "
            "[default: found by spelling the prompt with the server's tokens].",
        ),
        count_option(
            "--concurrency",
            at_least=1,
            help="openai: requests in flight at once "
            f"[default: {DEFAULT_CONCURRENCY}].",
        ),
        click.option(
            "--request-timeout",
            type=click.FloatRange(min=0, min_open=True),
            metavar="SECONDS",
            help="openai: seconds one try of a request may take [default: 120]; "
            "timeouts, 429 and 5xx answers are retried with exponential backoff.",
        ),
        count_option(
            "--retries",
            at_least=0,
            help="openai: tries after the first for a request that times out or "
            "gets 429/5xx [default: 5].",
        ),
        click.option(
            "--cache",
            metavar="DIR",
            help="openai: keep the server's answers in DIR/responses.sqlite; a "
            "run started again asks only what is not there yet.",
        ),
    )


def model_options(
    default: str | None = None, texts: bool = False, served: bool | None = None
):
    """``--model`` and the options of a Hugging Face model (``--batch-size``,
    ``--dtype``, ``--device``); with ``texts``, also how the model scores
    texts (``--unconditional``, ``--share-contexts``), reaching the command as
    one argument, ``texts``: a
    :class:`~seqscore.models.loglikelihood.TextScoring` (a new field of it
    that a flag sets is a new option here, and nothing else); with
    ``served`` (default: ``texts``), ``openai:URL`` models and their options
    (:func:`served_options`, the argument ``served``)."""
    served = texts if served is None else served
    options = [
        click.option(
            "-m",
            "--model",
            "model_spec",
            type=ModelSpec(served=served),
            default=default,
            help="builtin (a small English model, no download), tree:FILE.json "
            "(a logit tree), hf:NAME_OR_PATH (a Hugging Face causal LM: a "
            "local folder or a name in its cache, nothing is downloaded; "
            "needs seqscore[hf])"
            + (
                " or openai:URL (a model behind an OpenAI-compatible server, "
                "e.g. openai:http://127.0.0.1:8000/v1: vLLM, SGLang, "
                "llama-cpp-python; needs seqscore[serve])."
                if served
                else "."
            ),
        ),
        count_option(
            "--batch-size",
            at_least=1,
            help="hf: rows per forward pass (a row: one prompt's context "
            "and its candidates, or one sequence with --no-share-contexts) "
            "[default: as many as keep a pass's logits under 128 MiB].",
        ),
        choice_option(
            "--dtype",
            choices=DTYPES,
            help="hf: the weights' dtype [default: float32]; logits are read "
            "in float32 either way.",
        ),
        click.option("--device", help="hf: the torch device [default: cpu]."),
    ]
    if texts:
        options.append(
            gathered(
                "texts",
                _text_scoring,
                click.option(
                    "--unconditional",
                    metavar="TEXT",
                    help="With --model: score each candidate after TEXT too, for "
                    "the pmi reduction (--unconditional '' is lm-eval's "
                    "acc_mutual_info).",
                ),
                click.option(
                    "--share-contexts/--no-share-contexts",
                    default=True,
                    help="hf: run each distinct context once for all its "
                    "candidates (the scores agree to float32 rounding either way).",
                ),
                click.option(
                    "--chat-template",
                    type=click.Path(exists=True, dir_okay=False),
                    metavar="FILE",
                    help="A Jinja chat template for contexts given as chat "
                    "messages, in place of the tokenizer's own.",
                ),
                click.option(
                    "--system",
                    metavar="TEXT",
                    help="A system message put first in every conversation "
                    "context that has none.",
                ),
            )
        )
        options += [
            count_option(
                "--max-prefix-cache",
                metavar="MB",
                at_least=0,
                help="hf: run each prefix of 16+ tokens that several contexts "
                "share (few-shot examples, a description) once, holding at most "
                "MB MiB of their keys and values at a time; 0 runs every "
                f"context whole [default: {DEFAULT_PREFIX_CACHE_MB}].",
            ),
            click.option(
                "-v",
                "--verbose",
                is_flag=True,
                help="Say on stderr how the model runs its requests (packed "
                "rows, shared prefixes, cached contexts) and why.",
            ),
        ]
    if served:
        options.append(served_options())
    return stack(*options)


def model_scoring(
    spec: str | None,
    batch_size=None,
    dtype=None,
    device=None,
    served: ServedOptions | None = None,
    **settings,
) -> ModelScoring | None:
    """The job's :class:`~seqscore.models.loglikelihood.ModelScoring` (None
    without --model); flags for another kind of model are usage errors.
    ``settings``: its other fields (``texts``, ``max_prefix_cache``)."""
    served = served or ServedOptions()
    hf_flags = {
        "--batch-size": batch_size,
        "--dtype": dtype,
        "--device": device,
        "--max-prefix-cache": settings.get("max_prefix_cache"),
    }
    hf_given = [flag for flag, value in hf_flags.items() if value is not None]
    if spec is None and (hf_given or served.given):
        given = hf_given + served.given
        verb = "needs" if len(given) == 1 else "need"
        raise click.UsageError(f"{', '.join(given)} {verb} --model")
    if spec is None:
        return None
    if spec.startswith("openai:") and hf_given:
        raise click.UsageError(
            f"{', '.join(hf_given)}: for models loaded here (hf:), not for "
            "a served model (the server decides)"
        )
    if served.given and not spec.startswith("openai:"):
        raise click.UsageError(
            f"{', '.join(served.given)}: only for a served model (--model openai:URL)"
        )
    return ModelScoring(spec, batch_size, dtype, device, served=served, **settings)


def _text_scoring(unconditional, share_contexts, chat_template, system) -> TextScoring:
    """The text-scoring flags as a TextScoring (the chat ones as its
    ChatSettings, the template read from its file)."""
    template = None
    if chat_template is not None:
        with open(chat_template, encoding="utf-8") as file:
            template = file.read()
    return TextScoring(
        unconditional=unconditional,
        share_contexts=share_contexts,
        chat=ChatSettings(template, system),
    )


def temperature_option(divides: str):
    """``-t/--temperature`` (rank, softmax); ``divides``: what it divides by
    what (the help's words)."""
    return click.option(
        "-t",
        "--temperature",
        type=float,
        default=1.0,
        callback=positive_finite,
        help=f"Divide {divides} first: T < 1 sharpens, T > 1 flattens.",
    )


def load_cli_model(model: ModelScoring, verbose: bool = False):
    """The model a command's ``--model`` names, with its hf options; with
    ``verbose``, how it will score (on stderr)."""
    if model.spec.startswith("hf:"):
        quiet_loading()
    loaded = load_model(model.spec, **model.load_options)
    route = getattr(loaded, "scoring_route", None)
    if verbose and route is not None:
        click.echo(f"seqscore: scoring: {route(model.texts.share_contexts)}", err=True)
    if model.texts.words:
        _say_word_marks(loaded, verbose)
    return loaded


def _say_word_marks(loaded, verbose: bool) -> None:
    """--words: which tokens begin a word (--verbose), or, always, why the
    words' own surprisal cannot be had from this model."""
    marks = vocab_marks(loaded)
    if marks is None:
        click.echo(
            "seqscore: --words: word_surprisal is null for this model (it needs "
            "every token's probability after each word, which a served model "
            "does not return, and a tokenizer to tell which tokens begin a "
            "word); subword_sum is given",
            err=True,
        )
    elif verbose:
        click.echo(f"seqscore: words: {marks.rule}", err=True)
