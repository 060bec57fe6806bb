"""Description search: candidates from the grammar, measured, the best kept.

1. **Propose** (:mod:`.propose`): rules of every kind from where the feature peaks
   in its ``train`` windows.
2. **Measure the rule**: each rule's predicate against the real activations of the
   ``train`` windows (pooled Pearson) — no simulator yet, so hundreds of candidates
   cost milliseconds. Conjunctions of the best rules with the best regions and
   contexts, and further modes for the active tokens the best rule misses, are added here.
3. **Measure the sentence**: the simulator reads the best few candidates' sentences
   and predicts the ``train`` windows; a sentence the simulator misreads loses here,
   whatever its rule's fit.
4. **Choose on ``select``**: the best few readable sentences by (3) are measured on
   the ``select`` split, which the search has not looked at — the rule's fit and the
   simulator's reading of the sentence — and the best, less a small cost per word
   listed, is the explanation.

``test`` is never read: every reported score of the winner stays held out.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from mechanic.evals.embedding import Embedder
from mechanic.evals.lm import Usage
from mechanic.evals.metrics import pearson
from mechanic.evals.records import Record, crop
from mechanic.evals.scorers import pooled_scores

from . import grammar
from .grammar import Rule, WindowView
from .propose import Peaks, find_peaks, propose, score_categories

__all__ = ["Candidate", "SearchConfig", "SearchResult", "rank_by_fit", "search_descriptions"]


# Words that fire below this share of the level of a list's strongest words are told
# apart from them as a mode of their own.
LEVEL_GAP = 0.75


@dataclass(frozen=True)
class SearchConfig:
    """How widely the search looks (defaults sized for ~1 s a feature on 2 CPU cores)."""

    simulate: int = 8  # candidates whose sentences the simulator reads on train
    select: int = 4  # of those, how many are scored on select
    # A finalist's sentence must be read by the simulator at this share of the best
    # finalist's train score: a rule that fits but that no one can read is no explanation.
    readable: float = 0.25
    score_length: int = 32  # tokens per simulated window, cropped around the peak
    read_windows: int = 8  # train windows (the top ones) the simulator reads each finalist on
    second_mode: float = 0.15  # look for another mode when the modes so far miss this share of the active weight
    # Tokens at this share of the feature's top activation count as active when the search
    # looks for a next mode, wherever their window peaks: a weak mode rarely peaks in a
    # window that a stronger one also fires in, but its tokens are active there all the same.
    mode_floor: float = 0.2
    max_modes: int = 3  # modes a polysemantic description joins at most
    # What one more listed word or joined part costs a candidate's select score: of two
    # descriptions that simulate alike, the more general one is the better explanation.
    parsimony: float = 0.02
    # Only rules that fit the train activations at this share of the best fit go to the
    # simulator: a sentence must be true of the feature, not merely read well.
    min_fit: float = 0.5


@dataclass
class Candidate:
    rule: Rule
    fit: float | None = None  # the rule's predicate against train activations
    train: float | None = None  # the simulator reading the sentence, on train
    select: float | None = None  # the same on select
    select_fit: float | None = None  # the rule's predicate against select activations

    def to_dict(self) -> dict:
        return {"text": self.rule.text, "kind": self.rule.kind, "fit": _round(self.fit),
                "train": _round(self.train), "select": _round(self.select), "select_fit": _round(self.select_fit)}


@dataclass
class SearchResult:
    best: Candidate | None
    candidates: list[Candidate]  # measured by the simulator, best first
    proposed: int  # rules proposed in all
    usage: Usage = field(default_factory=Usage)


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _fit(rule: Rule, peaks: Peaks) -> float | None:
    """Pooled Pearson of the rule's levels with the activations over all windows."""
    levels = np.concatenate([rule.levels(v) for v in peaks.views])
    acts = np.concatenate(peaks.activations)
    return pearson(levels, acts)


def rank_by_fit(rules: Sequence[Rule], peaks: Peaks) -> list[Candidate]:
    scored = [Candidate(r, _fit(r, peaks)) for r in rules]
    return sorted((c for c in scored if c.fit is not None and c.fit > 0), key=lambda c: -c.fit)


def _combinations(ranked: list[Candidate], peaks: Peaks, config: SearchConfig) -> list[Rule]:
    """Conjunctions of the best rules with the best region or context, and, when the
    best rule leaves much of the active weight unexplained, descriptions of several modes."""
    heads = [c.rule for c in ranked if c.rule.kind in ("identity", "category", "shape", "suffix", "prefix")][:2]
    wheres = [c.rule for c in ranked if c.rule.kind in ("region", "after", "before")][:2]
    out = [grammar.together(h, w) for h in heads for w in wheres]
    # modes grow from the best rule, and from the best short one besides: a list of words
    # that fits best may be two modes' words mixed, which no mode-by-mode reading splits
    starts = [c.rule for c in ranked[:1] + [c for c in ranked[1:] if c.rule.size <= 2][:1]]
    # and from the words of the best list that fire at its strongest level, when others
    # fire clearly weaker: those may be a second mode ("the word 'self'") listed in it
    strong = _strong_part(ranked[0].rule, peaks) if ranked else None
    for start in starts + ([strong] if strong is not None else []):
        out += _modes(start, peaks, config)
    return out


