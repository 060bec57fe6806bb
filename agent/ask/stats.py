"""Confidence intervals for the numbers an answer's claims carry (95%)."""

from __future__ import annotations

import math

import numpy as np
from mechanic.agent.investigation.verdict_rule import wilson as _wilson

__all__ = ["auroc", "mean_ci", "ratio_ci", "wilson"]

Z = 1.959964


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) for n = 0."""
    return _wilson(successes, n, Z)


def mean_ci(values) -> tuple[float, float, float]:
    """Mean and its normal-approximation interval."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return (float("nan"), float("nan"), float("nan"))
    m = float(v.mean())
    half = Z * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else float("inf")
    return (m, m - half, m + half)


def ratio_ci(num, den, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """mean(num) / mean(den) over paired items, with a percentile bootstrap interval."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    ratio = float(num.mean() / max(den.mean(), 1e-12))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(num), size=(n_boot, len(num)))
    boots = num[idx].mean(1) / np.maximum(den[idx].mean(1), 1e-12)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return (ratio, float(lo), float(hi))


def auroc(scores, labels) -> tuple[float, float, float]:
    """Area under the ROC curve of ``scores`` for binary ``labels``, with the
    Hanley-McNeil interval."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels).astype(bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return (float("nan"), float("nan"), float("nan"))
    greater = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    a = float(greater)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (len(pos) - 1) * (q1 - a * a) + (len(neg) - 1) * (q2 - a * a)) / (len(pos) * len(neg))
    half = Z * math.sqrt(max(var, 0.0))
    return (a, max(0.0, a - half), min(1.0, a + half))
