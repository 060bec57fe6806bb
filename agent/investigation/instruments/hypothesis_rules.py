"""A hypothesis as a machine-readable rule of the description search's grammar
(:mod:`mechanic.agent.search.grammar`), and the edits a rule names (pure: no model).

A hypothesis that came from the search carries its rule (:func:`rule_from_dict`).
A free-text one is read by :func:`parse_rule`: the tokens it quotes (``the word
'return'``, ``right after 'def'``), the affix it names (``ending in '-ing'``), the
shape, region or semantic category it names. When nothing parses, the caller falls
back on the search's own proposals for the feature (:mod:`.corpus_tests`). Every
result says which rule was used and how it was found.

:func:`plan_edits` lists, for a rule and a firing position in a window, the edits
that test it: swap the firing word for another member of its class (it should keep
firing) and for a non-member (it should go quiet), and remove the context the rule
names (it should go quiet). The edits are exact token-span replacements; the
instrument applies them and measures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from mechanic.evals.offline import modes_of
from mechanic.evals.token_views import STRUCTURES

from ...search import CATEGORIES, Rule, WindowView, grammar

__all__ = ["CATEGORY_THRESHOLD", "Edit", "holds_at", "parse_rule", "plan_edits", "rule_from_dict", "word_span"]

# The cosine (above the mean word's) a word needs to count as a member of a parsed category.
CATEGORY_THRESHOLD = 0.1

_QUOTED = re.compile(r"""(?:^|(?<=[\s(\[,:;/]))(['"`‘“])(.{1,24}?)(['"`’”])(?=$|[\s)\],.;:!?/])""")
_AFTER = re.compile(r"\b(?:after|following|preceded by|follows)\s+(?:the\s+)?(?:word|token|symbol)?s?\s*$", re.I)
_BEFORE = re.compile(r"\b(?:before|followed by|preceding|precedes)\s+(?:the\s+)?(?:word|token|symbol)?s?\s*$", re.I)
_PREFIX_CUE = re.compile(r"\b(?:start(?:s|ing)?|begin(?:s|ning)?)\s+with\s*$|\bprefix(?:ed)?\s*$", re.I)
_SUFFIX_CUE = re.compile(r"\bend(?:s|ing)?\s+(?:in|with)\s*$|\bsuffix\s*$", re.I)

_SHAPE_CUES = (  # first match wins: the more specific cues first
    ("underscore", r"\bunderscores?\b|\bsnake[_ ]case\b"),
    ("capitals", r"\b(?:all[- ]caps|upper ?case|in capital letters|capital letters)\b"),
    ("capitalised", r"\bcapitali[sz]ed\b|\bcapital\b"),
    ("digits", r"\bdigits?\b|\bnumerals?\b|\bwritten in figures\b"),
    ("punctuation", r"\bpunctuation\b|\bsymbols?\b"),
    ("whitespace", r"\bwhitespace\b|\bline breaks?\b|\bnewlines?\b|\bindentation\b"),
    ("long", r"\blong words?\b"),
    ("repeat", r"\brepeat(?:s|ed)?\b"),
)
_REGION_CUES = (
    ("inside a docstring", r"\bdocstrings?\b"),
    ("inside a comment", r"\bcomments?\b"),
    ("inside a string literal", r"\bstrings?(?: literals?)?\b|\bquot(?:es|ed|ation)\b"),
    ("inside parentheses", r"\bparenthes[ie]s\b|\bround brackets\b"),
    ("inside square brackets", r"\bsquare brackets\b"),
    ("inside curly braces", r"\bcurly\b|\bbraces\b"),
    ("at the start of a line", r"\b(?:start|beginning) of (?:a |the )?lines?\b|\bline starts?\b"
                               r"|\bfirst (?:token|word) (?:of|on) (?:a |the )?lines?\b"),
    ("at the end of a line", r"\bend of (?:a |the )?lines?\b|\bline ends?\b"),
)
_CATEGORY_CUES = {name: re.compile(rf"\b{cue}", re.I) for name, cue in (
    ("month names", "months?"), ("days of the week", r"(?:week ?days?|days of the week)"),
    ("colour words", "colou?rs?"), ("numbers", r"(?:numbers|number words)"), ("people's first names", "first names"),
    ("family members", "family"), ("places and countries", r"(?:places|countries|cities)"),
    ("emotions", r"(?:emotions?|feelings?)"), ("animals", "animals?"), ("food and drink", r"(?:food|drinks?)"),
    ("body parts", "body"), ("time words", "time words"), ("motion verbs", r"(?:motion|movement)"),
    ("speech verbs", r"(?:speech|saying) verbs"), ("pronouns", "pronouns?"), ("negation words", "negation"),
    ("modal verbs", "modals?"), ("prepositions", "prepositions?"), ("conjunctions", "conjunctions?"),
    ("determiners", r"(?:determiners?|articles)"), ("programming keywords", r"(?:keywords?|programming)"),
    ("data types", "(?:data )?types"), ("errors and exceptions", r"(?:errors?|exceptions?)"),
    ("files and paths", r"(?:files?|paths?|directories)"), ("mathematics", r"(?:math|mathematic)"),
    ("money and commerce", r"(?:money|prices?|commerce)"), ("law and government", r"(?:law|government)"),
    ("weather", "weather"), ("sports and games", r"(?:sports?|games?)"), ("music and art", r"(?:music|art)\b"),
    ("clothing", r"cloth"), ("vehicles and travel", r"(?:vehicles?|travel)"), ("religion", r"religio"),
    ("war and conflict", r"(?:war|conflict|military)\b"), ("nature and plants", r"(?:nature|plants?)\b"),
)}
_CATEGORY_NAMES = {name for name, _ in CATEGORIES}


def rule_from_dict(d: dict) -> Rule:
    """The rule of a search candidate's details (``Rule.to_dict``) back as a :class:`Rule`."""
    kind = d.get("kind")
    if kind == "identity":
        return grammar.identity(list(d["words"]))
    if kind == "suffix":
        return grammar.suffix(d["suffix"], list(d.get("examples", [])))
    if kind == "prefix":
        return grammar.prefix(d["prefix"], list(d.get("examples", [])))
    if kind == "shape":
        return grammar.shape(d["shape"], list(d.get("examples", [])))
    if kind == "after":
        return grammar.after(list(d["after"]))
    if kind == "before":
        return grammar.before(list(d["before"]))
    if kind == "output":
        return grammar.output(list(d["followed_by"]))
    if kind == "region":
        return grammar.region(d["region"])
    if kind == "category":
        return grammar.category(d["category"], list(d.get("examples", [])), float(d.get("threshold", CATEGORY_THRESHOLD)))
    if kind == "and" and len(d.get("parts", [])) == 2:
        return grammar.together(*(rule_from_dict(p) for p in d["parts"]))
    if kind == "or" and len(d.get("parts", [])) >= 2:
        return grammar.either(*(rule_from_dict(p) for p in d["parts"]), strengths=tuple(d.get("strengths", ())))
    raise ValueError(f"not a rule of the grammar: {d!r}")


def parse_rule(text: str) -> Rule | None:
    """The grammar rule a free-text hypothesis states, or None when it names nothing
    the grammar can express (see the module doc). A hypothesis of several modes ("A;
    also B") is read mode by mode and joined; a mode the grammar cannot read is left out."""
    modes = modes_of(text)
    if len(modes) > 1:
        read = [r for r in (_parse_one(m) for m in modes) if r is not None]
        return grammar.either(*read) if len(read) > 1 else (read[0] if read else None)
    return _parse_one(text)


def _parse_one(text: str) -> Rule | None:
    heads: list[Rule] = []
    contexts: list[Rule] = []
    quoted = {"identity": [], "after": [], "before": []}
    for match in _QUOTED.finditer(text):
        word = match.group(2).strip()
        if not word:
            continue
        before_quote = text[: match.start()]
        if re.fullmatch(r"-\w+", word) or _SUFFIX_CUE.search(before_quote):
            heads.append(grammar.suffix(word.lstrip("-").lower(), []))
        elif re.fullmatch(r"\w+-", word) or _PREFIX_CUE.search(before_quote):
            heads.append(grammar.prefix(word.rstrip("-").lower(), []))
        elif _AFTER.search(before_quote):
            quoted["after"].append(word)
        elif _BEFORE.search(before_quote):
            quoted["before"].append(word)
        else:
            quoted["identity"].append(word)
    bare = _QUOTED.sub(" ", text)  # cues are read outside the quotes
    if quoted["identity"]:
        heads.insert(0, grammar.identity(list(dict.fromkeys(quoted["identity"]))))
    if not heads:  # shapes first: "numbers written in digits" is a shape, not the category of numbers
        for name, pattern in _SHAPE_CUES:
            if re.search(pattern, bare, re.I):
                heads.append(grammar.shape(name))
                break
    if not heads:
        for name, pattern in _CATEGORY_CUES.items():
            if pattern.search(bare) and name in _CATEGORY_NAMES:
                heads.append(grammar.category(name, [], CATEGORY_THRESHOLD))
                break
    if quoted["after"]:
        contexts.append(grammar.after(list(dict.fromkeys(quoted["after"]))))
    if quoted["before"]:
        contexts.append(grammar.before(list(dict.fromkeys(quoted["before"]))))
    for name, pattern in _REGION_CUES:
        if re.search(pattern, bare, re.I) and name in STRUCTURES:
            contexts.append(grammar.region(name))
            break
    if heads and contexts:
        return grammar.together(heads[0], contexts[0])
    return (heads or contexts or [None])[0]


# --------------------------------------------------------------------- edits


@dataclass(frozen=True)
class Edit:
    """Replace tokens ``start..end`` (inclusive) of a window by ``text``; the activation
    is then read at the last token of the replacement when ``end`` is the firing word,
    else at the firing word (shifted by the change in length). ``expect`` is ``fire``
    or ``quiet``."""

    what: str  # member | non-member | remove context | context member
    start: int
    end: int
    text: str
    expect: str
    note: str


def word_span(view: WindowView, t: int) -> tuple[int, int]:
    """The tokens of the word that token ``t`` ends: ``(first, t)``."""
    a = t
    while a > 0 and view.words[a - 1] == view.words[t] and view.tokens[a][:1] not in (" ", "\n", "\t") \
            and re.search(r"\w", view.tokens[a - 1] or ""):
        a -= 1
    return a, t


def _lead(token: str) -> str:
    """The whitespace a token starts with (what a replacement keeps)."""
    return token[: len(token) - len(token.lstrip(" \t"))]


def _token_class(word: str) -> str:
    return grammar.token_class(word)


def _case_variant(word: str) -> str | None:
    for variant in (word.capitalize(), word.lower(), word.upper()):
        if variant != word and variant.isalpha():
            return variant
    return None


def _head_and_context(rule: Rule, view: WindowView, t: int) -> tuple[Rule | None, Rule | None]:
    """The part of ``rule`` that says which token fires, and the part that names its context."""
    if rule.kind == "or":
        part = next((p for p in rule.parts if p.levels(view)[t] > 0), rule.parts[0])
        return _head_and_context(part, view, t)
    if rule.kind == "and":
        return rule.parts[0], rule.parts[1]
    if rule.kind in ("after", "before", "output", "region"):
        return None, rule
    return rule, None


def _delimiter(region: str) -> str | None:
    return {"inside parentheses": "(", "inside square brackets": "[", "inside curly braces": "{",
            "inside a comment": "#", "inside a docstring": '"""'}.get(region)


def plan_edits(rule: Rule, view: WindowView, t: int, pool: Sequence[tuple[str, bool]]) -> tuple[list[Edit], list[str]]:
    """The edits that test ``rule`` at firing token ``t`` of ``view``, and notes on what
    could not be tested. ``pool`` holds candidate replacement words, each with whether
    the rule's head holds for it (members and non-members, drawn by the caller from
    real text)."""
    edits, notes = [], []
    head, context = _head_and_context(rule, view, t)
    a, _ = word_span(view, t)
    word = view.words[t].strip()
    key = grammar.word_key(word)
    lead = _lead(view.tokens[a])
    kind = _token_class(word)
    same_class = [(w, m) for w, m in pool if _token_class(w) == kind and grammar.word_key(w) != key]
    if head is not None:
        member = next((w for w, m in same_class if m), None)
        if member is None and head.kind == "identity" and kind == "word":
            member = _case_variant(word)  # the rule holds in any case
        if member is not None:
            edits.append(Edit("member", a, t, lead + member, "fire", f"{word!r} -> {member!r}"))
        else:
            notes.append(f"no other member of the class of {word!r} to swap in")
        other = next((w for w, m in same_class if not m), None)
        if other is not None:
            edits.append(Edit("non-member", a, t, lead + other, "quiet", f"{word!r} -> {other!r}"))
        else:
            notes.append(f"no non-member like {word!r} to swap in")
    elif context is not None and context.kind in ("after", "region"):
        # the rule names no class for the firing token: any other word should fire as well
        other = next((w for w, _ in same_class), None)
        if other is not None:
            edits.append(Edit("member", a, t, lead + other, "fire", f"{word!r} -> {other!r} (any token fits)"))
    if context is None:
        return edits, notes
    if context.kind in ("before", "output") or (context.kind == "region"
                                                and context.params["region"] == "at the end of a line"):
        notes.append(f"{context.text!r} names what comes later: a later token cannot change this activation "
                     f"in a causal model, so only the corpus test can check it")
        return edits, notes
    if context.kind == "after":
        if a == 0:
            notes.append("the firing word starts the window: no context to remove")
            return edits, notes
        ca, ct = word_span(view, a - 1)
        listed = {grammar.word_key(w) for w in context.params["after"]}
        prev = view.words[a - 1].strip()
        pclass = _token_class(prev)
        other = next((w for w, _ in pool if _token_class(w) == pclass and grammar.word_key(w) not in listed), None)
        plead = _lead(view.tokens[ca])
        if other is not None:
            edits.append(Edit("remove context", ca, ct, plead + other, "quiet", f"context {prev!r} -> {other!r}"))
        alt = next((w for w in context.params["after"] if grammar.word_key(w) != grammar.word_key(prev)), None)
        alt = alt or (_case_variant(prev) if pclass == "word" else None)
        if alt is not None:
            edits.append(Edit("context member", ca, ct, plead + alt, "fire", f"context {prev!r} -> {alt!r}"))
        return edits, notes
    region = context.params["region"]
    if region == "at the start of a line":
        j = next((i for i in range(a - 1, -1, -1) if "\n" in view.tokens[i]), None)
        if j is None or any(tok.strip() for tok in view.tokens[j + 1:a]):
            notes.append("no line break right before the firing word to remove")
        else:
            edits.append(Edit("remove context", j, j, view.tokens[j].replace("\n", " "), "quiet",
                              "line break before it -> space"))
        return edits, notes
    mark = _delimiter(region)
    if region == "inside a string literal":
        mark = next((q for i in range(a - 1, -1, -1) for q in ('"', "'") if q in view.tokens[i]), None)
    j = next((i for i in range(a - 1, -1, -1) if mark and mark in view.tokens[i]), None) if mark else None
    if j is None:
        notes.append(f"no opening of {region!r} found before the firing word")
    else:
        stripped = view.tokens[j].replace(mark, "", 1)
        edits.append(Edit("remove context", j, j, stripped, "quiet", f"opening {mark!r} removed"))
    return edits, notes


def holds_at(rule: Rule, view: WindowView) -> np.ndarray:
    """Where ``rule`` holds in ``view`` (bool per token)."""
    return rule.levels(view) > 0
