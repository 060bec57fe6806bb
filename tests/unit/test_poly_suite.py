"""The ``poly`` suite: features with several modes, and mode recall in ``mechanic bench``."""

import numpy as np
import pytest
from mechanic import store
from mechanic.agent.bench import BenchConfig, run_bench
from mechanic.evals.suites import RULES
from mechanic.evals.suites.poly import POLY, POLY_DEV, STRENGTHS
from support import CAPTURE


def test_a_poly_feature_fires_at_each_mode_strength():
    feature = next(p for p in POLY if len(p.modes) == 2)
    a, b = feature.modes
    tokens = [" the", " cat", " not", " be", " (", ")", " 42", " running", " files", " =", " self"]
    expected = np.maximum(STRENGTHS[0] * a.activations(tokens), STRENGTHS[1] * b.activations(tokens))
    np.testing.assert_allclose(feature.activations(tokens), expected)
    assert feature.description == f"{a.description}; also {b.description}"
    assert len(feature.decoys) == 2 and all("; also " in d for d in feature.decoys)


def test_poly_features_are_unions_of_distinct_rules_with_unique_names():
    names = {r.name for r in RULES}
    assert len({p.name for p in POLY}) == len(POLY) >= 10
    for p in POLY:
        assert 2 <= len(p.modes) <= 3 and len({m.name for m in p.modes}) == len(p.modes)
        assert {m.name for m in p.modes} <= names
        assert list(p.strengths) == sorted(p.strengths, reverse=True)


def test_the_development_set_pairs_the_rules_differently():
    """poly-dev is what the search's handling of modes is developed on; poly stays held out."""
    held_out = {frozenset(m.name for m in p.modes[:2]) for p in POLY}
    assert len(POLY_DEV) >= 10
    for p in POLY_DEV:
        assert frozenset(m.name for m in p.modes[:2]) not in held_out
        assert 2 <= len(p.modes) <= 3 and len({m.name for m in p.modes}) == len(p.modes)
    assert not {p.name for p in POLY} & {p.name for p in POLY_DEV}


@pytest.fixture(scope="module")
def poly_run(subject, tmp_path_factory):
    db = store.open_db(tmp_path_factory.mktemp("poly") / "m.db")
    config = BenchConfig(suite="poly", methods=("tokens", "search"), judges=("embedding",), scorers=("simulation",),
                         n_tokens=3072, window=32, score_length=16, limit=3)
    return db, run_bench(db, subject, config, capture_config=CAPTURE)


def test_bench_poly_reports_mode_recall_per_explanation(poly_run):
    db, run = poly_run
    assert run.items and all(it.suite == "poly" for it in run.items)
    for it in run.items:
        modes = it.details["modes"]
        assert len(modes) >= 2  # only features with two visible modes are measured
        assert it.description == "; also ".join(m["description"] for m in modes)
    recall = [v for v in run.values if v["metric"] == "mode_recall_embedding"]
    assert {v["method"] for v in recall} >= {"tokens", "search", "truth", "random", "shuffled"}
    for v in recall:
        n = len(next(it for it in run.items if it.name == v["name"]).details["modes"])
        assert v["value"] is None or round(v["value"] * n, 6) == round(v["value"] * n)  # a share of the modes
