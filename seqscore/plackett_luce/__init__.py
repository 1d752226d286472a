"""Plackett-Luce rankings (work in progress)."""

from ._rankings import pad_rankings
from .likelihood import (
    gradient,
    hessian,
    hessian_vector_product,
    log_likelihood,
    ranking_log_likelihoods,
    selection_probabilities,
)

__all__ = [
    "gradient",
    "hessian",
    "hessian_vector_product",
    "log_likelihood",
    "pad_rankings",
    "ranking_log_likelihoods",
    "selection_probabilities",
]
