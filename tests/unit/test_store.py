"""The SQLite store against real SQLite: round trips, migrations, constraints, scrubbing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from mechanic import store
from mechanic.store.migrations import apply_migrations
from mechanic.store.runs import _scrub

TABLES = {"_migrations", "runs", "models", "corpora", "windows", "features", "exemplars", "directions",
          "explanations", "scores"}
SPEC = {"source": "stdlib", "n_tokens": 4096, "window": 16, "seed": 0}
STATS = {"count": 4096, "mean": 0.25, "var": 1.5, "max": 7.5, "min": -0.5, "frac_active": 0.125}
QUANTILES = {"0.5": 0.1, "0.9": 1.25, "0.99": 4.0}


@pytest.fixture
def db():
    return store.open_db(":memory:")


@pytest.fixture
def ids(db):
    """A run, a model and a corpus with 20 windows of 16 tokens (every 5th is 'test')."""
    run_id = store.start_run(db, "capture", {"layers": [0, 1]})
    model_id = store.upsert_model(
        db, "tiny", family="llama", n_layers=2, d_model=8, d_mlp=32, n_heads=2, vocab_size=100
    )
    corpus_id = store.upsert_corpus(db, "stdlib", SPEC)
    store.write_windows(db, corpus_id, [_window(i) for i in range(20)])
    return {"run_id": run_id, "model_id": model_id, "corpus_id": corpus_id}


def _window(i: int) -> store.WindowRow:
    tokens = np.arange(16) * 1000 + i * 100_000  # large ids: int32 must keep them exactly
    return store.WindowRow(idx=i, doc=f"doc{i // 4}", start=(i % 4) * 16, split="test" if i % 5 == 0 else "train",
                           tokens=tokens)  # fmt: skip


def _exemplars(seed: int = 0) -> list[store.ExemplarRow]:
    rng = np.random.default_rng(seed)
    rows = [store.ExemplarRow("top", None, r, r + 1, "train", 9.0 - r, rng.normal(size=16)) for r in range(3)]
    rows += [store.ExemplarRow("decile", d, 0, d, "test" if d % 5 == 0 else "train", d, rng.normal(size=16))
             for d in range(10)]  # fmt: skip
    rows += [store.ExemplarRow("random", None, r, 19 - r, "train", 0.5, rng.normal(size=16)) for r in range(2)]
    rows += [store.ExemplarRow("bottom", None, 0, 7, "train", -0.5, rng.normal(size=16))]
    return rows


def _write(db, ids, feature="mlp:1:7", exemplars=None, **overrides) -> int:
    kwargs = dict(
        ids, feature=feature, kind="mlp", layer=1, idx=7, name=None, stats=STATS, quantiles=QUANTILES,
        exemplars=_exemplars() if exemplars is None else exemplars,
    )  # fmt: skip
    kwargs.update(overrides)
    return store.write_feature(db, **kwargs)


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ------------------------------------------------------------------ schema


def test_every_table_exists(db):
    assert TABLES <= set(db.table_names())
    assert {"feature_id", "kind", "decile", "rank", "window_idx", "split", "max_act", "activations"} <= set(
        db["exemplars"].columns_dict
    )


def test_migrations_apply_once_and_reopening_is_idempotent(tmp_path: Path):
    path = tmp_path / "sub" / "store.db"
    db = store.open_db(path)
    assert store.applied_migrations(db) == [m.__name__ for m in store.MIGRATIONS]
    schema = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    db.close()

    db = store.open_db(path)
    rows = db.execute("SELECT id, name FROM _migrations").fetchall()
    assert rows == [(i + 1, m.__name__) for i, m in enumerate(store.MIGRATIONS)]
    assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert apply_migrations(db) == []
    db.close()


def test_file_db_uses_wal_and_foreign_keys(tmp_path: Path):
    db = store.open_db(tmp_path / "store.db")
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # a second store and a plain connection (like Datasette's) open it while ours is open
    second = store.open_db(tmp_path / "store.db")
    assert second.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(store.MIGRATIONS)
    plain = sqlite3.connect(tmp_path / "store.db")
    assert {r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= TABLES
    for conn in (plain, second, db):
        conn.close()


def test_foreign_keys_are_enforced(db, ids):
    missing_window = store.ExemplarRow("top", None, 0, 999, "train", 1.0, np.zeros(16))
    with pytest.raises(sqlite3.IntegrityError):
        _write(db, ids, exemplars=[missing_window])
    with pytest.raises(sqlite3.IntegrityError):
        store.write_windows(db, 12345, [_window(0)])


def test_failed_write_feature_leaves_nothing_behind(db, ids):
    first = _write(db, ids)
    bad = _exemplars() + [store.ExemplarRow("top", None, 9, 999, "train", 1.0, np.zeros(16))]
    with pytest.raises(sqlite3.IntegrityError):
        _write(db, ids, exemplars=bad, stats={**STATS, "mean": 99.0})
    assert _count(db, "features") == 1
    assert _count(db, "exemplars") == len(_exemplars())
    assert store.get_feature(db, "tiny", "mlp:1:7")["mean"] == STATS["mean"]
    assert store.get_feature(db, "tiny", "mlp:1:7")["id"] == first


# -------------------------------------------------------------------- runs


def test_run_lifecycle(db):
    run_id = store.start_run(db, "label", {"layers": [3], "k": 5})
    run = store.get_run(db, run_id)
    assert run["status"] == "running" and run["command"] == "label"
    assert run["config"] == {"layers": [3], "k": 5}
    assert run["config_hash"] == store.config_hash({"k": 5, "layers": [3]})
    assert run["finished_at"] is None

    store.finish_run(db, run_id, "failed", error="CUDA out of memory")
    run = store.get_run(db, run_id)
    assert (run["status"], run["error"]) == ("failed", "CUDA out of memory")
    assert run["finished_at"] >= run["started_at"]
    assert store.get_run(db, run_id + 1) is None
    assert [r["id"] for r in store.find_runs(db, command="label", status="failed")] == [run_id]
    assert store.find_runs(db, command="ask") == []


def test_finish_run_rejects_bad_status_and_unknown_run(db):
    run_id = store.start_run(db, "label", {})
    with pytest.raises(ValueError):
        store.finish_run(db, run_id, "running")
    with pytest.raises(ValueError):
        store.finish_run(db, run_id, "ok")
    with pytest.raises(KeyError):
        store.finish_run(db, run_id + 1, "done")


def test_scrub_drops_secrets_and_keeps_the_rest():
    config = {
        "api_key": "sk-live",
        "OPENAI_API_KEY": "x",
        "apiKey": "x",
        "hf_token": "x",
        "password": "x",
        "client_secret": "x",
        "n_tokens": 4096,
        "max_new_tokens": 64,
        "tokenizer": "gpt2",
        "token_budget": 1000,
        "base_url": "http://127.0.0.1:8000/v1",
        "note": "sk-abcdefghijklmnopqrstuvwxyz012345",
        "explainer": {"model": "gpt-4o", "auth_token": "x", "headers": ["Bearer abc", "x-trace"]},
    }
    assert _scrub(config) == {
        "n_tokens": 4096,
        "max_new_tokens": 64,
        "tokenizer": "gpt2",
        "token_budget": 1000,
        "base_url": "http://127.0.0.1:8000/v1",
        "explainer": {"model": "gpt-4o", "headers": ["x-trace"]},
    }
    assert config["api_key"] == "sk-live"  # the caller's dict is untouched


def test_start_run_never_stores_secrets(db):
    run_id = store.start_run(db, "label", {"api_key": "sk-verysecretvalue", "seed": 3})
    raw = db.execute("SELECT config FROM runs WHERE id = ?", [run_id]).fetchone()[0]
    assert "verysecret" not in raw and "api_key" not in raw
    assert store.get_run(db, run_id)["config"] == {"seed": 3}
    assert store.get_run(db, run_id)["config_hash"] == store.config_hash({"seed": 3})


# ------------------------------------------------------- models, corpora


def test_upsert_model_keeps_id_and_updates(db):
    first = store.upsert_model(db, "m", family="gpt2", n_layers=1, d_model=8, d_mlp=32, n_heads=2, vocab_size=50)
    again = store.upsert_model(
        db, "m", family="gpt2", n_layers=np.int64(2), d_model=8, d_mlp=32, n_heads=2, vocab_size=50
    )
    assert first == again and _count(db, "models") == 1
    assert store.get_model(db, "m")["n_layers"] == 2
    assert store.get_model(db, "other") is None


def test_same_corpus_spec_maps_to_one_row(db):
    a = store.upsert_corpus(db, "stdlib", SPEC)
    b = store.upsert_corpus(db, "stdlib again", dict(reversed(list(SPEC.items()))))
    c = store.upsert_corpus(db, "stdlib", {**SPEC, "seed": 1})
    assert a == b != c
    assert _count(db, "corpora") == 2
    assert store.get_corpus(db, a)["spec"] == SPEC
    assert store.get_corpus(db, a)["name"] == "stdlib"


def test_windows_round_trip_exactly_and_update_counts(db, ids):
    got = store.get_windows(db, ids["corpus_id"], [3, 5, 19, 404])
    assert sorted(got) == [3, 5, 19]  # absent indices are left out
    for i, w in got.items():
        want = _window(i)
        assert (w.idx, w.doc, w.start, w.split) == (want.idx, want.doc, want.start, want.split)
        assert w.tokens.dtype == np.int32
        np.testing.assert_array_equal(w.tokens, want.tokens)
    corpus = store.get_corpus(db, ids["corpus_id"])
    assert (corpus["n_windows"], corpus["n_tokens"]) == (20, 320)
    assert db.execute("SELECT typeof(tokens), length(tokens) FROM windows LIMIT 1").fetchone() == ("blob", 64)


def test_write_windows_is_idempotent(db, ids):
    cid = ids["corpus_id"]
    changed = store.WindowRow(3, "doc0", 0, "select", np.array([1, 2, 3]))
    store.write_windows(db, cid, [_window(i) for i in range(20)] + [changed])
    assert _count(db, "windows") == 20
    w = store.get_windows(db, cid, [3])[3]
    assert w.split == "select" and w.tokens.tolist() == [1, 2, 3]
    assert store.get_corpus(db, cid)["n_tokens"] == 19 * 16 + 3


def test_write_windows_rejects_unknown_split(db, ids):
    with pytest.raises(ValueError, match="split"):
        store.write_windows(db, ids["corpus_id"], [store.WindowRow(0, "doc0", 0, "dev", np.zeros(4, int))])


# ----------------------------------------------------------------- features


def test_feature_round_trip(db, ids):
    row_id = _write(db, ids, stats={**STATS, "n_nan": 0})
    f = store.get_feature(db, "tiny", "mlp:1:7")
    assert f["id"] == row_id
    assert (f["model"], f["corpus"], f["kind"], f["layer"], f["idx"], f["run_id"]) == (
        "tiny", "stdlib", "mlp", 1, 7, ids["run_id"]
    )  # fmt: skip
    assert f["quantiles"] == QUANTILES
    assert f["stats"] == {**STATS, "n_nan": 0}
    assert f["mean"] == STATS["mean"] and f["count"] == STATS["count"]
    assert store.get_feature(db, "tiny", "mlp:1:8") is None
    assert store.get_feature(db, "other", "mlp:1:7") is None
    assert store.captured_features(db, ids["model_id"], ids["corpus_id"]) == {"mlp:1:7"}


def test_feature_accepts_numpy_scalars(db, ids):
    stats = {k: np.float32(v) for k, v in STATS.items()} | {"count": np.int64(4096)}
    _write(db, ids, stats=stats, quantiles={0.5: np.float32(0.25)})
    f = store.get_feature(db, "tiny", "mlp:1:7")
    assert f["count"] == 4096 and f["quantiles"] == {"0.5": 0.25}


def test_rewriting_a_feature_replaces_it(db, ids):
    first = _write(db, ids)
    run2 = store.start_run(db, "capture", {"again": True})
    second = _write(db, {**ids, "run_id": run2}, exemplars=_exemplars(seed=1)[:4], stats={**STATS, "max": 3.0})
    assert first == second  # same row, updated in place
    assert _count(db, "features") == 1
    assert _count(db, "exemplars") == 4
    f = store.get_feature(db, "tiny", "mlp:1:7")
    assert f["max"] == 3.0 and f["run_id"] == run2


def test_get_feature_picks_corpus_or_newest(db, ids):
    _write(db, ids)
    other = store.upsert_corpus(db, "other", {**SPEC, "seed": 1})
    store.write_windows(db, other, [_window(i) for i in range(20)])
    _write(db, {**ids, "corpus_id": other}, stats={**STATS, "mean": -1.0})
    assert store.get_feature(db, "tiny", "mlp:1:7")["corpus_id"] == other
    assert store.get_feature(db, "tiny", "mlp:1:7", corpus_id=ids["corpus_id"])["mean"] == STATS["mean"]
    assert store.captured_features(db, ids["model_id"], other) == {"mlp:1:7"}


def test_list_features_orders_numerically_and_filters_by_model(db, ids):
    for i in (10, 9, 2):
        _write(db, ids, feature=f"mlp:1:{i}", idx=i)
    _write(db, ids, feature="attn:0:1", kind="attn", layer=0, idx=1)
    m2 = store.upsert_model(db, "m2", family="gpt2", n_layers=1, d_model=8, d_mlp=32, n_heads=2, vocab_size=50)
    _write(db, {**ids, "model_id": m2}, feature="mlp:0:0", layer=0, idx=0)
    assert [f["feature"] for f in store.list_features(db, "tiny")] == ["attn:0:1", "mlp:1:2", "mlp:1:9", "mlp:1:10"]
    everything = store.list_features(db)
    assert len(everything) == 5 and everything[-1]["model"] == "tiny"
    assert everything[0]["quantiles"] == QUANTILES and everything[0]["stats"]["max"] == STATS["max"]


# ---------------------------------------------------------------- exemplars


def test_exemplars_round_trip(db, ids):
    row_id = _write(db, ids)
    got = store.get_exemplars(db, row_id)
    written = _exemplars()
    assert len(got) == len(written)
    assert [e.kind for e in got] == ["top"] * 3 + ["bottom"] + ["decile"] * 10 + ["random"] * 2
    assert [e.decile for e in got if e.kind == "decile"] == list(range(10))
    assert [e.rank for e in got if e.kind == "top"] == [0, 1, 2]
    by_key = {(w.kind, w.decile, w.rank): w for w in written}
    for e in got:
        w = by_key[(e.kind, e.decile, e.rank)]
        assert (e.window_idx, e.split, e.max_act) == (w.window_idx, w.split, w.max_act)
        window = _window(e.window_idx)
        assert (e.doc, e.start) == (window.doc, window.start)
        assert e.tokens.dtype == np.int32 and e.activations.dtype == np.float32
        np.testing.assert_array_equal(e.tokens, window.tokens)
        np.testing.assert_allclose(e.activations, w.activations, rtol=1e-3, atol=1e-3)  # float16


def test_exemplars_filter_by_kind_and_split(db, ids):
    row_id = _write(db, ids)
    assert [e.rank for e in store.get_exemplars(db, row_id, kind="random")] == [0, 1]
    assert [e.decile for e in store.get_exemplars(db, row_id, kind="decile", split="test")] == [0, 5]
    assert all(e.split == "train" for e in store.get_exemplars(db, row_id, split="train"))
    assert store.get_exemplars(db, row_id + 1) == []
    with pytest.raises(ValueError):
        store.get_exemplars(db, row_id, kind="best")


def test_activations_are_float16_blobs(db, ids):
    acts = np.linspace(-2, 2, 16)
    acts[3] = 1e6  # beyond float16: clipped, never inf
    row_id = _write(db, ids, exemplars=[store.ExemplarRow("top", None, 0, 1, "train", 1e6, acts)])
    typ, size = db.execute("SELECT typeof(activations), length(activations) FROM exemplars").fetchone()
    assert (typ, size) == ("blob", 16 * 2)
    (e,) = store.get_exemplars(db, row_id)
    assert np.isfinite(e.activations).all() and e.activations[3] == 65504.0
    assert e.max_act == 1e6  # the exact maximum survives


def test_exemplar_validation(db, ids):
    with pytest.raises(ValueError, match="kind"):
        _write(db, ids, exemplars=[store.ExemplarRow("best", None, 0, 1, "train", 1.0, np.zeros(16))])
    with pytest.raises(ValueError, match="decile"):
        _write(db, ids, exemplars=[store.ExemplarRow("decile", None, 0, 1, "train", 1.0, np.zeros(16))])
    with pytest.raises(ValueError, match="decile"):
        _write(db, ids, exemplars=[store.ExemplarRow("decile", 10, 0, 1, "train", 1.0, np.zeros(16))])
    assert _count(db, "features") == 0


def test_full_size_feature_round_trips(db, ids):
    # the size capture writes per feature: 220 exemplars of 64 tokens
    store.write_windows(db, ids["corpus_id"], [store.WindowRow(i, 0, 0, "train", np.arange(64)) for i in range(220)])
    rng = np.random.default_rng(0)
    rows = [store.ExemplarRow("top", None, r, r, "train", 1.0, rng.normal(size=64)) for r in range(220)]
    row_id = _write(db, ids, exemplars=rows)
    got = store.get_exemplars(db, row_id)
    assert len(got) == 220 and [e.rank for e in got] == list(range(220))
    np.testing.assert_allclose(np.stack([e.activations for e in got]), np.stack([r.activations for r in rows]),
                               rtol=1e-3, atol=1e-3)  # fmt: skip


# --------------------------------------------------------------- directions


def test_directions_round_trip_and_overwrite(db, ids):
    mid = ids["model_id"]
    v = np.random.default_rng(0).normal(size=8)
    first = store.save_direction(db, mid, "month", v, layer=3, source="probe", run_id=ids["run_id"])
    store.save_direction(db, mid, "sentiment", [1.0, 0.0, -1.0])
    got = store.load_directions(db, mid)
    assert set(got) == {"month", "sentiment"}
    assert got["month"].dtype == np.float32
    np.testing.assert_allclose(got["month"], v, rtol=1e-6)
    assert got["sentiment"].tolist() == [1.0, 0.0, -1.0]

    again = store.save_direction(db, mid, "month", np.ones(8), layer=4)
    assert again == first and _count(db, "directions") == 2
    assert store.load_directions(db, mid)["month"].tolist() == [1.0] * 8
    row = db.execute("SELECT layer, dim, typeof(vector) FROM directions WHERE id = ?", [first]).fetchone()
    assert row == (4, 8, "blob")
    assert store.load_directions(db, mid + 1) == {}


# ------------------------------------------------------------ explanations


def test_explanations_and_scores_round_trip(db, ids):
    feature_id = _write(db, ids)
    eid = store.write_explanation(
        db, feature_id=feature_id, run_id=ids["run_id"], method="oneshot", config_hash="c1", text="month names",
        explainer_model="local:x", prompt_hash="abc", usage={"calls": 2, "prompt_tokens": 300, "completion_tokens": 9,
                                                             "seconds": 1.5}, details={"k": 1})
    store.write_scores(db, eid, ids["run_id"], [
        {"scorer": "simulation", "split": "top", "metric": "pearson", "value": 0.42, "n": 5, "tokens": 900},
        {"scorer": "simulation", "split": "random", "metric": "pearson", "value": None, "n": 5,
         "details": {"reason": "constant prediction"}},
    ])
    [row] = store.get_explanations(db, feature_id=feature_id)
    assert (row["text"], row["status"], row["llm_calls"], row["prompt_tokens"], row["details"]) == (
        "month names", "ok", 2, 300, {"k": 1})
    scores = store.get_scores(db, eid)
    assert [(s["split"], s["value"]) for s in scores] == [("random", None), ("top", 0.42)]
    assert scores[0]["details"] == {"reason": "constant prediction"}
    # rescoring replaces, never duplicates
    store.write_scores(db, eid, ids["run_id"], [{"scorer": "simulation", "split": "top", "metric": "pearson",
                                                 "value": 0.5, "n": 5}])
    assert [s["value"] for s in store.get_scores(db, eid) if s["split"] == "top"] == [0.5]
    assert store.labeled_features(db, "c1", "oneshot") == {feature_id}
    assert store.labeled_features(db, "c2", "oneshot") == set()


def test_failed_explanation_has_no_text_and_ok_needs_text(db, ids):
    feature_id = _write(db, ids)
    eid = store.write_explanation(db, feature_id=feature_id, run_id=ids["run_id"], method="oneshot",
                                  config_hash="c", text=None, status="failed", error="unparseable", raw="{{{")
    [row] = store.get_explanations(db, feature_id=feature_id, method="oneshot")
    assert row["id"] == eid and row["text"] is None and row["raw"] == "{{{" and row["error"] == "unparseable"
    with pytest.raises(ValueError, match="non-empty text"):
        store.write_explanation(db, feature_id=feature_id, run_id=ids["run_id"], method="x", config_hash="c",
                                text="  ")
    with pytest.raises(ValueError, match="no text"):
        store.write_explanation(db, feature_id=feature_id, run_id=ids["run_id"], method="x", config_hash="c",
                                text="words", status="failed")
    with pytest.raises(ValueError, match="role"):
        store.write_explanation(db, feature_id=feature_id, run_id=ids["run_id"], method="x", config_hash="c",
                                text="words", role="other")


def test_scores_need_an_existing_explanation(db, ids):
    with pytest.raises(sqlite3.IntegrityError):
        store.write_scores(db, 12345, ids["run_id"], [{"scorer": "s", "split": "t", "metric": "m", "value": 1.0}])
