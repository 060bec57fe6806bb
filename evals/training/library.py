"""A procedurally generated library of text-rule features for training simulators.

Each :class:`LibraryRule` is a pure function of a window's token strings (the same
character view the bench ``rules`` suite uses) with several paraphrased descriptions.
Families, so that whole families can be held out for validation:

* ``lexical`` — word categories (animals, networking terms ...), and rules that fire
  on a handful of a category's words, described by listing them;
* ``single_word`` — one frequent word;
* ``character`` — suffixes, prefixes, first and last letters, double letters;
* ``trigger`` — the word right after, or right before, a given word;
* ``brackets_quotes`` — what encloses the token: nested parentheses, angle brackets,
  backticks, one kind of quote;
* ``code`` — statement context: an ``if`` condition, a ``for`` header, a ``raise``;
* ``prose`` — sentence and paragraph structure.

No rule restates a rule or decoy of the bench ``rules`` suite: the categories are
chosen apart from them, and :func:`library_rules` drops any rule whose description
lies close to one in embedding space (``exclude_near``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..token_text import STRING, TokenText, bracket_depth, code_classes
from . import _words as words

__all__ = ["FAMILIES", "LibraryRule", "library_rules", "pick_decoys"]

FAMILIES = ("lexical", "single_word", "character", "trigger", "brackets_quotes", "code", "prose")


@dataclass(frozen=True)
class LibraryRule:
    """A training feature: a name, its family and sub-kind, paraphrased descriptions
    (the first is the plainest), and the function computing it."""

    name: str
    family: str
    kind: str  # finer grouping inside a family, used to pick decoys (e.g. "suffix")
    descriptions: tuple[str, ...]
    fn: Callable[[Sequence[str]], np.ndarray]

    def activations(self, tokens: Sequence[str]) -> np.ndarray:
        return np.asarray(self.fn(list(tokens)), dtype=np.float32)


# ----------------------------------------------------------------- rule makers


def _mark_regex(pattern: re.Pattern, group: int = 0) -> Callable:
    def fn(tokens):
        t = TokenText(tokens)
        for m in pattern.finditer(t.text):
            if m.group(group):
                t.mark_span(m.start(group), m.end(group))
        return t.acts
    return fn


def _word_set(vocab: Sequence[str]) -> Callable:
    exact = {w for w in vocab if any(c.isupper() for c in w)}
    folded = {w.lower() for w in vocab if w not in exact}
    pattern = re.compile(r"(?<![\w-])[A-Za-z][\w-]*(?<!-)")

    def fn(tokens):
        t = TokenText(tokens)
        for m in pattern.finditer(t.text):
            w = m.group()
            if w in exact or w.lower() in folded:
                t.mark_span(m.start(), m.end())
        return t.acts
    return fn


def _word_after(anchor: str) -> Callable:
    return _mark_regex(re.compile(rf"(?<![\w.]){re.escape(anchor)}\s+([A-Za-z_]\w*)"), 1)


def _word_before(anchor: str) -> Callable:
    return _mark_regex(re.compile(rf"(?<![\w.])([A-Za-z_]\w*)\s+{re.escape(anchor)}(?![\w])"), 1)


def _in_region(opening: str, closing: str, min_depth: int = 1) -> Callable:
    def fn(tokens):
        t = TokenText(tokens)
        depth = bracket_depth(t.text, opening, closing)
        inside = (depth >= min_depth).astype(np.float32)
        # the brackets themselves are not inside
        chars = np.array([c in (opening, closing) for c in t.text], dtype=bool)
        inside[chars] = 0.0
        t.mark_levels(inside)
        return t.acts
    return fn


def _quoted(quote: str) -> Callable:
    def fn(tokens):
        t = TokenText(tokens)
        cls = code_classes(t.text)
        levels = np.zeros(len(t.text), np.float32)
        for m in re.finditer(rf"{quote}[^{quote}\n]*{quote}", t.text):
            levels[m.start() + 1:m.end() - 1] = 1.0
        levels[cls != STRING] = 0.0
        t.mark_levels(levels)
        return t.acts
    return fn


def _line_rest(head: str) -> Callable:
    """Tokens after ``head`` on a line that starts with it (indentation allowed)."""
    return _mark_regex(re.compile(rf"(?m)^[ \t]*{head}[ \t]+([^\n]+)"), 1)


def _between(head: str, tail: str) -> Callable:
    return _mark_regex(re.compile(rf"(?m)^[ \t]*{head}[ \t]+([^\n]*?){tail}"), 1)


# ----------------------------------------------------------------- families


def _lexical(rng: np.random.Generator, subsets: int) -> list[LibraryRule]:
    rules = []
    for name, (desc, vocab) in words.CATEGORIES.items():
        vocab = vocab.split()
        ex = list(rng.choice(vocab, size=min(3, len(vocab)), replace=False))
        rules.append(LibraryRule(
            f"lex_{name}", "lexical", name,
            (desc, f"{desc} ({', '.join(ex)})", f"words like {ex[0]}, {ex[1]} and {ex[2]}",
             f"mentions of {desc.split(' and ')[0]}"),
            _word_set(vocab)))
        for k in range(subsets):
            size = int(rng.integers(3, 7))
            pick = [str(w) for w in rng.choice(vocab, size=min(size, len(vocab)), replace=False)]
            listed = ", ".join(pick)
            rules.append(LibraryRule(
                f"lex_{name}_{k}", "lexical", name,
                (f"the words {listed}", listed, " ".join(f"'{w}'" for w in pick),
                 f"tokens such as {', '.join(pick[:-1])} or {pick[-1]}"),
                _word_set(pick)))
    return rules


def _single_words() -> list[LibraryRule]:
    return [LibraryRule(f"word_{w}", "single_word", "word",
                        (f"the word '{w}'", f"'{w}'", f"occurrences of {w}", f"the token {w}"),
                        _word_set([w]))
            for w in words.SINGLE_WORDS]


def _character() -> list[LibraryRule]:
    rules = []
    for s in words.SUFFIXES:
        rules.append(LibraryRule(
            f"suffix_{s}", "character", "suffix",
            (f"words ending in -{s}", f"the suffix -{s}", f"words that end with '{s}'"),
            _mark_regex(re.compile(rf"(?<![\w])[A-Za-z]{{2,}}{s}(?![\w])", re.IGNORECASE))))
    for p in words.PREFIXES:
        rules.append(LibraryRule(
            f"prefix_{p}", "character", "prefix",
            (f"words beginning with {p}-", f"the prefix {p}-", f"words that start with '{p}'"),
            _mark_regex(re.compile(rf"(?<![\w]){p}[a-z]{{3,}}(?![\w])", re.IGNORECASE))))
    for letter in "abcdefghijklmnoprstuvwy":
        rules.append(LibraryRule(
            f"first_{letter}", "character", "first_letter",
            (f"words starting with the letter {letter}", f"words beginning with '{letter}'",
             f"words whose first letter is {letter.upper()}"),
            _mark_regex(re.compile(rf"(?<![\w]){letter}[a-z]+(?![\w])", re.IGNORECASE))))
        rules.append(LibraryRule(
            f"last_{letter}", "character", "last_letter",
            (f"words ending with the letter {letter}", f"words whose last letter is '{letter}'"),
            _mark_regex(re.compile(rf"(?<![\w])[a-z]+{letter}(?![\w])", re.IGNORECASE))))
    for pair in ("ll", "ss", "ee", "oo", "tt", "pp", "rr", "mm", "nn", "ff"):
        rules.append(LibraryRule(
            f"double_{pair}", "character", "double",
            (f"words containing the double letter '{pair}'", f"words with {pair} in them"),
            _mark_regex(re.compile(rf"(?<![\w])[a-z]*{pair}[a-z]*(?![\w])", re.IGNORECASE))))
    rules += [
        LibraryRule("hyphenated", "character", "shape",
                    ("hyphenated words (well-known, read-only)", "compound words joined with a hyphen"),
                    _mark_regex(re.compile(r"(?<![\w-])[A-Za-z]+(?:-[A-Za-z]+)+(?![\w-])"))),
        LibraryRule("letters_digits", "character", "shape",
                    ("identifiers mixing letters and digits (utf8, x1, md5)", "names with a digit in them"),
                    _mark_regex(re.compile(r"(?<![\w])(?=\w*[A-Za-z])(?=\w*\d)[A-Za-z]\w*(?![\w])"))),
        LibraryRule("hex_literals", "character", "shape",
                    ("hexadecimal literals such as 0xFF", "hex numbers starting with 0x"),
                    _mark_regex(re.compile(r"(?<![\w])0[xX][0-9a-fA-F]+(?![\w])"))),
        LibraryRule("dunder", "character", "shape",
                    ("special dunder names like __init__ and __name__", "names wrapped in double underscores"),
                    _mark_regex(re.compile(r"(?<![\w])__[A-Za-z]\w*__(?![\w])"))),
        LibraryRule("single_letter", "character", "shape",
                    ("single-letter names such as x, i and n", "one-letter variables"),
                    _mark_regex(re.compile(r"(?<![\w'’])[b-hj-z](?![\w'’])"))),
        LibraryRule("capitalised_mid", "character", "shape",
                    ("capitalised words in lower-case running text", "words with an initial capital letter"),
                    _mark_regex(re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}(?![\w])"))),
        LibraryRule("percent_format", "character", "shape",
                    ("printf-style format codes like %s and %d", "percent placeholders in strings"),
                    _mark_regex(re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfxi]"))),
        LibraryRule("escapes", "character", "shape",
                    ("backslash escape sequences such as \\n and \\t", "escaped characters in strings"),
                    _mark_regex(re.compile(r"\\[ntr0'\"\\]"))),
        LibraryRule("dashes", "character", "shape",
                    ("dashes and double hyphens (--)", "runs of hyphens"),
                    _mark_regex(re.compile(r"--+|—|–"))),
        LibraryRule("asterisks", "character", "shape",
                    ("asterisks (*)", "star characters"), _mark_regex(re.compile(r"\*+"))),
        LibraryRule("ellipsis", "character", "shape",
                    ("ellipses (...)", "three dots in a row"), _mark_regex(re.compile(r"\.\.\.|…"))),
    ]
    return rules


def _triggers() -> list[LibraryRule]:
    return [LibraryRule(f"after_{w}", "trigger", "after_word",
                        (f"the word right after '{w}'", f"words that follow {w}",
                         f"the token after the word {w}", f"what comes after '{w}'"),
                        _word_after(w))
            for w in words.TRIGGERS] + [
        LibraryRule(f"before_{w}", "trigger", "before_word",
                    (f"the word right before '{w}'", f"words that precede {w}", f"the token before the word {w}",
                     f"what comes just before '{w}'"),
                    _word_before(w))
            for w in words.TRIGGERS]


def _brackets_quotes() -> list[LibraryRule]:
    return [
        LibraryRule("nested_parens", "brackets_quotes", "region",
                    ("tokens inside nested parentheses, two or more levels deep", "text in inner parentheses"),
                    _in_region("(", ")", 2)),
        LibraryRule("angle_brackets", "brackets_quotes", "region",
                    ("text between angle brackets < >", "tokens inside <...>"), _in_region("<", ">")),
        LibraryRule("backticks", "brackets_quotes", "region",
                    ("text inside backticks (`code`)", "words quoted with backquotes"),
                    _mark_regex(re.compile(r"`+([^`\n]+)`+"), 1)),
        LibraryRule("double_quoted", "brackets_quotes", "quote",
                    ("text inside double quotes \"...\"", "double-quoted strings"), _quoted('"')),
        LibraryRule("single_quoted", "brackets_quotes", "quote",
                    ("text inside single quotes '...'", "single-quoted strings"), _quoted("'")),
        LibraryRule("first_in_parens", "brackets_quotes", "first",
                    ("the first token after an opening parenthesis", "the first argument of a call"),
                    _mark_regex(re.compile(r"\(\s*([^\s(),\[\]{}:=]+)"), 1)),
        LibraryRule("first_in_brackets", "brackets_quotes", "first",
                    ("the first token after an opening square bracket", "the first item of a list or index"),
                    _mark_regex(re.compile(r"\[\s*([^\s(),\[\]{}:=]+)"), 1)),
        LibraryRule("first_in_quotes", "brackets_quotes", "first",
                    ("the first word inside a quotation", "the word that opens a quoted string"),
                    _mark_regex(re.compile(r"[\"']([A-Za-z]\w*)"), 1)),
        LibraryRule("keyword_values", "brackets_quotes", "region",
                    ("values of keyword arguments in a call (the x in f(a=x))", "what follows = inside parentheses"),
                    _mark_regex(re.compile(r"(?<=[(,\s])\w+=([^,()\s=][^,()]*)"), 1)),
    ]


def _code() -> list[LibraryRule]:
    return [
        LibraryRule("if_condition", "code", "statement",
                    ("the condition of an if statement, between if and the colon", "tokens in an if test"),
                    _between(r"(?:el)?if", ":")),
        LibraryRule("for_header", "code", "statement",
                    ("the header of a for loop (the target and the iterable)", "tokens of a for statement"),
                    _between("for", ":")),
        LibraryRule("while_condition", "code", "statement",
                    ("the condition of a while loop", "tokens between while and the colon"),
                    _between("while", ":")),
        LibraryRule("raise_stmt", "code", "statement",
                    ("the exception raised in a raise statement", "what follows raise"), _line_rest("raise")),
        LibraryRule("except_clause", "code", "statement",
                    ("exception types caught in an except clause", "the part of an except line after except"),
                    _between("except", ":")),
        LibraryRule("assert_stmt", "code", "statement",
                    ("the condition of an assert statement", "tokens after assert"), _line_rest("assert")),
        LibraryRule("with_stmt", "code", "statement",
                    ("the context manager of a with statement", "tokens between with and the colon"),
                    _between("with", ":")),
        LibraryRule("doctest_lines", "code", "line",
                    ("code after a >>> interactive prompt", "doctest example lines"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*>>>[ \t]+([^\n]+)"), 1)),
        LibraryRule("assignment_rhs", "code", "line",
                    ("the right-hand side of an assignment, after =", "the value being assigned"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*[A-Za-z_][\w.]*[ \t]*=[ \t]*(?!=)([^\n]+)"), 1)),
        LibraryRule("def_params", "code", "line",
                    ("the parameter list of a def line", "parameters in a function signature"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*def[ \t]+\w+\(([^)\n]*)"), 1)),
        LibraryRule("yield_stmt", "code", "statement",
                    ("values produced by yield", "tokens after yield"), _line_rest("yield")),
        LibraryRule("del_stmt", "code", "statement",
                    ("names deleted with del", "tokens after del"), _line_rest("del")),
    ]


def _prose() -> list[LibraryRule]:
    return [
        LibraryRule("paragraph_start", "prose", "position",
                    ("the first word of a paragraph, after a blank line", "words opening a paragraph"),
                    _mark_regex(re.compile(r"\n[ \t]*\n[ \t]*([A-Za-z]\w*)"), 1)),
        LibraryRule("second_word", "prose", "position",
                    ("the second word of a sentence", "the word after a sentence's first word"),
                    _mark_regex(re.compile(r"(?:(?<=[.!?] )|(?<=\n))[ \t]*[A-Z][a-z]*[ \t]+([a-z]\w*)"), 1)),
        LibraryRule("after_colon_prose", "prose", "position",
                    ("the word right after a colon in running text", "what follows a colon in a sentence"),
                    _mark_regex(re.compile(r"(?<=[a-z]): +([A-Za-z]\w*)"), 1)),
        LibraryRule("bullets", "prose", "line",
                    ("items of a bulleted list (lines starting with - or *)", "text of list bullets"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*[-*][ \t]+([^\n]+)"), 1)),
        LibraryRule("after_eg", "prose", "position",
                    ("the example after e.g. or i.e.", "words after 'e.g.'"),
                    _mark_regex(re.compile(r"(?:e\.g\.|i\.e\.),?\s+([^\s,;)]+)"), 1)),
        LibraryRule("to_infinitive", "prose", "position",
                    ("verbs after 'to' (to make, to use)", "infinitive verbs"),
                    _mark_regex(re.compile(r"(?<![\w])to\s+(be|make|use|get|do|have|set|find|create|keep|"
                                           r"allow|avoid|read|write|call|run|take|return|add|check)(?![\w])"), 1)),
        LibraryRule("after_number", "prose", "position",
                    ("the word right after a number (the unit or counted thing)", "words following a number"),
                    _mark_regex(re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s+([A-Za-z]\w*)"), 1)),
        LibraryRule("numbered_list", "prose", "line",
                    ("items of a numbered list (1. ..., 2) ...)", "text after list numbers"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*\d+[.)][ \t]+([^\n]+)"), 1)),
        LibraryRule("heading_underline", "prose", "line",
                    ("underlines of headings (==== or ----)", "rows of = or - under a title"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*([=\-~^]{4,})[ \t]*$"), 1)),
        LibraryRule("words_in_parens_prose", "prose", "region",
                    ("a parenthetical remark in prose, (like this one)", "asides in round brackets"),
                    _mark_regex(re.compile(r"(?<=[a-z] )\(([a-z][^()\n]*[a-z])\)"), 1)),
    ]


def library_rules(seed: int = 0, subsets: int = 8) -> list[LibraryRule]:
    """The whole library, in a fixed order given the seed (``subsets`` listed-word
    rules per category)."""
    rng = np.random.default_rng(seed)
    rules = (_lexical(rng, subsets) + _single_words() + _character() + _triggers()
             + _brackets_quotes() + _code() + _prose())
    names = [r.name for r in rules]
    assert len(set(names)) == len(names), "library rule names must be unique"
    return rules


def pick_decoys(rule: LibraryRule, rules: Sequence[LibraryRule], activations: dict[str, np.ndarray],
                rng: np.random.Generator, n: int = 2, max_overlap: float = 0.5) -> list[LibraryRule]:
    """``n`` plausible wrong rules for ``rule``: siblings of the same family (the same
    kind first) whose activations on the pool correlate below ``max_overlap`` with
    its own, so a decoy is a near miss, not a synonym."""
    own = activations[rule.name]
    def distinct(other):
        a = activations[other.name]
        if other.name == rule.name or a.std() == 0 or own.std() == 0:
            return False
        return float(np.corrcoef(own, a)[0, 1]) < max_overlap
    same_kind = [r for r in rules if r.family == rule.family and r.kind == rule.kind and distinct(r)]
    same_family = [r for r in rules if r.family == rule.family and r.kind != rule.kind and distinct(r)]
    picks = list(rng.permutation(len(same_kind)))[:n]
    chosen = [same_kind[i] for i in picks]
    if len(chosen) < n:
        extra = list(rng.permutation(len(same_family)))[: n - len(chosen)]
        chosen += [same_family[i] for i in extra]
    return chosen
