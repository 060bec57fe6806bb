"""``mechanic label``: capture, explain, score, store — resumably.

Two phases, each resumable on its own:

1. **explain** — for every (feature, method) without an explanation under this
   configuration, build the evidence (train split), run the explainer, and store the
   explanation, or the failure with its raw output.
2. **score** — every explanation without scores, plus two sanity controls per feature
   (a *random* description and a *shuffled* one: another feature's explanation), is
   scored on the test split by each scorer; the scores of one explanation are written
   in one transaction.

An interrupted run loses at most the work in flight; a rerun with the same
configuration does only what is missing and never duplicates a row.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

from mechanic import store
from mechanic.evals.lm import LLM, Usage
from mechanic.evals.offline import DEFAULT_SIMULATOR, OFFLINE_SIMULATORS, offline_simulator
from mechanic.evals.records import Record, ScoreResult, crop
from mechanic.tools import CaptureConfig, FeatureId, MechanicError, Subject

from .caching import cache_features, finishing, register_model
from .evidence import Evidence, ScoringSet, load_evidence, load_scoring_set, quiet_windows
from .explainers import BestOfKExplainer, ExplainResult, OneShotExplainer, TokensExplainer

__all__ = ["LabelConfig", "LabelSummary", "label", "METHODS", "SCORERS", "RANDOM_DESCRIPTIONS"]

DEFAULT_METHODS = ("tokens", "oneshot", "bestofk")
# agent: an investigation per feature; tiered: oneshot, then the agent where it scores low
METHODS = (*DEFAULT_METHODS, "agent", "tiered")
SCORERS = ("simulation", "detection", "fuzzing", "embedding", "intervention")
CONTROLS = ("random", "shuffled")

# Plausible-sounding descriptions unrelated to any particular feature: the random floor.
RANDOM_DESCRIPTIONS = (
    "words related to food and cooking", "closing parentheses", "verbs in the past tense",
    "names of European cities", "numbers written as digits", "the word 'the' at the start of a sentence",
    "mentions of animals", "Python import statements", "adjectives describing size", "plural nouns",
    "words about weather", "question marks", "legal and contractual language", "colors",
    "first names of people", "tokens inside string literals", "units of measurement", "negation words",
    "dates and years", "emotional words such as happy or sad", "comparison operators", "file paths",
    "musical instruments", "words in French", "the end of a list", "HTML tags", "medical terms",
    "pronouns referring to a woman", "sports and games", "mathematical symbols", "days of the week",
    "words that start with a capital letter mid-sentence", "error messages", "time expressions like 'later'",
    "programming keywords for loops", "country names", "words about money", "commas in long lists",
)


@dataclass(frozen=True)
class LabelConfig:
    """Everything that changes what ``label`` produces (its hash keys resume)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    explainer: str = "local"  # local | local:SPEC | openai:MODEL
    simulator: str = DEFAULT_SIMULATOR  # scores simulation, detection, fuzzing: embedding | trained | LLM spec
    scorers: tuple[str, ...] = ("simulation", "detection", "embedding", "intervention")
    k: int = 5  # best-of-k candidates
    agent_llm_calls: int = 24  # agent and tiered: budgets per investigation
    agent_tool_calls: int = 24
    agent_seconds: float = 900.0
    threshold: float = 0.3  # tiered: the agent runs where oneshot's select-split simulation score is below this
    n_top: int = 5  # held-out top windows scored per feature (test split)
    n_deciles: int = 10  # held-out activating windows across deciles (detection, fuzzing)
    n_random: int = 5  # held-out random windows
    n_hard_negatives: int = 5
    score_length: int = 32  # tokens per scored window (cropped around the peak)
    style: str = "auto"  # explainer prompt: auto | chat | fewshot
    seed: int = 0
    # what is captured first when missing
    corpus: str = "default"
    n_tokens: int = 20_000
    window: int = 64

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise MechanicError(f"unknown method {bad[0] if bad else '(none)'}; choose from {', '.join(METHODS)}")
        bad = [s for s in self.scorers if s not in SCORERS]
        if bad:
            raise MechanicError(f"unknown scorer {bad[0]!r}; choose from {', '.join(SCORERS)}")
        if self.k < 1:
            raise MechanicError("--k must be at least 1")

    def hash(self) -> str:
        return store.config_hash(asdict(self))


@dataclass
class LabelSummary:
    run_id: int
    config_hash: str
    features: list[str]
    explained: int = 0
    skipped: int = 0
    failed: int = 0
    scored: int = 0
    seconds: float = 0.0
    usage: dict[str, Usage] = field(default_factory=dict)  # per method (explainers) and "scoring"


