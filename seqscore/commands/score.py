"""``seqscore score``: sequence scores, reductions and ranks of candidates."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from functools import partial

import click

from seqscore.commands.options import (
    alpha_option,
    check_html,
    choice_option,
    command,
    count_option,
    format_option,
    input_format_option,
    load_cli_model,
    model_options,
    model_scoring,
    output_option,
    progress_callback,
    progress_option,
)
from seqscore.commands.score_output import (
    note_truncation,
    note_unknown,
    report_rejects,
)
from seqscore.commands.sharded import (
    ShardedRun,
    check_single,
    is_sharded,
    run_model_tasks,
    run_sharded,
    text_prompts_of,
    write_scores,
)
from seqscore.diagnostics.greedy_vs_best import first_greedy_miss
from seqscore.errors import Rejected, SeqScoreError
from seqscore.formats.inputs import map_prompts
from seqscore.models.builtin import load_builtin
from seqscore.models.examples import scored_examples
from seqscore.models.loglikelihood import (
    ModelScoring,
    Tally,
    TextPrompt,
    TextScoring,
    context_text,
    forced_items,
)
from seqscore.numerics.reductions import RANKABLE
from seqscore.report.diagnosis import greedy_story
from seqscore.report.scores import LMEVAL_NOTE
from seqscore.report.writers import FORMATS, open_output
from seqscore.runs.candidate_records import collect_records
from seqscore.runs.model_tasks import ModelJob
from seqscore.runs.shards import ScoreSettings
from seqscore.runs.unknown import UnknownWords


@command("score")
@click.argument(
    "files", metavar="[FILE|DIR|GLOB]...", nargs=-1, type=click.Path(allow_dash=True)
)
@input_format_option()
@choice_option(
    "--normalize",
    choices=RANKABLE,
    default="sum",
    help="The reduction that ranks candidates: sum (total log-prob), mean (per "
    "token), char / byte (per character / UTF-8 byte, as lm-eval acc_norm / "
    "acc_bytes), length_penalty (sum / L^alpha, as Hugging Face), gnmt, pmi.",
)
@alpha_option()
@click.option("--sort", is_flag=True, help="List each prompt's candidates best first.")
@count_option("--top", at_least=1, help="Keep the N best per prompt.")
@click.option(
    "--tokens",
    "with_tokens",
    is_flag=True,
    help="Add per-token detail (json and jsonl output; html always has it): "
    "token (its decoded text), piece (the tokenizer's name for it, Hugging "
    "Face models), token_id, and what else the input gives.",
)
@click.option(
    "--words",
    "with_words",
    is_flag=True,
    help="Add per-word surprisal in nats and bits, words split at whitespace "
    "by the tokenizer's offsets (json and jsonl output; without offsets, "
    "each token is a word): word_surprisal, the word's own (with --model, "
    "corrected for tokens that carry the space before a word, Pimentel & "
    "Meister 2024), and subword_sum, the sum of its tokens' surprisals.",
)
@format_option(choices=(*FORMATS, "parquet", "html"))
@output_option(folders=True)
@choice_option(
    "--on-error",
    choices=["fail", "skip"],
    default="fail",
    help="fail: stop at the first bad record (exit 1). skip: score the rest and "
    "report each bad record (to --rejects, or stderr).",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, writable=True),
    help="With --on-error skip: write rejected records and reasons here (JSONL).",
)
@count_option(
    "--workers",
    at_least=1,
    help="Processes that parse JSON Lines, or that score shards (one shard "
    "each at a time) [default: every processor for inputs over 16 MB in all, "
    "else 1; with --scheduler dask, every processor].",
)
@click.option(
    "--scheduler",
    default="local",
    metavar="local|dask|tcp://HOST:PORT",
    help="Where shards are scored: local (this machine's process pool), dask "
    "(a Dask LocalCluster of --workers processes) or the address of a running "
    "Dask scheduler (its workers need seqscore and the files at the same "
    "paths). dask and tcp:// need seqscore[dask]. With --model: the model "
    "is loaded once per worker and prompts are sent in batches.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="With -o DIR/: keep the parts DIR's manifest lists as complete (same "
    "shard, options and checksum) and write only the others.",
)
@model_options(texts=True)
@progress_option()
def score_command(
    files,
    input_format,
    normalize,
    alpha,
    sort,
    top,
    with_tokens,
    with_words,
    fmt,
    output,
    on_error,
    rejects,
    workers,
    scheduler,
    resume,
    model_spec,
    batch_size,
    dtype,
    device,
    texts,
    max_prefix_cache,
    verbose,
    served,
    progress,
):
    """Score candidate completions: total log-prob, reductions, rank, probability.

    FILE holds prompts with candidates, in any supported format: seqscore JSONL,
    OpenAI chat or legacy completions (with logprobs), vLLM outputs, or .npz
    logits (aligned, or raw causal-LM output scored with the shift rule). Use
    - for stdin. Without FILE, the built-in model scores packaged prompts with
    real sentence endings as candidates, and the table ends with one
    explanation of why greedy decoding misses the most probable sentence.

    \b
    Each candidate gets:
      score        sum of token log-probs: log P(candidate | prompt)
      rank         among its prompt's candidates, by --normalize
      p            softmax of the scores over the prompt's candidates
      greedy       every token was the most probable at its step
      weakest      position:log-prob of the least likely token

    With --model, FILE holds texts and the model scores them: seqscore JSONL
    whose candidates have "text" (the context is "prompt"), or lines of
    {"context": ..., "continuation": ...} (consecutive lines with one context
    are one prompt). Texts are tokenised by lm-evaluation-harness's rule:
    context and continuation encoded together, trailing whitespace of the
    context moved to the continuation, an empty context replaced by BOS (EOS
    without one), contexts cut from the left to fit the model.

    Several FILEs, a DIR (its *.jsonl, *.json and *.npz files) or a quoted
    GLOB are shards: each is scored as one task, on this machine's process
    pool or on Dask (--scheduler), records in shard order then record order.
    -o DIR/ writes one part per shard (--format jsonl, csv or parquet) and
    DIR/manifest.json (per part: shard, record count, sha256); --resume
    writes only the parts not complete yet.

    \b
    Examples:
      seqscore score responses.jsonl --sort
      seqscore score questions.jsonl --model hf:./gpt2 --unconditional ''
      seqscore score pairs.jsonl --model builtin --tokens --format jsonl
      seqscore score run.npz --normalize mean --format csv -o scores.csv
      seqscore score responses.jsonl --format html -o scores.html
      cat api_dump.jsonl | seqscore score - --on-error skip --rejects bad.jsonl
      seqscore score 'shards/*.jsonl' -o scores/ --format parquet --resume
      seqscore score shards/ -o scores/ --format jsonl --scheduler tcp://head:8786
      seqscore score pairs.jsonl --model hf:./gpt2 --scheduler dask --workers 2
    """
    _check_usage(fmt, output, on_error, rejects, with_tokens, with_words)
    check_html(fmt)
    model = _model_scoring(
        model_spec,
        batch_size,
        dtype,
        device,
        replace(texts, offsets=with_words, words=with_words),
        max_prefix_cache,
        served,
    )
    settings = ScoreSettings(
        input_format=input_format,
        normalize=normalize,
        alpha=alpha,
        sort=sort,
        top=top,
        detail=_detail(with_tokens or fmt == "html", with_words),
        on_error=on_error,
    )
    run = ShardedRun(
        settings,
        fmt,
        output,
        scheduler,
        workers,
        resume,
        rejects,
        source=", ".join(files) if files else "the built-in examples",
    )
    if model is not None:
        _score_with_model(files, model, run, progress, verbose)
    elif is_sharded(files, output, scheduler):
        run_sharded(files, run, progress)
    else:
        _score_file(files[0] if files else None, run, None, progress)


def _check_usage(fmt, output, on_error, rejects, with_tokens, with_words) -> None:
    """Usage errors of the output options, in the order they are checked."""
    if rejects and on_error != "skip":
        raise click.UsageError("--rejects needs --on-error skip")
    if with_tokens and fmt not in ("json", "jsonl", "html"):
        raise click.UsageError("--tokens needs --format json, jsonl or html")
    if with_words and fmt not in ("json", "jsonl"):
        raise click.UsageError("--words needs --format json or jsonl")
    if rejects and output != "-" and _same_file(rejects, output):
        raise click.UsageError("--rejects and --output name the same file")


def _model_scoring(
    spec, batch_size, dtype, device, texts: TextScoring, max_prefix_cache, served
) -> ModelScoring | None:
    """The job's model settings (None without --model, where the model's
    options are usage errors)."""
    if spec is None and texts.unconditional is not None:
        raise click.UsageError("--unconditional needs --model")
    return model_scoring(
        spec,
        batch_size,
        dtype,
        device,
        served,
        texts=texts,
        max_prefix_cache=max_prefix_cache,
    )


def _detail(with_tokens: bool, with_words: bool) -> tuple[str, ...]:
    """The extras each record gets (--tokens, --words)."""
    return (("tokens",) if with_tokens else ()) + (("words",) if with_words else ())


def _score_with_model(
    files, model: ModelScoring, run: ShardedRun, progress, verbose: bool
) -> None:
    """--model: FILE's texts (or the packaged examples) scored by the model,
    here or on Dask workers (--scheduler)."""
    if is_sharded(files, run.output, "local"):
        raise click.UsageError(
            "--model scores one FILE (to standard output or -o FILE); several "
            "files and -o DIR/ are not supported with it yet"
        )
    file = files[0] if files else None
    if run.scheduler == "local":
        _score_file(file, run, model, progress, verbose)
    else:
        run_model_tasks(file, ModelJob(model, run.settings), run, progress)


def _score_file(
    file: str | None,
    run: ShardedRun,
    model: ModelScoring | None,
    progress,
    verbose: bool = False,
) -> None:
    """One FILE (None: the packaged examples) scored in this process, to one
    output: its records, or with ``model`` its texts."""
    check_single(run.fmt, run.resume)
    loaded = None if model is None else load_cli_model(model, verbose)
    # without FILE and --model: the packaged examples, the built-in model's
    scorer = loaded if model is not None else load_builtin() if file is None else None
    unknown = None if scorer is None else UnknownWords.of(scorer)
    tally = Tally()
    force = (
        None
        if model is None
        else partial(forced_items, loaded, scoring=model.texts, tally=tally)
    )
    if model is not None and verbose:
        force = _showing_first_chat(force, loaded, model)
    if force is not None and unknown is not None:
        force = _counting_unknown(force, unknown)
    rejected: list[Rejected] = []
    counts = {"prompts": 0, "candidates": 0}
    with (
        progress_callback(progress, "scoring") as on_progress,
        _inputs(file, run, on_progress, force, unknown) as (kind, results),
        open_output(run.output) as out,
    ):
        records = collect_records(results, run.settings.on_error, rejected, counts)
        write_scores(records, run, kind, out)
        if kind == "builtin" and run.fmt == "table":
            out.write("\n" + greedy_story(first_greedy_miss(load_builtin())) + "\n")
    if kind == "lmeval":
        click.echo(LMEVAL_NOTE, err=True)
    report_rejects(rejected, run.rejects, counts)
    note_truncation(tally, getattr(loaded, "max_length", None))
    note_unknown(unknown)


def _counting_unknown(force, unknown: UnknownWords):
    """``force`` whose scored prompts are counted for the unknown-word
    warning as they pass (all their candidates, before --top drops any)."""
    return lambda items: unknown.seen(force(items))


def _showing_first_chat(force, loaded, model: ModelScoring):
    """``force`` that first says on stderr how the first conversation
    context renders (--verbose): what the chat template makes of it."""

    def shown(items):
        first = True
        for item in items:
            if (
                first
                and isinstance(item, TextPrompt)
                and not isinstance(item.context, str)
            ):
                first = False
                with contextlib.suppress(SeqScoreError):  # scoring will say
                    text = context_text(loaded, item, model.texts.chat)
                    click.echo(f"seqscore: a rendered chat context: {text!r}", err=True)
            yield item

    return lambda items: force(shown(items))


@contextlib.contextmanager
def _inputs(file, run: ShardedRun, on_progress, force, unknown=None):
    """``(format, records or rejections)`` of FILE, or of the packaged example
    (``"model"``: text prompts, scored by ``force``; the examples counted
    in ``unknown``)."""
    transform = run.settings.transform()
    if force is not None:
        with text_prompts_of(file, on_progress) as texts:
            yield "model", map(transform, force(texts))
        return
    if file is None:
        examples = scored_examples(load_builtin())
        if unknown is not None:
            examples = unknown.seen(examples)
        yield "builtin", map(transform, examples)
        return
    with map_prompts(
        file, transform, run.settings.input_format, on_progress, run.workers or "auto"
    ) as found:
        yield found


def _same_file(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (
        os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    )
