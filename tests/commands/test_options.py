"""The option groups the commands share (seqscore.commands.options)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from seqscore.commands.options import (
    choice_option,
    command,
    count_option,
    gathered,
    model_options,
    stack,
)
from seqscore.models.loglikelihood import TextScoring
from seqscore.models.served import ServedOptions


def _pair(first, second):
    return (first, second)


def test_a_gathered_group_reaches_the_command_as_one_value():
    seen = {}

    @command("probe")
    @click.option("--before", default="b")
    @gathered(
        "pair",
        _pair,
        count_option("--first", at_least=1, default=2, help="First."),
        choice_option("--second", choices=["x", "y"], default="x", help="Second."),
    )
    @click.option("--after", is_flag=True)
    def probe(before, pair, after):
        seen.update(before=before, pair=pair, after=after)

    runner = CliRunner()
    result = runner.invoke(probe, ["--first", "5", "--second", "y", "--after"])
    assert result.exit_code == 0, result.output
    assert seen == {"before": "b", "pair": (5, "y"), "after": True}
    assert runner.invoke(probe, ["--first", "0"]).exit_code == 2  # at least 1
    assert runner.invoke(probe, ["--second", "z"]).exit_code == 2
    # in the help, in the order listed, each showing its default
    lines = runner.invoke(probe, ["--help"]).output.splitlines()
    names = [line.split()[0] for line in lines if line.startswith("  --")]
    assert names == ["--before", "--first", "--second", "--after", "--help"]
    assert any("--first" in line and "[default: 2" in line for line in lines)


def test_the_text_scoring_options_arrive_as_a_text_scoring():
    seen = {}

    @command("probe")
    @model_options(texts=True)
    def probe(
        model_spec, batch_size, dtype, device, texts, max_prefix_cache, verbose, served
    ):
        seen.update(
            model=(model_spec, batch_size, dtype, device, max_prefix_cache, verbose),
            texts=texts,
            served=served,
        )

    runner = CliRunner()
    argv = ["--model", "builtin", "--unconditional", "", "--no-share-contexts"]
    assert runner.invoke(probe, argv).exit_code == 0
    assert seen["model"] == ("builtin", None, None, None, None, False)
    assert seen["texts"] == TextScoring(unconditional="", share_contexts=False)
    assert runner.invoke(probe, []).exit_code == 0
    assert seen["texts"] == TextScoring()
    assert seen["served"] == ServedOptions()
    argv = ["--model", "openai:http://h/v1", "--concurrency", "3", "--cache", "d"]
    assert runner.invoke(probe, argv).exit_code == 0
    assert seen["served"] == ServedOptions(concurrency=3, cache="d")


def test_a_stack_applies_its_decorators_top_first():
    @click.command()
    @stack(click.option("--a"), click.option("--b"))
    def probe(a, b):
        pass

    assert [p.name for p in probe.params] == ["a", "b"]
