"""Description search: the grammar proposes the true rule of synthetic features of
each kind, and the rule's fit ranks it first; the explainer stores a sentence with its
rule. Records are real text (standard-library docstrings) split into word tokens."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mechanic.agent.evidence import Evidence
from mechanic.agent.explainers import SearchExplainer
from mechanic.agent.search import (
    SearchConfig,
    WindowView,
    find_peaks,
    grammar,
    propose,
    rank_by_fit,
    score_categories,
    search_descriptions,
)
from mechanic.agent.search import search as search_module
from mechanic.evals.embedding import default_embedder
from mechanic.evals.offline import offline_simulator
from mechanic.evals.records import Record
from mechanic.evals.token_views import STRUCTURES

_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")


def _stdlib_windows(n: int = 40, length: int = 32) -> list[tuple[str, ...]]:
    import argparse
    import collections
    import json
    import textwrap

    text = " ".join(filter(None, (m.__doc__ for m in (argparse, collections, json, textwrap))))
    text += " " + " ".join(filter(None, (f.__doc__ for f in (json.dumps, json.loads, textwrap.fill, sorted))))
    tokens = _TOKEN.findall(text)
    return [tuple(tokens[i: i + length]) for i in range(0, min(len(tokens) - length, n * length), length)]


WINDOWS = _stdlib_windows()


def _records(activate, windows=WINDOWS) -> list[Record]:
    out = []
    for i, tokens in enumerate(windows):
        view = WindowView(tokens)
        acts = np.asarray([activate(view, t) for t in range(len(tokens))], dtype=np.float32)
        out.append(Record(tokens, acts * 5.0, "top", "train", i))
    return sorted(out, key=lambda r: -r.max_act)


def _ranked(records, embedder=None):
    views = [WindowView(tuple(r.tokens)) for r in records]
    if embedder is not None:
        score_categories(views, embedder)
    peaks = find_peaks(records, views)
    return rank_by_fit(propose(peaks), peaks), peaks


def test_identity_the_true_word_ranks_first():
    ranked, _ = _ranked(_records(lambda v, t: v.keys[t] == "the"))
    assert ranked[0].rule.kind == "identity"
    assert ranked[0].rule.params["words"] == ["the"]
    assert ranked[0].rule.text == "the word 'the'"
    assert ranked[0].fit == pytest.approx(1.0)


def test_morphology_a_shared_suffix_is_proposed_and_fits_best():
    ranked, _ = _ranked(_records(lambda v, t: re.fullmatch(r"[A-Za-z]{3,}ing", v.words[t]) is not None))
    suffixes = [c for c in ranked if c.rule.kind == "suffix"]
    assert suffixes and suffixes[0].rule.params["suffix"] == "ing"
    assert ranked[0] is suffixes[0]
    assert suffixes[0].rule.text.startswith("words ending in '-ing' (")


def test_context_the_token_after_a_word():
    ranked, _ = _ranked(_records(lambda v, t: t > 0 and v.keys[t - 1] == "the"))
    assert ranked[0].rule.kind == "after"
    assert ranked[0].rule.params["after"] == ["the"]
    assert ranked[0].rule.text == "the token right after 'the'"


def test_region_inside_parentheses():
    col = STRUCTURES.index("inside parentheses")
    ranked, _ = _ranked(_records(lambda v, t: bool(v.structure[t, col])))
    regions = [c for c in ranked if c.rule.kind == "region"]
    assert regions[0].rule.params["region"] == "inside parentheses"
    assert regions[0].fit == pytest.approx(1.0)


COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
FILLER = ("the", "car", "was", "parked", "near", "house", "and", "a", "man", "walked", "past", "with", "his",
          "dog", "while", "rain", "fell", "on", "old", "roof", "table", "book", "river", "we", "saw")


def _colour_windows(n: int = 30, length: int = 24) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        words = [str(rng.choice(COLOURS)) if rng.random() < 0.15 else str(rng.choice(FILLER)) for _ in range(length)]
        out.append(tuple(" " + w for w in words))
    return out


def test_category_colour_words_from_embeddings():
    records = _records(lambda v, t: v.keys[t] in COLOURS, _colour_windows())
    ranked, _ = _ranked(records, default_embedder())
    categories = [c for c in ranked if c.rule.kind == "category"]
    assert categories[0].rule.params["category"] == "colour words"
    assert categories[0].fit > 0.8
    assert set(categories[0].rule.params["examples"]) <= set(COLOURS)


def test_conjunction_a_word_inside_a_region():
    col = STRUCTURES.index("inside parentheses")
    records = _records(lambda v, t: v.keys[t] == "the" and bool(v.structure[t, col]))
    views = [WindowView(tuple(r.tokens)) for r in records]
    peaks = find_peaks(records, views)
    both = grammar.together(grammar.identity(["the"]), grammar.region("inside parentheses"))
    ranked = rank_by_fit([*propose(peaks), both], peaks)
    assert ranked[0].rule.text == "the word 'the' inside parentheses"
    assert ranked[0].fit == pytest.approx(1.0)


def test_either_joins_two_modes():
    rule = grammar.either(grammar.identity(["the"]), grammar.shape("digits"))
    view = WindowView((" the", " 42", " cat"))
    assert rule.levels(view).tolist() == [1.0, 1.0, 0.0]
    assert rule.text == "the word 'the'; also numbers written in digits"
    assert rule.size == 2


def test_either_weighs_each_mode_by_its_strength():
    rule = grammar.either(grammar.identity(["the"]), grammar.shape("digits"), grammar.identity(["("]),
                          strengths=(1.0, 0.6, 0.3))
    view = WindowView((" the", " 42", " (", " cat"))
    assert rule.levels(view).tolist() == pytest.approx([1.0, 0.6, 0.3, 0.0])
    assert rule.text == "the word 'the'; also numbers written in digits; also the opening bracket '('"
    assert rule.params == {"strengths": [1.0, 0.6, 0.3]}
    with pytest.raises(ValueError):
        grammar.either(grammar.identity(["the"]))


def _two_modes(v, t):
    """'the' at full strength; numbers written in digits at 0.6 of it."""
    return 1.0 if v.keys[t] == "the" else 0.6 if re.fullmatch(r"\s*\d+", v.tokens[t]) else 0.0


def _digit_windows(n: int = 40, length: int = 32) -> list[tuple[str, ...]]:
    rng = np.random.default_rng(1)
    out = []
    for tokens in WINDOWS[:n]:
        tokens = list(tokens[:length])
        for i in rng.choice(len(tokens), 3, replace=False):
            tokens[i] = f" {int(rng.integers(0, 2000))}"
        out.append(tuple(tokens))
    return out


def test_modes_of_a_polysemantic_feature_are_found_and_weighted():
    records = _records(_two_modes, _digit_windows())
    views = [WindowView(tuple(r.tokens)) for r in records]
    peaks = find_peaks(records, views)
    ranked = rank_by_fit(propose(peaks), peaks)
    joined = [r for r in search_module._combinations(ranked, peaks, SearchConfig()) if r.kind == "or"]
    best = max(rank_by_fit(joined, peaks), key=lambda c: c.fit)
    by_kind = {p.kind: (p, w) for p, w in zip(best.rule.parts, best.rule.params["strengths"])}
    assert set(by_kind) == {"identity", "shape"}, best.rule.text
    assert "the" in by_kind["identity"][0].params["words"]
    assert by_kind["shape"][0].text.startswith("numbers written in digits")
    assert best.fit > 0.95 > ranked[0].fit  # both modes fit better than either alone
    # each mode weighed by its peaks' activation: digits at 0.6 of 'the'
    assert by_kind["shape"][1] / by_kind["identity"][1] == pytest.approx(0.6, abs=0.05)


def test_a_word_list_is_never_split_into_two_modes():
    words = ("the", "of", "and", "to", "in", "is")
    records = _records(lambda v, t: float(v.keys[t] in words))
    views = [WindowView(tuple(r.tokens)) for r in records]
    peaks = find_peaks(records, views)
    first = grammar.identity(["the", "of"])
    for rule in search_module._modes(first, peaks, SearchConfig()):
        later = rule.parts[1:]
        assert not any(p.kind == "identity" and grammar.token_class(p.params["words"][0]) == "word" for p in later), \
            rule.text


@pytest.fixture(scope="module")
def trained():
    return offline_simulator("trained")


def test_search_chooses_on_select_and_never_reads_beyond(trained):
    records = _records(lambda v, t: v.keys[t] == "the")
    train, select = records[::2], records[1::2][:6]
    result = search_descriptions(train, select, trained, default_embedder(), config=SearchConfig(simulate=4))
    assert result.best is not None
    assert result.best.rule.text == "the word 'the'"
    assert result.best.select is not None and result.best.select_fit == pytest.approx(1.0)
    assert result.proposed >= len(result.candidates) > 0
    assert result.usage.calls == 0


def test_search_explainer_stores_the_sentence_and_its_rule(trained):
    records = _records(lambda v, t: t > 0 and v.keys[t - 1] == "the")
    evidence = Evidence("rule:after_the", {"max": 5.0, "min": 0.0}, records[:12], records[12:20], [], [])
    result = SearchExplainer(trained, records[20:26], default_embedder()).explain(evidence)
    assert result.status == "ok"
    assert result.method == "search" and result.usage.calls == 0
    assert result.text == "the token right after 'the'"
    assert result.details["rule"] == {"kind": "after", "text": result.text, "after": ["the"]}


def test_search_explainer_fails_honestly_on_a_silent_feature(trained):
    quiet = [Record(tokens, np.zeros(len(tokens), np.float32), "top", "train", i) for i, tokens in enumerate(WINDOWS[:6])]
    evidence = Evidence("rule:never", {"max": 0.0, "min": 0.0}, quiet, [], [], [])
    result = SearchExplainer(trained, quiet[:2], default_embedder()).explain(evidence)
    assert result.status == "failed" and result.text is None
    assert "no candidate" in result.error


def test_a_word_list_never_mixes_words_and_symbols():
    records = _records(lambda v, t: v.keys[t] in ("the", "="), [(" the", " x", " =", " 1", " the", " cat")] * 4)
    ranked, _ = _ranked(records)
    for c in ranked:
        if c.rule.kind == "identity":
            words = c.rule.params["words"]
            assert words in (["the"], ["="]), words


def test_whitespace_is_named_in_words_and_kept_apart_from_symbols():
    assert grammar.identity(["line break"]).text == "line breaks"
    windows = [(" x", ")", "\n", " y", " the", ")", "\n", " z")] * 4
    records = _records(lambda v, t: v.tokens[t] in (")", "\n"), windows)
    ranked, _ = _ranked(records)
    lists = [c.rule.params["words"] for c in ranked if c.rule.kind == "identity"]
    assert [")"] in lists and ["line break"] in lists
    assert not [w for w in lists if ")" in w and "line break" in w]


def test_symbols_are_named_as_people_name_them():
    assert grammar.identity(["("]).text == "the opening bracket '('"
    assert grammar.identity([")", "]"]).text == "closing brackets (')' and ']')"
    assert grammar.identity(["==", "<="]).text == "comparison operators ('==' and '<=')"
    assert grammar.identity(['"""']).text == "the quotation mark '\"\"\"'"
    assert grammar.identity(["1", "42"]).text == "the numbers '1' and '42'"
    # symbols of different names stay a plain listing
    assert grammar.identity([")", ","]).text == "the symbols ')' and ','"
    assert grammar.symbol_name("x") is None


