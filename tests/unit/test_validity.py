"""Scorer validity beside every score: figures from the store's bench runs, else the
shipped ones, else "unvalidated"; the topic scorer's former name."""

import numpy as np
import pytest
from mechanic import store
from mechanic.agent.bench.report import format_bench
from mechanic.agent.pipeline import PRIMARY, LabelConfig, canonical_scorers
from mechanic.agent.pipeline.validity import column_validity, format_validity, validity_marks
from mechanic.evals.records import quietest_span
from mechanic.evals.validity import SHIPPED_VALIDITY, shipped_validity

TRAINED = "trained:all-MiniLM-L6-v2"


def bench_run(db, suite, values, status="done"):
    """A bench run whose validity values are ``{(column, measure): [per-feature values]}``."""
    run_id = store.start_run(db, "bench", {"suite": suite})
    rows = [{"suite": suite, "name": f"rule:{i}", "method": "validity", "metric": col, "value": v,
             "details": {"scorer_model": TRAINED, **({"measure": measure} if measure else {})}}
            for (col, measure), vals in values.items() for i, v in enumerate(vals)]
    store.write_bench_values(db, run_id, rows)
    store.finish_run(db, run_id, status)
    return run_id


@pytest.fixture
def db(tmp_path):
    return store.open_db(tmp_path / "m.db")


SHIPPED = {"figures": {"rules": {"detect": {TRAINED: {"mean": 0.9, "lo": 0.8, "hi": 0.95, "n": 40}},
                                 "fuzz": {TRAINED: {"mean": 0.6, "lo": 0.5, "hi": 0.7, "n": 40}}},
                       "planted": {"detect": {TRAINED: {"mean": 0.85, "lo": 0.7, "hi": 1.0, "n": 12}}}}}


def test_store_figures_come_first_per_suite_then_shipped_then_unvalidated(db):
    bench_run(db, "rules", {("detect", "detection:test:auroc"): [1.0, 0.0]})  # older run: replaced below
    newest = bench_run(db, "rules", {("detect", "detection:test:auroc"): [1.0, 1.0, 0.5, 0.5]})
    bench_run(db, "rules", {("detect", "detection:test:auroc"): [0.0, 0.0]}, status="failed")  # never read
    v = column_validity(db, {"detect": [TRAINED], "fuzz": [TRAINED], "causal": ["x"]}, PRIMARY, shipped=SHIPPED)
    (detect,) = v["detect"]
    assert detect.figures["rules"]["mean"] == pytest.approx(0.75) and detect.figures["rules"]["n"] == 4
    assert detect.sources == {"rules": f"bench run {newest}", "planted": "shipped"}
    assert detect.lowest == pytest.approx(0.75)
    assert v["fuzz"][0].sources == {"rules": "shipped"} and v["fuzz"][0].lowest == pytest.approx(0.6)
    assert v["causal"][0].figures == {} and v["causal"][0].lowest is None
    marks = validity_marks(v, ["detect", "fuzz", "causal", "sim"])
    assert marks == {"detect": "0.75", "fuzz": "0.60!", "causal": "unval.", "sim": "unval."}
    text = "\n".join(format_validity(v))
    assert "rules 0.75 [" in text and f"(bench run {newest})" in text and "planted 0.85 [0.70, 1.00] (shipped)" in text
    assert "causal    x: unvalidated" in text and "fuzz" in text and "!" in text


def test_a_figure_that_measured_something_else_is_not_used(db):
    # detect once meant balanced accuracy at a fixed cut: a figure that does not say what it read is stale
    bench_run(db, "rules", {("detect", None): [1.0], ("sim", None): [1.0], ("embed", None): [0.0, 1.0],
                            ("fuzz", "fuzzing:test:balanced_accuracy"): [1.0]})
    v = column_validity(db, {"detect": [TRAINED], "sim": [TRAINED], "topic": [TRAINED], "fuzz": [TRAINED]},
                        PRIMARY, shipped={"figures": {}})
    assert v["detect"][0].figures == {} and v["fuzz"][0].figures == {}
    assert v["sim"][0].figures["rules"]["mean"] == 1.0
    assert v["topic"][0].figures["rules"]["mean"] == 0.5  # the topic scorer's former column name


