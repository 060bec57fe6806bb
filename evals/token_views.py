"""Views of a token for the ``trained`` simulator.

An explanation says what a feature fires on, but not always *where to look*: "names
of months" is about the token itself, "the word right after 'the'" about the token
before it, "text inside a docstring" about the region around it. A single embedding
of each token's left-context span (the ``embedding`` simulator) mixes these up: the
span of the word after "the" contains "the", so "the word 'the'" and "the word right
after 'the'" light the same tokens.

So each token gets several views. Four are unit-norm all-MiniLM-L6-v2 sentence
embeddings, in the same space as an explanation's embedding (:data:`EMBEDDED`):

* ``word`` — the word the token belongs to (``January`` for `` Jan`` + ``uary``),
  or its own text when it holds no word character (``==``, ``(``); whitespace is
  named in words (``line break``, ``indentation``);
* ``span`` — the token with a few tokens of left context (as the ``embedding``
  simulator);
* ``prev`` and ``next`` — the ``word`` view of the token before and after it
  (zero at the window's edge).

Two are flags of what a sentence encoder cannot see in a word, each named by a
phrase (:data:`FLAGS`), so that an explanation can be matched against the phrases:

* ``structure`` — the brackets, string, comment or docstring the token sits in,
  whether it opens or closes its line, and whether it opens or closes a sentence of
  prose (:data:`STRUCTURES`);
* ``shape`` — capitals, length, digits, punctuation, and whether it repeats an
  earlier token (:data:`SHAPES`).

A window's views are one float16 array ``[T, DIM_VIEWS]``: the four embeddings one
after another, then the flags (:func:`split`). Every distinct string is embedded
once (the embedder caches strings), so the cost is about that of the ``embedding``
simulator's spans plus a few short words.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .embedding import DIM, Embedder, default_embedder
from .token_features import CONTEXT, char_ranges, span_texts
from .token_text import COMMENT, DOC, STRING, bracket_depth, code_classes

__all__ = ["DIM_VIEWS", "EMBEDDED", "FLAGS", "PHRASES", "SHAPES", "STRUCTURES", "VIEWS", "TokenViews", "shape_flags", "split",
           "structure_flags", "token_words", "word_texts"]

EMBEDDED = ("word", "span", "prev", "next")
VIEWS = (*EMBEDDED, "structure", "shape")

# what `structure_texts` can say of a token, in the order it says it
STRUCTURES = ("inside parentheses", "inside square brackets", "inside curly braces", "inside a string literal",
              "inside a comment", "inside a docstring", "at the start of a line", "at the end of a line",
              "at the start of a sentence", "at the end of a sentence")
# what `shape_texts` can say of a token: what a case-folding word encoder cannot see
SHAPES = ("a capitalised word", "a word in capital letters", "a long word", "a repeat of an earlier token",
          "a token of digits", "a punctuation mark")
FLAGS = {"structure": STRUCTURES, "shape": SHAPES}
DIM_VIEWS = len(EMBEDDED) * DIM + len(STRUCTURES) + len(SHAPES)
PHRASES = tuple(phrase for phrases in FLAGS.values() for phrase in phrases)  # every flag's phrase, in order


def split(views: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``[T, DIM_VIEWS]`` -> the embeddings ``[T, len(EMBEDDED), 384]`` and each
    flag view's flags ``[T, len(phrases)]`` (both views into ``views``)."""
    n = len(EMBEDDED) * DIM
    embedded = views[:, :n].reshape(len(views), len(EMBEDDED), DIM)
    flags, at = {}, n
    for name, phrases in FLAGS.items():
        flags[name] = views[:, at: at + len(phrases)]
        at += len(phrases)
    return embedded, flags

_WORD = re.compile(r"\w+")


def _blank_name(token: str) -> str:
    if "\n" in token:
        return "blank line" if token.count("\n") > 1 else "line break"
    if "\t" in token or len(token) > 1:
        return "indentation"
    return "space"


