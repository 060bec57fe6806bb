"""Activation functions of the token-level rules: what fires is decided by the token's
own word or characters (a glance at the neighbours only settles ambiguities such as an
apostrophe inside a word).

Each function maps a window's token strings to float32 activations, one per token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from ..token_text import (
    HASH,
    IDENTIFIER,
    LETTER_WORD,
    NEGATION,
    NUMBER,
    SENTENCE_END,
    TokenText,
    code_classes,
)

# ------------------------------------------------------------------ word lists

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_MONTH_ABBREVIATIONS = ("Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_ABBREVIATIONS = ("Mon", "Tue", "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun")
# Our own copy, so the rule does not change with the interpreter's keyword module.
_PYTHON_KEYWORDS = frozenset((
    "False None True and as assert async await break class continue def del elif else except "
    "finally for from global if import in is lambda nonlocal not or pass raise return try while "
    "with yield"
).split())
_COLOURS = frozenset(("red orange yellow green blue purple violet pink brown black white grey gray "
                      "cyan magenta indigo turquoise crimson scarlet").split())
_FIRST_PERSON = frozenset(("me my mine myself we us our ours ourselves").split())
_NOT_PLURAL = frozenset((
    "this thus always perhaps whereas unless yes was has does goes its his hers ours yours theirs "
    "series species news lens alias bias canvas atlas besides towards afterwards upwards downwards "
    "sometimes whereabouts"
).split())
_NOT_ING = frozenset(("thing something nothing anything everything string during bring spring "
                      "king ring sing wing swing sting ceiling").split())
_NOT_ED = frozenset(("need seed feed speed bleed breed indeed exceed proceed succeed hundred "
                     "sacred embed shed").split())


def _sentence_initial(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens the window, a line or a sentence."""
    k = start - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    return k < 0 or text[k] in "\n.!?"


def word_rule(tokens: Sequence[str], pattern: re.Pattern, level: Callable[[str, int, str], float],
              suffix: bool = False) -> np.ndarray:
    """Raise the tokens of every ``pattern`` match to ``level(word, start, text)``;
    with ``suffix``, only the token carrying the word's last character."""
    t = TokenText(tokens)
    for m in pattern.finditer(t.text):
        value = level(m.group(), m.start(), t.text)
        if value:
            (t.mark_last_char if suffix else t.mark_span)(m.start(), m.end(), value)
    return t.acts


def regex_rule(tokens: Sequence[str], pattern: re.Pattern, group: int = 0) -> np.ndarray:
    t = TokenText(tokens)
    for m in pattern.finditer(t.text):
        t.mark_span(m.start(group), m.end(group))
    return t.acts


def _char_rule(tokens: Sequence[str], chars: str) -> np.ndarray:
    t = TokenText(tokens)
    for pos, ch in enumerate(t.text):
        if ch in chars:
            t.mark_char(pos)
    return t.acts


# ------------------------------------------------------------ lexical classes