def test_a_list_keeps_numbers_apart_from_words():
    records = _records(lambda v, t: 1.0 if v.keys[t] == "the" else 0.6 if v.keys[t] in ("1", "42") else 0.0,
                       [(" the", " x", " 1", " cat", " on", " a", " mat", " the", " 42", " and", " so", " on")] * 4)
    ranked, _ = _ranked(records)
    lists = [c.rule.params["words"] for c in ranked if c.rule.kind == "identity"]
    assert ["the"] in lists and ["1", "42"] in [sorted(w) for w in lists]
    assert not [w for w in lists if "the" in w and ("1" in w or "42" in w)]


def _strong_and_weak(v, t):
    """'the' at full strength; commas at 0.3 of it, in windows where 'the' also fires."""
    return 1.0 if v.keys[t] == "the" else 0.3 if v.keys[t] == "," else 0.0


def test_a_weak_mode_is_found_beside_a_stronger_one_in_the_same_windows():
    # a comma never peaks (0.3 < half the window's max wherever 'the' fires), but it is
    # active, so it is the second mode
    windows = [w for w in WINDOWS if {" the", " The"} & set(w) and ("," in w or " ," in w)]
    assert len(windows) >= 6
    records = _records(_strong_and_weak, windows)
    peaks = find_peaks(records)
    assert not any(WindowView(tuple(records[i].tokens)).keys[t] == "," for i, t, _ in peaks.where)
    modes = search_module._modes(grammar.identity(["the"]), peaks, SearchConfig())
    joined = next((m for m in modes if m.text == "the word 'the'; also the comma ','"), None)
    assert joined is not None, [m.text for m in modes]
    assert joined.params["strengths"] == pytest.approx([1.0, 0.3], abs=0.01)