def word_texts(tokens: Sequence[str]) -> list[str]:
    """For each token, the word (a run of word characters) it is part of, or its
    stripped text when it holds none; whitespace tokens get a name."""
    text = "".join(tokens)
    starts, ends = char_ranges(tokens)
    out = []
    for tok, s, e in zip(tokens, starts.tolist(), ends.tolist()):
        stripped = tok.strip()
        if not stripped:
            out.append(_blank_name(tok))
            continue
        inner = _WORD.search(tok)
        if inner is None:
            out.append(stripped)
            continue
        a, b = s + inner.start(), s + inner.end()  # grow the word run across neighbouring tokens
        while a > 0 and (text[a - 1].isalnum() or text[a - 1] == "_"):
            a -= 1
        while b < len(text) and (text[b].isalnum() or text[b] == "_"):
            b += 1
        out.append(text[a:b] if b - a <= len(stripped) + 20 else stripped)  # not a whole line of one run
    return out


def token_words(records_tokens: Sequence[Sequence[str]]) -> np.ndarray:
    """``[T, 3]`` strings over the records' tokens, one after another: each token's
    word (:func:`word_texts`), the word before it and the word after it ("" at a
    record's edge)."""
    rows = []
    for tokens in records_tokens:
        words = word_texts(list(tokens))
        rows += zip(words, ["", *words[:-1]], [*words[1:], ""])
    return np.array(rows, dtype=object).reshape(len(rows), 3)


def structure_flags(tokens: Sequence[str]) -> np.ndarray:
    """``[T, len(STRUCTURES)]`` bool: which :data:`STRUCTURES` hold for each visible
    token (none for whitespace). Regions are read within the window only."""
    text = "".join(tokens)
    starts, ends = char_ranges(tokens)
    out = np.zeros((len(tokens), len(STRUCTURES)), bool)
    if not text:
        return out
    classes = code_classes(text)
    depths = [bracket_depth(text, o, c) for o, c in ("()", "[]", "{}")]
    visible = [i for i, t in enumerate(tokens) if t.strip()]
    first_on_line, last_on_line = set(), set()
    for j, i in enumerate(visible):
        before = text[ends[visible[j - 1]]: starts[i]] if j else ""
        if "\n" in before or "\n" in tokens[i][: len(tokens[i]) - len(tokens[i].lstrip())]:
            first_on_line.add(i)
        after = text[ends[i]: starts[visible[j + 1]]] if j + 1 < len(visible) else ""
        if "\n" in after or tokens[i].rstrip() != tokens[i] and "\n" in tokens[i]:
            last_on_line.add(i)
    opens, closes = _sentence_bounds(text)
    for i, tok in enumerate(tokens):
        s, e = int(starts[i]), int(ends[i])
        if not tok.strip() or e <= s:
            continue
        last = e - 1
        while last > s and text[last].isspace():
            last -= 1
        first = s
        while first < last and text[first].isspace():
            first += 1
        out[i] = [depths[0][last] > 0 and tok.strip() not in "()",
                  depths[1][last] > 0 and tok.strip() not in "[]",
                  depths[2][last] > 0 and tok.strip() not in "{}",
                  classes[last] == STRING, classes[last] == COMMENT, classes[last] == DOC,
                  i in first_on_line, i in last_on_line, bool(opens[first]), bool(closes[first: e].any())]
    return out


# a sentence of prose opens with a capitalised word after . ! or ? (and any closing quote or bracket) and a
# space, or after a blank line; it closes at that punctuation, which ends its last word
_OPENS = re.compile(r"(?:[.!?][\"'’”)]?\s+|\n[ \t]*\n[ \t]*)[\"“(]?([A-Z])")
_CLOSES = re.compile(r"(?<![.\w][.])([A-Za-z]\w*[\"'’”)]*[.!?]+)(?=[\"'’”)]*(?:\s|$))")


