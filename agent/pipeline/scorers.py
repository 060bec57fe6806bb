"""The scorers a run can apply, by name, and the held-out windows they read.

Each scorer is a function ``(models, held_out, text) -> [ScoreResult]`` registered
under its name in :data:`SCORER_FUNCTIONS`; :func:`score_explanation` applies the
configured ones and records a scorer's failure as a failure, never as a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from mechanic.evals.records import Record, ScoreResult, crop
from mechanic.evals.scorers import (
    detection_score,
    fuzzing_score,
    intervention_score,
    simulation_score,
    topic_score,
)
from mechanic.tools import MechanicError, Subject

from ..evidence import Evidence, ScoringSet, quiet_windows
from .config import LabelConfig
from .models import Models

__all__ = ["HeldOut", "SCORER_FUNCTIONS", "ScorerFn", "detection_sets", "score_explanation", "score_records",
           "score_rows"]


@dataclass
class HeldOut:
    """A feature's held-out (``test``) windows, as each scorer reads them."""

    row: dict  # the feature's stored row
    test: ScoringSet  # top and random windows: simulation
    activating: list[Record]  # across deciles: detection, fuzzing, topic
    negatives: list[Record]  # quiet windows, half of them hard negatives
    # the same from the select split: where detection and fuzzing fit their yes/no cut
    select_activating: list[Record] = field(default_factory=list)
    select_negatives: list[Record] = field(default_factory=list)


ScorerFn = Callable[[Models, HeldOut, str], list[ScoreResult]]


def score_records(scoring: ScoringSet, config: LabelConfig) -> list[Record]:
    """Top and random windows for simulation, cropped to ``score_length`` tokens
    (top around the peak; random from their start, so their sample stays unbiased)."""
    top = [crop(r, config.score_length) for r in scoring.top]
    random_ = [Record(r.tokens[: config.score_length], r.activations[: config.score_length], r.kind, r.split,
                      r.window) for r in scoring.random]
    return top + random_


def detection_sets(db, subject: Subject, row: dict, evidence: Evidence, scoring: ScoringSet,
                   config: LabelConfig) -> tuple[list[Record], list[Record]]:
    """Balanced activating / non-activating windows of the scoring set's split (test,
    or select for fitting a cut): quiet ``score_length``-token spans (half of them hard
    negatives containing the feature's top tokens, when any exist)."""
    activating = [crop(r, config.score_length) for r in scoring.activating][: config.n_deciles]
    n_neg = max(len(activating), 2)
    triggers = [t for t, _, _ in evidence.input_tokens[:5] if t.strip()]
    hard = quiet_windows(db, subject, row, split=scoring.split, n=min(config.n_hard_negatives, n_neg // 2),
                         trigger_tokens=triggers, seed=config.seed, length=config.score_length)
    plain = quiet_windows(db, subject, row, split=scoring.split, n=n_neg - len(hard), seed=config.seed,
                          length=config.score_length)
    seen = {r.window for r in hard}
    negatives = hard + [r for r in plain if r.window not in seen]
    return activating, [crop(r, config.score_length) for r in negatives]


def _simulation(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    return simulation_score(models.simulator, text, score_records(held.test, models.config),
                            scorer_model=models.simulator_name)


def _detection(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    return detection_score(models.yes_no_judge, text, held.activating, held.negatives,
                           select=(held.select_activating, held.select_negatives))


def _fuzzing(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    return fuzzing_score(models.yes_no_judge, text, held.activating, seed=models.config.seed,
                         select=held.select_activating)


def _topic(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    return [topic_score(text, held.activating, held.negatives, models.embedder)]


def _intervention(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    row = held.row
    return [intervention_score(models.subject, row["feature"], text, models.embedder,
                               stats={"max": row["max"], "mean": row["mean"]}, seed=models.config.seed)]


SCORER_FUNCTIONS: dict[str, ScorerFn] = {
    "simulation": _simulation,
    "detection": _detection,
    "fuzzing": _fuzzing,
    "topic": _topic,
    "intervention": _intervention,
}


def score_explanation(models: Models, held: HeldOut, text: str) -> list[ScoreResult]:
    """Every configured scorer's results for ``text``; a scorer that fails with a
    known error is recorded as an ``error`` result carrying the message."""
    results: list[ScoreResult] = []
    for name in models.config.scorers:
        try:
            results += SCORER_FUNCTIONS[name](models, held, text)
        except MechanicError as exc:
            results.append(ScoreResult(name, "error", "test", None, 0, error=str(exc)))
    return results


def score_rows(results: Sequence[ScoreResult]) -> list[dict]:
    """Score results as rows for :func:`mechanic.store.write_scores`."""
    return [
        {"scorer": r.scorer, "scorer_model": r.scorer_model, "split": r.split, "metric": r.metric,
         "value": r.value, "n": r.n, "llm_calls": r.usage.calls, "tokens": r.usage.tokens,
         "seconds": r.usage.seconds, "error": r.error, "details": r.details}
        for r in results
    ]
