"""The ``rules`` suite: synthetic features whose ground truth is known exactly.

Each `Rule` is a pure function of a window's token strings (as the subject tokenizer
decodes them one by one, leading spaces kept: " January", "(", "\\n    ") to one float
activation per token — 0 where it is silent, a positive level where it fires, graded
where a weaker form exists (a month's abbreviation fires at 0.5). Each rule carries
the description a good explanation would give and two *decoys*: plausible but wrong
descriptions, true of other tokens, for multiple-choice tests (FIND-style, chance 1/3)
and for checking that a scorer ranks the truth above a near miss.

Families: ``token-level`` rules depend on the token's own word or characters;
``context-level`` rules on what surrounds it (the word before, an enclosing string,
bracket or comment, its place on the line). Rules read text through a character
view (see ``_text``), so they do not depend on how a tokenizer cuts words.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from mechanic.tools.errors import MechanicError

from ..records import Record
from . import _contextual as ctx
from . import _lexical as lex

__all__ = ["Rule", "RULES", "FAMILIES", "get_rule", "rule_records"]

FAMILIES = ("token-level", "context-level")


@dataclass(frozen=True)
class Rule:
    """A synthetic feature: a name, its true description, two wrong ones, and the
    function that computes it."""

    name: str
    family: str  # token-level | context-level
    description: str  # the ground truth, as a good explanation would say it
    decoys: tuple[str, str]  # plausible but wrong descriptions
    fn: Callable[[Sequence[str]], np.ndarray]  # token strings -> float32 activations

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"rule {self.name}: family {self.family!r} is not one of {FAMILIES}")
        texts = [self.description, *self.decoys]
        if len(self.decoys) != 2 or len({text.strip().lower() for text in texts}) != 3:
            raise ValueError(f"rule {self.name}: needs two decoys, distinct from each other and the description")

    def activations(self, tokens: Sequence[str]) -> np.ndarray:
        """The rule's activation at each token: float32, shape ``[len(tokens)]``."""
        if isinstance(tokens, str):
            raise TypeError(f"rule {self.name}: pass a sequence of token strings, not one string")
        tokens = list(tokens)
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(f"rule {self.name}: tokens must be strings, got {type(tok).__name__}")
        acts = np.asarray(self.fn(tokens), dtype=np.float32)
        if acts.shape != (len(tokens),):
            raise ValueError(f"rule {self.name}: {acts.shape} activations for {len(tokens)} tokens")
        return acts


def _token(name: str, description: str, decoys: tuple[str, str], fn) -> Rule:
    return Rule(name, "token-level", description, decoys, fn)


def _context(name: str, description: str, decoys: tuple[str, str], fn) -> Rule:
    return Rule(name, "context-level", description, decoys, fn)


