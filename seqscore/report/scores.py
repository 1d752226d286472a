"""The score record of ``seqscore score``: its schema, its values, its table.

One flat dict per candidate, for every way a file is scored (one file, the
shards of a sharded run, Dask workers): :data:`RECORD_TYPES` declares the
fields in output order (the csv header, the Parquet schema) with the type of
their non-null values, :func:`score_record` fills them from a
:class:`~seqscore.scoring.CandidateScore`, :func:`token_detail` adds the
per-token extras of ``--tokens``, and :func:`columns` / :func:`table_row`
choose and shape what the table shows.
"""

from __future__ import annotations

from seqscore.report.writers import Column
from seqscore.scoring.candidates import CandidateScore, TokenScores

__all__ = [
    "LMEVAL_NOTE",
    "RECORD_FIELDS",
    "RECORD_TYPES",
    "columns",
    "score_record",
    "table_row",
    "token_detail",
]

#: Every field of a record, in output order, with the type of its non-null
#: values (None is every field's "does not apply").
RECORD_TYPES = {
    "prompt": str,
    "candidate": str,
    "rank": int,
    "score": float,
    "mean": float,
    "char": float,
    "byte": float,
    "length_penalty": float,
    "gnmt": float,
    "perplexity": float,
    "bits_per_byte": float,
    "pmi": float,
    "probability": float,
    "n_tokens": int,
    "n_chars": int,
    "n_bytes": int,
    "is_greedy": bool,
    "weakest_position": int,
    "weakest_token": str,
    "weakest_logprob": float,
    "ranked_by": str,
    "text": str,
}
#: The csv and Parquet columns.
RECORD_FIELDS = tuple(RECORD_TYPES)


def score_record(scored: CandidateScore) -> dict:
    """The record of one scored candidate, fields in :data:`RECORD_FIELDS`
    order (a dict display: this runs once per candidate of every input)."""
    reductions = scored.reductions
    return {
        "prompt": scored.prompt_id,
        "candidate": scored.candidate_id,
        "rank": scored.rank,
        "score": reductions.sum,
        "mean": reductions.mean,
        "char": reductions.char,
        "byte": reductions.byte,
        "length_penalty": reductions.length_penalty,
        "gnmt": reductions.gnmt,
        "perplexity": reductions.perplexity,
        "bits_per_byte": reductions.bits_per_byte,
        "pmi": reductions.pmi,
        "probability": scored.probability,
        "n_tokens": scored.n_tokens,
        "n_chars": scored.n_chars,
        "n_bytes": scored.n_bytes,
        "is_greedy": scored.is_greedy,
        "weakest_position": scored.weakest_position,
        "weakest_token": scored.weakest_token,
        "weakest_logprob": scored.weakest_logprob,
        "ranked_by": scored.ranked_by,
        "text": scored.text,
    }


def token_detail(tokens: TokenScores) -> list[dict]:
    """``--tokens``: one dict per token, with whatever the input supplied:
    ``token`` is its text (`` the``), ``piece`` the tokenizer's name for it
    (``Ġthe``, a Hugging Face model's) and ``token_id`` its id.

    >>> import numpy as np
    >>> token_detail(TokenScores([-0.5], token=(" the",), piece=("Ġthe",),
    ...                          token_id=np.array([262])))
    [{'logprob': -0.5, 'token': ' the', 'piece': 'Ġthe', 'token_id': 262}]
    """
    detail = []
    for t, logprob in enumerate(tokens.logprob):
        step: dict[str, object] = {"logprob": float(logprob)}
        if tokens.token is not None:
            step["token"] = tokens.token[t]
        if tokens.piece is not None:
            step["piece"] = tokens.piece[t]
        if tokens.token_id is not None:
            step["token_id"] = int(tokens.token_id[t])
        for name in ("rank", "is_argmax", "argmax_id", "argmax_logprob", "entropy"):
            values = getattr(tokens, name)
            if values is not None:
                step[name] = values[t].item()
        # the readers give both or neither
        if tokens.top_logprobs is not None and tokens.top_tokens is not None:
            step["top"] = [
                [name, float(value)]
                for name, value in zip(
                    tokens.top_tokens[t], tokens.top_logprobs[t], strict=True
                )
            ]
        detail.append(step)
    return detail


def columns(fmt: str, normalize: str, kind: str = "") -> list[Column]:
    """Every field for programs; a readable subset for the table."""
    if fmt != "table":
        return [Column(name) for name in RECORD_FIELDS]
    return _table_columns(normalize, kind)


def _table_columns(normalize: str, kind: str = "") -> list[Column]:
    """Table columns; the ranking reduction is shown when it is not the sum
    (else the mean, or for lm-eval samples, which have no token counts, the
    per-character score: lm-eval's acc_norm)."""
    extra = normalize
    if normalize == "sum":
        extra = "char" if kind == "lmeval" else "mean"
    return [
        Column("prompt", width=11, align="<"),
        Column("label", "candidate", width=14, align="<"),
        Column("rank", width=4),
        Column("score", width=9, spec=".3f"),
        Column(extra, extra[:8], width=8, spec=".3f"),
        Column("probability", "p", width=6, spec=".3f"),
        Column("n_tokens", "tok", width=4),
        Column("is_greedy", "greedy", width=6),
        Column("weakest", width=10),
    ]


LMEVAL_NOTE = (
    "seqscore: lm-eval samples log each choice's total log-likelihood, not its "
    "tokens: mean, length_penalty, gnmt, perplexity and the weakest token are "
    "unavailable (empty / null)"
)


def table_row(record: dict) -> dict:
    """Add the table's compact columns: a label and the weakest token."""
    record["label"] = record["text"] if record["text"] else record["candidate"]
    if record["weakest_position"] is not None:  # None: only totals were logged
        position, logprob = record["weakest_position"], record["weakest_logprob"]
        record["weakest"] = f"{position}:{logprob:.2f}"
    return record
