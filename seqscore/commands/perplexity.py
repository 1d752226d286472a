"""``seqscore perplexity``: rolling log-likelihood and perplexity of documents."""

from __future__ import annotations

import contextlib

import click

from seqscore.commands.options import (
    command,
    count_option,
    format_option,
    load_cli_model,
    model_options,
    model_scoring,
    output_option,
    progress_callback,
    progress_option,
)
from seqscore.errors import Rejected, SeqScoreError, rejection_error
from seqscore.formats.texts import read_documents
from seqscore.models.loglikelihood import ModelScoring
from seqscore.models.perplexity import rolling_perplexity
from seqscore.report.perplexity import perplexity_columns, perplexity_records
from seqscore.report.writers import open_output, write_records


@command("perplexity")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@model_options("builtin", served=True)
@count_option(
    "--window",
    at_least=1,
    help="Tokens the model reads per window [default: the model's length; "
    "the whole document for models without one].",
)
@count_option(
    "--stride",
    at_least=1,
    help="New tokens scored per window after the first [default: the window, "
    "lm-eval's loglikelihood_rolling]; smaller gives every token more context.",
)
@format_option()
@output_option()
@progress_option()
def perplexity_command(
    file,
    model_spec,
    batch_size,
    dtype,
    device,
    served,
    window,
    stride,
    fmt,
    output,
    progress,
):
    """Rolling log-likelihood and perplexity of each document in FILE.

    FILE is JSON Lines of {"id": ..., "text": ...} (id optional), or any
    other text file, scored whole as one document; - reads stdin. Every
    token is scored exactly once, each window conditioned on the tokens
    before it (lm-evaluation-harness's loglikelihood_rolling): per document
    the total log-likelihood, tokens, token / word / byte perplexity and
    bits per byte. The table ends with the corpus (log-likelihoods and
    counts summed, as lm-eval aggregates them).

    \b
    Examples:
      seqscore perplexity docs.jsonl --model hf:./gpt2
      seqscore perplexity essay.txt --model hf:./gpt2 --window 512 --stride 256
      seqscore perplexity docs.jsonl --format csv -o ppl.csv
      seqscore perplexity docs.jsonl --model openai:http://127.0.0.1:8000/v1

    A served model (openai:URL) scores each document whole, in one request:
    no --window or --stride, and the server must give the first token's
    log-prob after BOS (vLLM does; llama-cpp-python does not).
    """
    if stride is not None and window is not None and stride > window:
        raise click.UsageError(
            f"--stride ({stride}) must not exceed --window ({window})"
        )
    job = model_scoring(model_spec, batch_size, dtype, device, served)
    model = load_cli_model(job or ModelScoring("builtin"))
    with read_documents(file) as documents:
        texts = []
        for document in documents:
            if isinstance(document, Rejected):
                raise rejection_error(document)
            texts.append((document.id, document.text))
    with progress_callback(progress, "scoring") as on_progress, _in_file(file):
        results = rolling_perplexity(
            model, texts, window=window, stride=stride, on_progress=on_progress
        )
    records = perplexity_records(results, fmt)
    with open_output(output) as out:
        write_records(iter(records), perplexity_columns(fmt), fmt, out)


@contextlib.contextmanager
def _in_file(file: str):
    """Errors of the model's (a document it cannot score, named by its id)
    with the file's name in front."""
    try:
        yield
    except SeqScoreError as exc:
        name = "<stdin>" if file == "-" else file
        raise type(exc)(f"{name}: {exc}", remedy=exc.remedy) from None
