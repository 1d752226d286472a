"""Model workloads as tasks: batches of text prompts scored where the model is.

``seqscore score FILE --model MODEL --scheduler dask|tcp://...`` reads the
texts in this process and sends them to the workers in batches of
:data:`PROMPTS_PER_TASK` prompts (and reader rejections, in input order).
Each worker process loads the model once -- a Dask worker plugin
(:mod:`seqscore.runs.dask_model`) loads it when the worker starts or joins --
and every batch it scores reuses it: :func:`score_text_batch` runs
:func:`~seqscore.models.loglikelihood.forced_items` on the batch (one pass, as the
single-process path cuts its passes) and
:func:`~seqscore.runs.candidate_records.score_item` on each prompt, so the
records are those of ``seqscore score FILE --model MODEL`` in one process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from seqscore.models import load_model
from seqscore.models.loglikelihood import Tally, forced_items
from seqscore.runs.candidate_records import score_item
from seqscore.runs.shards import ScoreSettings

__all__ = [
    "PROMPTS_PER_TASK",
    "ModelJob",
    "TextBatchScores",
    "loaded_model",
    "model_loads",
    "score_text_batch",
    "unload_model",
]

#: Prompts per task: the single-process path's prompts per model pass, so
#: that a batch is scored in the same passes (the same padding) either way.
PROMPTS_PER_TASK = 256


@dataclass(frozen=True)
class ModelJob:
    """The model a run scores with (a spec and its hf options) and how."""

    spec: str
    batch_size: int | None = None
    dtype: str | None = None
    device: str | None = None
    unconditional: str | None = None
    share_contexts: bool = True
    offsets: bool = False
    settings: ScoreSettings = field(default_factory=ScoreSettings)

    @property
    def model_key(self) -> tuple:
        return (self.spec, self.batch_size, self.dtype, self.device)


@dataclass(frozen=True)
class TextBatchScores:
    """A batch's :func:`score_item` results (records of each prompt, or its
    rejection), in order, and what the model did."""

    results: tuple
    requests: int
    truncated: int
    max_length: int | None


_MODELS: dict[tuple, object] = {}
_LOADS: dict[tuple, int] = {}
_LOCK = threading.Lock()


def loaded_model(job: ModelJob):
    """This process's copy of the job's model, loaded on first use."""
    with _LOCK:
        key = job.model_key
        if key not in _MODELS:
            _quiet_transformers(job.spec)
            _MODELS[key] = load_model(
                job.spec, batch_size=job.batch_size, dtype=job.dtype, device=job.device
            )
            _LOADS[key] = _LOADS.get(key, 0) + 1
        return _MODELS[key]


def unload_model(job: ModelJob) -> None:
    """Drop this process's copy of the job's model."""
    with _LOCK:
        _MODELS.pop(job.model_key, None)


def model_loads() -> dict[tuple, int]:
    """How many times this process has loaded each model (for tests)."""
    return dict(_LOADS)


def score_text_batch(batch: list, job: ModelJob) -> TextBatchScores:
    """Score a batch of text prompts and rejections (run by a worker)."""
    model = loaded_model(job)
    tally = Tally()
    forced = forced_items(
        model,
        batch,
        prompts_per_pass=max(1, len(batch)),
        unconditional=job.unconditional,
        share_contexts=job.share_contexts,
        offsets=job.offsets,
        tally=tally,
    )
    settings = job.settings
    results = tuple(
        score_item(
            item,
            normalize=settings.normalize,
            alpha=settings.alpha,
            sort=settings.sort,
            top=settings.top,
            detail=settings.detail,
        )
        for item in forced
    )
    return TextBatchScores(
        results, tally.requests, tally.truncated, getattr(model, "max_length", None)
    )


def _quiet_transformers(spec: str) -> None:
    """No "Loading weights" bar from transformers in a worker's log."""
    if not spec.startswith("hf:"):
        return
    try:
        from transformers.utils import logging
    except ImportError:
        return  # load_model says what to install
    logging.disable_progress_bar()
