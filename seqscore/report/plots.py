"""Pictures of a greedy-versus-best diagnosis (the optional extra ``plot``).

:func:`plot_diagnosis` draws, for both paths, the cumulative log-probability
per step (top; the curves cross where the best path overtakes greedy) and
each token's log-probability as bars labelled with the token (bottom). It
needs matplotlib (``pip install 'seqscore[plot]'``) and writes SVG, PNG or
PDF, chosen by the file's extension.
"""

from __future__ import annotations

import os

from seqscore.diagnostics.greedy_vs_best import GreedyDiagnosis
from seqscore.errors import InvalidInputError
from seqscore.report.readable import visible
from seqscore.report.writers import atomic_path

__all__ = ["PLOT_SUFFIXES", "plot_diagnosis"]

PLOT_SUFFIXES = (".svg", ".png", ".pdf")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InvalidInputError(
            "plotting needs matplotlib: pip install 'seqscore[plot]'"
        ) from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_diagnosis(diagnosis: GreedyDiagnosis, path: str | os.PathLike) -> None:
    """Draw ``diagnosis`` into ``path`` (.svg, .png or .pdf)."""
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in PLOT_SUFFIXES:
        raise InvalidInputError(
            f"plot file {os.fspath(path)!r} must end in {', '.join(PLOT_SUFFIXES)}"
        )
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    paths = [("greedy", diagnosis.greedy, "tab:orange")]
    if not diagnosis.greedy_is_best:
        paths.append(("best", diagnosis.best, "tab:blue"))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True)
    longest = max(len(reading.decoded) for _, reading, _ in paths)
    for offset, (name, reading, colour) in enumerate(paths):
        steps = range(1, len(reading.decoded) + 1)
        top.plot(
            [0, *steps],
            [0.0, *reading.cumulative],
            marker="o",
            color=colour,
            label=f"{name}: total {reading.decoded.total:.3f}",
        )
        if len(reading.decoded) < longest:  # an ended path keeps its total
            end = reading.cumulative[-1] if reading.cumulative else 0.0
            top.plot(
                [len(reading.decoded), longest],
                [end, end],
                color=colour,
                linestyle="--",
                linewidth=1,
            )
        shift = (offset - (len(paths) - 1) / 2) * 0.38
        bars = bottom.bar(
            [s + shift for s in steps],
            reading.decoded.logprobs,
            width=0.36,
            color=colour,
            label=name,
        )
        for bar, token in zip(bars, reading.decoded.tokens, strict=True):
            bottom.annotate(
                visible(token),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="top",
                fontsize=7,
                rotation=90,
                xytext=(0, -3),
                textcoords="offset points",
            )
    if diagnosis.diverge_step is not None:
        for axis in (top, bottom):
            axis.axvline(
                diagnosis.diverge_step,
                color="grey",
                linestyle=":",
                label=f"diverge (step {diagnosis.diverge_step})",
            )
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    top.set_ylabel("cumulative log-prob (nats)")
    top.set_title(f"greedy vs best after {diagnosis.prompt!r}"[:90])
    top.legend(fontsize=8)
    bottom.set_ylabel("token log-prob (nats)")
    bottom.set_xlabel("step")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix) as temporary:
        fig.savefig(temporary, format=suffix[1:])
    plt.close(fig)
