"""Metrics against hand-computed values, degenerate inputs and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mechanic.evals.metrics import auprc, auroc, balanced_accuracy, bootstrap_ci, f1, mean_defined, pearson

# ---------------------------------------------------------------------- pearson


def test_pearson_by_hand():
    # x - mean = [-1, 0, 1], y - mean = [-4/3, -1/3, 5/3]; dot = 3;
    # |x'| = sqrt(2), |y'| = sqrt(42)/3  ->  r = 9 / sqrt(84)
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(9 / math.sqrt(84), abs=1e-12)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson(np.array([0.0, 1.0]), np.array([5.0, 7.0])) == pytest.approx(1.0)


@pytest.mark.parametrize("pred,true", [
    ([1, 1, 1], [1, 2, 3]),       # constant prediction
    ([1, 2, 3], [0.1, 0.1, 0.1]),  # constant truth (mean != exact value in floats)
    ([1.0], [2.0]),               # n < 2
    ([], []),                     # empty
])
def test_pearson_undefined_is_none(pred, true):
    assert pearson(pred, true) is None


def test_pearson_rejects_bad_input():
    with pytest.raises(ValueError):
        pearson([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        pearson([1, np.nan, 3], [1, 2, 3])


def test_pearson_matches_numpy_and_stays_in_range():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = 0.3 * x + rng.normal(size=500)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert pearson(x, x) == 1.0  # clipped, never 1.0000000000000002


# --------------------------------------------------------------- classification


def test_balanced_accuracy_and_f1_by_hand():
    t = np.array([1, 1, 0, 0, 0], dtype=bool)
    p = np.array([1, 0, 0, 0, 1], dtype=bool)
    # TPR = 1/2, TNR = 2/3
    assert balanced_accuracy(t, p) == pytest.approx(7 / 12)
    # TP = 1, FP = 1, FN = 1 -> 2 / (2 + 1 + 1)
    assert f1(t, p) == pytest.approx(0.5)
    assert f1(t, t) == 1.0 and balanced_accuracy(t, t) == 1.0


def test_classification_degenerate():
    all_neg = np.zeros(4, dtype=bool)
    assert balanced_accuracy(all_neg, all_neg) is None  # one class in the truth
    assert balanced_accuracy(~all_neg, all_neg) is None
    assert f1(all_neg, all_neg) is None  # nothing to find, nothing claimed
    assert f1(all_neg, ~all_neg) == 0.0  # claims with no truth: defined, zero
    assert balanced_accuracy([], []) is None and f1([], []) is None
    with pytest.raises(ValueError):
        f1([0, 2], [0, 1])


# ---------------------------------------------------------------------- ranking


def test_auroc_and_auprc_by_hand():
    y = [1, 0, 1, 0]
    s = [0.9, 0.8, 0.3, 0.1]
    # positive/negative pairs: (.9>.8) (.9>.1) (.3<.8) (.3>.1) -> 3 of 4
    assert auroc(y, s) == pytest.approx(0.75)
    # thresholds .9: P=1 R=1/2; .8: P=1/2 R=1/2; .3: P=2/3 R=1 -> 1/2·1 + 1/2·2/3
    assert auprc(y, s) == pytest.approx(5 / 6)


def test_ranking_ties():
    assert auroc([1, 0], [0.5, 0.5]) == 0.5  # a tie counts half
    assert auroc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    # tied pair enters together: .5 -> TP 1 of 2 predicted (P=1/2, R=1/2); .2 -> P=2/3, R=1
    assert auprc([1, 0, 1], [0.5, 0.5, 0.2]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_ranking_degenerate():
    assert auroc([1, 1], [0.1, 0.2]) is None
    assert auroc([0, 0], [0.1, 0.2]) is None
    assert auroc([], []) is None
    assert auprc([0, 0], [0.1, 0.2]) is None
    assert auprc([1, 1], [0.3, 0.1]) == 1.0  # no negatives: every threshold is precise
    with pytest.raises(ValueError):
        auroc([1, 0], [0.1, np.inf])


@pytest.mark.parametrize("seed", range(5))
def test_ranking_matches_sklearn(seed):
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    y = rng.random(n) < rng.uniform(0.1, 0.6)
    y[0], y[1] = True, False
    s = rng.normal(size=n) + y * rng.uniform(0, 2)
    if seed % 2:  # coarse scores: many ties
        s = np.round(s, 1)
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-9)
    assert auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-9)


# ------------------------------------------------------------------ aggregation


def test_mean_defined_counts_undefined():
    assert mean_defined([0.2, None, 0.4, float("nan")]) == (pytest.approx(0.3), 2, 2)
    assert mean_defined([None, None]) == (None, 0, 2)
    assert mean_defined([]) == (None, 0, 0)


def test_bootstrap_ci_basics():
    rng = np.random.default_rng(1)
    values = list(rng.normal(0.5, 0.2, size=50)) + [None, None]
    ci = bootstrap_ci(values, seed=3)
    assert ci["n"] == 50 and ci["n_undefined"] == 2
    assert ci["mean"] == pytest.approx(np.mean(values[:50]))
    assert ci["lo"] < ci["mean"] < ci["hi"]
    assert bootstrap_ci(values, seed=3) == ci  # deterministic given the seed
    assert bootstrap_ci(values, seed=4) != ci


def test_bootstrap_ci_narrows_with_n():
    rng = np.random.default_rng(2)
    widths = []
    for n in (10, 100, 1000):
        ci = bootstrap_ci(rng.normal(size=n), n_boot=1000)
        assert ci["lo"] <= ci["mean"] <= ci["hi"]
        widths.append(ci["hi"] - ci["lo"])
    assert widths[0] > widths[1] > widths[2]
    # roughly the normal-theory width 2·1.96/sqrt(n)
    assert widths[2] == pytest.approx(2 * 1.96 / math.sqrt(1000), rel=0.25)


def test_bootstrap_ci_degenerate():
    assert bootstrap_ci([None, None]) == {"mean": None, "lo": None, "hi": None, "n": 0, "n_undefined": 2}
    assert bootstrap_ci([]) == {"mean": None, "lo": None, "hi": None, "n": 0, "n_undefined": 0}
    assert bootstrap_ci([0.7, None]) == {"mean": 0.7, "lo": 0.7, "hi": 0.7, "n": 1, "n_undefined": 1}
    assert bootstrap_ci([0.3, 0.3, 0.3])["lo"] == 0.3
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], level=1.5)
