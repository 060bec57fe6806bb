"""The shipped simulator head on the real data recipe, and the offline simulators
inside `mechanic label` on the embedded model."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from mechanic.agent.cli import cli
from mechanic.evals.embedding import default_embedder
from mechanic.evals.offline import Head, TrainedSimulator
from mechanic.evals.training.recipe import pool_windows, training_rules, validation_mask
from mechanic.evals.training.train import Pool, rule_activations, validity, validity_cases


def test_shipped_head_reproduces_its_recorded_validation_figure(embedded):
    head = Head.load()
    meta = head.metadata
    seed = meta["seed"]
    windows, _ = pool_windows(embedded.tokenizer, meta["corpus_windows"], meta["synthetic_windows"], seed,
                              n_prose=meta.get("prose_windows", 0))
    held = [w for w, keep in zip(windows, validation_mask(len(windows), seed)) if keep]
    rules, _ = training_rules(default_embedder(), seed=seed)
    assert len(rules) == meta["library_rules"]
    starts = np.concatenate([[0], np.cumsum([len(w) for w in held])])
    pool = Pool(held, np.zeros((int(starts[-1]), 0, 0), np.float16), starts, np.zeros(len(held), bool))
    cases = validity_cases(rules, pool, rule_activations(rules, pool), np.arange(len(held)), seed=seed)
    got = validity(TrainedSimulator(head), cases)
    assert got["pairings"] == meta["validation_pairings"]
    assert abs(got["validity"] - meta["validation_validity"]) <= 0.01
    assert got["validity"] > 0.75  # far above chance (0.5)


def test_label_scores_with_the_offline_simulators(embedded, tmp_path):
    db = tmp_path / "m.db"
    runner = CliRunner()
    for simulator in ("trained", "embedding"):
        result = runner.invoke(cli, ["--db", str(db), "-q", "label", "mlp:15:0-1", "--methods", "tokens",
                                     "--simulator", simulator, "--scorers", "simulation,detection,fuzzing",
                                     "--tokens", "4096", "--n-top", "3", "--n-random", "3", "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["rows"] and "tokens" in data["methods"], data
    import sqlite3

    con = sqlite3.connect(db)
    models = {m for (m,) in con.execute("SELECT DISTINCT scorer_model FROM scores WHERE scorer != 'error'")}
    assert {"trained:all-MiniLM-L6-v2", "embedding:all-MiniLM-L6-v2"} <= models
    values = [v for (v,) in con.execute(
        "SELECT value FROM scores WHERE scorer = 'detection' AND metric = 'balanced_accuracy' AND value IS NOT NULL")]
    assert values and all(0 <= v <= 1 for v in values)
    llm_calls = [c for (c,) in con.execute(
        "SELECT llm_calls FROM scores WHERE scorer IN ('simulation', 'detection', 'fuzzing')")]
    assert llm_calls and not any(llm_calls)  # offline: no LLM call behind these scores
