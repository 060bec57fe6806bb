"""A concept becomes labelled tokens without anyone writing texts.

The corpus is cut into windows; the offline simulator (:mod:`mechanic.evals.offline`),
given the concept phrase as if it were a feature's explanation, predicts a level
0-10 at every token. Tokens it predicts high are positives, tokens it predicts low
are negatives.

Where the phrase names a word class that a rule can check without judgement
(month and weekday names, digits, numbers, punctuation, Python keywords, colour words,
capitalised words: :data:`WORD_CLASSES`), the rule checks the simulator: a positive
must satisfy it and a negative must not, and windows that hold the class are looked
for first, so a rare class (months in source code) still gets examples. When the
simulator rates too few of the rule's tokens high, the rule's tokens are used and
the data record says so. Without a rule, when too few tokens reach the simulator's
yes level, its highest levels (the top 3%, at least 3 levels above the negatives')
are the positives, and the data record says that too.

Each token's group is its word (stripped, lower-cased), so a probe can be scored on
words it never saw (:func:`mechanic.tools.grouped_folds`).
"""

from __future__ import annotations

import keyword
import re
import string
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from mechanic.evals.records import Record
from mechanic.tools import MechanicError, Subject, corpus_windows

__all__ = ["WORD_CLASSES", "ConceptData", "concept_data", "word_class"]

_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_AMBIGUOUS_MONTHS = {"may", "march", "mar"}  # also common words: only capitalised
_WEEKDAYS = ("monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat "
             "sun").split()
_NUMBER_WORDS = set(("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                     "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                     "hundred thousand million billion").split())
_COLOURS = set("red green blue yellow black white orange purple pink brown gray grey cyan magenta violet".split())
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)*$")


def _month(word: str) -> bool:
    low = word.lower()
    return low in _MONTHS and (low not in _AMBIGUOUS_MONTHS or word[:1].isupper()) and (len(low) > 3 or word[:1].isupper())


def _weekday(word: str) -> bool:
    low = word.lower()
    return low in _WEEKDAYS and (len(low) > 3 or word[:1].isupper())


# name: (what in the concept phrase names it, the test of a token's stripped text)
WORD_CLASSES: dict[str, tuple[re.Pattern, Callable[[str], bool]]] = {
    "month names": (re.compile(r"\bmonths?\b", re.I), _month),
    "weekday names": (re.compile(r"\b(?:week ?days?|days? of the week)\b", re.I), _weekday),
    "digits": (re.compile(r"^\W*(?:the )?digits?\W*$|\bdigits? (?:tokens?|characters?)\b", re.I), str.isdigit),
    "numbers": (re.compile(r"\b(?:numbers?|numerals?|digits?|numeric\w*|integers?)\b", re.I),
                lambda w: bool(_NUMBER.match(w)) or w.lower() in _NUMBER_WORDS),
    "punctuation": (re.compile(r"\bpunctuation\b", re.I),
                    lambda w: bool(w) and all(c in string.punctuation for c in w)),
    "Python keywords": (re.compile(r"\bkeywords?\b", re.I), lambda w: keyword.iskeyword(w)),
    "colour words": (re.compile(r"\bcolou?rs?\b", re.I), lambda w: w.lower() in _COLOURS),
    "capitalised words": (re.compile(r"\b(?:capitali[sz]ed|upper-?case|capital letters?)\b", re.I),
                          lambda w: w[:1].isupper() and w.isalpha()),
}


def word_class(concept: str) -> str | None:
    """The word class a concept phrase names, or None."""
    for name, (rx, _) in WORD_CLASSES.items():
        if rx.search(concept):
            return name
    return None


@dataclass
class ConceptData:
    """Labelled token positions in corpus windows. ``positions[i]`` is ``(window,
    token)``; ``labels[i]`` 1 for the concept, 0 not; ``groups[i]`` the token's word;
    ``levels[i]`` the simulator's level there; ``info`` how the labels were made."""

    concept: str
    windows: list[tuple[int, ...]]
    tokens: list[list[str]]
    positions: list[tuple[int, int]]
    labels: np.ndarray
    groups: list[str]
    levels: np.ndarray
    info: dict = field(default_factory=dict)

    def examples(self, label: int, n: int = 6) -> list[str]:
        """Up to ``n`` distinct words of one class, most frequent first."""
        words = [g for g, y in zip(self.groups, self.labels) if y == label]
        return [w for w, _ in sorted(((w, words.count(w)) for w in set(words)), key=lambda x: (-x[1], x[0]))][:n]


def _stripped(token: str) -> str:
    return token.strip().strip("Ġ▁")


def _words(tokens: list[str]) -> list[str]:
    """The word each token belongs to: a token that continues a word (no leading
    space, letters on both sides of the join) shares the word of the token before."""
    out: list[str] = []
    start = 0
    for i, t in enumerate(tokens):
        joins = i > 0 and t[:1].isalpha() and tokens[i - 1][-1:].isalpha()
        if not joins:
            start = i
        out.append(start)
    words = ["".join(tokens[out.index(s): len(out) - out[::-1].index(s)]) for s in out]
    return [_stripped(w) for w in words]


def _cap_per_word(idx: np.ndarray, words: list[str], per_word: int, rng) -> np.ndarray:
    """At most ``per_word`` indices of each word, drawn at random."""
    kept, seen = [], {}
    for i in rng.permutation(idx):
        w = words[i].lower()
        if seen.get(w, 0) < per_word:
            seen[w] = seen.get(w, 0) + 1
            kept.append(i)
    return np.array(sorted(kept), dtype=int)