# --------------------------------------------------------------------- models


class _Models:
    """The LLMs and scorer resources of one run, built once and only when needed."""

    def __init__(self, subject: Subject, config: LabelConfig, make_llm: Callable[[str, Subject], LLM]):
        self.subject = subject
        self.config = config
        self._make_llm = make_llm
        self._cache: dict[str, object] = {}

    def _get(self, key: str, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def llm(self, spec: str) -> LLM:
        return self._get(f"llm:{spec}", lambda: self._make_llm(spec, self.subject))

    @property
    def explainer_llm(self) -> LLM:
        return self.llm(self.config.explainer)

    @property
    def simulator_llm(self) -> LLM:
        return self.llm(self.config.simulator)

    @property
    def is_offline(self) -> bool:
        """Whether the simulator needs no LLM (``embedding`` or ``trained``)."""
        return self.config.simulator.partition(":")[0] in OFFLINE_SIMULATORS

    @property
    def simulator(self):
        if self.is_offline:
            return self._get("simulator", lambda: offline_simulator(self.config.simulator))
        from mechanic.evals.simulators import make_simulator

        return self._get("simulator", lambda: make_simulator(self.simulator_llm))

    @property
    def simulator_name(self) -> str:
        return self.simulator.name if self.is_offline else self.simulator_llm.name

    @property
    def yes_no_judge(self):
        """What answers detection and fuzzing: the simulator itself when it is offline
        (yes at a predicted level of 5 or more), else the simulator's LLM."""
        return self.simulator if self.is_offline else self.simulator_llm

    @property
    def embedder(self):
        from mechanic.evals.embedding import Embedder

        return self._get("embedder", Embedder)


# ----------------------------------------------------------------- explaining


def _explainer(method: str, models: _Models, selection: ScoringSet):
    config = models.config
    if method in ("agent", "tiered"):
        raise MechanicError(f"method {method!r} investigates with the store open: "
                            "call mechanic.agent.agent_methods.explain_with_agent")
    if method == "tokens":
        return TokensExplainer()
    writer = OneShotExplainer(models.explainer_llm, style=config.style, seed=config.seed)
    if method == "oneshot":
        return writer
    records = _score_records(selection, config)

    def select(texts: Sequence[str]):
        from mechanic.evals.scorers.simulation import simulation_scores_many

        results = simulation_scores_many(models.simulator, list(texts), records)
        values = [next((r.value for r in rs if r.split == "all"), None) for rs in results]
        usage = Usage()
        for rs in results:  # the results of one explanation share one usage record
            for u in {id(r.usage): r.usage for r in rs}.values():
                usage.merge(u)
        return values, usage

    return BestOfKExplainer(writer, select, k=config.k, seed=config.seed)


def _score_records(scoring: ScoringSet, config: LabelConfig) -> list[Record]:
    """Top and random windows for simulation, cropped to ``score_length`` tokens
    (top around the peak; random from their start, so their sample stays unbiased)."""
    top = [crop(r, config.score_length) for r in scoring.top]
    random_ = [Record(r.tokens[: config.score_length], r.activations[: config.score_length], r.kind, r.split,
                      r.window) for r in scoring.random]
    return top + random_


# -------------------------------------------------------------------- scoring


def _score_one(models: _Models, feature_row: dict, text: str, test: ScoringSet, activating: list[Record],
               negatives: list[Record]) -> list[ScoreResult]:
    config = models.config
    results: list[ScoreResult] = []
    for scorer in config.scorers:
        try:
            if scorer == "simulation":
                from mechanic.evals.scorers.simulation import simulation_score

                results += simulation_score(models.simulator, text, _score_records(test, config),
                                            scorer_model=models.simulator_name)
            elif scorer == "detection":
                from mechanic.evals.scorers.detection import detection_score

                results += detection_score(models.yes_no_judge, text, activating, negatives)
            elif scorer == "fuzzing":
                from mechanic.evals.scorers.fuzzing import fuzzing_score

                results += fuzzing_score(models.yes_no_judge, text, activating, seed=config.seed)
            elif scorer == "embedding":
                from mechanic.evals.scorers.embedding import embedding_score

                results.append(embedding_score(text, activating, negatives, models.embedder))
            elif scorer == "intervention":
                from mechanic.evals.scorers.intervention import intervention_score

                results.append(intervention_score(models.subject, feature_row["feature"], text, models.embedder,
                                                  stats={"max": feature_row["max"], "mean": feature_row["mean"]},
                                                  seed=config.seed))
        except MechanicError as exc:  # a scorer that failed is recorded as a failure, not a number
            results.append(ScoreResult(scorer, "error", "test", None, 0, error=str(exc)))
    return results


def _score_rows(results: Sequence[ScoreResult]) -> list[dict]:
    return [
        {"scorer": r.scorer, "scorer_model": r.scorer_model, "split": r.split, "metric": r.metric,
         "value": r.value, "n": r.n, "llm_calls": r.usage.calls, "tokens": r.usage.tokens,
         "seconds": r.usage.seconds, "error": r.error, "details": r.details}
        for r in results
    ]


def _detection_sets(db, subject: Subject, row: dict, evidence: Evidence, test: ScoringSet, config: LabelConfig):
    """Balanced activating / non-activating windows of the test split: quiet windows
    (half of them hard negatives containing the feature's top tokens, when any exist)."""
    activating = [crop(r, config.score_length) for r in test.activating][: config.n_deciles]
    n_neg = max(len(activating), 2)
    triggers = [t for t, _, _ in evidence.input_tokens[:5] if t.strip()]
    hard = quiet_windows(db, subject, row, n=min(config.n_hard_negatives, n_neg // 2), trigger_tokens=triggers,
                         seed=config.seed)
    plain = quiet_windows(db, subject, row, n=n_neg - len(hard), seed=config.seed)
    seen = {r.window for r in hard}
    negatives = hard + [r for r in plain if r.window not in seen]
    return activating, [crop(r, config.score_length) for r in negatives]


# ---------------------------------------------------------------------- label


def label(
    db,
    subject: Subject,
    features: Sequence[FeatureId],
    config: LabelConfig = LabelConfig(),
    *,
    make_llm: Callable[[str, Subject], LLM] | None = None,
    concurrency: int = 1,
    progress: Callable[[str], None] | None = None,
    capture_config: CaptureConfig = CaptureConfig(),
) -> LabelSummary:
    """Explain and score ``features`` (capturing what is missing first)."""
    if make_llm is None:
        from .llm import make_llm
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    cache = cache_features(db, subject, features, source=config.corpus, n_tokens=config.n_tokens,
                           length=config.window, config=capture_config, progress=False, command="label:capture")
    model_id = register_model(db, subject)
    rows = {}
    for f in features:
        row = store.get_feature(db, subject.name, str(f), corpus_id=cache.corpus_id)
        if row is None:  # pragma: no cover - cache_features just wrote it
            raise MechanicError(f"{f} was not captured")
        rows[str(f)] = row
    chash = config.hash()
    run_id = store.start_run(db, "label", {**asdict(config), "features": [str(f) for f in features],
                                           "model": subject.name, "model_id": model_id})
    summary = LabelSummary(run_id, chash, [str(f) for f in features])
    models = _Models(subject, config, make_llm)
    with finishing(db, run_id):
        _explain_phase(db, subject, rows, config, chash, run_id, models, summary, concurrency, say)
        _score_phase(db, subject, rows, config, chash, run_id, models, summary, say)
    summary.seconds = time.perf_counter() - start
    return summary


def _explain_phase(db, subject, rows, config, chash, run_id, models, summary, concurrency, say) -> None:
    jobs = []
    for method in config.methods:
        done = store.labeled_features(db, chash, method)
        for name, row in rows.items():
            if row["id"] in done:
                summary.skipped += 1
                continue
            jobs.append((method, name, row))
    agent_jobs = [j for j in jobs if j[0] in ("agent", "tiered")]
    jobs = [j for j in jobs if j[0] not in ("agent", "tiered")]
    if jobs:
        _explain_jobs(db, subject, rows, config, chash, run_id, models, summary, concurrency, say, jobs)
    if agent_jobs:
        from .agent_methods import explain_with_agent

        for i, (method, name, row) in enumerate(agent_jobs, 1):  # in this thread: it writes as it goes
            expl, usage = explain_with_agent(db, subject, row, method, models, config, run_id, chash, say)
            summary.usage.setdefault(method, Usage()).merge(usage)
            summary.explained += 1
            summary.failed += expl["status"] != "ok"
            say(f"[{i}/{len(agent_jobs)}] {name} {method}: "
                + (expl["text"] if expl["status"] == "ok" else f"FAILED ({expl['error']})"))


def _explain_jobs(db, subject, rows, config, chash, run_id, models, summary, concurrency, say, jobs) -> None:
    def prepare(method, row):
        evidence = load_evidence(db, subject, row)
        selection = load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random)
        return _explainer(method, models, selection), evidence

    def run(job):
        method, name, (explainer, evidence) = job
        return method, name, explainer.explain(evidence)

    prepared = [(m, n, prepare(m, r)) for m, n, r in jobs]  # the store is read in this thread only
    # Only endpoints serve calls in parallel; an in-process model runs one at a time,
    # and threads queued on it would only blur each explanation's measured cost.
    parallel = getattr(models.explainer_llm, "parallel", False) if any(m != "tokens" for m, _, _ in jobs) else False
    workers = max(1, concurrency) if parallel else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, (method, name, result) in enumerate(pool.map(run, prepared), 1):
            _store_explanation(db, rows[name], run_id, chash, result)
            summary.usage.setdefault(method, Usage()).merge(result.usage)
            summary.explained += 1
            summary.failed += result.status != "ok"
            say(f"[{i}/{len(prepared)}] {name} {method}: "
                + (result.text if result.status == "ok" else f"FAILED ({result.error})"))


def _store_explanation(db, row, run_id, chash, result: ExplainResult, role: str = "explanation") -> int:
    return store.write_explanation(
        db, feature_id=row["id"], run_id=run_id, method=result.method, config_hash=chash, text=result.text,
        status=result.status, role=role, error=result.error, raw=result.raw, explainer_model=result.explainer_model,
        prompt_hash=result.prompt_hash, usage=result.usage.to_dict(), details=result.details)


def _ensure_controls(db, rows, run_id, chash, seed) -> None:
    """A random and a shuffled explanation for every feature that lacks them."""
    names = list(rows)
    rng = random.Random(seed)
    explained = {}
    for name, row in rows.items():
        ok = [e for e in store.get_explanations(db, feature_id=row["id"], config_hash=chash, role="explanation")
              if e["status"] == "ok"]
        # The shuffled floor borrows the most elaborate method's explanation.
        order = {"agent": 0, "tiered": 0, "bestofk": 1, "oneshot": 2, "tokens": 3}
        ok.sort(key=lambda e: order.get(e["method"], 3))
        explained[name] = ok[0]["text"] if ok else None
    for i, name in enumerate(names):
        row = rows[name]
        have = {e["method"] for e in store.get_explanations(db, feature_id=row["id"], config_hash=chash,
                                                            role="control")}
        if "random" not in have:
            text = random.Random(f"{seed}:{name}").choice(RANDOM_DESCRIPTIONS)
            _store_explanation(db, row, run_id, chash, ExplainResult("random", text, explainer_model="none"),
                               role="control")
        if "shuffled" not in have:
            others = [n for n in names if n != name and explained.get(n)]
            if others:
                donor = others[(i + rng.randrange(len(others))) % len(others)]
                _store_explanation(db, row, run_id, chash,
                                   ExplainResult("shuffled", explained[donor], explainer_model="none",
                                                 details={"from_feature": donor}), role="control")


def _score_phase(db, subject, rows, config, chash, run_id, models, summary, say) -> None:
    if not config.scorers:
        return
    _ensure_controls(db, rows, run_id, chash, config.seed)
    todo = []
    for name, row in rows.items():
        for e in store.get_explanations(db, feature_id=row["id"], config_hash=chash):
            if e["status"] == "ok" and e["role"] != "candidate" and not store.get_scores(db, e["id"]):
                todo.append((name, e))
    scoring_usage = summary.usage.setdefault("scoring", Usage())
    cache: dict[str, tuple] = {}
    for i, (name, e) in enumerate(todo, 1):
        row = rows[name]
        if name not in cache:
            evidence = load_evidence(db, subject, row, with_outputs=False)
            test = load_scoring_set(db, subject, row, "test", n_top=config.n_top, n_deciles=config.n_deciles,
                                    n_random=config.n_random)
            cache = {name: (test, *_detection_sets(db, subject, row, evidence, test, config))}
        test, activating, negatives = cache[name]
        results = _score_one(models, row, e["text"], test, activating, negatives)
        with db.atomic():
            store.write_scores(db, e["id"], run_id, _score_rows(results))
        for usage in {id(r.usage): r.usage for r in results}.values():  # results may share one usage
            scoring_usage.merge(usage)
        summary.scored += 1
        say(f"[{i}/{len(todo)}] scored {name} {e['method']}")
