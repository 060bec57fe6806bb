"""The data recipe behind the shipped simulator head, shared by the script that
trains it (``bench/train_simulator.py``) and the test that checks its recorded
validation figure.

Everything here is deterministic given the subject tokenizer and the seed: the
pool's windows, which of them are validation windows, and which library rules are
left out for lying near a rule or decoy of any bench suite (:func:`bench_texts`).

The pool mixes three sources: the ``stdlib`` corpus (Python code and its prose), the
``prose`` corpus (English text of the fortune collection) and synthetic paragraphs
naming the library's word categories. The bench suites cut their windows from the
same corpora, so a text may recur between training and a bench; a rule never does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mechanic.tools.corpus import corpus_windows

from ..suites import PROSE_RULES, RULES
from ..suites.prose import WORD_LISTS
from .library import LibraryRule, library_rules
from .synthetic import synthetic_paragraphs

__all__ = ["LENGTH", "EXCLUDE_COSINE", "EXCLUDE_WORDS", "bench_texts", "pool_windows", "training_rules",
           "validation_mask"]

LENGTH = 32  # tokens per pool window
EXCLUDE_COSINE = 0.8  # a library description this close to a bench text is left out
EXCLUDE_WORDS = 0.5  # a library word-category rule firing on this share of a bench word list is left out
WORD_FAMILIES = ("lexical", "semantic", "word_class")  # the library's families of word lists
VALIDATION_FRACTION = 0.2


def pool_windows(tokenizer, n_corpus: int, n_synthetic: int, seed: int = 0, n_prose: int = 0
                 ) -> tuple[list[tuple[str, ...]], list[str]]:
    """``n_corpus`` windows of the standard-library corpus, up to ``n_synthetic`` of
    synthetic paragraphs, then ``n_prose`` of the ``prose`` corpus, as token strings,
    with each window's origin (``corpus``, ``synthetic``, ``prose``)."""
    def decode(ids):
        return tuple(tokenizer.decode([int(i)]) for i in ids)

    corpus = [decode(w.tokens) for w in corpus_windows(tokenizer, "stdlib", n_tokens=n_corpus * LENGTH, length=LENGTH,
                                                      seed=seed)]
    synthetic: list[tuple[str, ...]] = []
    for text in synthetic_paragraphs(n_synthetic * 2, seed=seed):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        for start in range(0, len(ids) - LENGTH + 1, LENGTH):
            synthetic.append(decode(ids[start:start + LENGTH]))
        if len(synthetic) >= n_synthetic:
            break
    synthetic = synthetic[:n_synthetic]
    prose = [decode(w.tokens) for w in corpus_windows(tokenizer, "prose", n_tokens=n_prose * LENGTH, length=LENGTH,
                                                     seed=seed)] if n_prose else []
    return (corpus + synthetic + prose,
            ["corpus"] * len(corpus) + ["synthetic"] * len(synthetic) + ["prose"] * len(prose))


def validation_mask(n_windows: int, seed: int = 0, fraction: float = VALIDATION_FRACTION) -> np.ndarray:
    """True for the windows held out of training (a seeded draw per window)."""
    return np.random.default_rng(seed).random(n_windows) < fraction


def bench_texts() -> list[str]:
    """Every description and decoy of the bench suites' rules: ``rules`` (of which
    ``planted`` and ``poly`` are made) and ``prose``."""
    return list(dict.fromkeys(t for r in (*RULES, *PROSE_RULES) for t in (r.description, *r.decoys)))


def training_rules(embedder, seed: int = 0, threshold: float = EXCLUDE_COSINE
                   ) -> tuple[list[LibraryRule], dict[str, str]]:
    """The library rules to train on, and those left out: name -> the bench rule or
    decoy text its description lies near (with the cosine), or the bench word list
    that a word-category rule covers half of or more."""
    rules = library_rules(seed=seed)
    bench = bench_texts()
    b = embedder.encode(bench)
    dropped: dict[str, str] = {}
    for rule in rules:
        sims = embedder.encode(list(rule.descriptions)) @ b.T
        i, j = np.unravel_index(np.argmax(sims), sims.shape)
        if sims[i, j] >= threshold:
            dropped[rule.name] = f"{bench[j]} ({sims[i, j]:.2f})"
    # by behaviour: a word-category rule that covers half of a bench word list restates it, whatever its words
    lists = {name: [f" {w}" for w in sorted(words)] for name, words in WORD_LISTS.items()}
    for rule in rules:
        if rule.name in dropped or rule.family not in WORD_FAMILIES:
            continue
        for name, tokens in lists.items():
            share = float((rule.activations(tokens) > 0).mean())
            if share >= EXCLUDE_WORDS:
                dropped[rule.name] = f"fires on {share:.0%} of the prose suite's {name} words"
                break
    return [r for r in rules if r.name not in dropped], dropped


def window_subset(windows: Sequence[tuple[str, ...]], mask: np.ndarray) -> list[tuple[str, ...]]:
    return [w for w, keep in zip(windows, mask) if keep]
