"""The data scorers work on: records (a window's tokens with the feature's true
activations) and score results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .lm import Usage

__all__ = ["Record", "ScoreResult", "crop", "normalize_to_ten", "quietest_span"]


@dataclass(frozen=True, eq=False)
class Record:
    """One window: subject-model token strings and the feature's activation at each."""

    tokens: tuple[str, ...]
    activations: np.ndarray  # [T] float32
    kind: str = "top"  # top | bottom | decile | random | hard_negative
    split: str = "test"  # train | select | test
    window: int = -1  # window index in the corpus sample (for tracing)
    decile: int | None = None

    def __post_init__(self):
        if len(self.tokens) != len(self.activations):
            raise ValueError(f"record has {len(self.tokens)} tokens but {len(self.activations)} activations")

    @property
    def max_act(self) -> float:
        return float(np.max(self.activations)) if len(self.activations) else 0.0


def crop(record: Record, length: int, before: float = 0.75) -> Record:
    """The ``length``-token slice of ``record`` around its peak, with ``before`` of
    the slice to the peak's left (so the context that led to it is kept)."""
    n = len(record.tokens)
    if n <= length:
        return record
    peak = int(np.argmax(record.activations))
    start = min(max(0, peak - int(before * (length - 1))), n - length)
    return Record(tuple(record.tokens[start : start + length]), record.activations[start : start + length].copy(),
                  record.kind, record.split, record.window, record.decile)


def quietest_span(activations: Sequence[float], length: int) -> int:
    """Start of the ``length``-token span with the lowest maximum activation (the
    first of equals; 0 when the record is no longer than ``length``)."""
    a = np.asarray(activations, dtype=np.float64)
    if a.size <= length:
        return 0
    spans = np.lib.stride_tricks.sliding_window_view(a, length).max(axis=1)
    return int(np.argmin(spans))


def normalize_to_ten(activations: Sequence[np.ndarray], scale: float) -> list[np.ndarray]:
    """Integer levels 0-10: ``floor(10 * relu(a) / scale)``, capped at 10; all zeros
    when ``scale`` is not positive."""
    if scale <= 0:
        return [np.zeros(len(a), dtype=int) for a in activations]
    return [np.minimum(10, np.floor(10 * np.maximum(np.asarray(a, dtype=float), 0) / scale)).astype(int)
            for a in activations]


@dataclass
class ScoreResult:
    """One number from one scorer on one split. ``value`` is None when the metric is
    undefined (e.g. a constant prediction has no correlation); ``error`` is set when
    the scorer failed (then ``value`` is None too) — never a made-up number."""

    scorer: str  # simulation | detection | fuzzing | embedding | intervention
    metric: str  # pearson | balanced_accuracy | f1 | auprc | auroc | ...
    split: str  # top | random | all | test ...
    value: float | None
    n: int
    scorer_model: str = ""
    usage: Usage = field(default_factory=Usage)
    details: dict = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "scorer": self.scorer, "metric": self.metric, "split": self.split, "value": self.value, "n": self.n,
            "scorer_model": self.scorer_model, "usage": self.usage.to_dict(), "details": self.details,
            "error": self.error,
        }
