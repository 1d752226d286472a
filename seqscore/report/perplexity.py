"""Documents' perplexities as records: one per document, and in the table
the corpus as a last row (counts summed, as lm-eval aggregates them)."""

from __future__ import annotations

import dataclasses

from seqscore.models.perplexity import DocumentPerplexity, corpus_perplexity
from seqscore.report.writers import Column

__all__ = ["perplexity_columns", "perplexity_records"]

_FIELDS = tuple(field.name for field in dataclasses.fields(DocumentPerplexity))

_TABLE = [
    Column("id", "document", width=16, align="<"),
    Column("n_tokens", "tokens", width=8),
    Column("windows", width=7),
    Column("loglikelihood", "loglik", width=12, spec=".2f"),
    Column("token_perplexity", "ppl", width=9, spec=".3f"),
    Column("word_perplexity", "word ppl", width=10, spec=".3f"),
    Column("bits_per_byte", "bits/byte", width=9, spec=".4f"),
]


def perplexity_columns(fmt: str) -> list[Column]:
    """Every field for programs; a readable subset for the table."""
    return _TABLE if fmt == "table" else [Column(name) for name in _FIELDS]


def perplexity_records(results: list[DocumentPerplexity], fmt: str) -> list[dict]:
    """One record per document; the table adds the corpus."""
    records = [dataclasses.asdict(r) for r in results]
    if fmt == "table":
        records.append(dataclasses.asdict(corpus_perplexity(results)))
    return records
