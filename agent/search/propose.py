"""Candidate descriptions proposed from a feature's evidence.

The proposer looks where the feature peaks in its ``train`` windows — which words,
what comes right before and after them, which regions they sit in, what shape and
meaning they share — and proposes, for each kind of the grammar, the rules whose
share among the peaks is well above their share among all tokens (their *lift*).
It proposes; :mod:`.search` measures.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from mechanic.evals.embedding import Embedder
from mechanic.evals.records import Record
from mechanic.evals.token_views import STRUCTURES

from . import grammar
from .grammar import CATEGORIES, Rule, WindowView

__all__ = ["Peaks", "find_peaks", "propose", "score_categories"]

PEAK = 0.5  # a token is a peak at this share of its window's max (and of a fifth of the feature's)
MIN_LIFT = 1.5  # a property's share among peaks over its share among all tokens
SUFFIXES = ("ing", "ed", "ly", "tion", "ness", "ment", "er", "est", "s", "al", "ive", "able", "ous")
PREFIXES = ("un", "re", "in", "dis", "pre", "non", "over", "self", "_", "__", "get", "set", "is")


@dataclass
class Peaks:
    """Where a feature peaks in its windows, each peak weighted by its activation."""

    views: list[WindowView]
    activations: list[np.ndarray]
    where: list[tuple[int, int, float]]  # (window, position, weight)

    @property
    def total(self) -> float:
        return sum(w for _, _, w in self.where) or 1.0

    def weighted(self, key) -> Counter:
        """Peak weight per value of ``key(view, position)`` (None values skipped)."""
        out: Counter = Counter()
        for i, t, w in self.where:
            value = key(self.views[i], t)
            if value is not None:
                out[value] += w
        return out

    def base_rate(self, key) -> Counter:
        """Share of all tokens per value of ``key``."""
        out: Counter = Counter()
        n = 0
        for v in self.views:
            for t in range(len(v.tokens)):
                value = key(v, t)
                n += 1
                if value is not None:
                    out[value] += 1
        return Counter({k: c / max(n, 1) for k, c in out.items()})


def find_peaks(records: Sequence[Record], views: Sequence[WindowView] | None = None) -> Peaks:
    views = list(views) if views is not None else [WindowView(tuple(r.tokens)) for r in records]
    acts = [np.asarray(r.activations, dtype=np.float32) for r in records]
    top = max((float(a.max()) for a in acts if a.size), default=0.0)
    where = []
    if top > 0:
        for i, a in enumerate(acts):
            m = float(a.max()) if a.size else 0.0
            if m <= 0.2 * top:
                continue
            for t in np.flatnonzero(a >= PEAK * m):
                where.append((i, int(t), float(a[t]) / top))
    return Peaks(views, acts, where)


def _lifted(peaks: Peaks, key, *, min_share: float, limit: int) -> list[tuple[object, float]]:
    """Values of ``key`` that hold at a share of the peaks of at least ``min_share`` and
    at ``MIN_LIFT`` times their base rate, best share first: (value, share)."""
    weights, base = peaks.weighted(key), peaks.base_rate(key)
    out = []
    for value, w in weights.most_common():
        share = w / peaks.total
        if share >= min_share and share >= MIN_LIFT * base.get(value, 0.0):
            out.append((value, share))
        if len(out) >= limit:
            break
    return out


def _shown(peaks: Peaks, key_of_word: str) -> str:
    """The spelling most often seen of a word key at the peaks."""
    spellings = peaks.weighted(lambda v, t: v.words[t].strip() if v.keys[t] == key_of_word else None)
    return spellings.most_common(1)[0][0] if spellings else key_of_word


def _identity(peaks: Peaks) -> list[Rule]:
    """Sets of the words (or, apart, the numbers, the symbols, or the kinds of
    whitespace) most lifted at the peaks: a list never mixes them, so two modes of a
    polysemantic feature ("the word 'the'" and "the equals sign '='") stay two
    descriptions."""
    lifted = _lifted(peaks, lambda v, t: v.keys[t] or None, min_share=0.02, limit=12)
    shown = [_shown(peaks, k) for k, _ in lifted]
    blanks = [w for w in shown if w in grammar.BLANKS]
    numbers = [w for w in shown if grammar.token_class(w) == "digits"]
    words = [w for w in shown if re.search(r"\w", w) and w not in grammar.BLANKS and w not in numbers]
    symbols = [w for w in shown if w not in words and w not in blanks and w not in numbers]
    return [grammar.identity(group[:n]) for group in (words, numbers, symbols, blanks) for n in (1, 2, 3, 5, 8)
            if len(group) >= n]


def _context(peaks: Peaks) -> list[Rule]:
    def prev(v, t):
        return v.keys[t - 1] or None if t > 0 else None

    def nxt(v, t):
        return v.keys[t + 1] or None if t + 1 < len(v.keys) else None

    out = []
    for key, make in ((prev, grammar.after), (nxt, grammar.before)):
        lifted = _lifted(peaks, key, min_share=0.15, limit=3)
        if lifted:
            spelled = [_shown_any(peaks, k) for k, _ in lifted]
            out += [make([w]) for w in spelled]  # each on its own: "after '.'" need not ride with "after a line break"
            if len(spelled) > 1:
                out.append(make(spelled))
    return out


def _shown_any(peaks: Peaks, key_of_word: str) -> str:
    """The spelling most often seen of a word key anywhere in the windows."""
    spellings = Counter(w.strip() or w for v in peaks.views for w, k in zip(v.words, v.keys) if k == key_of_word)
    return spellings.most_common(1)[0][0] if spellings else key_of_word


def _morphology(peaks: Peaks) -> list[Rule]:
    out = []
    alpha = peaks.weighted(lambda v, t: v.words[t] if re.fullmatch(r"[A-Za-z]{3,}", v.words[t]) else None)
    total = sum(alpha.values())
    if not total:
        return out
    for affixes, test, make in ((SUFFIXES, str.endswith, grammar.suffix), (PREFIXES, str.startswith, grammar.prefix)):
        for affix in affixes:
            hits = {w: c for w, c in alpha.items() if test(w.lower(), affix) and len(w) > len(affix) + 1}
            share = sum(hits.values()) / total
            base = peaks.base_rate(lambda v, t, a=affix, f=test: True if re.fullmatch(r"[A-Za-z]{3,}", v.words[t])
                                   and f(v.words[t].lower(), a) and len(v.words[t]) > len(a) + 1 else None)
            if share >= 0.5 and len({w.lower() for w in hits}) >= 2 and share >= MIN_LIFT * base.get(True, 0.0):
                examples = [w for w, _ in Counter(hits).most_common(3)]
                out.append(make(affix, examples))
    return out


def _examples(peaks: Peaks, holds) -> list[str]:
    """The words seen most at the peaks where ``holds(view, position)``."""
    words = peaks.weighted(lambda v, t: v.words[t].strip() if holds(v, t) and v.words[t].strip() else None)
    return [w for w, _ in words.most_common(3)]


def _holds(peaks: Peaks, rule: Rule, min_share: float) -> bool:
    """Whether ``rule`` holds at ``min_share`` of the peak weight, and at ``MIN_LIFT``
    times its share of all tokens."""
    levels = [rule.levels(v) > 0 for v in peaks.views]
    share = sum(w for i, t, w in peaks.where if levels[i][t]) / peaks.total
    base = sum(int(x.sum()) for x in levels) / max(1, sum(len(x) for x in levels))
    return share >= min_share and share >= MIN_LIFT * base


def _examples_of(peaks: Peaks, rule: Rule) -> list[str]:
    levels = {id(v): rule.levels(v) > 0 for v in peaks.views}
    return _examples(peaks, lambda v, t: bool(levels[id(v)][t]))


def _shapes(peaks: Peaks) -> list[Rule]:
    out = []
    for name in grammar.SHAPE_NAMES:
        rule = grammar.shape(name)
        if _holds(peaks, rule, 0.4):
            shown = name not in ("repeat", "whitespace")
            out.append(grammar.shape(name, _examples_of(peaks, rule)) if shown else rule)
    return out


def _regions(peaks: Peaks) -> list[Rule]:
    return [rule for rule in map(grammar.region, STRUCTURES) if _holds(peaks, rule, 0.4)]


def _outputs(peaks: Peaks, promoted: Sequence[str]) -> list[Rule]:
    words = [w.strip() for w in promoted if w.strip()][:3]
    return [grammar.output(words[:1]), grammar.output(words)] if words else []


def score_categories(views: Sequence[WindowView], embedder: Embedder) -> None:
    """Fill every view's ``categories``: each token's word cosine to each category
    phrase, less the mean cosine of all words (so common words score near zero)."""
    words = sorted({w for v in views for w in v.words})
    if not words:
        return
    vectors = embedder.encode(words)
    phrases = embedder.encode([phrase for _, phrase in CATEGORIES])
    cos = vectors @ phrases.T  # [words, categories]
    cos = cos - cos.mean(axis=0, keepdims=True)
    # only words of letters belong to a category: never a comma, a number or a line break
    cos[[not re.fullmatch(r"[^\W\d_]{2,}", w) for w in words]] = -1.0
    index = {w: i for i, w in enumerate(words)}
    for v in views:
        rows = cos[[index[w] for w in v.words]]
        v.categories = {name: rows[:, j] for j, (name, _) in enumerate(CATEGORIES)}


def _categories(peaks: Peaks, limit: int = 5) -> list[Rule]:
    """The categories whose cosine is highest at the peaks, relative to all tokens."""
    if not peaks.where or not peaks.views[0].categories:
        return []
    gains = []
    for name, _ in CATEGORIES:
        at_peaks = sum(w * peaks.views[i].categories[name][t] for i, t, w in peaks.where) / peaks.total
        gains.append((at_peaks, name))
    out = []
    for gain, name in sorted(gains, reverse=True)[:limit]:
        if gain <= 0:
            break
        # a member lies at least half as far above the mean as the peaks do on average
        members = _examples(peaks, lambda v, t, n=name, g=gain: v.categories[n][t] > g / 2)
        out.append(grammar.category(name, members, gain / 2))
    return out


def propose(peaks: Peaks, promoted: Sequence[str] = ()) -> list[Rule]:
    """Single-kind candidates for ``peaks`` (conjunctions and modes are built by the search)."""
    return [*_identity(peaks), *_context(peaks), *_morphology(peaks), *_shapes(peaks), *_regions(peaks),
            *_categories(peaks), *_outputs(peaks, promoted)]
