"""What an explainer may see, and what the scorers hold out, for one stored feature.

Windows are assigned to splits once per corpus sample (``train`` / ``select`` /
``test``), so a window an explainer saw can never be used to score it: explainers
read ``train`` records, best-of-k and the agent choose among candidates on ``select``,
and every reported score comes from ``test``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np
from mechanic import store
from mechanic.evals.records import Record, quietest_span
from mechanic.tools import Subject, activations_on_ids, input_tokens, output_tokens

__all__ = ["Evidence", "ScoringSet", "load_evidence", "load_scoring_set", "quiet_windows"]


@dataclass
class Evidence:
    """Everything an explainer is shown about one feature (train split only)."""

    feature: str
    stats: dict
    top: list[Record]  # highest-activating train windows, best first
    deciles: list[Record]  # train windows sampled across activation deciles
    bottom: list[Record]  # most negative train windows (may be empty)
    input_tokens: list[tuple[str, float, int]]  # (token, mean activation, count)
    promoted: list[str] = field(default_factory=list)  # output side: tokens the feature promotes
    suppressed: list[str] = field(default_factory=list)
    # descriptions the description search found, with their select-split simulation scores
    searched: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def has_negative_side(self) -> bool:
        """A negative side worth describing: its extreme is at least half the positive one."""
        return bool(self.bottom) and -self.stats.get("min", 0.0) >= 0.5 * max(self.stats.get("max", 0.0), 1e-9)


@dataclass
class ScoringSet:
    """Held-out records of one split."""

    split: str
    top: list[Record]  # top windows of this split
    deciles: list[Record]  # activating windows across deciles
    random: list[Record]  # uniformly sampled windows

    @property
    def activating(self) -> list[Record]:
        seen, out = set(), []
        for r in self.top + self.deciles:
            if r.window not in seen and r.max_act > 0:
                seen.add(r.window)
                out.append(r)
        return out

    def non_activating(self, threshold: float) -> list[Record]:
        return [r for r in self.random if r.max_act <= threshold]


def _records(subject: Subject, exemplars, kind: str) -> list[Record]:
    return [
        Record(tuple(subject.token_strings(e.tokens)), np.asarray(e.activations, dtype=np.float32), kind, e.split,
               e.window_idx, e.decile)
        for e in exemplars
    ]


def load_evidence(db, subject: Subject, feature_row: dict, *, n_top: int = 20, n_deciles: int = 20,
                  n_bottom: int = 10, with_outputs: bool = True) -> Evidence:
    fid = feature_row["id"]
    top = store.get_exemplars(db, fid, kind="top", split="train")[:n_top]
    deciles = store.get_exemplars(db, fid, kind="decile", split="train")
    bottom = store.get_exemplars(db, fid, kind="bottom", split="train")[:n_bottom]
    # Spread the decile sample evenly over deciles, highest first.
    by_decile: dict[int, list] = {}
    for e in deciles:
        by_decile.setdefault(e.decile, []).append(e)
    spread = []
    while len(spread) < n_deciles and any(by_decile.values()):
        for d in sorted(by_decile, reverse=True):
            if by_decile[d] and len(spread) < n_deciles:
                spread.append(by_decile[d].pop(0))
    tokens = np.stack([e.tokens for e in top]) if top else np.zeros((0, 0), dtype=np.int64)
    acts = np.stack([e.activations for e in top]) if top else np.zeros((0, 0))
    inputs = input_tokens(tokens, acts, subject.tokenizer, k=12, min_count=1) if top else []
    promoted, suppressed = [], []
    if with_outputs:
        out = output_tokens(subject, feature_row["feature"], k=10)
        promoted = [t for t, _ in out.get("promoted") or []]
        suppressed = [t for t, _ in out.get("suppressed") or []]
    stats = {k: feature_row[k] for k in ("count", "mean", "var", "max", "min", "frac_active")}
    return Evidence(feature_row["feature"], stats, _records(subject, top, "top"), _records(subject, spread, "decile"),
                    _records(subject, bottom, "bottom"), inputs, promoted, suppressed)


def load_scoring_set(db, subject: Subject, feature_row: dict, split: str, *, n_top: int = 5, n_deciles: int = 10,
                     n_random: int = 5) -> ScoringSet:
    """Held-out records of ``split`` ('select' or 'test')."""
    if split == "train":
        raise ValueError("scoring never uses the train split")
    fid = feature_row["id"]
    top = store.get_exemplars(db, fid, kind="top", split=split)[:n_top]
    top_windows = {e.window_idx for e in top}
    deciles = [e for e in store.get_exemplars(db, fid, kind="decile", split=split) if e.window_idx not in top_windows]
    deciles = sorted(deciles, key=lambda e: -e.decile)[:n_deciles]
    random = store.get_exemplars(db, fid, kind="random", split=split)[:n_random]
    return ScoringSet(split, _records(subject, top, "top"), _records(subject, deciles, "decile"),
                      _records(subject, random, "random"))


def _trigger_ids(subject: Subject, tokens: list[str]) -> set[int]:
    vocab = subject.tokenizer.get_vocab()
    ids = set()
    for tok in tokens:
        enc = subject.tokenizer(tok, add_special_tokens=False)["input_ids"]
        if len(enc) == 1:
            ids.add(enc[0])
        elif tok in vocab:
            ids.add(vocab[tok])
    return ids


def quiet_windows(db, subject: Subject, feature_row: dict, *, split: str = "test", n: int = 8,
                  threshold: float | None = None, trigger_tokens: list[str] | None = None, seed: int = 0,
                  max_candidates: int = 64, length: int | None = None) -> list[Record]:
    """Windows of ``split`` on which the feature stays quiet (max at most
    ``threshold``, default 10% of its max), checked with a forward pass. With
    ``length``, the quietest ``length``-token span of each window is what must stay
    quiet and what is returned: a dense feature (a probe direction) is rarely quiet
    over a whole window, but often over the span a scorer shows.

    With ``trigger_tokens``, only windows (spans) containing one of them are
    candidates: the *hard* negatives, which an explanation that merely names tokens
    gets wrong. Otherwise candidates are drawn in a seeded random order."""
    threshold = 0.1 * feature_row["max"] if threshold is None else threshold
    idxs = store.window_indices(db, feature_row["corpus_id"], split)
    random.Random(f"{seed}:{feature_row['feature']}").shuffle(idxs)
    windows = store.get_windows(db, feature_row["corpus_id"], idxs[: max_candidates * 8])
    candidates = [windows[i] for i in idxs if i in windows]
    triggers: set[int] | None = None
    if trigger_tokens is not None:
        triggers = _trigger_ids(subject, trigger_tokens)
        if not triggers:
            return []
        candidates = [w for w in candidates if triggers & set(int(t) for t in w.tokens)]
    out: list[Record] = []
    corpus = store.get_corpus(db, feature_row["corpus_id"]) or {}
    skip = int((corpus.get("spec") or {}).get("first_position", 0))  # context-only positions, as captured
    for start in range(0, min(len(candidates), max_candidates), 16):
        chunk = candidates[start : start + 16]
        acts = activations_on_ids(subject, feature_row["feature"], [list(map(int, w.tokens)) for w in chunk])
        for w, a in zip(chunk, acts):
            a[: min(skip, len(a) - 1)] = 0.0
            ids = [int(t) for t in w.tokens]
            if length is not None:
                at = quietest_span(a, length)
                ids, a = ids[at: at + length], a[at: at + length]
            if triggers is not None and not triggers & set(ids):
                continue
            if a.max() <= threshold and len(out) < n:
                kind = "hard_negative" if trigger_tokens is not None else "random"
                out.append(Record(tuple(subject.token_strings(ids)), a, kind, split, w.idx))
        if len(out) >= n:
            break
    return out