def test_modes_are_joined_strongest_first():
    records = _records(_two_modes, _digit_windows())
    peaks = find_peaks(records)
    # starting from the weaker mode, the joined sentence still names the stronger first
    modes = search_module._modes(grammar.shape("digits"), peaks, SearchConfig())
    assert modes and all(m.parts[0].text == "the word 'the'" for m in modes[:1]), [m.text for m in modes]
    assert modes[0].params["strengths"][0] == 1.0 > modes[0].params["strengths"][1]


def test_the_best_joined_description_is_measured_on_select_even_when_it_reads_worse():
    def cand(text, kind, fit, train, size=1):
        rule = grammar.identity([f"w{i}" for i in range(size)]) if kind == "identity" else \
            grammar.either(grammar.identity(["a"]), grammar.identity(["="]))
        return search_module.Candidate(rule, fit=fit, train=train)

    read = [cand("a", "identity", 0.8, 0.70), cand("b", "identity", 0.7, 0.69), cand("c", "identity", 0.7, 0.68),
            cand("d", "identity", 0.7, 0.67), cand("e", "or", 0.95, 0.5)]
    chosen = search_module._to_select(read, 4, 0.02)
    assert len(chosen) == 4 and chosen[-1] is read[-1] and chosen[:3] == read[:3]
    # already among the best read: nothing changes
    assert search_module._to_select(read[:2] + read[-1:], 4, 0.02) == read[:2] + read[-1:]


