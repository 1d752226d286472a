"""``seqscore perplexity``: rolling log-likelihood and perplexity of documents."""

from __future__ import annotations

import dataclasses

import click

from ..errors import DataFormatError
from ..formats.records import Rejected
from ..formats.texts import read_documents
from ..perplexity import DocumentPerplexity, corpus_perplexity, rolling_perplexity
from ..report.writers import Column, open_output, write_records
from .options import (
    format_option,
    load_cli_model,
    model_options,
    output_option,
    progress_callback,
    progress_option,
)

FIELDS = tuple(field.name for field in dataclasses.fields(DocumentPerplexity))

TABLE = [
    Column("id", "document", width=16, align="<"),
    Column("n_tokens", "tokens", width=8),
    Column("windows", width=7),
    Column("loglikelihood", "loglik", width=12, spec=".2f"),
    Column("token_perplexity", "ppl", width=9, spec=".3f"),
    Column("word_perplexity", "word ppl", width=10, spec=".3f"),
    Column("bits_per_byte", "bits/byte", width=9, spec=".4f"),
]


@click.command("perplexity")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@model_options("builtin")
@click.option(
    "--window",
    type=click.IntRange(min=1),
    help="Tokens the model reads per window [default: the model's length; "
    "the whole document for models without one].",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    help="New tokens scored per window after the first [default: the window, "
    "lm-eval's loglikelihood_rolling]; smaller gives every token more context.",
)
@format_option()
@output_option()
@progress_option()
def perplexity_command(
    file, model_spec, batch_size, dtype, device, window, stride, fmt, output, progress
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
    """
    if stride is not None and window is not None and stride > window:
        raise click.UsageError(
            f"--stride ({stride}) must not exceed --window ({window})"
        )
    model = load_cli_model(model_spec, batch_size, dtype, device)
    with read_documents(file) as documents:
        texts = []
        for document in documents:
            if isinstance(document, Rejected):
                raise DataFormatError(document.message())
            texts.append((document.id, document.text))
    with progress_callback(progress, "scoring") as on_progress:
        results = rolling_perplexity(
            model, texts, window=window, stride=stride, on_progress=on_progress
        )
    records = [dataclasses.asdict(r) for r in results]
    columns = [Column(name) for name in FIELDS]
    if fmt == "table":
        records.append(dataclasses.asdict(corpus_perplexity(results)))
        columns = TABLE
    with open_output(output) as out:
        write_records(iter(records), columns, fmt, out)