def concept_data(subject: Subject, concept: str, simulator, *, source: str = "default", scan_tokens: int = 262_144,
                 length: int = 32, n_windows: int = 64, max_per_class: int = 150, min_per_class: int = 12,
                 per_word: int = 8, seed: int = 0) -> ConceptData:
    """Positives and negatives of ``concept`` from the corpus (see the module doc).
    ``simulator`` is an offline simulator (``run(explanation, records)``, ``yes_level``).
    MechanicError when the sample holds too few examples of either class."""
    rng = np.random.default_rng(seed)
    rule_name = word_class(concept)
    rule = WORD_CLASSES[rule_name][1] if rule_name else None
    decoded: dict[int, str] = {}  # each token id decoded once: a scan holds a few thousand distinct ids

    def text(i: int) -> str:
        if i not in decoded:
            decoded[i] = subject.tokenizer.decode([i])
        return decoded[i]

    wanted_hits = (3 * n_windows) // 4
    budget = 2 * n_windows * length
    while True:  # a rare word class needs a longer scan; stop as soon as enough windows hold it
        windows = corpus_windows(subject.tokenizer, source, n_tokens=min(budget, scan_tokens), length=length,
                                 seed=seed)
        strings = [[text(i) for i in w.tokens] for w in windows]
        hits = [i for i, s in enumerate(strings) if rule is not None and any(rule(w) for w in _words(s))]
        if rule is None or len(hits) >= wanted_hits or budget >= scan_tokens or len(windows) * length < budget:
            break
        budget *= 4
    order = rng.permutation(len(windows))
    if rule is not None:  # windows holding the class first, then random ones for negatives
        taken = set(hits)
        chosen = [int(i) for i in rng.permutation(hits)[:wanted_hits]]
        chosen += [int(i) for i in order if i not in taken][: n_windows - len(chosen)]
    else:
        chosen = list(order[:n_windows])
    chosen = sorted(int(i) for i in chosen)
    tokens = [strings[i] for i in chosen]
    records = [Record(tuple(t), np.zeros(len(t), np.float32)) for t in tokens]
    levels = simulator.run(concept, records).require_all()
    yes = float(getattr(simulator, "yes_level", 5.0))
    flat = np.concatenate(levels)
    low_cut = min(yes / 2, float(np.quantile(flat, 0.5)))
    where = [(w, t) for w, lv in enumerate(levels) for t in range(len(lv))]
    level = np.array([levels[w][t] for w, t in where])
    window_words = [_words(t) for t in tokens]
    words = [window_words[w][t] for w, t in where]
    high, low = level >= yes, level <= low_cut
    info = {"concept": concept, "rule": rule_name, "scanned_tokens": len(windows) * length, "windows": len(chosen),
            "tokens": len(where),
            "yes_level": round(yes, 3), "low_level": round(low_cut, 3), "simulator_high": int(high.sum())}
    if rule is not None:
        fits = np.array([rule(w) for w in words])
        agree = high & fits
        info.update(rule_tokens=int(fits.sum()), simulator_high_in_rule=int(agree.sum()),
                    rule_precision_of_simulator=round(float(agree.sum() / max(high.sum(), 1)), 3),
                    rule_recall_of_simulator=round(float(agree.sum() / max(fits.sum(), 1)), 3))
        if agree.sum() >= min_per_class and len({words[i] for i in np.flatnonzero(agree)}) >= 2:
            pos, neg, info["labels_from"] = agree, low & ~fits, "simulator, checked by the rule"
        else:
            pos, neg, info["labels_from"] = fits, ~fits & ~high, "the rule (the simulator rated too few of its tokens high)"
    else:
        pos, neg, info["labels_from"] = high, low, "simulator"
        if high.sum() < min_per_class:  # none or few reach the yes level: its highest levels, well above the rest
            top = level >= max(low_cut + 3.0, float(np.quantile(level, 0.97)))
            if top.sum() >= min_per_class:
                pos, info["labels_from"] = top, "the simulator's highest levels (too few reached its yes level)"
    pos_idx = _cap_per_word(np.flatnonzero(pos), words, per_word, rng)
    neg_idx = _cap_per_word(np.flatnonzero(neg), words, per_word, rng)
    if len(pos_idx) < min_per_class or len({words[i].lower() for i in pos_idx}) < 2:
        raise MechanicError(f"the corpus sample ({len(where)} tokens) holds too few examples of {concept!r}: "
                            f"{len(pos_idx)} tokens of {len({words[i].lower() for i in pos_idx})} words "
                            f"(need {min_per_class} of at least 2 words)")
    if len(neg_idx) < min_per_class:
        raise MechanicError(f"the corpus sample holds too few tokens clearly not {concept!r} ({len(neg_idx)})")
    n = min(max_per_class, len(pos_idx), len(neg_idx))
    pos_idx = np.sort(rng.choice(pos_idx, n, replace=False))
    neg_idx = np.sort(rng.choice(neg_idx, n, replace=False))
    keep = np.concatenate([pos_idx, neg_idx])
    info.update(positives=int(n), negatives=int(n))
    data = ConceptData(concept, [windows[i].tokens for i in chosen], tokens, [where[i] for i in keep],
                       np.array([1] * n + [0] * n), [words[i].lower() or tokens[where[i][0]][where[i][1]]
                                                     for i in keep], level[keep], info)
    data.info.update(positive_words=data.examples(1), negative_words=data.examples(0))
    return data