def test_the_other_scorer_model_has_its_own_figure(db):
    bench_run(db, "rules", {("detect", "detection:test:auroc"): [1.0]})
    v = column_validity(db, {"detect": ["local:SmolLM2"]}, PRIMARY, shipped=SHIPPED)
    assert v["detect"][0].figures == {}


def test_shipped_figures_load_and_a_missing_file_means_none(tmp_path):
    assert shipped_validity(tmp_path / "nope.json") == {"figures": {}}
    (tmp_path / "bad.json").write_text("{not json")
    assert shipped_validity(tmp_path / "bad.json") == {"figures": {}}
    if SHIPPED_VALIDITY.is_file():  # the shipped file says how it was measured
        data = shipped_validity()
        assert all(c.startswith("python bench/validity.py") for c in data["commands"]) and data["figures"]
        for per_col in data["figures"].values():
            for per_model in per_col.values():
                for ci in per_model.values():
                    assert 0 <= ci["lo"] <= ci["mean"] <= ci["hi"] <= 1 and ci["n"] > 0


def test_bench_table_shows_validity_under_the_scores():
    ci = {"mean": 0.8, "lo": 0.7, "hi": 0.9, "n": 10, "n_undefined": 0}
    summary = {"rules": {"run_id": 3, "n_features": 10, "failures": {},
                         "methods": {"tokens": {"sim": ci, "detect": ci}},
                         "validity": {"sim": {TRAINED: {**ci, "mean": 0.93}}}}}
    text = format_bench(summary)
    row = next(line for line in text.splitlines() if line.strip().startswith("validity"))
    assert "0.93 [0.70,0.90]" in row and "unvalidated" in row  # sim measured here, detect not
    summary["rules"]["validity"] = {}
    text = format_bench(summary, {"sim": "0.91", "detect": "0.62!"}, ["validity per column: ..."])
    row = next(line for line in text.splitlines() if line.strip().startswith("validity "))
    assert "0.91" in row and "0.62!" in row and "from the store or shipped" in row
    assert "validity per column: ..." in text


def test_the_embedding_scorer_is_now_topic():
    assert canonical_scorers(["simulation", "embedding", "topic"])[0] == ("simulation", "topic")
    names, notices = canonical_scorers(["embedding"])
    assert names == ("topic",) and len(notices) == 1 and "now called 'topic'" in notices[0]
    assert canonical_scorers(["detection"]) == (("detection",), [])
    config = LabelConfig(scorers=("simulation", "embedding"))
    assert config.scorers == ("simulation", "topic")
    assert config.hash() == LabelConfig(scorers=("simulation", "topic")).hash()


def test_quietest_span():
    assert quietest_span(np.array([5, 0, 0, 3, 0, 0, 0, 9]), 3) == 4
    assert quietest_span(np.array([1, 2]), 4) == 0
    assert quietest_span(np.zeros(10), 4) == 0  # the first of equals



def test_the_default_scorers_are_the_ones_measured_valid():
    from mechanic.agent.pipeline import DEFAULT_SCORERS, SCORERS
    from mechanic.agent.pipeline.validity import TRUST

    column = {"simulation": ("sim", TRAINED), "detection": ("detect", TRAINED), "fuzzing": ("fuzz", TRAINED),
              "topic": ("topic", "all-MiniLM-L6-v2"), "intervention": ("causal", "all-MiniLM-L6-v2")}
    figures = shipped_validity()["figures"]
    for scorer in SCORERS:
        col, model = column[scorer]
        means = [per_col[col][model]["mean"] for per_col in figures.values() if model in per_col.get(col, {})]
        if scorer in DEFAULT_SCORERS:  # measured, and at least TRUST on every suite
            assert means and min(means) >= TRUST, scorer
    assert "intervention" not in DEFAULT_SCORERS  # 0.56 on planted