def _word_level(peaks: Peaks, word: str) -> float:
    """The mean activation (share of the top) of ``word`` at the peaks."""
    key = grammar.word_key(word)
    values = [w for i, t, w in peaks.where if peaks.views[i].keys[t] == key]
    return float(np.mean(values)) if values else 0.0


def _strong_part(rule: Rule, peaks: Peaks) -> Rule | None:
    """The words of a list that fire at ``LEVEL_GAP`` of its strongest word's level or
    above, when some of its words fire below that; else None."""
    words = rule.params.get("words") or []
    if rule.kind != "identity" or len(words) < 2:
        return None
    levels = [_word_level(peaks, w) for w in words]
    strong = [w for w, level in zip(words, levels) if level >= LEVEL_GAP * max(levels)]
    return grammar.identity(strong) if 0 < len(strong) < len(words) else None


def _modes(first: Rule, peaks: Peaks, config: SearchConfig) -> list[Rule]:
    """Descriptions of a polysemantic feature, mode by mode: while the modes found so far
    miss a share of the active weight (:func:`_active`), the rule that best fits the
    tokens they leave uncovered becomes the next mode (two alternatives for the second).
    Each mode is weighed by the mean activation of the active tokens it covers, the
    strongest at 1, and the modes are joined strongest first."""
    active = _active(peaks, config.mode_floor)
    total = sum(w for _, _, w in active) or 1.0
    levels = [[first.levels(v)] for v in peaks.views]
    modes, heights = [first], [_mean_at_peaks(peaks, lambda i, t: levels[i][0][t] > 0)]
    out: list[Rule] = []
    while len(modes) < config.max_modes:
        covered = [np.max(np.stack(ls), axis=0) > 0 for ls in levels]
        missed = [(i, t, w) for i, t, w in active if not covered[i][t]]
        if sum(w for _, _, w in missed) < config.second_mode * total:
            break
        rest = Peaks(peaks.views, peaks.activations, missed)
        texts = {m.text for m in modes}
        # a mode is a short description of its own, not a list of leftovers; it is
        # measured on the tokens the modes so far leave uncovered
        ranked = [c for c in _rank_uncovered(propose(rest), rest, covered) if c.rule.text not in texts
                  and c.rule.size <= 3 and not _part_of_a_list(c.rule, modes, heights, rest)]
        if not ranked:
            break
        options = []
        for c in ranked[: 2 if len(modes) == 1 else 1]:
            mode_levels = [c.rule.levels(v) for v in peaks.views]
            height = _mean_at_peaks(rest, lambda i, t: mode_levels[i][t] > 0)
            options.append((c.rule, height, mode_levels))
            out.append(_joined([*modes, c.rule], [*heights, height]))
        rule, height, mode_levels = options[0]
        modes.append(rule)
        heights.append(height)
        for i, ls in enumerate(levels):
            ls.append(mode_levels[i])
    return out


def _active(peaks: Peaks, floor: float) -> list[tuple[int, int, float]]:
    """The peaks and every token at ``floor`` of the top activation or above, each
    weighted by its share of the top: (window, position, weight)."""
    top = max((float(a.max()) for a in peaks.activations if a.size), default=0.0)
    seen = {(i, t) for i, t, _ in peaks.where}
    out = list(peaks.where)
    if top > 0:
        for i, a in enumerate(peaks.activations):
            for t in np.flatnonzero(a >= floor * top):
                if (i, int(t)) not in seen:
                    out.append((i, int(t), float(a[t]) / top))
    return out


def _joined(modes: list[Rule], heights: list[float]) -> Rule:
    """The modes as one description, strongest first (as a person lists them)."""
    top = max(heights) or 1.0
    order = sorted(range(len(modes)), key=lambda k: -heights[k])
    return grammar.either(*(modes[k] for k in order), strengths=tuple(max(heights[k] / top, 0.1) for k in order))


def _part_of_a_list(rule: Rule, modes: list[Rule], heights: list[float], rest: Peaks) -> bool:
    """Whether ``rule`` would cut a mode's word list in two: words of the same class as
    a mode's list that fire at that mode's level (at ``LEVEL_GAP`` of it or above).
    Words that fire clearly weaker are a mode of their own ("the word 'self'" beside
    Python keywords at full strength)."""
    same = [h for m, h in zip(modes, heights) if _same_list(rule, m)]
    if not same:
        return False
    levels = [rule.levels(v) for v in rest.views]
    return _mean_at_peaks(rest, lambda i, t: levels[i][t] > 0) >= LEVEL_GAP * min(same)


def _same_list(a: Rule, b: Rule) -> bool:
    """Two word lists of one class ("the words 'def' and 'is'", "the words 'if' and
    'for'"): as two modes they are one longer list cut in two."""
    if a.kind != "identity" or b.kind != "identity":
        return False
    classes = [Counter(grammar.token_class(w) for w in r.params["words"]).most_common(1)[0][0] for r in (a, b)]
    return classes[0] == classes[1]


