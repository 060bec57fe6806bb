"""Scorers: each takes an explanation plus held-out evidence and returns a
:class:`~mechanic.evals.records.ScoreResult`."""

from .detection import detection_score
from .embedding import embedding_score, topic_score
from .fuzzing import fuzzing_score
from .intervention import NEUTRAL_PROMPTS, intervention_score
from .simulation import pooled_scores, simulation_score, simulation_scores_many

__all__ = [
    "NEUTRAL_PROMPTS",
    "detection_score",
    "embedding_score",
    "fuzzing_score",
    "intervention_score",
    "pooled_scores",
    "simulation_score",
    "simulation_scores_many",
    "topic_score",
]