def _list_and_weaker_words(v, t):
    """'the' at full strength, 'of' and 'a' at 0.6 of it: a word list of two levels."""
    return 1.0 if v.keys[t] == "the" else 0.6 if v.keys[t] in ("of", "a") else 0.0


def test_words_that_fire_clearly_weaker_than_their_list_are_a_mode_of_their_own():
    records = _records(_list_and_weaker_words)
    peaks = find_peaks(records)
    strong = search_module._strong_part(grammar.identity(["the", "of", "a"]), peaks)
    assert strong is not None and strong.params["words"] == ["the"]
    assert search_module._strong_part(grammar.identity(["of", "a"]), peaks) is None  # one level: nothing to split
    modes = search_module._modes(strong, peaks, SearchConfig())
    weaker = [m for m in modes if m.parts[1].kind == "identity"]
    assert weaker and set(weaker[0].parts[1].params["words"]) <= {"of", "a"}, [m.text for m in modes]
    assert weaker[0].params["strengths"] == pytest.approx([1.0, 0.6], abs=0.05)


def test_after_each_lifted_word_is_proposed_on_its_own():
    windows = [(" x", ".", " y", "\n", " z", " w", " v", " u")] * 6
    records = _records(lambda v, t: float(t > 0 and v.tokens[t - 1] in (".", "\n")), windows)
    ranked, _ = _ranked(records)
    afters = [c.rule.params["after"] for c in ranked if c.rule.kind == "after"]
    assert ["."] in afters and ["line break"] in afters and any(len(a) == 2 for a in afters), afters


def test_identifiers_with_an_underscore_are_a_shape():
    rule = grammar.shape("underscore", ["max_size"])
    view = WindowView((" max_size", " =", " _x", " 3", " value", " __", "init"))
    assert rule.levels(view).tolist() == [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0]  # "__init" is one identifier
    assert rule.text == "identifiers containing an underscore (max_size)"
    rng = np.random.default_rng(0)
    windows = []
    for i, tokens in enumerate(WINDOWS[:20]):  # a different identifier in every window
        tokens = list(tokens)
        tokens[int(rng.integers(len(tokens)))] = f" max_size{i}"
        windows.append(tuple(tokens))
    ranked, _ = _ranked(_records(lambda v, t: float("_" in v.words[t]), windows))
    assert ranked[0].rule.text.startswith("identifiers containing an underscore"), ranked[0].rule.text
    assert ranked[0].fit == pytest.approx(1.0)
