"""Diagnostics: why greedy decoding lost to the most probable sequence.

:mod:`~seqscore.diagnostics.greedy_vs_best` reads both paths with the model
(teacher forcing, :mod:`seqscore.models`) and names the step where they part.
"""

from seqscore.diagnostics.greedy_vs_best import (
    GreedyDiagnosis,
    GreedySurvey,
    PathReading,
    SurveyRow,
    diagnose,
    first_greedy_miss,
    survey_greedy,
)

__all__ = [
    "GreedyDiagnosis",
    "GreedySurvey",
    "PathReading",
    "SurveyRow",
    "diagnose",
    "first_greedy_miss",
    "survey_greedy",
]
