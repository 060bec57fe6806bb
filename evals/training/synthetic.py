"""Synthetic prose that mentions the library's word categories.

Real corpora (the standard library's docstrings and code) hardly ever name animals,
drinks or cities, so a lexical rule would have nothing to learn from. These short
paragraphs put category words in ordinary sentence frames, several categories per
paragraph, so each lexical rule fires beside words of other categories and plain
filler. Some frames are prose of the kinds the prose families read: dialogue with
speech tags, dates and times, sums and percentages, names with titles.
"""

from __future__ import annotations

import numpy as np

from . import _prose_words as prose_words
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
    "\"Where did you put the {a}?\" asked {n}.",
    "\"I never liked {a},\" {n} said, \"but the {b} is fine.\"",
    "On {m} {d}, {y}, the {a} arrived at {h}:{mm}.",
    "About {p}% of the {a} cost ${d}, and {n} paid for the {b}.",
    "Mr. {s} and Dr. {s2} met {n} {s} in {c} to discuss {a}.",
    "It's {n}'s {a}, and we'll keep the {b}!",
)
_NAMES = ("John", "Mary", "Alice", "Tom", "Anna", "Peter", "Susan", "James", "Emma", "Henry")
_SURNAMES = ("Smith", "Brown", "Jones", "Taylor", "Walker", "Green", "Hall", "Wood", "Clark", "Hughes")
_PLACES = ("London", "Paris", "Boston", "Vienna", "Dublin", "Oxford", "Madrid", "Chicago")
_MONTHS = ("January", "March", "May", "July", "September", "November", "April", "June")

_FILLER = ("thing", "idea", "place", "moment", "question", "answer", "story", "part", "way", "day",
           "reason", "piece", "point", "side", "group", "number", "word", "name", "kind", "case")


def synthetic_paragraphs(n: int, seed: int = 0) -> list[str]:
    """``n`` paragraphs of 3-6 sentences; two of every three slots hold a word of a
    random category, the rest a filler noun. Deterministic given the seed."""
    rng = np.random.default_rng(seed)
    vocab = [v.split() for _, v in (*words.CATEGORIES.values(), *prose_words.SEMANTIC.values())]

    def pick(options):
        return str(options[int(rng.integers(len(options)))])

    def slot() -> str:
        if rng.random() < 2 / 3:
            group = vocab[int(rng.integers(len(vocab)))]
            return str(group[int(rng.integers(len(group)))])
        return str(_FILLER[int(rng.integers(len(_FILLER)))])

    out = []
    for _ in range(n):
        sentences = [_FRAMES[int(rng.integers(len(_FRAMES)))].format(
                         a=slot(), b=slot(), n=pick(_NAMES), s=pick(_SURNAMES), s2=pick(_SURNAMES), c=pick(_PLACES),
                         m=pick(_MONTHS), d=int(rng.integers(1, 29)), y=int(rng.integers(1850, 2030)),
                         h=int(rng.integers(1, 13)), mm=f"{int(rng.integers(0, 60)):02d}", p=int(rng.integers(2, 100)))
                     for _ in range(int(rng.integers(3, 7)))]
        out.append(" ".join(sentences) if rng.random() < 0.7 else "\n".join(sentences))
    return out