RULES: tuple[Rule, ...] = (
    # ---- words
    _token("month_names", "names of months (January, March; abbreviations like Jan fire weaker)",
           ("days of the week", "names of the seasons"), lex.month_names),
    _token("day_names", "names of the days of the week (Monday, Friday; abbreviations like Mon fire weaker)",
           ("names of months", "times of day such as morning and evening"), lex.day_names),
    _token("numbers", "numbers written in digits (3, 42, 2.5)",
           ("numbers spelled out as words (one, two, three)", "arithmetic operators"), lex.numbers),
    _token("python_keywords", "Python reserved keywords (def, return, if, in, None, True)",
           ("names of Python built-in functions (len, print, range)", "variable names chosen by the programmer"),
           lex.python_keywords),
    _token("colour_words", "colour words (red, green, blue, black, white)",
           ("names of fruits", "words describing size (big, small, large)"), lex.colour_words),
    _token("first_person_pronouns", "first-person pronouns (I, me, my, we, us, our)",
           ("second-person pronouns (you, your)", "names of people"), lex.first_person_pronouns),
    _token("negation_words", "negation words (not, no, never, n't)",
           ("question words (what, why, how)", "words of agreement (yes, sure, okay)"), lex.negation_words),
    _token("the_word", "the word 'the'",
           ("the indefinite articles 'a' and 'an'", "prepositions (of, in, to)"), lex.the_word),
    _token("self_word", "the word 'self'",
           ("the word 'cls'", "function names in def statements"), lex.self_word),
    _token("long_words", "long words of ten or more letters",
           ("short function words (a, of, to)", "words in capital letters"), lex.long_words),
    _token("plural_s_words", "words ending in -s, mostly plural nouns (files, values, names)",
           ("words ending in -ing", "singular nouns"), lex.plural_s_words),
    _token("ing_words", "words ending in -ing (using, running, processing)",
           ("words ending in -ed", "plural nouns ending in -s"), lex.ing_words),
    _token("ed_words", "words ending in -ed, past tenses and participles (returned, used)",
           ("words ending in -ing", "adverbs ending in -ly"), lex.ed_words),
    _token("all_caps_words", "words written in ALL CAPITALS (HTTP, MAX_SIZE)",
           ("capitalised words starting a sentence", "numbers"), lex.all_caps_words),
    _token("underscore_identifiers", "identifiers containing an underscore (snake_case, __init__)",
           ("camelCase identifiers", "Python keywords"), lex.underscore_identifiers),
    _token("url_or_path", "URLs and file-system paths (https://..., /usr/lib, json/decoder.py)",
           ("email addresses", "division in arithmetic"), lex.url_or_path),
    # ---- punctuation and operators
    _token("opening_brackets", "opening brackets ( [ {",
           ("closing brackets ) ] }", "quotation marks"), lex.opening_brackets),
    _token("closing_brackets", "closing brackets ) ] }",
           ("opening brackets ( [ {", "commas and semicolons"), lex.closing_brackets),
    _token("comparison_operators", "comparison operators (==, !=, <, >, <=, >=)",
           ("arithmetic operators (+, -, *, /)", "the single = of an assignment"), lex.comparison_operators),
    _token("arithmetic_operators", "arithmetic operators between operands (+, -, *, /, %)",
           ("comparison operators (==, <, >)", "brackets and parentheses"), lex.arithmetic_operators),
    _token("assignment_equals", "the = sign of an assignment or keyword argument",
           ("comparison operators (==, !=, <)", "colons"), lex.assignment_equals),
    _token("quote_characters", "quotation marks (' \" `), not apostrophes inside words",
           ("parentheses", "commas"), lex.quote_characters),
    _token("sentence_end_punctuation", "punctuation that ends a sentence (. ! ?)",
           ("commas", "the first word of a sentence"), lex.sentence_end_punctuation),
    # ---- layout and code
    _token("newlines", "line breaks (strongest for blank lines)",
           ("sentence-ending periods", "commas"), lex.newlines),
    _token("indentation", "indentation whitespace at the start of a line",
           ("spaces around operators", "the first word of a line"), lex.indentation),
    _token("decorators", "Python decorators: the @ opening a line (strongest) and the decorator's name",
           ("email addresses", "comment markers (#)"), lex.decorators),
    _token("comment_markers", "the # that starts a comment",
           ("the text inside a comment", "decorator @ signs"), lex.comment_markers),
    # ---- context: the word before
    _context("sentence_start_capitals", "a capitalised word starting a new sentence after . ! or ?",
             ("proper nouns in the middle of a sentence", "the last word of a sentence"),
             ctx.sentence_start_capitals),
    _context("after_negation", "the word right after a negation (be in 'not be')",
             ("negation words themselves", "the word right before a negation"), ctx.after_negation),
    _context("after_the", "the word right after 'the' (usually a noun or adjective)",
             ("the word 'the' itself", "the word right before 'the'"), ctx.after_the),
    _context("after_comma", "the token right after a comma",
             ("commas themselves", "the token right before a comma"), ctx.after_comma),
    _context("attribute_after_dot", "attribute or method names right after a dot (path in os.path)",
             ("the object name before a dot", "words after a sentence-ending period"), ctx.attribute_after_dot),
    _context("repeated_token", "a token that already appeared earlier in the window (the repeat, not the first)",
             ("the first occurrence of each word", "capitalised words"), ctx.repeated_token),
    # ---- context: statements of code
    _context("def_function_names", "function names in def statements",
             ("class names in class statements", "arguments inside a function's parentheses"),
             ctx.def_function_names),
    _context("class_names", "class names in class statements",
             ("function names in def statements", "base classes inside parentheses"), ctx.class_names),
    _context("after_return", "the first token of a returned value, right after return",
             ("the return keyword itself", "function names in def statements"), ctx.after_return),
    _context("after_import", "the first name right after the import keyword",
             ("the import keyword itself", "module names after from"), ctx.after_import),
    _context("import_module_names", "module names in import statements (os in 'import os', json in 'from json import x')",
             ("function names in def statements", "names of Python built-in functions"), ctx.import_module_names),
    _context("block_colon", "a colon at the end of a line (opening a block)",
             ("colons inside dictionary literals", "commas at the end of a line"), ctx.block_colon),
    # ---- context: enclosing regions
    _context("inside_string_literal", "text inside a quoted string literal on one line ('...' or \"...\")",
             ("inside parentheses", "Python keywords"), ctx.inside_string_literal),
    _context("inside_docstring", "text inside a triple-quoted docstring",
             ("inside a # comment", "inside a one-line string literal"), ctx.inside_docstring),
    _context("inside_comment", "the text of a # comment, up to the end of the line",
             ("inside a docstring", "inside a string literal"), ctx.inside_comment),
    _context("inside_parentheses", "tokens inside parentheses (stronger when nested)",
             ("inside square brackets", "inside a string literal"), ctx.inside_parentheses),
    _context("inside_square_brackets", "tokens inside square brackets [ ]",
             ("inside parentheses", "inside curly braces"), ctx.inside_square_brackets),
    _context("inside_curly_braces", "tokens inside curly braces { }",
             ("inside square brackets", "tokens right after a colon"), ctx.inside_curly_braces),
    _context("numbers_in_parentheses", "numbers inside parentheses (the 3 in f(3))",
             ("numbers inside square brackets", "numbers right after an = sign"), ctx.numbers_in_parentheses),
    # ---- context: lines
    _context("line_start", "the first token of a line",
             ("the last token before a line break", "capitalised words"), ctx.line_start),
    _context("line_end", "the last token before a line break",
             ("the first token of a line", "the word right after 'the'"), ctx.line_end),
)

_BY_NAME = {rule.name: rule for rule in RULES}
if len(_BY_NAME) != len(RULES):  # pragma: no cover - a typo in the table above
    raise RuntimeError("duplicate rule names in RULES")


def get_rule(name: str) -> Rule:
    """The rule called ``name``; a `MechanicError` naming the known rules otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), _BY_NAME, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MechanicError(f"unknown rule {name!r}{hint}; known rules: {', '.join(_BY_NAME)}") from None


def rule_records(rule: Rule | str, windows_tokens: Sequence[Sequence[str]]) -> list[Record]:
    """One `Record` per window: its tokens and the rule's activations (kind ``random``,
    ``window`` = the window's position in ``windows_tokens``)."""
    if isinstance(rule, str):
        rule = get_rule(rule)
    return [Record(tuple(tokens), rule.activations(tokens), kind="random", window=i)
            for i, tokens in enumerate(windows_tokens)]