def _sentence_bounds(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Per character: where a sentence opens (its first letter) and closes (its last
    word and end punctuation)."""
    opens = np.zeros(len(text) + 1, bool)
    closes = np.zeros(len(text) + 1, bool)
    for m in _OPENS.finditer(text):
        opens[m.start(1)] = True
    for m in _CLOSES.finditer(text):
        closes[m.start(1): m.end(1)] = True
    return opens, closes


def shape_flags(tokens: Sequence[str]) -> np.ndarray:
    """``[T, len(SHAPES)]`` bool: which :data:`SHAPES` hold for each token."""
    out = np.zeros((len(tokens), len(SHAPES)), bool)
    seen: set[str] = set()
    for i, tok in enumerate(tokens):
        word = tok.strip()
        letters = [c for c in word if c.isalpha()]
        out[i] = [word[:1].isupper() and not word.isupper(), len(letters) > 1 and word.isupper(),
                  len(letters) >= 10, bool(_WORD.search(word)) and word in seen,
                  bool(word) and word.isdigit(), bool(word) and all(unicodedata.category(c)[0] == "P" for c in word)]
        if word:
            seen.add(word)
    return out


class TokenViews:
    """Views ``[T, DIM_VIEWS]`` (float16; see :func:`split`) of the tokens of
    records, as the module docstring describes, with a cache of recent windows."""

    def __init__(self, embedder: Embedder | None = None, context: int = CONTEXT, cache_size: int = 2048):
        self.embedder = embedder or default_embedder()
        self.context = context
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def texts(self, tokens: Sequence[str]) -> list[list[str]]:
        """Per embedded view, the string embedded for each token (``""`` embeds as zero)."""
        words = word_texts(tokens)
        spans = [s if s.strip() else _blank_name(s) for s in span_texts(tokens, self.context)]
        return [words, spans, ["", *words[:-1]], [*words[1:], ""]]

    def __call__(self, records_tokens: Sequence[Sequence[str]], progress=None) -> list[np.ndarray]:
        keys = [tuple(t) for t in records_tokens]
        with self._lock:
            missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
            fresh: dict[tuple[str, ...], np.ndarray] = {}
            for start in range(0, len(missing), 256):
                chunk = missing[start: start + 256]
                fresh.update(zip(chunk, self._views(chunk)))
                if progress is not None:
                    progress(len(chunk))
            out = [fresh[k] if k in fresh else self._cache[k] for k in keys]
            if self.cache_size:
                for k, v in fresh.items():
                    self._cache[k] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def prime(self, windows: Sequence[Sequence[str]], views: Sequence[np.ndarray]) -> None:
        """Remember views already computed for ``windows`` (e.g. a training pool's),
        regardless of ``cache_size``."""
        with self._lock:
            for tokens, v in zip(windows, views):
                if v.shape != (len(tokens), DIM_VIEWS):
                    raise ValueError(f"views of shape {v.shape} for {len(tokens)} tokens")
                self._cache[tuple(tokens)] = v
            self.cache_size = max(self.cache_size, len(self._cache))

    def _views(self, windows: list[tuple[str, ...]]) -> list[np.ndarray]:
        per_window = [self.texts(list(tokens)) for tokens in windows]
        distinct = list(dict.fromkeys(s for views in per_window for view in views for s in view if s))
        vectors = self.embedder.encode(distinct) if distinct else np.zeros((0, DIM), np.float32)
        table = np.concatenate([vectors, np.zeros((1, DIM), np.float32)]).astype(np.float16)
        index = {s: i for i, s in enumerate(distinct)}
        blank = len(distinct)
        out = []
        for tokens, views in zip(windows, per_window):
            ids = np.array([[index[s] if s else blank for s in view] for view in views], np.int64)  # [V, T]
            embedded = table[ids.T].reshape(len(tokens), -1) if ids.size else np.zeros((0, len(EMBEDDED) * DIM))
            flags = np.concatenate([structure_flags(tokens), shape_flags(tokens)], axis=1)
            out.append(np.concatenate([embedded, flags], axis=1).astype(np.float16))
        return out
