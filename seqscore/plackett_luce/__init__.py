r"""Plackett-Luce rankings: probabilities, likelihood, sampling, marginals, fits.

With scores (log-worths) ``s`` the probability of the ranking ``pi`` is

.. math:: P(\pi) = \prod_r \frac{e^{s_{\pi(r)}}}{\sum_{j \in A_r} e^{s_j}},

``A_r`` being the items still unchosen at stage ``r``. One module per job:

* :mod:`.likelihood` -- :func:`selection_probabilities`,
  :func:`log_likelihood`, :func:`ranking_log_likelihoods`, :func:`gradient`,
  :func:`hessian`, :func:`hessian_vector_product`;
* :mod:`.sampling` -- :func:`sample` (Gumbel-top-k);
* :mod:`.marginals` -- :func:`marginal_rank_probabilities`,
  :func:`top_k_probabilities`, :func:`expected_ranks`;
* :mod:`.fitting` -- :func:`fit` (damped Newton, standard errors) and
  :class:`PlackettLuceFit`; :mod:`.priors` for ``prior="ghost" | "l2"``;
* :mod:`.estimability` -- :func:`estimability`: is there a finite MLE?
* :mod:`.temperature` -- :func:`fit_temperature`.

Rankings everywhere are ``(N, L)`` integer arrays of item ids, best first,
padded with ``-1`` (see :mod:`._rankings` for ``universe``: sub-rankings
``"listed"``, top-k ``"all"`` or an explicit mask). Ties are not part of the
model: an item may appear only once per ranking.
"""

from seqscore.plackett_luce._rankings import pad_rankings
from seqscore.plackett_luce.estimability import Estimability, estimability
from seqscore.plackett_luce.fitting import PlackettLuceFit, fit
from seqscore.plackett_luce.likelihood import (
    gradient,
    hessian,
    hessian_vector_product,
    log_likelihood,
    ranking_log_likelihoods,
    selection_probabilities,
)
from seqscore.plackett_luce.marginals import (
    expected_ranks,
    marginal_rank_probabilities,
    top_k_probabilities,
)
from seqscore.plackett_luce.sampling import sample
from seqscore.plackett_luce.temperature import TemperatureFit, fit_temperature

__all__ = [
    "Estimability",
    "PlackettLuceFit",
    "TemperatureFit",
    "estimability",
    "expected_ranks",
    "fit",
    "fit_temperature",
    "gradient",
    "hessian",
    "hessian_vector_product",
    "log_likelihood",
    "marginal_rank_probabilities",
    "pad_rankings",
    "ranking_log_likelihoods",
    "sample",
    "selection_probabilities",
    "top_k_probabilities",
]
