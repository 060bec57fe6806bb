"""Synthetic prose that mentions the library's word categories.

Real corpora (the standard library's docstrings and code) hardly ever name animals,
drinks or cities, so a lexical rule would have nothing to learn from. These short
paragraphs put category words in ordinary sentence frames, several categories per
paragraph, so each lexical rule fires beside words of other categories and plain
filler.
"""

from __future__ import annotations

import numpy as np

from . import _words as words

__all__ = ["synthetic_paragraphs"]

_FRAMES = (
    "The {a} was next to the {b}.",
    "We talked about {a} and {b} for an hour.",
    "She said the {a} reminded her of {b}.",
    "In the report, {a} is listed before {b}.",
    "Nobody expected a {a} near the {b} that day.",
    "He wrote a note: {a}, {b}, and a few other things.",
    "Most people know about {a}, but few know about {b}.",
    "The list contains {a}; the second list contains {b}.",
    "After lunch they looked at the {a} again.",
    "It depends on the {a} rather than on the {b}.",
    "Compare {a} with {b} and write down the difference.",
    "A short story about {a} and {b}.",
    "There was {a} everywhere, and then {b}.",
    "# TODO: handle {a} and {b} here",
    "value = get('{a}')  # {b}",
    "Why would anyone choose {a} over {b}?",
)

_FILLER = ("thing", "idea", "place", "moment", "question", "answer", "story", "part", "way", "day",
           "reason", "piece", "point", "side", "group", "number", "word", "name", "kind", "case")


def synthetic_paragraphs(n: int, seed: int = 0) -> list[str]:
    """``n`` paragraphs of 3-6 sentences; two of every three slots hold a word of a
    random category, the rest a filler noun. Deterministic given the seed."""
    rng = np.random.default_rng(seed)
    vocab = [v.split() for _, v in words.CATEGORIES.values()]

    def slot() -> str:
        if rng.random() < 2 / 3:
            group = vocab[int(rng.integers(len(vocab)))]
            return str(group[int(rng.integers(len(group)))])
        return str(_FILLER[int(rng.integers(len(_FILLER)))])

    out = []
    for _ in range(n):
        sentences = [_FRAMES[int(rng.integers(len(_FRAMES)))].format(a=slot(), b=slot())
                     for _ in range(int(rng.integers(3, 7)))]
        out.append(" ".join(sentences) if rng.random() < 0.7 else "\n".join(sentences))
    return out
