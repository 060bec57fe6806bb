"""A synthetic store for the viewer's tests and ``bench/viewer.py``: real SQLite written
through the store API, with features, exemplars over real token windows, explanations
(some failed) with scores and floors, investigations, a question and two bench runs.

``hostile=True`` plants corpus text and explanations that would run script or break an
attribute if a page did not escape them (``HOSTILE``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from mechanic import store

__all__ = ["HOSTILE", "build_viewer_store"]

HOSTILE = '<script>alert(1)</script> and " onmouseover="x'
_WORDS = ("month", "number", "bracket", "comma", "python keyword", "plural noun", "past tense verb", "quote",
          "function name", "capital letter", "digit", "newline", "indentation", "class name", "error", "import",
          "colour", "animal", "city", "first name", "weekday", "unit", "operator", "string literal", "comment")
_CONTEXTS = ("in docstrings", "after a dot", "at the start of a line", "inside parentheses", "in code",
             "before a colon", "in English prose", "in lists", "after 'the'", "in variable names")
_TEXTS = ("The function returns a list of month names, such as January and February.",
          "def parse(value):\n    return int(value) + 1  # numbers, commas, brackets",
          "Errors are raised when the city of Paris or London is not found in the table.",
          "On Monday the cat and the dog walked 3 km (about 2 miles) to the river.")


def _explanation(rng: np.random.Generator) -> str:
    return f"{_WORDS[rng.integers(len(_WORDS))]}s {_CONTEXTS[rng.integers(len(_CONTEXTS))]}"


def build_viewer_store(path: str | Path, encode: Callable[[str], list[int]], *, model: str = "tiny:llama",
                       n_features: int = 40, layers: int = 3, window: int = 32, hostile: bool = True,
                       n_investigations: int = 3, seed: int = 0, progress: Callable[[int], None] | None = None) -> dict:
    """Write the store at ``path``; ``encode`` turns text into the model's token ids.
    Returns the ids the tests look for."""
    rng = np.random.default_rng(seed)
    db = store.open_db(path)
    capture = store.start_run(db, "cache", {"synthetic": True, "n_features": n_features})
    label = store.start_run(db, "label", {"methods": ["tokens", "oneshot"], "synthetic": True})
    model_id = store.upsert_model(db, model, family="llama", n_layers=layers, d_model=64, d_mlp=256, n_heads=4,
                                  vocab_size=512)
    corpus_id = store.upsert_corpus(db, "synthetic", {"source": "synthetic", "seed": seed, "window": window})
    texts = [HOSTILE + " " + _TEXTS[0]] if hostile else []
    texts += [_TEXTS[i % len(_TEXTS)] for i in range(len(_TEXTS) * 4)]
    ids = [t for text in texts for t in encode(text + " ")]
    n_windows = max(1, len(ids) // window)
    splits = ["test", "train", "select"]
    store.write_windows(db, corpus_id, [
        store.WindowRow(i, f"doc{i}", 0, splits[i % 3], np.asarray(ids[i * window:(i + 1) * window]))
        for i in range(n_windows)])
    test_windows = [i for i in range(n_windows) if i % 3 == 0]
    train_windows = [i for i in range(n_windows) if i % 3 == 1]
    out: dict = {"model": model, "features": [], "hostile_explanation": None, "investigations": [], "ask": None,
                 "bench_runs": [], "hostile_window_feature": None}

    def acts(peak: float) -> np.ndarray:
        a = np.maximum(rng.normal(0, 0.3, window), 0)
        a[rng.integers(window)] = peak
        return a

    def one(n: int) -> None:
        layer, idx = n % layers, n // layers
        peak = float(rng.uniform(1, 8))
        exemplars = [store.ExemplarRow("top", None, r, test_windows[(n + r) % len(test_windows)], "test",
                                       peak - r * 0.1, acts(peak - r * 0.1)) for r in range(2)]
        exemplars.append(store.ExemplarRow("top", None, 2, train_windows[n % len(train_windows)], "train", peak * 0.9,
                                           acts(peak * 0.9)))
        exemplars += [store.ExemplarRow("random", None, r, w, splits[w % 3], 0.5, acts(0.5))
                      for r, w in enumerate(((n + 1) % n_windows, (n + 2) % n_windows))]
        exemplars.append(store.ExemplarRow("bottom", None, 0, train_windows[(n + 1) % len(train_windows)], "train",
                                           -0.2, -acts(0.2)))
        if hostile and n == 0:  # the first window (hostile text) as a held-out top window
            exemplars[0] = store.ExemplarRow("top", None, 0, 0, "test", peak, acts(peak))
            out["hostile_window_feature"] = None  # set below once the row id is known
        stats = {"count": 20_000, "mean": 0.1, "var": 0.2, "max": peak, "min": -0.3, "frac_active": float(rng.uniform())}
        quantiles = {"0.5": 0.0, "0.9": 0.3, "0.99": 1.5, "0.999": peak * 0.8}
        fid = store.write_feature(db, model_id=model_id, corpus_id=corpus_id, run_id=capture, feature=f"mlp:{layer}:{idx}",
                                  kind="mlp", layer=layer, idx=idx, name=None, stats=stats, quantiles=quantiles,
                                  exemplars=exemplars)
        out["features"].append(fid)
        if hostile and n == 0:
            out["hostile_window_feature"] = fid
        if n % 11 == 10:
            return  # some features are not explained yet
        for method in ("tokens", "oneshot"):
            if method == "oneshot" and n % 7 == 3:
                store.write_explanation(db, feature_id=fid, run_id=label, method=method, config_hash="synthetic",
                                        text=None, status="failed", error="the explainer's reply had no explanation",
                                        raw="I am not sure.")
                continue
            text = HOSTILE if (hostile and n == 0 and method == "oneshot") else _explanation(rng)
            eid = store.write_explanation(db, feature_id=fid, run_id=label, method=method, config_hash="synthetic",
                                          text=text, explainer_model="scripted", prompt_hash=f"{n:08x}",
                                          usage={"llm_calls": 1, "prompt_tokens": 300, "completion_tokens": 12,
                                                 "seconds": 0.5})
            if text == HOSTILE:
                out["hostile_explanation"] = eid
            sim = float(rng.uniform(-0.2, 0.9))
            store.write_scores(db, eid, label, [
                {"scorer": "simulation", "split": "all", "metric": "pearson", "value": sim, "n": 320,
                 "scorer_model": "trained:all-MiniLM-L6-v2"},
                {"scorer": "simulation", "split": "top", "metric": "pearson", "value": sim * 0.8, "n": 160,
                 "scorer_model": "trained:all-MiniLM-L6-v2"},
                {"scorer": "detection", "split": "test", "metric": "auroc",
                 "value": float(rng.uniform(0.4, 0.95)), "n": 20, "scorer_model": "trained:all-MiniLM-L6-v2"},
                {"scorer": "topic", "split": "test", "metric": "auroc", "value": float(rng.uniform(0.3, 1.0)),
                 "n": 20, "scorer_model": "all-MiniLM-L6-v2"}])
        control = store.write_explanation(db, feature_id=fid, run_id=label, method="random", role="control",
                                          config_hash="synthetic", text=_explanation(rng))
        store.write_scores(db, control, label, [{"scorer": "simulation", "split": "all", "metric": "pearson",
                                                 "value": float(rng.uniform(-0.2, 0.2)), "n": 320,
                                                 "scorer_model": "trained:all-MiniLM-L6-v2"}])

    for start in range(0, n_features, 500):  # one transaction per 500 features: a commit each would dominate
        with db.atomic():
            for n in range(start, min(start + 500, n_features)):
                one(n)
        if progress:
            progress(min(start + 500, n_features))
    store.finish_run(db, capture, "done")
    store.finish_run(db, label, "done")

    agent_run = store.start_run(db, "investigate", {"synthetic": True})
    for n in range(min(n_investigations, n_features)):
        fid = out["features"][n]
        feature = store.feature_by_id(db, fid)["feature"]
        aid = store.start_agent_run(db, run_id=agent_run, kind="investigate", feature_id=fid, feature=feature,
                                    budgets={"llm_calls": 24, "tool_calls": 24}, explainer_model="scripted")
        h1 = store.write_hypothesis(db, aid, round=0, idx=0, text=HOSTILE if hostile and n == 0 else "fires on months",
                                    prediction="silent on weekdays")
        h2 = store.write_hypothesis(db, aid, round=0, idx=1, text="fires on capital letters",
                                    prediction="fires on lowercase words too")
        store.write_experiment(db, aid, step=0, tool="activations", hypothesis_id=h1,
                               arguments={"texts": ["January", HOSTILE], "feature": feature},
                               result={"max": [3.5, 0.1]}, summary="January: 3.5; the hostile text: 0.1", elapsed=0.2)
        store.write_experiment(db, aid, step=1, tool="activations", hypothesis_id=h2,
                               arguments={"texts": ["Paris", "paris"], "feature": feature},
                               result={"max": [0.2, 0.1]}, summary="no capital-letter effect", elapsed=0.2)
        store.write_experiment(db, aid, step=2, tool="steer", arguments={"value": 99}, error="value out of range")
        store.judge_hypothesis(db, h1, verdict="supported", precision=0.9, recall=0.7, causal_agreement=0.6)
        store.judge_hypothesis(db, h2, verdict="refuted", precision=0.1, recall=0.2)
        chosen = store.get_explanations(db, feature_id=fid, method="tokens")
        store.update_agent_run(db, aid, usage={"llm_calls": 6, "tool_calls": 3},
                               explanation_id=chosen[0]["id"] if chosen else None)
        store.finish_agent_run(db, aid, "done")
        out["investigations"].append(aid)
    ask_id = store.start_agent_run(db, run_id=agent_run, kind="ask", budgets={"llm_calls": 8}, explainer_model="scripted",
                                   question=("which features relate to months? " + HOSTILE) if hostile else
                                   "which features relate to months?")
    e1 = store.write_experiment(db, ask_id, step=0, tool="search_explanations", arguments={"query": "months", "n": 5},
                                result=[{"feature": "mlp:0:0", "similarity": 0.71}], summary="mlp:0:0 (0.71)")
    store.update_agent_run(db, ask_id, answer={"kind": "related", "status": "done", "confidence": "medium",
                                               "claims": [{"text": "mlp:0:0 fires on month names", "experiments": [e1]}],
                                               "untested": ["features without a stored explanation"]})
    store.finish_agent_run(db, ask_id, "done")
    out["ask"] = ask_id
    store.finish_run(db, agent_run, "done")

    for b in range(2):
        run = store.start_run(db, "bench", {"suite": "rules", "methods": ["tokens", "oneshot"], "seed": b})
        names = [f"rule:{w.replace(' ', '_')}" for w in _WORDS[:10]]
        store.write_bench_items(db, run, [{"suite": "rules", "feature_id": out["features"][i % n_features], "name": nm,
                                           "family": "lexical", "description": f"{nm} tokens", "decoys": ["a", "b"]}
                                          for i, nm in enumerate(names)])
        values = []
        for nm in names:
            for method, base in (("tokens", 0.3), ("oneshot", 0.4 + 0.1 * b), ("random", 0.0)):
                values += [{"suite": "rules", "name": nm, "method": method, "metric": "sim",
                            "value": float(base + rng.normal(0, 0.1))},
                           {"suite": "rules", "name": nm, "method": method, "metric": "truth_embedding",
                            "value": float(rng.uniform() < base + 0.3)}]
            values.append({"suite": "rules", "name": nm, "method": "validity", "metric": "sim",
                           "value": float(rng.uniform(0.4, 1.0)), "details": {"scorer_model": "trained:all-MiniLM-L6-v2"}})
        store.write_bench_values(db, run, values)
        store.finish_run(db, run, "done")
        out["bench_runs"].append(run)
    db.conn.close()
    return out