def _mean_at_peaks(peaks: Peaks, where) -> float:
    values = [float(peaks.activations[i][t]) for i, t, _ in peaks.where if where(i, t)]
    return float(np.mean(values)) if values else 0.0


def _rank_uncovered(rules: Sequence[Rule], peaks: Peaks, covered: list[np.ndarray]) -> list[Candidate]:
    """Rules by their fit to the activations of the tokens that ``covered`` leaves out."""
    keep = np.concatenate([~c for c in covered])
    acts = np.concatenate(peaks.activations)[keep]
    scored = [Candidate(r, pearson(np.concatenate([r.levels(v) for v in peaks.views])[keep], acts)) for r in rules]
    return sorted((c for c in scored if c.fit is not None and c.fit > 0), key=lambda c: -c.fit)


def _simulated(simulator, candidates: list[Candidate], records: list[Record], attr: str, usage: Usage) -> None:
    if not candidates or not records:
        return
    values, spent = pooled_scores(simulator, [c.rule.text for c in candidates], records)
    for c, value in zip(candidates, values):
        setattr(c, attr, value)
    usage.merge(spent)


def _diverse(ranked: list[Candidate], n: int) -> list[Candidate]:
    """The best ``n`` by fit, at most two of a kind while other kinds remain."""
    out, per_kind = [], {}
    for c in ranked:
        if per_kind.get(c.rule.kind, 0) < 2:
            out.append(c)
            per_kind[c.rule.kind] = per_kind.get(c.rule.kind, 0) + 1
        if len(out) == n:
            return out
    return out + [c for c in ranked if c not in out][: n - len(out)]


def _to_select(readable: list[Candidate], n: int, parsimony: float) -> list[Candidate]:
    """The ``n`` finalists measured on ``select``: the best read on ``train``, and the
    best-fitting description of several modes among the readable ones (less
    ``parsimony`` per word listed, as in the final choice). The simulator
    reads "A; also B" part by part, each at full strength, so on the top windows, where
    the strongest mode fires, a weaker mode's part reads as noise and the sentence
    ranks below its first part alone; on ``select`` its rule's fit says whether the
    weaker modes are real."""
    chosen = readable[:n]
    joined = [c for c in readable if c.rule.kind == "or" and c.fit is not None]
    if joined and n > 1:
        best = max(joined, key=lambda c: c.fit - parsimony * (c.rule.size - 1))
        if best not in chosen:
            chosen = [*readable[: n - 1], best]
    return chosen


def _measure_on_select(candidates: list[Candidate], select: list[Record], embedder: Embedder) -> None:
    """Each candidate's rule against the activations of the held-out ``select`` windows."""
    if not candidates or not select:
        return
    views = [WindowView(tuple(r.tokens)) for r in select]
    score_categories(views, embedder)
    acts = np.concatenate([np.asarray(r.activations, dtype=np.float32) for r in select])
    for c in candidates:
        c.select_fit = pearson(np.concatenate([c.rule.levels(v) for v in views]), acts)


def _merit(c: Candidate, config: SearchConfig) -> float:
    """What the final choice maximises: on ``select``, how well the rule fits the
    feature plus how well the simulator reads its sentence, less parsimony."""
    return (c.select_fit or 0.0) + (c.select or 0.0) - config.parsimony * (c.rule.size - 1)


def search_descriptions(train: Sequence[Record], select: Sequence[Record], simulator, embedder: Embedder,
                        *, promoted: Sequence[str] = (), config: SearchConfig = SearchConfig()) -> SearchResult:
    """Search the grammar for the description of the feature behind ``train`` records
    (see the module doc); ``select`` records choose among the finalists."""
    start = time.perf_counter()
    usage = Usage()
    views = [WindowView(tuple(r.tokens)) for r in train]
    score_categories(views, embedder)
    peaks = find_peaks(train, views)
    rules = propose(peaks, promoted)
    ranked = rank_by_fit(rules, peaks)
    extra = rank_by_fit(_combinations(ranked, peaks, config), peaks)
    ranked = sorted(ranked + extra, key=lambda c: -c.fit)
    if ranked:
        ranked = [c for c in ranked if c.fit >= config.min_fit * ranked[0].fit]
    finalists = _diverse(ranked, config.simulate)
    read_on = [crop(r, config.score_length) for r in list(train)[: config.read_windows]]
    _simulated(simulator, finalists, read_on, "train", usage)
    finalists.sort(key=lambda c: -(c.train if c.train is not None else -2.0))
    best_read = max((c.train for c in finalists if c.train is not None), default=0.0)
    readable = [c for c in finalists if c.train is not None and c.train > 0 and c.train >= config.readable * best_read]
    chosen = _to_select(readable, config.select, config.parsimony)
    _measure_on_select(chosen, list(select), embedder)
    _simulated(simulator, chosen, list(select), "select", usage)
    best = max(chosen, key=lambda c: _merit(c, config)) if chosen else (finalists[0] if finalists else None)
    usage.seconds = time.perf_counter() - start
    return SearchResult(best, finalists, len(rules) + len(extra), usage)
