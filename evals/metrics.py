"""Scoring metrics: pure functions on numpy arrays.

Every metric says explicitly when it is undefined and returns ``None`` then, never
NaN: a constant vector has no correlation, a split with one class has no AUROC.
Callers count the ``None`` values (:func:`mean_defined`, :func:`bootstrap_ci`) rather
than averaging them away. Malformed input (mismatched lengths, NaN or inf, labels that
are not 0/1) is a bug in the caller and raises ``ValueError``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = [
    "auprc",
    "auroc",
    "balanced_accuracy",
    "bootstrap_ci",
    "f1",
    "mean_defined",
    "pearson",
]


# ----------------------------------------------------------------- input checks


def _finite(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _labels(y, name: str) -> np.ndarray:
    a = np.asarray(y).ravel()
    if a.dtype != bool:
        if a.size and not np.isin(a, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or 0/1)")
        a = a.astype(bool)
    return a


def _same_length(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: lengths differ ({a.size} vs {b.size})")


# ------------------------------------------------------------------ correlation


def pearson(pred, true) -> float | None:
    """Pearson correlation of two equally long vectors, pooled over all their
    elements (concatenate the records first: a correlation over every token of a
    split, not a mean of per-record ones). None when ``n < 2`` or either side is
    constant."""
    x, y = _finite(pred, "pred"), _finite(true, "true")
    _same_length(x, y, "pearson")
    if x.size < 2:
        return None
    if np.ptp(x) == 0.0 or np.ptp(y) == 0.0:  # exact test: x - mean(x) is not exactly 0 for constants
        return None
    dx, dy = x - x.mean(), y - y.mean()
    sx, sy = np.sqrt(dx @ dx), np.sqrt(dy @ dy)
    return float(np.clip((dx @ dy) / (sx * sy), -1.0, 1.0))


# --------------------------------------------------------------- classification


def _confusion(y_true, y_pred) -> tuple[int, int, int, int]:
    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    _same_length(t, p, "confusion")
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    fn = int(np.sum(t & ~p))
    tn = int(np.sum(~t & ~p))
    return tp, fp, fn, tn


def balanced_accuracy(y_true, y_pred) -> float | None:
    """Mean of the true-positive and true-negative rates; None unless ``y_true``
    has both classes."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    if tp + fn == 0 or tn + fp == 0:
        return None
    return 0.5 * (tp / (tp + fn) + tn / (tn + fp))


def f1(y_true, y_pred) -> float | None:
    """``2·TP / (2·TP + FP + FN)``; None when neither the truth nor the
    predictions contain a positive (nothing to find, nothing claimed)."""
    tp, fp, fn, _ = _confusion(y_true, y_pred)
    denom = 2 * tp + fp + fn
    return None if denom == 0 else 2 * tp / denom


# ---------------------------------------------------------------------- ranking


def _ranking_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    t, s = _labels(y_true, "y_true"), _finite(scores, "scores")
    _same_length(t, s, "ranking")
    return t, s


def auprc(y_true, scores) -> float | None:
    """Average precision: ``Σ (R_i − R_{i−1}) · P_i`` over the distinct score
    thresholds taken from high to low (tied scores enter together; no
    interpolation — the same definition as scikit-learn's
    ``average_precision_score``). None when there is no positive."""
    t, s = _ranking_inputs(y_true, scores)
    n_pos = int(t.sum())
    if n_pos == 0:
        return None
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(t)[last_of_tie]
    predicted = last_of_tie + 1
    precision = tp / predicted
    recall_step = np.diff(np.r_[0, tp]) / n_pos
    return float(np.sum(recall_step * precision))


def _midranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing the mean of the ranks they span."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], xs.size]  # exclusive
    group_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(group_rank, ends - starts)
    return ranks


def auroc(y_true, scores) -> float | None:
    """Area under the ROC curve: the probability that a random positive outscores a
    random negative, ties counting half (Mann–Whitney U / (n₊·n₋)). None unless
    both classes are present."""
    t, s = _ranking_inputs(y_true, scores)
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _midranks(s)
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# ------------------------------------------------------------------ aggregation


def _split_defined(values: Iterable[float | None]) -> tuple[np.ndarray, int]:
    """The defined values as float64 and the count of undefined ones (None or NaN)."""
    defined: list[float] = []
    n_undefined = 0
    for v in values:
        if v is None:
            n_undefined += 1
            continue
        f = float(v)
        if np.isnan(f):
            n_undefined += 1
        elif np.isinf(f):
            raise ValueError("values contain inf")
        else:
            defined.append(f)
    return np.asarray(defined, dtype=np.float64), n_undefined


def mean_defined(values: Sequence[float | None]) -> tuple[float | None, int, int]:
    """``(mean, n_defined, n_undefined)`` over the values that are defined (not
    None, not NaN); the mean is None when none is."""
    v, n_undefined = _split_defined(values)
    return (float(v.mean()) if v.size else None), int(v.size), n_undefined


def bootstrap_ci(values: Sequence[float | None], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> dict:
    """Percentile bootstrap interval of the mean of the defined values.

    Returns ``{"mean", "lo", "hi", "n", "n_undefined"}`` where ``n`` counts the
    defined values; None (and NaN) values are dropped and counted in
    ``n_undefined``. With nothing defined, mean/lo/hi are None; with one value the
    interval is that value. Deterministic given ``seed``.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    v, n_undefined = _split_defined(values)
    n = int(v.size)
    out = {"mean": None, "lo": None, "hi": None, "n": n, "n_undefined": n_undefined}
    if n == 0:
        return out
    mean = float(v.mean())
    if n == 1 or np.ptp(v) == 0.0:
        return {**out, "mean": mean, "lo": mean, "hi": mean}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    rows = max(1, 2_000_000 // n)  # resample in chunks: bounded memory for large n
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        means[start:stop] = v[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return {**out, "mean": mean, "lo": float(lo), "hi": float(hi)}
