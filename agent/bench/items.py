"""The features of a bench suite, ready to explain and score (see :mod:`.runner`).

* ``rules`` — every rule's activations on the corpus sample (the subject
  tokenizer's token strings) are summarised by capture's own streaming selection
  (:func:`~mechanic.tools.capture.summarise_values`) and stored as features
  ``rule:NAME`` of the subject model, so explainers read the same train evidence and
  scorers the same held-out test windows as for a real neuron. Detection's quiet
  windows are found by the rule itself.
* ``prose`` — rules of English prose (:mod:`mechanic.evals.suites.prose`), captured
  like ``rules`` on the ``prose`` corpus.
* ``poly`` — polysemantic features, each the union of two or three rules at their own
  strengths (:mod:`mechanic.evals.suites.poly`), captured like ``rules``; the truth
  is the list of modes that fire in the windows the explainer sees.
* ``planted`` — probe directions fitted in the model (:mod:`mechanic.evals.suites.planted`),
  saved in the store and captured as ``resid:L:planted_NAME`` features like any other.
* ``records:PATH`` — NeuronRecord / puzzle files, stored as features of a model
  named after the file; their evidence is built from the file's records by split.

A feature active in fewer than two windows of the explainer's or the scorers' split
is returned apart, with the reason (recorded in ``bench_items``, not measured).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from mechanic import store
from mechanic.evals.records import Record, crop, quietest_span
from mechanic.evals.suites import PROSE_RULES, RULES
from mechanic.evals.suites.neuron_records import load_records
from mechanic.evals.suites.planted import plant_concepts
from mechanic.evals.suites.poly import POLY, POLY_DEV, PolyRule
from mechanic.tools import CaptureConfig, Subject, corpus_spec, corpus_windows, window_split
from mechanic.tools.capture import summarise_values

from ..evidence import Evidence, ScoringSet, load_evidence, load_scoring_set
from ..pipeline import HeldOut, Target, cache_features, detection_sets, register_model

if TYPE_CHECKING:  # pragma: no cover - the config's module imports this one
    from .runner import BenchConfig

__all__ = ["REFERENCES", "BenchItem", "build_items"]

REFERENCES = ("truth", "decoy_1", "decoy_2")  # the true description and its decoys, scored as explanations


@dataclass
class BenchItem:
    """One suite feature, with everything its explainers and scorers need."""

    suite: str
    name: str
    row: dict  # its features row
    evidence: Evidence
    selection: ScoringSet
    test: ScoringSet
    activating: list[Record]
    negatives: list[Record]
    description: str | None = None
    decoys: tuple[str, ...] = ()
    family: str | None = None
    details: dict = field(default_factory=dict)
    # activating and quiet windows of the select split: where detection and fuzzing fit their cut
    select_activating: list[Record] = field(default_factory=list)
    select_negatives: list[Record] = field(default_factory=list)

    @property
    def has_truth(self) -> bool:
        return bool(self.description) and len(self.decoys) >= 2

    def target(self, *, with_references: bool = True) -> Target:
        """This feature for the pipeline's phases; with ground truth (and
        ``with_references``), the truth and its decoys are scored as controls."""
        refs = tuple(zip(REFERENCES, (self.description, *self.decoys[:2]))) if self.has_truth and with_references \
            else ()
        held = HeldOut(self.row, self.test, self.activating, self.negatives, self.select_activating,
                       self.select_negatives)
        return Target(self.name, self.row, evidence=lambda: self.evidence, selection=lambda: self.selection,
                      held_out=lambda: held, references=refs)


def _stored_windows(db, subject: Subject, config: "BenchConfig", capture_config: CaptureConfig):
    """The corpus sample (the same one ``cache``/``label`` use for these settings),
    written to the store; returns (corpus_id, windows)."""
    spec = corpus_spec(config.corpus, config.n_tokens, config.window, capture_config.seed,
                       first_position=capture_config.first_position)
    corpus_id = store.upsert_corpus(db, config.corpus, spec)
    windows = corpus_windows(subject.tokenizer, config.corpus, n_tokens=config.n_tokens, length=config.window,
                             seed=capture_config.seed)
    seed = capture_config.seed
    store.write_windows(db, corpus_id, (store.WindowRow(w.index, w.doc, w.start, window_split(w.index, seed),
                                                        list(w.tokens)) for w in windows))
    return corpus_id, windows


def _capture_rules(db, subject: Subject, rules, config: "BenchConfig", capture_config: CaptureConfig,
                   run_id: int) -> int:
    """Store ``rule:NAME`` features (statistics and exemplars) for the rules not yet
    stored for this corpus sample; returns the corpus id."""
    corpus_id, windows = _stored_windows(db, subject, config, capture_config)
    model_id = register_model(db, subject)
    done = store.captured_features(db, model_id, corpus_id)
    todo = [r for r in rules if f"rule:{r.name}" not in done]
    if not todo:
        return corpus_id
    splits = {w.index: window_split(w.index, capture_config.seed) for w in windows}

    def values(batch):
        return np.stack([np.stack([r.activations(subject.token_strings(w.tokens)) for r in todo], axis=1)
                         for w in batch])

    results = summarise_values(windows, values, len(todo), capture_config)
    with db.atomic():
        for rule, (stats, quantiles, exemplars) in zip(todo, results):
            store.write_feature(
                db, model_id=model_id, corpus_id=corpus_id, run_id=run_id, feature=f"rule:{rule.name}", kind="rule",
                layer=None, idx=None, name=rule.name, stats=stats, quantiles=quantiles,
                exemplars=[store.ExemplarRow(e.kind, e.decile, e.rank, e.window_index, splits[e.window_index],
                                             e.max_act, e.activations) for e in exemplars])
    return corpus_id


def _rule_negatives(db, subject: Subject, row: dict, rule, evidence: Evidence, n: int, n_hard: int,
                    seed: int, strings: dict[int, list[str]], split: str = "test",
                    length: int | None = None) -> list[Record]:
    """Quiet windows of ``split`` for detection, computed by the rule itself (with
    ``length``, each window's quietest span of that many tokens, as in
    :func:`~mechanic.agent.evidence.quiet_windows`): half of them (at most ``n_hard``)
    containing one of the feature's top input tokens, when any do."""
    threshold = 0.1 * (row["max"] or 0.0)
    idxs = store.window_indices(db, row["corpus_id"], split)
    random.Random(f"{seed}:{row['feature']}").shuffle(idxs)
    missing = [i for i in idxs[:400] if i not in strings]
    for i, w in store.get_windows(db, row["corpus_id"], missing).items():
        strings[i] = subject.token_strings(w.tokens)
    triggers = {t for t, _, _ in evidence.input_tokens[:5] if t.strip()}
    hard, plain = [], []
    for i in idxs[:400]:
        tokens = strings[i]
        acts = rule.activations(tokens)
        if length is not None:
            start = quietest_span(acts, length)
            tokens, acts = tokens[start: start + length], acts[start: start + length]
        if acts.max() > threshold:
            continue
        is_hard = bool(triggers & set(tokens))
        rec = Record(tuple(tokens), acts, "hard_negative" if is_hard else "random", split, i)
        (hard if is_hard else plain).append(rec)
    hard = hard[: min(n_hard, n // 2)]
    return hard + plain[: n - len(hard)]


def _score_sets(db, subject: Subject, row: dict, config: "BenchConfig", *, with_outputs: bool):
    lc = config.label_config()
    evidence = load_evidence(db, subject, row, with_outputs=with_outputs)
    selection = load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random)
    test = load_scoring_set(db, subject, row, "test", n_top=config.n_top, n_deciles=config.n_deciles,
                            n_random=config.n_random)
    return lc, evidence, selection, test


def _rules_items(db, subject: Subject, config: "BenchConfig", capture_config: CaptureConfig, run_id: int,
                 rules: Sequence = RULES, suite: str = "rules"):
    """(items, skipped): the first ``--limit`` rules active in enough windows of the
    corpus sample, ready to measure, and the bench_items entries of the rules that are
    not (recorded, not measured). Every rule is captured — it costs no forward pass."""
    corpus_id = _capture_rules(db, subject, rules, config, capture_config, run_id)
    strings: dict[int, list[str]] = {}  # token strings of the test windows, decoded once for every rule
    items, skipped = [], []
    for rule in rules:
        row = store.get_feature(db, subject.name, f"rule:{rule.name}", corpus_id=corpus_id)
        if not _fires(row):
            skipped.append(_skipped(row, rule.description, rule.decoys, rule.family, "never fires on this corpus"))
            continue
        if config.limit and len(items) >= config.limit:
            continue
        lc, evidence, selection, test = _score_sets(db, subject, row, config, with_outputs=False)
        activating = [crop(r, config.score_length) for r in test.activating][: config.n_deciles]
        reason = _too_rare(evidence, activating)
        if reason:
            skipped.append(_skipped(row, rule.description, rule.decoys, rule.family, reason))
            continue
        description, decoys, details = rule.description, rule.decoys, {}
        if isinstance(rule, PolyRule):
            modes, silent = _visible_modes(rule, evidence)
            if len(modes) < 2:
                skipped.append(_skipped(row, rule.description, rule.decoys, rule.family,
                                        "fewer than two of its modes fire in the train windows"))
                continue
            description = "; also ".join(m["description"] for m in modes)
            decoys = tuple("; also ".join(m["decoys"][i] for m in modes) for i in range(2))
            details = {"modes": modes, "silent_modes": silent}
        negatives = _rule_negatives(db, subject, row, rule, evidence, max(len(activating), 2),
                                    config.n_hard_negatives, config.seed, strings, length=config.score_length)
        select_activating = [crop(r, config.score_length) for r in selection.activating][: config.n_deciles]
        select_negatives = _rule_negatives(db, subject, row, rule, evidence, max(len(select_activating), 2),
                                           config.n_hard_negatives, config.seed, strings, split="select",
                                           length=config.score_length)
        items.append(BenchItem(suite, row["feature"], row, evidence, selection, test, activating,
                               [crop(r, config.score_length) for r in negatives], description, decoys,
                               rule.family, details, select_activating,
                               [crop(r, config.score_length) for r in select_negatives]))
    return items, skipped


def _visible_modes(rule: PolyRule, evidence: Evidence) -> tuple[list[dict], list[str]]:
    """The modes of a polysemantic rule that fire in at least ``MIN_ACTIVE_WINDOWS`` of
    the windows the explainer sees (the truth to recall), and the names of the rest."""
    shown = evidence.top + evidence.deciles
    visible, silent = [], []
    for mode, details in zip(rule.modes, rule.mode_details()):
        windows = {r.window for r in shown if mode.activations(list(r.tokens)).max() > 0}
        if len(windows) >= MIN_ACTIVE_WINDOWS:
            visible.append(details)
        else:
            silent.append(mode.name)
    return visible, silent


MIN_ACTIVE_WINDOWS = 2  # per split: fewer, and there is nothing to explain or nothing to score


def _too_rare(evidence: Evidence, activating: Sequence[Record]) -> str | None:
    """Why a feature cannot be measured on this sample (too few activating windows in
    the explainer's train split or the scorers' test split), or None."""
    train = sum(r.max_act > 0 for r in evidence.top)
    if train < MIN_ACTIVE_WINDOWS or len(activating) < MIN_ACTIVE_WINDOWS:
        return (f"fires in too few windows to measure (train {train}, test {len(activating)}; "
                f"needs {MIN_ACTIVE_WINDOWS} each): use more corpus tokens")
    return None


def _fires(row: dict) -> bool:
    return (row["max"] or 0.0) > 0.0


def _skipped(row: dict, description, decoys, family, reason: str) -> dict:
    """The bench_items entry of a feature that is recorded but not measured."""
    return {"feature_id": row["id"], "name": row["feature"], "family": family, "description": description,
            "decoys": list(decoys or ()), "details": {"skipped": reason}}


def _planted_items(db, subject: Subject, config: "BenchConfig", capture_config: CaptureConfig, run_id: int):
    _, windows = _stored_windows(db, subject, config, capture_config)
    n = min(config.limit or 12, 12)
    concepts = plant_concepts(subject, windows, layer=config.layer, n=n, seed=capture_config.seed)
    model_id = register_model(db, subject)
    for c in concepts:
        store.save_direction(db, model_id, c.name, c.direction, layer=c.layer, source=f"planted:{c.rule.name}",
                             run_id=run_id)
    features = [subject.features(c.feature)[0] for c in concepts]
    cache = cache_features(db, subject, features, source=config.corpus, n_tokens=config.n_tokens,
                           length=config.window, config=capture_config, progress=False, command="bench:capture")
    items = []
    for c in concepts:
        row = store.get_feature(db, subject.name, c.feature, corpus_id=cache.corpus_id)
        lc, evidence, selection, test = _score_sets(db, subject, row, config, with_outputs=True)
        activating, negatives = detection_sets(db, subject, row, evidence, test, lc)
        items.append(BenchItem("planted", c.feature, row, evidence, selection, test, activating, negatives,
                               c.rule.description, c.rule.decoys, c.rule.family,
                               {"probe": c.probe, "rule": c.rule.name},
                               *detection_sets(db, subject, row, evidence, selection, lc)))
    return _measurable(items)


def _measurable(items: list[BenchItem]) -> tuple[list[BenchItem], list[dict]]:
    """Split built items into those to measure and the skipped entries (see :func:`_too_rare`)."""
    keep, skipped = [], []
    for it in items:
        reason = "never fires on this corpus" if not _fires(it.row) else _too_rare(it.evidence, it.activating)
        if reason:
            skipped.append(_skipped(it.row, it.description, it.decoys, it.family, reason))
        else:
            keep.append(it)
    return keep, skipped


def _input_tokens(records: Sequence[Record], k: int = 12) -> list[tuple[str, float, int]]:
    """Tokens by mean activation over the records (the string version of
    :func:`~mechanic.tools.input_tokens`)."""
    sums: dict[str, list[float]] = {}
    for r in records:
        for tok, a in zip(r.tokens, r.activations):
            sums.setdefault(tok, []).append(float(a))
    ranked = sorted(sums.items(), key=lambda kv: (-np.mean(kv[1]), -len(kv[1])))
    return [(t, float(np.mean(v)), len(v)) for t, v in ranked[:k]]


def _records_items(db, config: "BenchConfig", run_id: int):
    path = Path(config.suite.partition(":")[2]).expanduser()
    features = load_records(path)
    if config.limit:
        features = features[: config.limit]
    model_id = store.upsert_model(db, f"records:{path.name}", family=None, n_layers=None, d_model=None, d_mlp=None,
                                  n_heads=None, vocab_size=None)
    corpus_id = store.upsert_corpus(db, f"records:{path.name}", {"source": str(path.resolve()), "kind": "records"})
    items = []
    for f in features:
        every = f.train + f.select + f.test
        acts = np.concatenate([r.activations for r in every]) if every else np.zeros(1)
        stats = {"count": int(acts.size), "mean": float(acts.mean()), "var": float(acts.var()),
                 "max": float(acts.max()), "min": float(acts.min()), "frac_active": float((acts > 0).mean())}
        fid = store.write_feature(db, model_id=model_id, corpus_id=corpus_id, run_id=run_id, feature=f.name,
                                  kind="records", layer=None, idx=None, name=f.name, stats=stats, quantiles={},
                                  exemplars=[])
        row = {"id": fid, "feature": f.name, "corpus_id": corpus_id, **stats}
        top = sorted([r for r in f.train if r.kind == "top"], key=lambda r: -r.max_act)
        deciles = sorted([r for r in f.train if r.kind == "decile"], key=lambda r: -(r.decile or 0))
        evidence = Evidence(f.name, stats, top, deciles, [], _input_tokens(top))

        def scoring(split, records):
            return ScoringSet(split, [r for r in records if r.kind == "top"][: config.n_top],
                              [r for r in records if r.kind == "decile"][: config.n_deciles],
                              [r for r in records if r.kind == "random"][: config.n_random])

        selection, test = scoring("select", f.select), scoring("test", f.test)
        activating = [crop(r, config.score_length) for r in test.activating][: config.n_deciles]
        quiet = [r for r in f.test if r.max_act <= 0.1 * stats["max"]]
        negatives = [crop(r, config.score_length) for r in quiet][: max(len(activating), 2)]
        select_activating = [crop(r, config.score_length) for r in selection.activating][: config.n_deciles]
        select_quiet = [crop(r, config.score_length) for r in f.select if r.max_act <= 0.1 * stats["max"]]
        items.append(BenchItem("records", f.name, row, evidence, selection, test, activating, negatives,
                               f.description, f.decoys[:2], f.source, dict(f.details), select_activating,
                               select_quiet[: max(len(select_activating), 2)]))
    return _measurable(items)


def build_items(db, subject: Subject | None, config: "BenchConfig", capture_config: CaptureConfig,
                run_id: int) -> tuple[list[BenchItem], list[dict]]:
    """(items to measure — the first ``config.limit`` that can be —, bench_items
    entries of the features skipped and why) for ``config.suite``."""
    rules = {"rules": RULES, "prose": PROSE_RULES, "poly": POLY, "poly-dev": POLY_DEV}.get(config.suite_kind)
    if rules is not None:
        return _rules_items(db, subject, config, capture_config, run_id, rules, config.suite_kind)
    if config.suite_kind == "planted":
        return _planted_items(db, subject, config, capture_config, run_id)
    return _records_items(db, config, run_id)
