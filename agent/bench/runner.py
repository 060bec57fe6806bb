"""``mechanic bench``: explanation quality on features whose answer is known.

A suite gives features with ground truth (see ``evals/suites``):

* ``rules`` — text rules over the subject tokenizer's token strings. Their
  activations on the corpus windows are summarised by capture's own streaming
  selection (:func:`~mechanic.tools.capture.summarise_values`) and stored as
  features ``rule:NAME`` of the subject model, so explainers read the same train
  evidence and scorers the same held-out test windows as for a real neuron.
* ``planted`` — probe directions fitted inside the subject model for rule concepts,
  captured as ``resid:L:planted_NAME`` features (interventions are real).
* ``records:PATH`` — NeuronRecord / puzzle files, stored as features of a model
  named after the file (their evidence stays in the file).

Per feature, each method explains, and every explanation — plus the floors (a
random and a shuffled explanation) and, where the truth is known, the true
description and its two decoys — is scored by the configured scorers on the test
split. Ground-truth match is a three-way choice (:mod:`mechanic.evals.judge`) by an
LLM judge and an embedding judge, plus the cosine to the truth. Scorer validity:
does each scorer rank the truth above each decoy? Everything lands in the store:
explanations and scores as for ``label``, the per-feature values in
``bench_values`` (migration 4), keyed by the run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
from mechanic import store
from mechanic.evals.judge import EmbeddingJudge, LLMJudge, judge_truth, truth_similarity
from mechanic.evals.lm import LLM, Usage
from mechanic.tools import CaptureConfig, MechanicError, Subject

from .. import llm as llm_backends
from ..pipeline import (
    AGENT_METHODS,
    DEFAULT_SIMULATOR,
    METHODS,
    PRIMARY,
    LabelConfig,
    Models,
    canonical_scorers,
    ensure_controls,
    explain_phase,
    score_phase,
)
from .items import REFERENCES, BenchItem, build_items

__all__ = ["BenchConfig", "BenchRun", "run_bench", "SUITES", "JUDGES"]

SUITES = ("rules", "prose", "poly", "poly-dev", "planted", "records")
# the corpus each suite's features are measured on when the config names none; every other suite: stdlib
SUITE_CORPORA = {"prose": "prose"}
JUDGES = ("llm", "embedding")


@dataclass(frozen=True)
class BenchConfig:
    """Everything that changes what ``bench`` measures."""

    suite: str = "rules"  # rules | prose | poly | poly-dev | planted | records:PATH
    methods: tuple[str, ...] = ("tokens", "oneshot", "bestofk")
    explainer: str = "local"
    simulator: str = DEFAULT_SIMULATOR
    judge: str = ""  # LLM of the LLM judge; empty: the explainer's
    judges: tuple[str, ...] = JUDGES
    scorers: tuple[str, ...] = ("simulation", "detection", "fuzzing", "topic")
    validity: bool = True  # score the truth and decoys too
    limit: int | None = None  # features of the suite (first N)
    seed: int = 0  # splits, option order of the judge, floors, sampling: the same seed gives the same numbers
    k: int = 5  # best-of-k candidates
    n_top: int = 5  # held-out top windows per feature (simulation)
    n_deciles: int = 10  # held-out activating windows across deciles (detection, fuzzing)
    n_random: int = 5  # held-out random windows
    n_hard_negatives: int = 5  # quiet windows holding the feature's top tokens (detection)
    score_length: int = 32  # tokens per scored window
    style: str = "auto"  # explainer prompt: auto | chat | fewshot
    corpus: str = ""  # the text the features are measured on; empty: the suite's (prose: prose; the others: stdlib)
    n_tokens: int = 20_000
    window: int = 64
    layer: int | None = None  # planted: residual layer (default the middle one)
    threshold: float = 0.3  # tiered: below this select score of the search, the agent (or best-of-k) explains

    def __post_init__(self):
        object.__setattr__(self, "scorers", canonical_scorers(self.scorers)[0])
        kind = self.suite.partition(":")[0]
        if kind not in SUITES or (kind == "records") != (":" in self.suite) or self.suite.endswith(":"):
            raise MechanicError(f"unknown suite {self.suite!r}; choose rules, prose, poly, poly-dev, planted or "
                                "records:PATH")
        if not self.corpus:
            object.__setattr__(self, "corpus", SUITE_CORPORA.get(kind, "stdlib"))
        for method in AGENT_METHODS:
            if method not in self.methods:
                continue
            if method not in METHODS:
                raise MechanicError(f"method {method!r} is not available in this installation (no agent explainer); "
                                    f"choose from {', '.join(METHODS)}")
            if method == "agent" and self.suite_kind != "planted":
                raise MechanicError(f"method {method!r} experiments on the model, so it needs features of the model: "
                                    f"use --suite planted (the {self.suite_kind} suite's features have no site; "
                                    f"tiered runs there, with best-of-k where the search falls short)")
        bad = [j for j in self.judges if j not in JUDGES]
        if bad:
            raise MechanicError(f"unknown judge {bad[0]!r}; choose from {', '.join(JUDGES)}")
        if self.limit is not None and self.limit < 1:
            raise MechanicError("--limit must be at least 1")
        self.label_config()  # validates methods and scorers

    @property
    def suite_kind(self) -> str:
        return self.suite.partition(":")[0]

    @property
    def suite_scorers(self) -> tuple[str, ...]:
        """The scorers that apply: intervention needs a real site (the planted suite)."""
        return tuple(s for s in self.scorers if s != "intervention" or self.suite_kind == "planted")

    def label_config(self) -> LabelConfig:
        return LabelConfig(
            methods=self.methods, explainer=self.explainer, simulator=self.simulator,
            scorers=self.suite_scorers, k=self.k, n_top=self.n_top,
            n_deciles=self.n_deciles, n_random=self.n_random, n_hard_negatives=self.n_hard_negatives,
            score_length=self.score_length, style=self.style, seed=self.seed, corpus=self.corpus,
            n_tokens=self.n_tokens, window=self.window, threshold=self.threshold)

    def hash(self) -> str:
        """What keys stored explanations for resume (the limit only picks features)."""
        return store.config_hash({**asdict(self), "limit": None, "command": "bench"})


@dataclass
class BenchRun:
    run_id: int
    suite: str
    config: BenchConfig
    items: list[BenchItem]
    values: list[dict]  # rows of bench_values
    seconds: float = 0.0
    usage: dict[str, Usage] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # suite features too rare on this sample to measure


# ------------------------------------------------------------------- run


def _judges(config: BenchConfig, models: Models):
    out = {}
    if "llm" in config.judges:
        out["llm"] = LLMJudge(models.llm(config.judge or config.explainer))
    if "embedding" in config.judges:
        out["embedding"] = EmbeddingJudge(models.embedder)
    return out


def _primary(results: Sequence[dict]) -> dict[str, tuple[float | None, str, str]]:
    """The headline value of each scorer, by column: {col: (value, scorer_model,
    measure)}, the measure naming what was read (``scorer:split:metric``)."""
    out = {}
    for s in results:
        for col, scorer, split, metric in PRIMARY:
            if (s["scorer"], s["split"], s["metric"]) == (scorer, split, metric):
                out[col] = (s["value"], s.get("scorer_model") or "", f"{scorer}:{split}:{metric}")
    return out


def run_bench(
    db,
    subject: Subject | None,
    config: BenchConfig = BenchConfig(),
    *,
    make_llm: Callable[[str, Subject], LLM] | None = None,
    capture_config: CaptureConfig = CaptureConfig(),
    progress: Callable[[str], None] | None = None,
) -> BenchRun:
    """Run one suite (see the module doc); everything is stored under a ``bench`` run."""
    if subject is None and config.suite_kind != "records":
        raise MechanicError(f"the {config.suite_kind} suite needs a subject model")
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    chash = config.hash()
    models = Models(subject, config.label_config(), make_llm or llm_backends.make_llm)
    models.preflight(extra=(config.judge or config.explainer,) if "llm" in config.judges else ())
    run_id = store.start_run(db, "bench", {**asdict(config), "model": getattr(subject, "name", None)})
    out = BenchRun(run_id, config.suite_kind, config, [], [])
    with store.finishing(db, run_id):
        say(f"building the {config.suite} suite ...")
        out.items, skipped = build_items(db, subject, config, capture_config, run_id)
        out.skipped = [s["name"] for s in skipped]
        store.write_bench_items(db, run_id, [
            {"suite": it.suite, "feature_id": it.row["id"], "name": it.name, "family": it.family,
             "description": it.description, "decoys": list(it.decoys), "details": it.details}
            for it in out.items] + [{"suite": config.suite_kind, **s} for s in skipped])
        if not out.items:
            raise MechanicError(f"no feature of the {config.suite} suite fires on this corpus sample; "
                                "use more corpus tokens")
        targets = [it.target(with_references=config.validity) for it in out.items]
        explain_phase(db, targets, models, run_id, chash, usage=out.usage, say=lambda m: say(f"[explain] {m}"))
        ensure_controls(db, targets, run_id, chash, config.seed)
        score_phase(db, targets, models, run_id, chash, usage=out.usage.setdefault("scoring", Usage()),
                    say=lambda m: say(f"[score] {m}"))
        out.values = _values(db, out, models, chash, say)
        store.write_bench_values(db, run_id, out.values)
    out.seconds = time.perf_counter() - start
    return out


def _judge_scores(db, run: BenchRun, it: BenchItem, e: dict, judges: dict, embedder) -> dict[str, float | None]:
    """Ground-truth match of one explanation, stored as ``judge`` scores (reused when present)."""
    stored = {(s["scorer"], s["split"], s["metric"]): s for s in store.get_scores(db, e["id"])}
    out: dict[str, float | None] = {}
    rows = []
    for key, judge in judges.items():
        s = stored.get(("judge", key, "choice_correct"))
        if s is None:
            choice = judge_truth(judge, e["text"], it.description, it.decoys[:2], key=it.name, seed=run.config.seed)
            value = None if choice.correct is None else float(choice.correct)
            rows.append({"scorer": "judge", "scorer_model": judge.name, "split": key, "metric": "choice_correct",
                         "value": value, "n": 1, "llm_calls": choice.usage.calls, "tokens": choice.usage.tokens,
                         "seconds": choice.usage.seconds, "error": choice.error, "details": choice.to_dict()})
        else:
            value = s["value"]
        out[f"truth_{key}"] = value
    s = stored.get(("judge", "embedding", "truth_cosine"))
    if s is None:
        value = truth_similarity(embedder, e["text"], it.description)
        rows.append({"scorer": "judge", "scorer_model": embedder.name, "split": "embedding",
                     "metric": "truth_cosine", "value": value, "n": 1})
    else:
        value = s["value"]
    out["truth_cos"] = value
    if rows:
        with db.atomic():
            store.write_scores(db, e["id"], run.run_id, rows)
    return out


def _mode_recall(run: BenchRun, it: BenchItem, text: str, judges: dict) -> dict[str, float | None]:
    """For a polysemantic feature: per judge, the share of its modes the explanation
    covers — each mode a 3-way choice between its description and its two decoys."""
    modes = it.details.get("modes") or []
    out: dict[str, float | None] = {}
    if not modes:
        return out
    for key, judge in judges.items():
        picks = [judge_truth(judge, text, m["description"], m["decoys"][:2], key=f"{it.name}:{i}",
                             seed=run.config.seed).correct for i, m in enumerate(modes)]
        known = [float(p) for p in picks if p is not None]
        out[f"mode_recall_{key}"] = float(np.mean(known)) if known else None
    return out


def _values(db, run: BenchRun, models, chash: str, say) -> list[dict]:
    """Per (feature, method): the headline scores, ground-truth match, cost; and per
    (feature, scorer): validity (the share of decoys the truth outscored)."""
    judges = _judges(run.config, models) if any(it.has_truth for it in run.items) else {}
    values: list[dict] = []
    for it in run.items:
        refs: dict[str, dict] = {}
        for e in store.get_explanations(db, feature_id=it.row["id"], config_hash=chash):
            if e["role"] == "candidate":
                continue
            base = {"suite": it.suite, "name": it.name, "method": e["method"]}
            if e["status"] != "ok":
                values.append({**base, "metric": "failed", "value": 1.0, "details": {"error": e["error"]}})
                continue
            scores = store.get_scores(db, e["id"])
            primary = _primary(scores)
            for col, (value, model, measure) in primary.items():
                values.append({**base, "metric": col, "value": value,
                               "details": {"scorer_model": model, "measure": measure}})
            if e["method"] in REFERENCES:
                refs[e["method"]] = primary
            if e["role"] == "explanation":
                values.append({**base, "metric": "cost_calls", "value": e["llm_calls"]})
                values.append({**base, "metric": "cost_tokens", "value": e["prompt_tokens"] + e["completion_tokens"]})
                values.append({**base, "metric": "cost_seconds", "value": e["seconds"]})
            if it.has_truth and e["method"] not in ("decoy_1", "decoy_2"):
                for metric, value in _judge_scores(db, run, it, e, judges, models.embedder).items():
                    values.append({**base, "metric": metric, "value": value})
                for metric, value in _mode_recall(run, it, e["text"], judges).items():
                    values.append({**base, "metric": metric, "value": value})
        if "truth" in refs:
            for col, (truth_value, model, measure) in refs["truth"].items():
                wins = []
                for decoy in ("decoy_1", "decoy_2"):
                    other = refs.get(decoy, {}).get(col, (None,))[0]
                    if truth_value is None or other is None:
                        continue
                    wins.append(1.0 if truth_value > other else 0.5 if truth_value == other else 0.0)
                values.append({"suite": it.suite, "name": it.name, "method": "validity", "metric": col,
                               "value": float(np.mean(wins)) if wins else None,
                               "details": {"scorer_model": model, "measure": measure, "comparisons": len(wins)}})
        say(f"[measure] {it.name}")
    return values