def month_names(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        if word.lower() in _MONTHS and word in (word.lower(), word.capitalize(), word.upper()):
            if word.lower() == "may":  # the verb: lower case, or opening a sentence ("May raise ...")
                dated = re.match(r"\s+\d", text[start + 3:start + 6]) is not None
                return 1.0 if word == "May" and (dated or not _sentence_initial(text, start)) else 0.0
            return 1.0
        return 0.5 if word in _MONTH_ABBREVIATIONS else 0.0
    return word_rule(tokens, LETTER_WORD, level)


def day_names(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        if word.lower() in _DAYS and word in (word.lower(), word.capitalize(), word.upper()):
            return 1.0
        return 0.5 if word in _DAY_ABBREVIATIONS else 0.0
    return word_rule(tokens, LETTER_WORD, level)


def numbers(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, NUMBER)


def python_keywords(tokens: Sequence[str]) -> np.ndarray:
    return word_rule(tokens, IDENTIFIER, lambda w, s, x: 1.0 if w in _PYTHON_KEYWORDS else 0.0)


def colour_words(tokens: Sequence[str]) -> np.ndarray:
    return word_rule(tokens, LETTER_WORD, lambda w, s, x: 1.0 if w.lower() in _COLOURS else 0.0)


def first_person_pronouns(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        if word == "I":  # not the I of I/O
            return 0.0 if "/" in (text[start - 1:start], text[start + 1:start + 2]) else 1.0
        return 1.0 if word.lower() in _FIRST_PERSON and word in (word.lower(), word.capitalize()) else 0.0
    return word_rule(tokens, LETTER_WORD, level)


def negation_words(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, NEGATION)


def the_word(tokens: Sequence[str]) -> np.ndarray:
    return word_rule(tokens, LETTER_WORD, lambda w, s, x: 1.0 if w.lower() == "the" else 0.0)


def self_word(tokens: Sequence[str]) -> np.ndarray:
    return word_rule(tokens, IDENTIFIER, lambda w, s, x: 1.0 if w == "self" else 0.0)


def long_words(tokens: Sequence[str]) -> np.ndarray:
    return word_rule(tokens, LETTER_WORD, lambda w, s, x: 1.0 if len(w) >= 10 else 0.0)


def _lower_or_capitalised(word: str) -> bool:
    return word[1:].islower() and (word[0].islower() or word[0].isupper())


def plural_s_words(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        w = word.lower()
        return 1.0 if (len(w) >= 4 and _lower_or_capitalised(word) and w.endswith("s")
                       and not w.endswith(("ss", "us", "is")) and w not in _NOT_PLURAL) else 0.0
    return word_rule(tokens, LETTER_WORD, level, suffix=True)


def ing_words(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        w = word.lower()
        return 1.0 if len(w) >= 5 and _lower_or_capitalised(word) and w.endswith("ing") and w not in _NOT_ING else 0.0
    return word_rule(tokens, LETTER_WORD, level, suffix=True)


def ed_words(tokens: Sequence[str]) -> np.ndarray:
    def level(word, start, text):
        w = word.lower()
        return 1.0 if len(w) >= 4 and _lower_or_capitalised(word) and w.endswith("ed") and w not in _NOT_ED else 0.0
    return word_rule(tokens, LETTER_WORD, level, suffix=True)


_ALL_CAPS = re.compile(r"(?<!\w)(?=[A-Z0-9_]*[A-Z][A-Z0-9_]*[A-Z])[A-Z0-9_]+(?!\w)")
_UNDERSCORED = re.compile(r"(?<!\w)(?=\w*[A-Za-z])\w*_\w*")
_URL = re.compile(r"(?:\b(?:https?|ftp|file)://|\bwww\.)[^\s\"'<>)\]]+")
# rooted (/usr/lib, ~/x, ./a) or relative with a file extension (json/decoder.py);
# not "read/write" or "I/O" in prose, nor the // of floor division
_PATH = re.compile(r"(?<![\w)\]/])(?:~|\.{1,2})?/(?:[\w.-]+/)*[\w.-]*\w"
                   r"|(?<![\w/])(?:[\w.-]+/)+[\w-]+\.[A-Za-z]{1,4}\b")


def all_caps_words(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, _ALL_CAPS)


def underscore_identifiers(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, _UNDERSCORED)


def url_or_path(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for pattern in (_URL, _PATH):
        for m in pattern.finditer(t.text):
            t.mark_span(m.start(), m.end())
    return t.acts


# ---------------------------------------------------------------- punctuation


def opening_brackets(tokens: Sequence[str]) -> np.ndarray:
    return _char_rule(tokens, "([{")


def closing_brackets(tokens: Sequence[str]) -> np.ndarray:
    return _char_rule(tokens, ")]}")


# not the -> of annotations, >>> prompts, << shifts, nor <placeholder> brackets
_COMPARISON = re.compile(r"(?<![<>=!\-])(?:==|!=|<=|>=|<(?![\w/])|(?<![\w\"'])>)(?![<>=])")
# a spaced binary operator after an operand ("a + b", "x - 1"), or an unspaced + * %
# ** // between operands ("i+1"); unspaced - and / are left out (well-known, a/b paths)
_ARITHMETIC = re.compile(r"(?<=[\w)\]'\"]) +((?:\*\*|//|[+\-*/%])=?)(?= +\S)"
                         r"|(?<=[\w)\]])(\*\*|//|[+*%])(?=[\w(\[])")
_ASSIGNMENT = re.compile(r"(?<![=!<>])=(?!=)")


def comparison_operators(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, _COMPARISON)


def arithmetic_operators(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in _ARITHMETIC.finditer(t.text):
        group = 1 if m.group(1) is not None else 2
        t.mark_span(m.start(group), m.end(group))
    return t.acts


def assignment_equals(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, _ASSIGNMENT)


def quote_characters(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    text = t.text
    for pos, ch in enumerate(text):
        inside_word = ch == "'" and 0 < pos < len(text) - 1 and text[pos - 1].isalpha() and text[pos + 1].isalpha()
        if ch in "'\"`" and not inside_word:
            t.mark_char(pos)
    return t.acts


def sentence_end_punctuation(tokens: Sequence[str]) -> np.ndarray:
    return regex_rule(tokens, SENTENCE_END)


# ----------------------------------------------------------------- layout, code


def newlines(tokens: Sequence[str]) -> np.ndarray:
    return np.array([0.0 if "\n" not in tok else 1.0 if tok.count("\n") >= 2 else 0.5 for tok in tokens],
                    dtype=np.float32)


def indentation(tokens: Sequence[str]) -> np.ndarray:
    """A token that carries at least two columns (a tab counts four) of a line's leading
    whitespace: "    ", "\\n    def"; not the single leading space of " def"."""
    t = TokenText(tokens)
    width = np.zeros(len(tokens), dtype=np.int64)
    for m in re.finditer(r"\n([ \t]+)(?=[^\s])", t.text):
        for pos in range(m.start(1), m.end(1)):
            width[t.owner[pos]] += 4 if t.text[pos] == "\t" else 1
    t.acts[width >= 2] = 1.0
    return t.acts


_DECORATOR = re.compile(r"(?m)^[ \t]*(@)([A-Za-z_][\w.]*)")


def decorators(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    for m in _DECORATOR.finditer(t.text):
        t.mark_span(m.start(2), m.end(2), 0.5)
        t.mark_span(m.start(1), m.end(1), 1.0)
    return t.acts


def comment_markers(tokens: Sequence[str]) -> np.ndarray:
    t = TokenText(tokens)
    t.mark_levels((code_classes(t.text) == HASH).astype(np.float32))
    return t.acts
