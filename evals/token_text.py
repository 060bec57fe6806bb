"""A character-level view of a token window, shared by the rule functions.

A rule sees a window as the concatenation of its token strings, and every character
knows which token it came from. So a rule finds its pattern in the *text* (a word, a
bracketed region, a line) and lights the tokens that carry it, however the tokenizer
cut the text: " January", " Jan" + "uary" and "(January," all work alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "TokenText",
    "code_classes",
    "bracket_depth",
    "PLAIN", "STRING", "QUOTE", "HASH", "COMMENT", "DOC", "DOC_QUOTE",
    "LETTER_WORD", "IDENTIFIER", "NUMBER", "NEGATION", "SENTENCE_END",
]

# A word of letters only, not glued to digits or underscores (so "my_list" holds none).
LETTER_WORD = re.compile(r"(?<!\w)[A-Za-z]+(?!\w)")
IDENTIFIER = re.compile(r"(?<!\w)[A-Za-z_]\w*")
# Digits with an optional decimal part; "x1", "3rd" and "0x1F" are not numbers.
NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?!\w)")
NEGATION = re.compile(
    r"(?<!\w)(?:not|no|never|nor|nothing|nobody|nowhere|neither|cannot|\w+n['\u2019]t)(?!\w)",
    re.IGNORECASE,
)
# . ! ? glued to the end of a word and followed (maybe past closing quotes or
# brackets) by whitespace or the window's end; ellipses and "from . import" are not.
SENTENCE_END = re.compile(r"(?<=[^\s.!?])[.!?](?=[\"')\]]*(?:\s|\Z))")


class TokenText:
    """The window's text, the token that owns each character, and the activations
    being built (float32, one per token, raised with ``np.maximum``)."""

    __slots__ = ("tokens", "text", "owner", "acts")

    def __init__(self, tokens: Sequence[str]):
        self.tokens = tokens
        self.text = "".join(tokens)
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        self.owner = np.repeat(np.arange(len(tokens)), lengths)
        self.acts = np.zeros(len(tokens), dtype=np.float32)

    def mark_span(self, start: int, end: int, level: float = 1.0) -> None:
        """Raise every token that carries a character of ``text[start:end]``."""
        if end > start:
            idx = np.unique(self.owner[start:end])
            self.acts[idx] = np.maximum(self.acts[idx], level)

    def mark_char(self, pos: int, level: float = 1.0) -> None:
        """Raise the token that carries character ``pos``."""
        i = self.owner[pos]
        self.acts[i] = max(self.acts[i], level)

    def mark_last_char(self, start: int, end: int, level: float = 1.0) -> None:
        """Raise the token carrying the last character of ``text[start:end]`` (a suffix)."""
        if end > start:
            self.mark_char(end - 1, level)

    def mark_levels(self, char_levels: np.ndarray) -> None:
        """Raise each token to the highest level among its characters."""
        if len(char_levels):
            np.maximum.at(self.acts, self.owner, char_levels.astype(np.float32))

    def next_visible(self, pos: int, same_line: bool = False) -> int | None:
        """Index of the first non-whitespace character at or after ``pos`` (None if none;
        with ``same_line``, None when a line break comes first)."""
        text = self.text
        while pos < len(text) and text[pos].isspace():
            if same_line and text[pos] == "\n":
                return None
            pos += 1
        return pos if pos < len(text) else None

    def line_start_before(self, pos: int) -> bool:
        """Whether only spaces and tabs stand between ``pos`` and a line break (the
        window's start does not count: the line may have begun before it)."""
        k = pos - 1
        while k >= 0 and self.text[k] in " \t":
            k -= 1
        return k >= 0 and self.text[k] == "\n"


# ------------------------------------------------------------ a code lexer, lite

PLAIN, STRING, QUOTE, HASH, COMMENT, DOC, DOC_QUOTE = range(7)
_STRING_PREFIXES = {"f", "r", "b", "u", "rb", "br", "fr", "rf"}


def _is_apostrophe(text: str, i: int) -> bool:
    """A ' between letters (don't, Python's) — unless the letters before are a string
    prefix such as the f of f'...'."""
    if text[i] != "'" or i == 0 or i + 1 >= len(text):
        return False
    if not (text[i - 1].isalpha() and text[i + 1].isalpha()):
        return False
    k = i - 1
    while k >= 0 and text[k].isalpha():
        k -= 1
    return text[k + 1:i].lower() not in _STRING_PREFIXES


def code_classes(text: str) -> np.ndarray:
    """One class per character: PLAIN, STRING (inside '...' or "..." closed on the same
    line), QUOTE (their delimiters), HASH (a # that opens a comment), COMMENT (the rest
    of that line), DOC (inside triple quotes) or DOC_QUOTE (the triple quotes).

    Triple quotes pair up from the window's start, and one left open runs to the
    window's end. A quote not closed on its line is not a string: it stays PLAIN.
    """
    n = len(text)
    cls = np.zeros(n, dtype=np.int8)
    i, doc, quote, opened, comment = 0, "", "", -1, False
    while i < n:
        ch = text[i]
        if doc:
            if text.startswith(doc, i):
                cls[i:i + 3] = DOC_QUOTE
                doc, i = "", i + 3
                continue
            step = 2 if ch == "\\" else 1
            cls[i:i + step] = DOC
            i += step
        elif comment:
            if ch == "\n":
                comment = False
            else:
                cls[i] = COMMENT
            i += 1
        elif quote:
            if ch == "\n":
                cls[opened:i] = PLAIN
                quote = ""
            elif ch == "\\" and i + 1 < n and text[i + 1] != "\n":
                cls[i:i + 2] = STRING
                i += 1
            elif ch == quote:
                cls[i] = QUOTE
                quote = ""
            else:
                cls[i] = STRING
            i += 1
        elif text.startswith('"""', i) or text.startswith("'''", i):
            doc = text[i:i + 3]
            cls[i:i + 3] = DOC_QUOTE
            i += 3
        else:
            if ch in "'\"" and not _is_apostrophe(text, i):
                quote, opened = ch, i
                cls[i] = QUOTE
            elif ch == "#":
                cls[i] = HASH
                comment = True
            i += 1
    if quote:
        cls[opened:] = PLAIN
    return cls


def bracket_depth(text: str, opening: str, closing: str) -> np.ndarray:
    """Per character, how many ``opening`` brackets before it are still unclosed.

    A stray closing bracket never takes the depth below zero (a window may start
    inside a call, or a string may hold a lone bracket).
    """
    chars = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    step = (chars == ord(opening)).astype(np.int64) - (chars == ord(closing)).astype(np.int64)
    walk = np.cumsum(step)
    # reflected at zero: depth = walk - min(0, lowest point so far)
    after = walk - np.minimum(np.minimum.accumulate(walk), 0) if len(walk) else walk
    return np.concatenate(([0], after[:-1])) if len(after) else after
