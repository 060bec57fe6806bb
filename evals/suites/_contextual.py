"""Activation functions of the context-level rules: whether a token fires depends on
what surrounds it (the word before it, the region it sits in, its place on the line).

Each function maps a window's token strings to float32 activations, one per token.
Only the window is seen: a region opened before the window's start is not known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..token_text import (
    COMMENT,
    DOC,
    IDENTIFIER,
    NEGATION,
    NUMBER,
    SENTENCE_END,
    STRING,
    TokenText,
    bracket_depth,
    code_classes,
)

# ------------------------------------------------------------ regions of text


def _inside(tokens: Sequence[str], char_class: int) -> np.ndarray:
    """Tokens carrying a non-blank character of class ``char_class`` (see code_classes)."""
    t = TokenText(tokens)
    chars = np.array([not ch.isspace() for ch in t.text], dtype=bool)
    t.mark_levels(((code_classes(t.text) == char_class) & chars).astype(np.float32))
    return t.acts


def inside_string_literal(tokens: Sequence[str]) -> np.ndarray:
    return _inside(tokens, STRING)


def inside_docstring(tokens: Sequence[str]) -> np.ndarray:
    return _inside(tokens, DOC)


def inside_comment(tokens: Sequence[str]) -> np.ndarray:
    return _inside(tokens, COMMENT)


def _in_brackets(t: TokenText, opening: str, closing: str) -> np.ndarray:
    """Per character, the bracket depth, zeroed on blanks and on the brackets themselves."""
    depth = bracket_depth(t.text, opening, closing)
    content = np.array([not ch.isspace() and ch not in (opening, closing) for ch in t.text], dtype=bool)
    return np.where(content, depth, 0)


def inside_parentheses(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    depth = _in_brackets(t, "(", ")")
    t.mark_levels(np.select([depth >= 2, depth == 1], [1.0, 0.5], 0.0))
    return t.acts


def inside_square_brackets(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    t.mark_levels((_in_brackets(t, "[", "]") >= 1).astype(np.float32))
    return t.acts


def inside_curly_braces(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    t.mark_levels((_in_brackets(t, "{", "}") >= 1).astype(np.float32))
    return t.acts


def numbers_in_parentheses(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    depth = bracket_depth(t.text, "(", ")")
    for m in NUMBER.finditer(t.text):
        if depth[m.start()] >= 1:
            t.mark_span(m.start(), m.end())
    return t.acts


# ------------------------------------------------------------ the word before


def word_after(tokens: Sequence[str], anchor: re.Pattern) -> np.ndarray:
    """The word that follows an ``anchor`` match across whitespace only."""
    t = TokenText(tokens)
    for m in anchor.finditer(t.text):
        nxt = re.compile(r"\s+([A-Za-z_]\w*)").match(t.text, m.end())
        if nxt:
            t.mark_span(nxt.start(1), nxt.end(1))
    return t.acts


def after_negation(tokens: Sequence[str]) -> np.ndarray:
    return word_after(tokens, NEGATION)


def after_the(tokens: Sequence[str]) -> np.ndarray:
    return word_after(tokens, re.compile(r"(?<!\w)the(?!\w)", re.IGNORECASE))


def sentence_start_capitals(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in SENTENCE_END.finditer(t.text):
        nxt = re.compile(r"[\"')\]]*\s+([A-Z]\w*)").match(t.text, m.end())
        if nxt:
            t.mark_span(nxt.start(1), nxt.end(1))
    return t.acts


def attribute_after_dot(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in re.finditer(r"(?<=[\w)\]])\.([A-Za-z_]\w*)", t.text):
        t.mark_span(m.start(1), m.end(1))
    return t.acts


def after_comma(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in re.finditer(",", t.text):
        pos = t.next_visible(m.end())
        if pos is not None and t.owner[pos] != t.owner[m.start()]:
            t.mark_char(pos)
    return t.acts


def repeated_token(tokens: Sequence[str]) -> np.ndarray:
    """A token (compared without its surrounding whitespace) that holds a word character
    and already occurred earlier in the window."""
    acts = np.zeros(len(tokens), dtype=np.float32)
    seen: set[str] = set()
    for i, tok in enumerate(tokens):
        key = tok.strip()
        if not re.search(r"\w", key):
            continue
        if key in seen:
            acts[i] = 1.0
        seen.add(key)
    return acts


# ------------------------------------------------------------ statements of code

_DEF = re.compile(r"(?m)^[ \t]*(?:async[ \t]+)?def[ \t]+([A-Za-z_]\w*)")
_CLASS = re.compile(r"(?m)^[ \t]*class[ \t]+([A-Za-z_]\w*)")
_RETURN = re.compile(r"(?m)^[ \t]*return[ \t]+(\S)")
_IMPORT_FIRST = re.compile(r"(?m)^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+\(?\s*([A-Za-z_]\w*)")
_IMPORT_LINE = re.compile(r"(?m)^[ \t]*import[ \t]+([^\n#]*)")
_FROM_LINE = re.compile(r"(?m)^[ \t]*from[ \t]+([\w.]+)[ \t]+import\b")


def _statement_names(tokens: Sequence[str], pattern: re.Pattern) -> np.ndarray:
    t = TokenText(tokens)
    for m in pattern.finditer(t.text):
        t.mark_span(m.start(1), m.end(1))
    return t.acts


def def_function_names(tokens: Sequence[str]) -> np.ndarray:
    return _statement_names(tokens, _DEF)


def class_names(tokens: Sequence[str]) -> np.ndarray:
    return _statement_names(tokens, _CLASS)


def after_import(tokens: Sequence[str]) -> np.ndarray:
    return _statement_names(tokens, _IMPORT_FIRST)


def after_return(tokens: Sequence[str]) -> np.ndarray:
    """The token carrying the first visible character of the returned expression."""
    t = TokenText(tokens)
    for m in _RETURN.finditer(t.text):
        t.mark_char(m.start(1))
    return t.acts


def import_module_names(tokens: Sequence[str]) -> np.ndarray:
    """The dotted module path of ``import a.b, c as d`` (a, b, c) and of ``from x.y
    import z`` (x, y); not aliases, not the names imported from a module."""
    t = TokenText(tokens)
    paths: list[tuple[int, int]] = []
    for m in _IMPORT_LINE.finditer(t.text):
        for item in re.finditer(r"(?:^|,)\s*([\w.]+)", m.group(1)):
            paths.append((m.start(1) + item.start(1), m.start(1) + item.end(1)))
    paths.extend((m.start(1), m.end(1)) for m in _FROM_LINE.finditer(t.text))
    for start, end in paths:
        for part in IDENTIFIER.finditer(t.text, start, end):
            t.mark_span(part.start(), part.end())
    return t.acts


# ----------------------------------------------------------------- lines


def line_start(tokens: Sequence[str]) -> np.ndarray:
    """The first visible token after each line break (the window's first token is not
    counted: its line may have begun before the window)."""
    t = TokenText(tokens)
    for m in re.finditer("\n", t.text):
        pos = t.next_visible(m.end(), same_line=True)
        if pos is not None:
            t.mark_char(pos)
    return t.acts


def line_end(tokens: Sequence[str]) -> np.ndarray:
    """The last visible token before each line break inside the window."""
    t = TokenText(tokens)
    for m in re.finditer(r"[^\s][ \t]*\n", t.text):
        t.mark_char(m.start())
    return t.acts


def block_colon(tokens: Sequence[str]) -> np.ndarray:
    """A colon that ends its line (maybe before a comment): def/if/for/class headers."""
    t = TokenText(tokens)
    for m in re.finditer(r":(?=[ \t]*(?:#[^\n]*)?\n)", t.text):
        t.mark_char(m.start())
    return t.acts
