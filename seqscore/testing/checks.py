"""Running the laws against a scorer: :func:`audit_scorer` and :func:`check_scorer`.

For each law hypothesis searches for an example that breaks it
(``hypothesis.find``) and, when it finds one, shrinks it to a minimal one,
which is re-checked to report the expected and actual scores. The search is
seeded, so the same scorer gets the same report every time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from seqscore.errors import InvalidInputError, ScorerLawError
from seqscore.numerics._arrays import check_integer
from seqscore.testing.batch import LAYOUTS
from seqscore.testing.laws import LAWS, Law, Options, Violation

__all__ = ["LawResult", "ScorerReport", "audit_scorer", "check_scorer"]


@dataclass(frozen=True)
class LawResult:
    """One law: passed, or its minimal violation."""

    name: str
    statement: str
    violation: Violation | None

    @property
    def passed(self) -> bool:
        return self.violation is None


@dataclass(frozen=True)
class ScorerReport:
    """Every law's result for one scorer."""

    scorer: str
    layout: str
    max_examples: int
    seed: int
    results: tuple[LawResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[str, ...]:
        """Names of the laws that failed."""
        return tuple(r.name for r in self.results if not r.passed)

    def render(self) -> str:
        """The report as text: one line per law, the minimal example under
        each failure, a last line that counts the failures (no final
        newline)."""
        lines = [
            f"{self.scorer} ({self.layout} layout; up to {self.max_examples} "
            f"examples per law, seed {self.seed})"
        ]
        for r in self.results:
            lines.append(f"  {'pass' if r.passed else 'FAIL'}  {r.name}: {r.statement}")
            if r.violation is not None:
                body = r.violation.describe().replace("\n", "\n        ")
                lines.append("        " + body)
        failed = len(self.failed)
        lines.append(
            f"{failed} of {len(self.results)} laws failed"
            if failed
            else f"all {len(self.results)} laws passed"
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def audit_scorer(
    scorer: Callable,
    *,
    layout: str = "aligned",
    max_examples: int = 100,
    seed: int = 0,
    laws: Iterable[str] | None = None,
    options: Options | None = None,
    name: str | None = None,
    shrink: bool = True,
) -> ScorerReport:
    """Run the laws of :data:`~seqscore.testing.LAWS` against ``scorer``.

    ``layout`` is ``"aligned"`` or ``"causal"`` (the scorer's signature, see
    :mod:`seqscore.testing`); ``laws`` restricts the battery to the named
    laws; ``options`` sets the size of the drawn examples. ``shrink=False``
    reports the first failing example found instead of a minimal one
    (faster; the laws that fail are the same). Never raises for a failing
    law; see :func:`check_scorer` for that.

    >>> def mean_scorer(logits, token_ids, lengths):
    ...     from scipy.special import log_softmax
    ...     lp = np.take_along_axis(log_softmax(logits, -1), token_ids[..., None], -1)
    ...     steps = np.arange(token_ids.shape[1]) < lengths[:, None]
    ...     return np.where(steps, lp[..., 0], 0).sum(1) / lengths
    >>> report = audit_scorer(mean_scorer, laws=["extension_never_raises"])
    >>> report.failed
    ('extension_never_raises',)
    """
    if layout not in LAYOUTS:
        raise InvalidInputError(f"layout must be aligned or causal, got {layout!r}")
    max_examples = check_integer(max_examples, "max_examples", minimum=1)
    seed = check_integer(seed, "seed", minimum=0)
    chosen = _chosen(laws)
    options = _options(options, layout)
    results = tuple(
        LawResult(
            law.name,
            law.statement,
            _search(law, scorer, options, (max_examples, seed, shrink)),
        )
        for law in chosen
    )
    label = name or getattr(scorer, "__qualname__", None) or repr(scorer)
    return ScorerReport(label, layout, max_examples, seed, results)


def check_scorer(scorer: Callable, **kwargs) -> ScorerReport:
    """Run the laws and raise :class:`~seqscore.errors.ScorerLawError` on failure.

    The one-line test for your own suite (call it from a plain test, not
    from inside a ``@given`` test)::

        def test_my_scorer():
            seqscore.testing.check_scorer(my_scorer)

    Takes the keyword arguments of :func:`audit_scorer`; returns its report
    when every law passes.

    >>> from seqscore import log_softmax
    >>> def exact(logits, token_ids, lengths):
    ...     lp = np.take_along_axis(log_softmax(logits), token_ids[..., None], -1)
    ...     steps = np.arange(token_ids.shape[1]) < lengths[:, None]
    ...     return np.where(steps, lp[..., 0], 0.0).sum(axis=1)
    >>> check_scorer(exact, max_examples=5).passed
    True
    """
    report = audit_scorer(scorer, **kwargs)
    if not report.passed:
        raise ScorerLawError(report.render())
    return report


def _chosen(laws: Iterable[str] | None) -> tuple[Law, ...]:
    if laws is None:
        return LAWS
    if isinstance(laws, str):  # "padding" is one law, not seven letters
        laws = [laws]
    names = list(dict.fromkeys(laws))  # each law once, in the order given
    if not names:
        raise InvalidInputError(
            "laws is empty: name at least one law, or leave it out for all"
        )
    known = {law.name: law for law in LAWS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInputError(
            f"unknown law {unknown[0]!r}; the laws are {', '.join(known)}"
        )
    return tuple(known[n] for n in names)


def _options(options: Options | None, layout: str) -> Options:
    if options is None:
        return Options(layout=layout)
    return Options(
        layout,
        options.dtypes,
        options.max_candidates,
        options.max_tokens,
        options.max_vocab,
        options.magnitude,
    )


def _search(law: Law, scorer, options: Options, budget):
    """The minimal violation of ``law``, or ``None`` if none was found."""
    max_examples, seed, shrink = budget

    def broken(example) -> bool:
        return law.check(scorer, options, example) is not None

    config = settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # generate, then shrink the first failure; no explain phase (it reruns
        # the scorer many times to annotate a report we format ourselves)
        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
    )
    with np.errstate(all="ignore"):  # the scorer's own warnings are not ours
        try:
            example = find(
                law.examples(options),
                broken,
                settings=config,
                random=random.Random(seed),
            )
        except NoSuchExample:
            return None
        return law.check(scorer, options, example)
