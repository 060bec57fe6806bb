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
* ``prose`` — sentence and paragraph structure;
* ``semantic`` — semantic fields of everyday English (food, royalty, sleep and
  dreams ...), and listed-word rules on them, as ``lexical``;
* ``word_class`` — closed word classes (object pronouns, prepositions of place,
  forms of 'to be', modal verbs ...), -ly adverbs, contractions, negative words;
* ``sentence`` — where a word sits in a sentence (last word, the word before a
  question mark), questions and exclamations, quotations and dialogue;
* ``numbers_dates`` — years, clock times, percentages, sums of money, ordinals;
* ``names`` — capitalised names: full names, names after a title, attributions.

The last five are the prose families: their rules fire mostly on English prose (the
``prose`` corpus and synthetic paragraphs with dialogue, dates and names).

No rule restates a rule or decoy of a bench suite (``rules``, ``prose``): the categories are
chosen apart from them, and :func:`~mechanic.evals.training.recipe.training_rules` drops any rule whose description
lies close to one in embedding space (``exclude_near``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..token_text import STRING, TokenText, bracket_depth, code_classes
from . import _prose_words as prose_words
from . import _words as words

__all__ = ["FAMILIES", "LibraryRule", "library_rules", "pick_decoys"]

FAMILIES = ("lexical", "single_word", "character", "trigger", "brackets_quotes", "code", "prose",
            "semantic", "word_class", "sentence", "numbers_dates", "names")


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


def _either(*fns: Callable) -> Callable:
    """Fires where any of ``fns`` fires (the highest level)."""
    def fn(tokens):
        return np.max(np.stack([np.asarray(f(tokens), np.float32) for f in fns]), axis=0)
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


def _lexical(rng: np.random.Generator, subsets: int, categories: dict | None = None, family: str = "lexical",
             prefix: str = "lex") -> list[LibraryRule]:
    rules = []
    for name, (desc, vocab) in (words.CATEGORIES if categories is None else categories).items():
        vocab = vocab.split()
        ex = list(rng.choice(vocab, size=min(3, len(vocab)), replace=False))
        rules.append(LibraryRule(
            f"{prefix}_{name}", family, name,
            (desc, f"{desc} ({', '.join(ex)})", f"words like {ex[0]}, {ex[1]} and {ex[2]}",
             f"mentions of {desc.split(' and ')[0]}"),
            _word_set(vocab)))
        for k in range(subsets):
            size = int(rng.integers(3, 7))
            pick = [str(w) for w in rng.choice(vocab, size=min(size, len(vocab)), replace=False)]
            listed = ", ".join(pick)
            rules.append(LibraryRule(
                f"{prefix}_{name}_{k}", family, name,
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


# ----------------------------------------------------------------- prose families


def _word_classes() -> list[LibraryRule]:
    rules = []
    for name, (desc, vocab) in prose_words.WORD_CLASSES.items():
        vocab = vocab.split()
        short = desc.split(" (")[0]
        rules.append(LibraryRule(
            f"wc_{name}", "word_class", "closed",
            (desc, short, f"words such as {', '.join(vocab[:3])}", f"occurrences of {' or '.join(vocab[:2])}"),
            _word_set(vocab)))
    rules += [
        LibraryRule("wc_ly_adverbs", "word_class", "form",
                    ("manner adverbs formed with -ly (slowly, gently, carefully)", "words like quickly and softly",
                     "adverbs made from adjectives"),
                    _mark_regex(re.compile(r"(?<![\w])(?!(?:only|family|reply|apply|supply|early|july|italy|"
                                           r"fly|rely|ally|belly|holy|ugly|lily)\b)[A-Za-z]{3,}ly(?![\w])",
                                           re.IGNORECASE))),
        LibraryRule("wc_contractions", "word_class", "form",
                    ("contractions with an apostrophe (it's, I'll, they're, we've)", "shortened forms like I'm",
                     "the part after an apostrophe in it's or you'll"),
                    _either(_mark_regex(re.compile(r"(?<=[A-Za-z])['’](?:ll|re|ve|d|m)(?![\w])")),
                            _mark_regex(re.compile(r"(?<![\w])(?:it|he|she|that|what|there|here|let|who)(['’]s)"
                                                   r"(?![\w])", re.IGNORECASE), 1))),
        LibraryRule("wc_possessive_s", "word_class", "form",
                    ("the possessive 's of a noun (the king's horse)", "possessive endings",
                     "the apostrophe-s marking ownership"),
                    _mark_regex(re.compile(r"(?<![\w])(?!(?:it|he|she|that|what|there|here|let|who)['’])[A-Za-z]"
                                           r"[a-z]+(['’]s)(?=\s+[a-z])", re.IGNORECASE), 1)),
        LibraryRule("wc_superlatives", "word_class", "form",
                    ("superlative adjectives (the biggest, the best, the worst)", "words ending in -est after 'the'",
                     "the most extreme degree of an adjective"),
                    _mark_regex(re.compile(r"(?<![\w])the\s+(best|worst|most|least|[a-z]{2,}est)(?![\w])",
                                           re.IGNORECASE), 1)),
        LibraryRule("wc_comparatives", "word_class", "form",
                    ("comparative words before 'than' (better than, older than)", "the comparative in a comparison",
                     "adjectives compared with than"),
                    _mark_regex(re.compile(r"(?<![\w])(more|less|better|worse|[a-z]{2,}er)\s+than(?![\w])",
                                           re.IGNORECASE), 1)),
        LibraryRule("wc_absence", "word_class", "negative",
                    ("words of absence (nothing, nobody, nowhere, none)", "nothing and nobody",
                     "pronouns meaning no one or no thing"),
                    _word_set("nothing nobody nowhere none neither nor noone".split())),
        LibraryRule("wc_nt", "word_class", "negative",
                    ("negative contractions ending in n't (don't, can't, won't)", "the n't of doesn't",
                     "shortened negated verbs"),
                    _mark_regex(re.compile(r"(?<=[A-Za-z])n['’]t(?![\w])|(?<![\w])(?:can|won|don|isn|aren|didn|"
                                           r"doesn|wasn|weren|couldn|wouldn|shouldn)['’]t", re.IGNORECASE))),
        LibraryRule("wc_never", "word_class", "negative",
                    ("the adverb 'never'", "never", "the word never, in any case"), _word_set(["never"])),
        LibraryRule("wc_negated_verb", "word_class", "negative",
                    ("the verb a 'do not' or 'did not' denies (go in 'did not go')", "the verb after don't or didn't",
                     "the denied action"),
                    _mark_regex(re.compile(r"(?<![\w])(?:do|does|did)(?:\s+not|n['’]t)\s+([a-z]+)",
                                           re.IGNORECASE), 1)),
    ]
    return rules


def _semantic(rng: np.random.Generator, subsets: int) -> list[LibraryRule]:
    return _lexical(rng, subsets, prose_words.SEMANTIC, "semantic", "sem")


_SENTENCE_END = r"[.!?](?=[\s\"'’”)]|$)"


def _sentences() -> list[LibraryRule]:
    speech = "|".join(prose_words.SPEECH_VERBS)
    return [
        LibraryRule("before_question_mark", "sentence", "position",
                    ("the word right before a question mark", "the last word of a question",
                     "words followed by ?"),
                    _mark_regex(re.compile(r"([A-Za-z]\w*)[\"'’”)]*\?"), 1)),
        LibraryRule("question_sentence", "sentence", "mood",
                    ("every word of a question, a sentence ending in a question mark", "text of questions",
                     "interrogative sentences"),
                    _mark_regex(re.compile(r"(?:(?<=[.!?]\s)|(?<=\n)|^)([A-Z][^.!?\n]{3,}\?)"), 1)),
        LibraryRule("exclamation_sentence", "sentence", "mood",
                    ("the words of an exclamation, a sentence ending in !", "exclaimed sentences",
                     "text that ends with an exclamation mark"),
                    _mark_regex(re.compile(r"(?:(?<=[.!?]\s)|(?<=\n)|^)([A-Z][^.!?\n]{3,}!)"), 1)),
        LibraryRule("after_semicolon", "sentence", "position",
                    ("the clause after a semicolon in a sentence", "words following a semicolon",
                     "the second half of a sentence joined by ;"),
                    _mark_regex(re.compile(r"(?<=[a-z]);\s+([a-z][^.;!?\n]*)"), 1)),
        LibraryRule("third_word", "sentence", "position",
                    ("the third word of a sentence", "the word two places after a sentence's start"),
                    _mark_regex(re.compile(r"(?:(?<=[.!?] )|(?<=\n))[ \t]*[A-Z][a-z]*[ \t]+[a-z]+[ \t]+([a-z]\w*)"),
                                1)),
        LibraryRule("dialogue", "sentence", "dialogue",
                    ("words spoken by a character in dialogue, inside quotation marks", "quoted speech in a story",
                     "what someone says, in quotes"),
                    _mark_regex(re.compile(r"(?:(?<=\s)|^)[\"“]([A-Za-z][^\"”\n]*\s[^\"”\n]*)[\"”]"), 1)),
        LibraryRule("speech_verb", "sentence", "dialogue",
                    ("verbs of saying after a quotation (said, asked, replied)", "the said in '..., he said'",
                     "speech tags in dialogue"),
                    _mark_regex(re.compile(rf"[\"”,]\s*(?:he|she|they|I|[A-Z][a-z]+)?\s*({speech})(?![\w])"), 1)),
        LibraryRule("speaker_after_said", "sentence", "dialogue",
                    ("the speaker named after said or asked", "who is speaking, after the verb of saying"),
                    _mark_regex(re.compile(rf"(?<![\w])(?:{speech})\s+([A-Z][a-z]+|he|she|they)(?![\w])"), 1)),
        LibraryRule("qa_question", "sentence", "dialogue",
                    ("the question in a Q: and A: exchange, after Q:", "text after 'Q:'"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*Q:[ \t]*([^\n]+)"), 1)),
        LibraryRule("qa_answer", "sentence", "dialogue",
                    ("the answer in a Q: and A: exchange, after A:", "text after 'A:'"),
                    _mark_regex(re.compile(r"(?m)^[ \t]*A:[ \t]*([^\n]+)"), 1)),
    ]


def _numbers_dates() -> list[LibraryRule]:
    month = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
             r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?")
    return [
        LibraryRule("years", "numbers_dates", "date",
                    ("years written in four digits (1984, 2001)", "calendar years", "a year such as 1776"),
                    _mark_regex(re.compile(r"(?<![\w.,])(?:1[5-9]\d\d|20\d\d)(?![\w]|[,.]\d)"))),
        LibraryRule("day_of_month", "numbers_dates", "date",
                    ("the day number of a date (the 4 in July 4 or 4 March)", "days of the month in dates"),
                    _mark_regex(re.compile(rf"{month}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)|(?<![\w])(\d{{1,2}})"
                                           rf"(?:st|nd|rd|th)?\s+(?={month})"))),
        LibraryRule("decades", "numbers_dates", "date",
                    ("decades such as the 1960s or the '80s", "a decade written with -s"),
                    _mark_regex(re.compile(r"(?<![\w])(?:1\d|20)\d0s(?![\w])|['’]\d0s(?![\w])"))),
        LibraryRule("clock_times", "numbers_dates", "time",
                    ("clock times like 3:30 or 10:15 pm", "times of day written with a colon"),
                    _mark_regex(re.compile(r"(?<![\w:])\d{1,2}:\d\d(?:\s?[ap]\.?m(?![\w]))?(?![\w:])", re.IGNORECASE))),
        LibraryRule("percentages", "numbers_dates", "amount",
                    ("percentages (50%, 3.5 percent)", "numbers with a per cent sign"),
                    _mark_regex(re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:%|per ?cent)", re.IGNORECASE))),
        LibraryRule("money_amounts", "numbers_dates", "amount",
                    ("sums of money ($5, 100 dollars)", "prices and amounts of money"),
                    _mark_regex(re.compile(r"[$£€]\s?\d+(?:[,.]\d+)*|(?<![\w.])\d+(?:[,.]\d+)*\s(?:dollars?|cents?|pounds|"
                                           r"euros?|bucks)(?![\w])", re.IGNORECASE))),
        LibraryRule("ordinal_digits", "numbers_dates", "count",
                    ("ordinal numbers in digits (1st, 2nd, 23rd)", "numbers with -st, -nd, -rd or -th"),
                    _mark_regex(re.compile(r"(?<![\w])\d+(?:st|nd|rd|th)(?![\w])", re.IGNORECASE))),
        LibraryRule("thousands", "numbers_dates", "count",
                    ("large numbers with thousands separators (1,000,000)", "numbers with commas between digits"),
                    _mark_regex(re.compile(r"(?<![\w,])\d{1,3}(?:,\d{3})+(?![\w,])"))),
        LibraryRule("roman_numerals", "numbers_dates", "count",
                    ("Roman numerals (II, IV, XIV)", "numbers in Roman letters"),
                    _mark_regex(re.compile(r"(?<![\w])(?=[IVXLC]{2,}(?![\w]))(?:X{0,3})(?:IX|IV|V?I{0,3})(?![\w])"))),
        LibraryRule("fractions", "numbers_dates", "count",
                    ("fractions like 1/2 and 3/4", "a number over another with a slash"),
                    _mark_regex(re.compile(r"(?<![\w/])\d+/\d+(?![\w/])"))),
        LibraryRule("number_ranges", "numbers_dates", "count",
                    ("ranges of numbers such as 10-20 or 5 to 10", "from one number to another"),
                    _mark_regex(re.compile(r"(?<![\w.])\d+\s?(?:-|–|to)\s?\d+(?![\w.])"))),
        LibraryRule("after_counted", "numbers_dates", "count",
                    ("the thing counted after a number word (the days in 'three days')",
                     "nouns after two, three, ten or a hundred"),
                    _mark_regex(re.compile(r"(?<![\w])(?:two|three|four|five|six|seven|eight|nine|ten|twelve|"
                                           r"twenty|hundred|thousand)\s+([a-z]{3,})(?![\w])", re.IGNORECASE), 1)),
    ]


def _names() -> list[LibraryRule]:
    return [
        LibraryRule("full_names", "names", "person",
                    ("a person's full name, first name and surname (John Smith)", "people's names in two parts"),
                    _mark_regex(re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+ (?:[A-Z]\. )?[A-Z][a-z]{2,}(?![\w])"))),
        LibraryRule("name_after_title", "names", "person",
                    ("the surname after a title such as Mr. or Dr.", "names following Mrs or Sir"),
                    _mark_regex(re.compile(r"(?<![\w])(?:Mr|Mrs|Ms|Dr|Sir|St|Lady|Lord|Uncle|Aunt)\.?\s+"
                                           r"([A-Z][a-z]+)"), 1)),
        LibraryRule("attribution", "names", "person",
                    ("the author's name after a dash under a quotation (-- Mark Twain)",
                     "who said a quoted line, after --"),
                    _mark_regex(re.compile(r"(?m)(?:--|—)\s*([A-Z][^\n,(]*)"), 1)),
        LibraryRule("initials", "names", "person",
                    ("initials such as J. R. R. in a name", "single capital letters followed by a dot"),
                    _mark_regex(re.compile(r"(?<![\w.])[A-Z]\.(?=\s?[A-Z])"))),
        LibraryRule("place_after_in", "names", "place",
                    ("place names after in, at or from (in London)", "a capitalised place after a preposition"),
                    _mark_regex(re.compile(r"(?<=[a-z] )(?:in|at|from|near|to)\s+([A-Z][a-z]{2,})(?![\w])"), 1)),
        LibraryRule("name_vocative", "names", "person",
                    ("a name used to address someone, set off by commas ('Yes, John, ...')",
                     "the name of the person spoken to"),
                    _mark_regex(re.compile(r"(?<=, )([A-Z][a-z]+)(?=[,!?.]\s*[\"”]?)"), 1)),
        LibraryRule("capitalised_after_the", "names", "thing",
                    ("capitalised names after 'the' (the Thames, the Bible)", "proper nouns that take 'the'"),
                    _mark_regex(re.compile(r"(?<=[a-z] )the\s+([A-Z][a-z]+)(?![\w])"), 1)),
    ]


def library_rules(seed: int = 0, subsets: int = 8) -> list[LibraryRule]:
    """The whole library, in a fixed order given the seed (``subsets`` listed-word
    rules per category)."""
    rng = np.random.default_rng(seed)
    rules = (_lexical(rng, subsets) + _single_words() + _character() + _triggers()
             + _brackets_quotes() + _code() + _prose()
             + _semantic(rng, max(subsets // 4, 1)) + _word_classes() + _sentences() + _numbers_dates() + _names())
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
