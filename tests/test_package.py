"""The package surface: lazy exports resolve, and start-up stays light."""

import seqscore
from tests.fresh_python import printed


def test_every_exported_name_resolves():
    for name in seqscore.__all__:
        assert getattr(seqscore, name) is not None, name
    assert set(seqscore.__all__) <= set(dir(seqscore))


def test_unknown_attribute_is_an_attribute_error():
    try:
        seqscore.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_starting_the_cli_does_not_import_the_heavy_layers():
    code = (
        "import sys, seqscore.cli\n"
        "heavy = [m for m in ('scipy.sparse', 'scipy.optimize', 'seqscore.audit',"
        " 'seqscore.plackett_luce', 'seqscore.decoding') if m in sys.modules]\n"
        "print(heavy)"
    )
    assert printed(code) == ["[]"]


def test_every_command_loads_and_has_examples():
    from click.testing import CliRunner

    from seqscore.cli import COMMANDS, main

    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "xample" in result.stdout, name


def test_model_loading_and_model_scoring_are_exported():
    from seqscore.models import load_model
    from seqscore.models.hf import load_hf
    from seqscore.models.loglikelihood import loglikelihoods, score_texts
    from seqscore.models.perplexity import rolling_perplexity

    assert seqscore.load_model is load_model
    assert seqscore.load_hf is load_hf
    assert seqscore.loglikelihoods is loglikelihoods
    assert seqscore.score_texts is score_texts
    assert seqscore.rolling_perplexity is rolling_perplexity


def test_the_paths_the_readme_named_warn_and_still_work():
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    from seqscore.model_scoring import loglikelihoods\n"
        "    from seqscore.perplexity import rolling_perplexity\n"
        "    from seqscore.lmeval import compare_runs, evaluate\n"
        "import seqscore.models.loglikelihood as a, seqscore.models.perplexity as b\n"
        "import seqscore.runs.lmeval as c\n"
        "assert loglikelihoods is a.loglikelihoods\n"
        "assert rolling_perplexity is b.rolling_perplexity\n"
        "assert evaluate is c.evaluate and compare_runs is c.compare_runs\n"
        "for w in caught: print(w.category.__name__, w.message)\n"
    )
    assert printed(code) == [
        "DeprecationWarning seqscore.model_scoring moved to "
        "seqscore.models.loglikelihood; the old path goes in the next release",
        "DeprecationWarning seqscore.perplexity moved to "
        "seqscore.models.perplexity; the old path goes in the next release",
        "DeprecationWarning seqscore.lmeval.compare_runs moved to "
        "seqscore.runs.lmeval.compare_runs; the old path goes in the next release",
        "DeprecationWarning seqscore.lmeval.evaluate moved to "
        "seqscore.runs.lmeval.evaluate; the old path goes in the next release",
    ]


def test_the_score_command_loads_no_heavy_library():
    # `seqscore score` once paid 0.7 s at start-up for distributed (the Dask
    # plugin's module) and Plackett-Luce with scipy.sparse (through the
    # lm-eval package, which every reader of lm-eval files imports), and
    # later 0.2 s for scipy.special (the html page's lm-eval statistics)
    code = (
        "import sys, seqscore.commands.score\n"
        "heavy = ('distributed', 'scipy.sparse', 'scipy.optimize', 'torch', "
        "'transformers', 'matplotlib', 'pyarrow', 'numba', 'scipy.special', "
        "'jinja2', 'seqscore.report.pages', 'seqscore.lmeval.statistics', "
        "'seqscore.plackett_luce', 'seqscore.lmeval.comparison')\n"
        "print([m for m in heavy if m in sys.modules])"
    )
    assert printed(code) == ["[]"]
