"""Descriptions as executable rules: what the ``search`` explainer composes.

A :class:`Rule` is a plain sentence a person reads (``text``) and a predicate that
says, for every token of a window, how far the sentence holds there (``levels``).
The predicate lets the search measure a candidate against the feature's real
activations before any simulator reads the sentence; the sentence is what is stored,
scored and shown. The kinds, after what language-model features are known to respond
to:

* ``identity`` — a set of words or symbols, in any case;
* ``suffix`` / ``prefix`` — morphology;
* ``shape`` — capitals, length, underscores, digits, punctuation, whitespace, repeats;
* ``after`` / ``before`` — the token right after or right before a word;
* ``region`` — inside brackets, strings, comments or docstrings, at a line's start or end;
* ``category`` — words whose meaning lies near a category name (months, colours, …);
* ``output`` — the token the text continues with (what the feature's unembedding promotes);
* ``and`` / ``or`` — two rules at once, or either of two modes of a polysemantic feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from mechanic.evals.token_views import SHAPES, STRUCTURES, shape_flags, structure_flags, word_texts

__all__ = ["CATEGORIES", "KINDS", "SHAPE_NAMES", "Rule", "WindowView", "token_class", "after", "before", "category", "either", "identity",
           "output", "prefix", "region", "shape", "suffix", "symbol_name", "together", "word_key"]

KINDS = ("identity", "suffix", "prefix", "shape", "after", "before", "region", "category", "output", "and", "or")

# Semantic categories a feature may respond to: general vocabulary, named once for
# every feature (never chosen per feature). Each is (name used in the sentence, the
# phrase its words are compared with).
CATEGORIES = (
    ("month names", "months of the year such as January, March, July, December"),
    ("days of the week", "days of the week such as Monday, Friday, Sunday"),
    ("colour words", "colours such as red, blue, green, yellow, black, white"),
    ("numbers", "numbers and numerals such as one, two, 3, 42, hundred"),
    ("people's first names", "first names of people such as John, Mary, David, Sarah"),
    ("family members", "family members such as mother, father, sister, brother, son"),
    ("places and countries", "countries and cities such as France, London, China, Paris"),
    ("emotions", "emotions and feelings such as happy, sad, angry, afraid, love"),
    ("animals", "animals such as dog, cat, horse, bird, fish"),
    ("food and drink", "food and drink such as bread, apple, coffee, meat, wine"),
    ("body parts", "parts of the body such as hand, head, eye, heart, arm"),
    ("time words", "words about time such as today, yesterday, hour, minute, year, later"),
    ("motion verbs", "verbs of motion such as walk, run, move, go, fly, fall"),
    ("speech verbs", "verbs of saying such as said, asked, replied, told, shouted"),
    ("pronouns", "pronouns such as he, she, they, it, we, you, I"),
    ("negation words", "negation such as not, no, never, nothing, none"),
    ("modal verbs", "modal verbs such as can, could, should, must, may, might"),
    ("prepositions", "prepositions such as in, on, at, under, between, through"),
    ("conjunctions", "conjunctions such as and, or, but, because, although"),
    ("determiners", "articles and determiners such as the, a, an, this, that, each"),
    ("adjectives of size", "size adjectives such as big, small, large, tiny, huge"),
    ("quantities", "quantity words such as many, few, several, all, some, most"),
    ("programming keywords", "programming language keywords such as def, return, if, else, class, import"),
    ("data types", "data types such as int, str, list, dict, float, bool"),
    ("errors and exceptions", "errors and exceptions such as ValueError, TypeError, raise, error"),
    ("files and paths", "files, directories and paths such as file, path, folder, open, read"),
    ("mathematics", "mathematical words such as sum, equation, matrix, integer, divide"),
    ("money and commerce", "money and trade such as price, dollar, cost, pay, buy, sell"),
    ("law and government", "law and government such as court, law, president, vote, state"),
    ("science", "science words such as atom, energy, cell, experiment, theory"),
    ("medicine and health", "medicine and health such as doctor, disease, patient, hospital"),
    ("weather", "weather such as rain, snow, wind, sunny, storm"),
    ("sports and games", "sports and games such as football, team, score, player, match"),
    ("music and art", "music and art such as song, piano, paint, artist, concert"),
    ("clothing", "clothing such as shirt, coat, hat, shoes, dress"),
    ("buildings and rooms", "buildings and rooms such as house, kitchen, door, wall, church"),
    ("vehicles and travel", "vehicles and travel such as car, train, ship, road, journey"),
    ("religion", "religion such as god, church, prayer, holy, faith"),
    ("war and conflict", "war and conflict such as army, battle, soldier, weapon, fight"),
    ("nature and plants", "nature and plants such as tree, flower, forest, river, mountain"),
)

_LETTERS = re.compile(r"^[A-Za-z]+$")


def word_key(word: str) -> str:
    """How words are compared: stripped and case-folded."""
    return word.strip().casefold()


@dataclass(eq=False)  # compared by identity: two windows of the same text are still two windows
class WindowView:
    """What the rules read of one window, computed once: each token's word (as the
    simulator's word view names it), the flags, and category scores filled in by the
    search for the categories in play."""

    tokens: tuple[str, ...]
    words: list[str] = field(init=False)
    keys: list[str] = field(init=False)
    structure: np.ndarray = field(init=False)  # [T, len(STRUCTURES)] bool
    shape: np.ndarray = field(init=False)  # [T, len(SHAPES)] bool
    categories: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [T] cosine to the category

    def __post_init__(self):
        self.words = word_texts(self.tokens)
        self.keys = [word_key(w) for w in self.words]
        self.structure = structure_flags(self.tokens)
        self.shape = shape_flags(self.tokens)


Predicate = Callable[[WindowView], np.ndarray]


@dataclass(frozen=True, eq=False)
class Rule:
    """A description (``text``) with the predicate it stands for (``levels``: a float
    per token, 0 where the description does not hold) and its machine-readable form."""

    kind: str
    text: str
    params: dict
    predicate: Predicate
    parts: tuple["Rule", ...] = ()

    def levels(self, view: WindowView) -> np.ndarray:
        return np.asarray(self.predicate(view), dtype=np.float32)

    @property
    def size(self) -> int:
        """How much the sentence lists: words named, parts joined (parsimony)."""
        if self.parts:
            return sum(p.size for p in self.parts)
        named = sum(len(self.params.get(key, ())) for key in ("words", "after", "before", "followed_by"))
        return max(1, named)

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "text": self.text, **self.params}
        if self.parts:
            out["parts"] = [p.to_dict() for p in self.parts]
        return out


# How the simulator's word view names whitespace tokens; said in words, not quoted.
BLANKS = {"space": "a space", "indentation": "indentation", "line break": "a line break",
          "blank line": "a blank line"}


def _quote(word: str) -> str:
    if word in BLANKS:
        return BLANKS[word]
    return f'"{word}"' if "'" in word else f"'{word}'"


def _listing(words: list[str]) -> str:
    quoted = [_quote(w) for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _examples(examples: list[str]) -> str:
    """' (used, created)': instances shown after a general description, as people write them."""
    shown = [e.strip() for e in examples if e.strip()][:3]
    return f" ({', '.join(shown)})" if shown else ""


# What people call a symbol, so that a list of them reads as what it is ("opening
# brackets ('(' and '[')") rather than as bare characters: whole tokens first, then a
# token of one repeated quotation mark, then a token that begins with a bracket.
_SYMBOL_NAMES = {
    **dict.fromkeys(("==", "!=", "<=", ">=", "<", ">"), "comparison operator"),
    **dict.fromkeys(("+", "-", "*", "/", "%", "**", "//"), "arithmetic operator"),
    **dict.fromkeys(("+=", "-=", "*=", "/="), "augmented assignment"),
    **dict.fromkeys(("'", '"', "`", "\u201c", "\u201d", "\u2018", "\u2019"), "quotation mark"),
    "=": "equals sign", "->": "arrow", ",": "comma", ".": "full stop", ":": "colon", ";": "semicolon",
    "!": "exclamation mark", "?": "question mark", "#": "hash sign", "@": "at sign", "\\": "backslash",
    "|": "vertical bar", "&": "ampersand", "~": "tilde", "^": "caret", "$": "dollar sign",
}
_OPENING, _CLOSING = "([{", ")]}"


def symbol_name(token: str) -> str | None:
    """What people call the symbol ``token`` ('opening bracket', 'comma'), or None."""
    s = token.strip()
    if s in _SYMBOL_NAMES:
        return _SYMBOL_NAMES[s]
    if len(set(s)) == 1 and _SYMBOL_NAMES.get(s[0]) == "quotation mark":
        return "quotation mark"  # a triple quote
    if s[:1] in _OPENING:
        return "opening bracket"
    if s[:1] in _CLOSING:
        return "closing bracket"
    return None


def _what(words: list[str]) -> str:
    """'the word', 'the number' or, for symbols, their name ('the comma', 'opening
    brackets') before a listing of ``words``."""
    many = len(words) > 1
    if all(token_class(w) == "digits" for w in words):
        return f"the number{'s' if many else ''} {_listing(words)}"
    if all(re.search(r"[A-Za-z0-9]", w) for w in words):
        return f"the word{'s' if many else ''} {_listing(words)}"
    names = {symbol_name(w) for w in words}
    if len(names) == 1 and None not in names:
        name = names.pop()
        return f"{name}s ({_listing(words)})" if many else f"the {name} {_listing(words)}"
    return f"the symbol{'s' if many else ''} {_listing(words)}"


def identity(words: list[str]) -> Rule:
    keys = {word_key(w) for w in words}
    if all(w in BLANKS for w in words):
        text = " and ".join(w if w == "indentation" else w + "s" for w in words)
    else:
        text = _what(words)
    return Rule("identity", text, {"words": list(words)},
                lambda v: np.fromiter((k in keys for k in v.keys), dtype=np.float32, count=len(v.keys)))


def suffix(ending: str, examples: list[str]) -> Rule:
    return Rule("suffix", f"words ending in '-{ending}'" + _examples(examples), {"suffix": ending, "examples": examples[:2]},
                lambda v: np.fromiter((bool(_LETTERS.match(w)) and w.lower().endswith(ending) and len(w) > len(ending) + 1
                                       for w in v.words), dtype=np.float32, count=len(v.words)))


def prefix(start: str, examples: list[str]) -> Rule:
    return Rule("prefix", f"words starting with '{start}-'" + _examples(examples), {"prefix": start, "examples": examples[:2]},
                lambda v: np.fromiter((w.lower().startswith(start) and len(w) > len(start) + 1 for w in v.words),
                                      dtype=np.float32, count=len(v.words)))


def token_class(token: str) -> str:
    stripped = token.strip()
    if not stripped:
        return "whitespace"
    if re.fullmatch(r"\d+(?:[.,]\d+)*", stripped):
        return "digits"
    if not re.search(r"\w", stripped):
        return "punctuation"
    return "word"


_SHAPE_TEXT = {
    "capitalised": "capitalised words",
    "capitals": "words written in capital letters",
    "long": "long words of ten letters or more",
    "underscore": "identifiers containing an underscore",
    "repeat": "tokens that repeat an earlier token",
    "digits": "numbers written in digits",
    "punctuation": "punctuation marks and symbols",
    "whitespace": "whitespace, line breaks and indentation",
}
SHAPE_NAMES = tuple(_SHAPE_TEXT)


def _word_test(test: Callable[[str], bool]) -> Predicate:
    return lambda v: np.fromiter((test(w) for w in v.words), dtype=np.float32, count=len(v.words))


_SHAPE_TESTS: dict[str, Predicate] = {
    "capitalised": _word_test(lambda w: w[:1].isupper() and not w.isupper() and w.isalpha()),
    "capitals": _word_test(lambda w: w.isupper() and sum(c.isalpha() for c in w) > 1),
    "long": _word_test(lambda w: sum(c.isalpha() for c in w) >= 10),
    "underscore": _word_test(lambda w: "_" in w and any(c.isalpha() for c in w)),
    "repeat": lambda v: v.shape[:, SHAPES.index("a repeat of an earlier token")],
    **{name: (lambda v, n=name: np.fromiter((token_class(t) == n for t in v.tokens), dtype=np.float32,
                                             count=len(v.tokens)))
       for name in ("digits", "punctuation", "whitespace")},
}


def shape(name: str, examples: list[str] = ()) -> Rule:
    """Tokens of a shape (:data:`SHAPE_NAMES`): read off the word for capitals and
    length, off the token for digits, punctuation and whitespace."""
    return Rule("shape", _SHAPE_TEXT[name] + _examples(list(examples)), {"shape": name, "examples": list(examples)[:3]},
                _SHAPE_TESTS[name])


def _shifted(values: np.ndarray, by: int) -> np.ndarray:
    """``values`` moved ``by`` positions right (positive) or left, zero-filled."""
    out = np.zeros_like(values)
    if by > 0:
        out[by:] = values[:-by]
    elif by < 0:
        out[:by] = values[-by:]
    return out


def after(words: list[str]) -> Rule:
    keys = {word_key(w) for w in words}
    text = f"the token right after {_listing(words)}"
    return Rule("after", text, {"after": list(words)},
                lambda v: _shifted(np.fromiter((k in keys for k in v.keys), np.float32, len(v.keys)), 1))


def before(words: list[str]) -> Rule:
    keys = {word_key(w) for w in words}
    text = f"the token right before {_listing(words)}"
    return Rule("before", text, {"before": list(words)},
                lambda v: _shifted(np.fromiter((k in keys for k in v.keys), np.float32, len(v.keys)), -1))


def output(words: list[str]) -> Rule:
    """Tokens the text continues with one of ``words``: the output side, read off text."""
    keys = {word_key(w) for w in words}
    text = f"tokens followed by {_listing(words)}"
    return Rule("output", text, {"followed_by": list(words)},
                lambda v: _shifted(np.fromiter((k in keys for k in v.keys), np.float32, len(v.keys)), -1))


_REGION_TEXT = {s: f"tokens {s}" for s in STRUCTURES}
_REGION_TEXT["at the start of a line"] = "the first token of a line"
_REGION_TEXT["at the end of a line"] = "the last token of a line"


def region(name: str) -> Rule:
    col = STRUCTURES.index(name)
    return Rule("region", _REGION_TEXT[name], {"region": name}, lambda v: v.structure[:, col])


def category(name: str, examples: list[str], threshold: float) -> Rule:
    """Words near category ``name`` (:data:`CATEGORIES`): those whose cosine to the
    category (less the mean over all words) passes ``threshold``. The search fills in
    each window's cosines (``WindowView.categories``) before the predicate is read."""
    # Examples are members the search found at the peaks; a category that does not fit
    # the feature never reaches the simulator, so they cannot carry a wrong category.
    return Rule("category", name + _examples(examples),
                {"category": name, "examples": examples[:3], "threshold": round(float(threshold), 4)},
                lambda v: (v.categories[name] > threshold).astype(np.float32))


def together(rule: Rule, where: Rule) -> Rule:
    """``rule`` where ``where`` also holds: "the word 'x' inside a string literal"."""
    head = rule.text
    if where.kind == "region":
        tail = where.params["region"]
        text = f"{head} {tail}"
    else:
        text = f"{head}, {where.text.replace('the token ', '')}"
    return Rule("and", text, {}, lambda v: rule.levels(v) * (where.levels(v) > 0), (rule, where))


def either(*modes: Rule, strengths: tuple[float, ...] = ()) -> Rule:
    """Either of several modes: "colour words; also closing brackets". ``strengths``
    (one per mode, the first 1.0 by default) weigh each mode's levels: a polysemantic
    feature rarely fires as hard for its second mode as for its first."""
    if len(modes) < 2:
        raise ValueError("either() joins at least two modes")
    weights = tuple(strengths) or (1.0,) * len(modes)
    if len(weights) != len(modes):
        raise ValueError("either() takes one strength per mode")

    def levels(v: WindowView) -> np.ndarray:
        return np.max(np.stack([w * m.levels(v) for m, w in zip(modes, weights)]), axis=0)

    params = {"strengths": [round(float(w), 3) for w in weights]} if strengths else {}
    return Rule("or", "; also ".join(m.text for m in modes), params, levels, tuple(modes))
