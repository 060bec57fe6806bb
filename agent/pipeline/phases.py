"""The public phases that ``label`` and ``bench`` share: explain, controls, score.

A :class:`Target` is one feature on its way through: its stored row and how to read
what the explainer sees (``train`` evidence), what best-of-k chooses on (``select``)
and what the scorers hold out (``test``). ``label`` reads all three from the store;
a bench suite may bring its own (records files). Each phase does only what the
store lacks under the configuration hash, so an interrupted run resumes.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from mechanic import store
from mechanic.evals.lm import Usage
from mechanic.evals.scorers import pooled_scores
from mechanic.tools import MechanicError

from ..evidence import Evidence, ScoringSet
from ..explainers import BestOfKExplainer, ExplainResult, OneShotExplainer, SearchExplainer, TokensExplainer
from .agent_methods import explain_with_agent
from .config import AGENT_METHODS, LLM_METHODS, NO_SITE_KINDS, method_rank
from .models import Models
from .scorers import HeldOut, score_explanation, score_records, score_rows

__all__ = ["PhaseCounts", "RANDOM_DESCRIPTIONS", "Target", "Tiered", "ensure_controls", "explain_phase", "has_site",
           "make_explainer", "score_phase", "store_explanation"]

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


# How many of best-of-k's k candidates come from the description search.
SEARCHED_IN_BESTOFK = 2


@dataclass
class Target:
    """One feature to explain and score (see the module doc). The loaders are called
    when a phase needs them, so a resumed run reads nothing it does not use."""

    name: str
    row: dict  # its features row
    evidence: Callable[[], Evidence]  # train split: what explainers see
    selection: Callable[[], ScoringSet]  # select split: what best-of-k chooses on
    held_out: Callable[[], HeldOut]  # test split: what every reported score comes from
    references: tuple[tuple[str, str], ...] = ()  # (method, text) scored as controls: the truth and its decoys


@dataclass
class PhaseCounts:
    explained: int = 0
    skipped: int = 0
    failed: int = 0
    scored: int = 0
    score_errors: int = 0  # scorer results stored as errors (the explanation's other scores stand)
    causes: Counter = field(default_factory=Counter)  # failed explanations by their error

    def fail(self, error: str | None) -> None:
        self.failed += 1
        self.causes[" ".join((error or "unknown error").split())[:160]] += 1


def has_site(row: dict) -> bool:
    """Whether the model computes the feature at a site the agent can experiment on (a
    text-rule or records feature has none)."""
    return row.get("kind") not in NO_SITE_KINDS


def make_explainer(method: str, models: Models, selection: ScoringSet):
    """The explainer of a method that needs no investigation (tokens, search, oneshot,
    bestofk; tiered for features without a site). The LLM methods build on the
    description search: a chat model reads its best descriptions as evidence, and
    best-of-k counts them among its k."""
    config = models.config
    if method == "agent":
        raise MechanicError(f"method {method!r} investigates with the store open: use explain_phase")
    if method == "tokens":
        return TokensExplainer()
    records = score_records(selection, config)
    search = SearchExplainer(models.search_simulator, records, models.embedder, memo=models.searched)
    if method == "search":
        return search
    if method == "tiered":
        return Tiered(search, lambda: make_explainer("bestofk", models, selection), config.threshold)
    writer = OneShotExplainer(models.explainer_llm, style=config.style, seed=config.seed)
    if method == "oneshot":
        return SearchFirst(writer, search) if writer.style == "chat" else writer

    def select(texts: Sequence[str]):
        return pooled_scores(models.simulator, list(texts), records)

    def propose(evidence: Evidence):
        return [text for text, _ in evidence.searched][:SEARCHED_IN_BESTOFK], Usage()

    return SearchFirst(BestOfKExplainer(writer, select, k=config.k, seed=config.seed, proposer=propose), search)


class Tiered:
    """``tiered`` for a feature the agent cannot experiment on (no site): the description
    search, and best-of-k (the search's best candidates among its k) only where the
    search's *select* score is below the threshold. The LLM's description replaces the
    search's only if it wins best-of-k; the details say which path won."""

    method = "tiered"

    def __init__(self, search: SearchExplainer, fallback: Callable[[], object], threshold: float):
        self.search, self.threshold = search, threshold
        self._fallback, self._made = fallback, None  # the LLM loads only if a feature needs it

    @property
    def fallback(self):
        if self._made is None:
            self._made = self._fallback()
        return self._made

    def explain(self, evidence: Evidence) -> ExplainResult:
        found = self.search.explain(evidence)
        value = found.details.get("select_score") if found.status == "ok" else None
        if value is not None and value >= self.threshold:
            return replace(found, method=self.method, usage=Usage(seconds=found.usage.seconds),
                           details={**found.details, "source": "search", "threshold": self.threshold})
        result = self.fallback.explain(evidence)
        searched = {s["text"] for s in result.details.get("searched", [])}
        if found.status == "ok" and result.status == "ok" and result.text in searched:
            # best-of-k chose among the search's own candidates (none of the LLM's won):
            # the search chose among them already, on more evidence (each rule's fit too)
            return replace(found, method=self.method, usage=result.usage, details={
                **found.details, "source": "search", "threshold": self.threshold,
                "fallback": {"method": self.fallback.method, "chose": result.text}})
        return replace(result, method=self.method, details={
            **result.details, "source": self.fallback.method, "search": found.text, "threshold": self.threshold})


class SearchFirst:
    """Runs the description search, then ``inner`` on evidence that carries the
    search's best descriptions (``Evidence.searched``); the explanation's cost and
    details include the search's."""

    def __init__(self, inner, search: SearchExplainer, n: int = 3):
        self.inner, self.search, self.n = inner, search, n
        self.method = inner.method

    def explain(self, evidence: Evidence) -> ExplainResult:
        found = self.search.explain(evidence)
        searched: list[tuple[str, float | None]] = []
        if found.status == "ok":
            searched = [(found.text, found.details.get("select_score"))]
            searched += [(c["text"], c.get("select")) for c in found.details.get("candidates", [])
                         if c["text"] != found.text]
        result = self.inner.explain(replace(evidence, searched=searched[: self.n]))
        result.usage.merge(Usage(seconds=found.usage.seconds))
        result.details = {**result.details, "searched": [{"text": t, "select_score": s} for t, s in searched[: self.n]]}
        return result


def store_explanation(db, row: dict, run_id: int, chash: str, result: ExplainResult,
                      role: str = "explanation") -> int:
    """Store ``result``; when another process running the same configuration stored
    this feature's explanation of this method first, keep that one (its id is returned);
    a stored failed LLM call is replaced in place."""
    eid, _ = store.write_explanation_once(
        db, feature_id=row["id"], run_id=run_id, method=result.method, config_hash=chash, text=result.text,
        status=result.status, role=role, error=result.error, raw=result.raw, explainer_model=result.explainer_model,
        prompt_hash=result.prompt_hash, usage=result.usage.to_dict(), details=result.details)
    return eid


def _said(name: str, method: str, status: str, text: str | None, error: str | None) -> str:
    return f"{name} {method}: " + (text if status == "ok" else f"FAILED ({error})")


def explain_phase(db, targets: Sequence[Target], models: Models, run_id: int, chash: str, *,
                  usage: dict[str, Usage], concurrency: int = 1,
                  say: Callable[[str], None] = lambda _m: None) -> PhaseCounts:
    """Explain every (target, method) that has no explanation under ``chash``; spent
    LLM usage is merged into ``usage`` per method."""
    counts = PhaseCounts()
    jobs = []
    for method in models.config.methods:
        # a plain method's failed LLM calls are tried again (stored in place of the failure)
        done = store.labeled_features(db, chash, method, retry_failed_calls=method not in AGENT_METHODS)
        for t in targets:
            if t.row["id"] in done:
                counts.skipped += 1
            else:
                jobs.append((method, t))
    def investigates(method: str, t: Target) -> bool:
        return method == "agent" or (method == "tiered" and has_site(t.row))

    plain = [(m, t) for m, t in jobs if not investigates(m, t)]
    if plain:
        _explain_plain(db, plain, models, run_id, chash, usage, counts, concurrency, say)
    # `agent` first: `tiered` then reuses its investigation of a feature rather than repeat it
    agent_jobs = sorted(((m, t) for m, t in jobs if investigates(m, t)), key=lambda job: job[0] != "agent")
    for i, (method, t) in enumerate(agent_jobs, 1):  # in this thread: an investigation writes as it goes
        expl, spent = explain_with_agent(db, models.subject, t.row, method, models, run_id, chash, say)
        usage.setdefault(method, Usage()).merge(spent)
        counts.explained += 1
        if expl["status"] != "ok":
            counts.fail(expl["error"])
        say(f"[{i}/{len(agent_jobs)}] " + _said(t.name, method, expl["status"], expl["text"], expl["error"]))
    return counts


def _explain_plain(db, jobs, models: Models, run_id, chash, usage, counts: PhaseCounts, concurrency, say) -> None:
    prepared = [(m, t, make_explainer(m, models, t.selection()), t.evidence()) for m, t in jobs]  # store reads here
    # Only endpoints serve calls in parallel; an in-process model runs one at a time,
    # and threads queued on it would only blur each explanation's measured cost.
    parallel = getattr(models.explainer_llm, "parallel", False) if any(m in LLM_METHODS for m, _ in jobs) else False
    # (tiered without a site calls the LLM only where the search falls short: one at a time)
    workers = max(1, concurrency) if parallel else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(lambda job: job[2].explain(job[3]), prepared)
        for i, ((method, t, _, _), result) in enumerate(zip(prepared, results), 1):
            store_explanation(db, t.row, run_id, chash, result)
            usage.setdefault(method, Usage()).merge(result.usage)
            counts.explained += 1
            if result.status != "ok":
                counts.fail(result.error)
            say(f"[{i}/{len(prepared)}] " + _said(t.name, method, result.status, result.text, result.error))


def _best_text(db, row_id: int, chash: str) -> str | None:
    ok = [e for e in store.get_explanations(db, feature_id=row_id, config_hash=chash, role="explanation")
          if e["status"] == "ok"]
    ok.sort(key=lambda e: method_rank(e["method"]))
    return ok[0]["text"] if ok else None


def ensure_controls(db, targets: Sequence[Target], run_id: int, chash: str, seed: int) -> None:
    """The floors for every target that lacks them — a *random* description and a
    *shuffled* one (another target's most elaborate explanation) — and its references.
    Written in one transaction: the shuffled donors come from one random sequence over
    all targets, so a run killed half-way must not leave half of them."""
    with store.write_transaction(db):  # read, then write: hold the write lock throughout
        _ensure_controls(db, targets, run_id, chash, seed)


def _ensure_controls(db, targets: Sequence[Target], run_id: int, chash: str, seed: int) -> None:
    best = {t.name: _best_text(db, t.row["id"], chash) for t in targets}
    names = [t.name for t in targets]
    rng = random.Random(seed)
    for i, t in enumerate(targets):
        have = {e["method"] for e in store.get_explanations(db, feature_id=t.row["id"], config_hash=chash,
                                                            role="control")}
        new: list[ExplainResult] = []
        if "random" not in have:
            new.append(ExplainResult("random", random.Random(f"{seed}:{t.name}").choice(RANDOM_DESCRIPTIONS),
                                     explainer_model="none"))
        if "shuffled" not in have:
            others = [n for n in names if n != t.name and best.get(n)]
            if others:
                donor = others[(i + rng.randrange(len(others))) % len(others)]
                new.append(ExplainResult("shuffled", best[donor], explainer_model="none",
                                         details={"from_feature": donor}))
        for method, text in t.references:
            if method not in have:
                new.append(ExplainResult(method, text, explainer_model="ground truth"))
        for result in new:
            store_explanation(db, t.row, run_id, chash, result, role="control")


def score_phase(db, targets: Sequence[Target], models: Models, run_id: int, chash: str, *,
                usage: Usage, say: Callable[[str], None] = lambda _m: None) -> PhaseCounts:
    """Score every stored explanation and control of ``targets`` that has no scores;
    the scores of one explanation are written in one transaction."""
    counts = PhaseCounts()
    todo = []
    for t in targets:
        for e in store.get_explanations(db, feature_id=t.row["id"], config_hash=chash):
            if e["status"] == "ok" and e["role"] != "candidate" and not store.get_scores(db, e["id"]):
                todo.append((t, e))
    held: tuple[str, HeldOut] | None = None  # one target's held-out windows at a time
    for i, (t, e) in enumerate(todo, 1):
        if held is None or held[0] != t.name:
            held = (t.name, t.held_out())
        results = score_explanation(models, held[1], e["text"])
        with db.atomic():
            store.write_scores(db, e["id"], run_id, score_rows(results))
        for spent in {id(r.usage): r.usage for r in results}.values():  # results may share one usage
            usage.merge(spent)
        counts.scored += 1
        errors = [r for r in results if r.error]
        counts.score_errors += len(errors)
        say(f"[{i}/{len(todo)}] scored {t.name} {e['method']}"
            + "".join(f"; {r.scorer} FAILED ({r.error})" for r in errors))
    return counts
