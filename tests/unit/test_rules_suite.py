"""The rules suite: every synthetic feature against hand-labelled token lists, the
suite's invariants, and a firing-rate check on real text (the standard library)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mechanic.evals.records import Record
from mechanic.evals.suites import FAMILIES, RULES, Rule, get_rule, rule_records
from mechanic.tools.errors import MechanicError
from support import whitespace_windows

# name -> [(tokens, expected)]; expected is the set of active indices, or a dict
# {index: level} when the exact graded levels matter. Tokens are cut as a GPT-2 /
# SmolLM2-style BPE would (leading spaces kept, words sometimes split).
CASES: dict[str, list[tuple[list[str], set[int] | dict[int, float]]]] = {
    "month_names": [
        (["The", " meeting", " is", " in", " March", "."], {4}),
        ([" Jan", "uary", " and", " Feb", " 3"], {0: 1.0, 1: 1.0, 3: 0.5}),
        ([" on", " May", " 5"], {1}),
        (["May", " raise", " an", " error"], set()),
        (["You", " may", " go", " march", "ing"], set()),
    ],
    "day_names": [
        ([" every", " Monday", " and", " Fri", "."], {1: 1.0, 3: 0.5}),
        ([" the", " weekend", " is", " near"], set()),
    ],
    "numbers": [
        (["x", " =", " 42", " +", " 3", ".", "5"], {2, 4, 5, 6}),
        (["x", "1", " =", " one", " 3", "rd"], set()),
    ],
    "python_keywords": [
        (["def", " f", "():", "\n", "   ", " return", " None"], {0, 5, 6}),
        ([" define", " the", " returned", " value"], set()),
    ],
    "colour_words": [
        ([" a", " Red", " car", " and", " blue", " sky"], {1, 4}),
        ([" a", " fast", " car", " redirect", "ed"], set()),
    ],
    "first_person_pronouns": [
        (["I", " think", " we", " should", " tell", " our", " team"], {0, 2, 5}),
        ([" you", " and", " they", " said", " US", " I", "/", "O"], set()),
    ],
    "negation_words": [
        ([" do", " not", " stop"], {1}),
        (["I", " don", "'t", " know"], {1, 2}),
        ([" note", " the", " knot", " None"], set()),
    ],
    "the_word": [
        (["The", " cat", " saw", " the", " dog"], {0, 3}),
        ([" there", " then", " other"], set()),
    ],
    "self_word": [
        (["   ", " self", ".", "x", " =", " 1"], {1}),
        ([" itself", " selfish"], set()),
    ],
    "long_words": [
        ([" an", " implementation", " detail"], {1}),
        ([" implement", "ation"], {0, 1}),
        ([" a", " short", " note"], set()),
    ],
    "plural_s_words": [
        ([" read", " the", " files", " and", " values"], {2, 4}),
        ([" file", "s"], {1}),
        ([" this", " class", " is", " its", " bus"], set()),
    ],
    "ing_words": [
        ([" while", " process", "ing", " the", " data"], {2}),
        ([" a", " thing", " to", " bring", " string"], set()),
    ],
    "ed_words": [
        ([" it", " returned", " the", " used", " value"], {1, 3}),
        ([" we", " need", " speed", " Ed"], set()),
    ],
    "all_caps_words": [
        ([" the", " HTTP", " server", " uses", " MAX", "_", "SIZE"], {1, 4, 5, 6}),
        (["I", " am", " A", " Http", "Server"], set()),
    ],
    "underscore_identifiers": [
        ([" max", "_", "len", " =", " __", "init", "__"], {0, 1, 2, 4, 5, 6}),
        ([" maxLen", " =", " _", " +", " 1", "_", "000"], set()),
    ],
    "url_or_path": [
        ([" see", " https", "://", "docs", ".python", ".org", "/3", " now"], {1, 2, 3, 4, 5, 6}),
        ([" open", " /", "usr", "/", "lib", " and", " json", "/", "decoder", ".py"], {1, 2, 3, 4, 6, 7, 8, 9}),
        ([" read", "/", "write", " a", " /", " b", " I", "/", "O", " c", "//", "2"], set()),
    ],
    "opening_brackets": [
        (["f", "(", "x", ")", " [", "1", "]", " {}"], {1, 4, 7}),
        (["a", ",", " b", "."], set()),
    ],
    "closing_brackets": [
        (["f", "(", "x", ")", " [", "1", "])", " {}"], {3, 6, 7}),
        (["(", "a", ","], set()),
    ],
    "comparison_operators": [
        (["if", " a", " ==", " b", " and", " c", " <=", " d", " or", " e", " >", " 0"], {2, 6, 10}),
        (["def", " f", "()", " ->", " int", ":", "\n", ">>>", " x", " =", " 1", " <", "port", ">"], set()),
    ],
    "arithmetic_operators": [
        (["x", " =", " a", " +", " b", " *", " 2", " -", " c"], {3, 5, 7}),
        (["i", "+", "1"], {1}),
        (["a", " well", "-", "known", " fact", "\n", "   ", " *", " item", " =", " -", "1"], set()),
    ],
    "assignment_equals": [
        (["x", " =", " f", "(", "n", "=", "3", ")", " +=", " 1"], {1, 5, 8}),
        (["a", " ==", " b", " !=", " c", " <=", " d", " >=", " e"], set()),
    ],
    "quote_characters": [
        (["print", "(", "'", "hi", "')", " \"", "x", "\"", " `", "y", "`"], {2, 4, 5, 7, 8, 10}),
        (["Python", "'s", " user", " don", "'t"], set()),
    ],
    "sentence_end_punctuation": [
        (["It", " works", ".", " Really", "?", " Yes", "!"], {2, 4, 6}),
        (["os", ".", "path", " 3", ".", "14", " e", "...", " from", " .", " import"], set()),
    ],
    "newlines": [
        (["a", "\n", "   ", " b", "\n\n", "c"], {1: 0.5, 4: 1.0}),
        (["a", " b", "   "], set()),
    ],
    "indentation": [
        (["if", " x", ":", "\n", "       ", " return"], {4}),
        (["\n", "\t", "pass"], {1}),
        (["a", "  ", " b", "\n", " c", "\n", "   ", "\n"], set()),
    ],
    "decorators": [
        (["\n", "@", "property", "\n", "def", " f"], {1: 1.0, 2: 0.5}),
        (["\n", "   ", " @", "functools", ".", "wraps", "(", "f", ")"], {2: 1.0, 3: 0.5, 4: 0.5, 5: 0.5}),
        (["mail", " bob", "@", "example", ".", "com", " or", " a", " @", " b"], set()),
    ],
    "comment_markers": [
        (["x", " =", " 1", "  ", "#", " note"], {4}),
        (["s", " =", " \"", "#", "fff", "\""], set()),
    ],
    "sentence_start_capitals": [
        (["It", " works", ".", " Then", " we", " stop", ".", "\n\n", "Next", " step"], {3, 8}),
        (["Use", " os", ".", "Path", " with", " Alice", "."], set()),
    ],
    "after_negation": [
        ([" do", " not", " stop", " now"], {2}),
        (["I", " don", "'t", " know"], {3}),
        ([" nothing", ",", " really", " stop", " now"], set()),
    ],
    "after_the": [
        (["The", " cat", " saw", " the", " big", " dog"], {1, 4}),
        ([" there", " is", " other", " stuff"], set()),
    ],
    "after_comma": [
        (["a", ",", " b", ",", "\n", "   ", " c"], {2, 6}),
        (["a", " b", "."], set()),
    ],
    "attribute_after_dot": [
        (["os", ".", "path", ".", "join", "(", "x", ")", ".", "upper"], {2, 4, 9}),
        (["End", ".", " Next", " 3", ".", "14", " from", " .", "util"], set()),
    ],
    "repeated_token": [
        ([" the", " cat", " and", " the", " dog", " the"], {3, 5}),
        (["(", "a", ")", "(", "b", ")", "The", " the"], set()),
    ],
    "def_function_names": [
        (["def", " load", "_data", "(", "path", "):"], {1, 2}),
        (["async", " def", " run", "():"], {2}),
        ([" define", " the", " function", " def"], set()),
    ],
    "class_names": [
        (["class", " Foo", "(", "Base", "):"], {1}),
        ([" this", " class", " method"], set()),
    ],
    "after_return": [
        (["   ", " return", " self", ".", "x"], {2}),
        ([" returns", " the", " value", "\n", "   ", " return", "\n"], set()),
    ],
    "after_import": [
        (["from", " os", " import", " path", ",", " sep"], {3}),
        (["import", " json", "\n"], {1}),
        (["We", " import", " data", " daily"], set()),
    ],
    "import_module_names": [
        (["import", " os", ".", "path", ",", " sys", " as", " system"], {1, 3, 5}),
        (["from", " json", ".", "decoder", " import", " JSON", "Decoder"], {1, 3}),
        (["We", " import", " the", " data"], set()),
    ],
    "block_colon": [
        (["def", " f", "():", "\n", "   ", " if", " x", ":", "  ", "#", " ok", "\n"], {2, 7}),
        (["d", " =", " {", "'a'", ":", " 1", "}", "\n"], set()),
    ],
    "inside_string_literal": [
        (["x", " =", " \"", "hello", " world", "\"", " +", " f", "'", "{", "y", "}'"], {3, 4, 9, 10, 11}),
        (["It", "'s", " the", " user", "'s", " choice", "\n", "a", " '", "b"], set()),
        (['"""', "Doc", '"""'], set()),
    ],
    "inside_docstring": [
        (["   ", ' """', "Load", " the", " data", '."""', "\n", "   ", " x"], {2, 3, 4, 5}),
        (["x", " =", " \"", "a", "\""], set()),
    ],
    "inside_comment": [
        (["x", " =", " 1", "  ", "#", " set", " x", "\n", "y"], {5, 6}),
        (["s", " =", " \"", "#", "fff", "\""], set()),
    ],
    "inside_parentheses": [
        (["f", "(", "a", ",", " g", "(", "b", "))", " c"], {2: 0.5, 3: 0.5, 4: 0.5, 6: 1.0}),
        (["a", ")", " b", " [", "c", "]"], set()),
    ],
    "inside_square_brackets": [
        (["x", "[", "i", " +", " 1", "]", " y"], {2, 3, 4}),
        (["f", "(", "x", ")"], set()),
    ],
    "inside_curly_braces": [
        (["{", "'a'", ":", " 1", "}", " b"], {1, 2, 3}),
        (["[", "1", "]"], set()),
    ],
    "numbers_in_parentheses": [
        (["f", "(", "3", ")", " +", " 4"], {2}),
        (["x", "[", "2", "]", " =", " 5"], set()),
    ],
    "line_start": [
        (["a", " b", "\n", "   ", " c", " d", "\n\n", "e"], {4, 7}),
        (["a", " b", " c"], set()),
    ],
    "line_end": [
        (["a", " b", "\n", "   ", " c", ":", "  ", "\n", "d"], {1, 5}),
        (["a", " b", " c"], set()),
    ],
}

# Rules that may legitimately never fire on a small sample of the standard library
# (it barely mentions dates or colours); they are reported, not asserted.
RARE_ON_STDLIB = {"month_names", "day_names", "colour_words"}


def _case_ids():
    return [f"{name}-{i}" for name, cases in CASES.items() for i in range(len(cases))]


@pytest.mark.parametrize("name,tokens,expected",
                         [(name, t, e) for name, cases in CASES.items() for t, e in cases], ids=_case_ids())
def test_hand_labelled_case(name, tokens, expected):
    acts = get_rule(name).activations(tokens)
    active = {int(i) for i in np.nonzero(acts > 0)[0]}
    assert active == set(expected), f"{name} on {tokens}: active at {sorted(active)}"
    if isinstance(expected, dict):
        assert {i: float(acts[i]) for i in active} == pytest.approx(expected)


def test_every_rule_has_a_positive_and_a_negative_case():
    assert set(CASES) == {rule.name for rule in RULES}
    for name, cases in CASES.items():
        assert any(expected for _, expected in cases), f"{name} has no positive case"
        assert any(not expected for _, expected in cases), f"{name} has no negative case"


# ---------------------------------------------------------------- invariants


def test_suite_shape():
    assert len(RULES) >= 40
    names = [rule.name for rule in RULES]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
    assert {rule.family for rule in RULES} == set(FAMILIES)
    for rule in RULES:
        texts = [rule.description, *rule.decoys]
        assert len(rule.decoys) == 2
        assert len({text.strip().lower() for text in texts}) == 3, rule.name
        assert all(text.strip() for text in texts)


def test_rule_rejects_bad_definitions():
    with pytest.raises(ValueError, match="decoys"):
        Rule("x", "token-level", "the word x", ("the word y", "The word y "), lambda toks: np.zeros(len(toks)))
    with pytest.raises(ValueError, match="family"):
        Rule("x", "lexical", "the word x", ("the word y", "the word z"), lambda toks: np.zeros(len(toks)))


SAMPLE = [
    "def", " f", "(", "self", ",", " n", "=", "3", "):", "\n", "   ", ' """', "Return", " the",
    " files", " from", " /", "usr", " in", " March", '."""', "\n", "   ", " return", " [", "x", " +",
    " 1", " for", " x", " in", " self", ".", "items", "]", "  ", "#", " not", " empty", "\n",
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_output_type_length_and_determinism(rule):
    acts = rule.activations(SAMPLE)
    assert acts.dtype == np.float32 and acts.shape == (len(SAMPLE),)
    assert np.all(acts >= 0) and np.all(np.isfinite(acts))
    assert np.array_equal(acts, rule.activations(tuple(SAMPLE)))
    empty = rule.activations([])
    assert empty.dtype == np.float32 and empty.shape == (0,)


def test_activations_want_a_token_list():
    rule = get_rule("the_word")
    with pytest.raises(TypeError, match="not one string"):
        rule.activations("the cat")
    with pytest.raises(TypeError, match="strings"):
        rule.activations([" the", 3])


def test_get_rule_names_the_known_rules():
    assert get_rule("month_names").name == "month_names"
    with pytest.raises(MechanicError) as err:
        get_rule("month_name")
    message = str(err.value)
    assert "unknown rule 'month_name'" in message and "did you mean 'month_names'" in message
    assert all(rule.name in message for rule in RULES)


def test_rule_records():
    windows = [["The", " cat", " in", " May", " 5"], [" no", " months", " here"]]
    records = rule_records("month_names", windows)
    assert [type(r) for r in records] == [Record, Record]
    assert [r.window for r in records] == [0, 1] and {r.kind for r in records} == {"random"}
    assert records[0].tokens == tuple(windows[0]) and records[0].max_act == 1.0
    assert np.array_equal(records[1].activations, np.zeros(3, dtype=np.float32))
    assert rule_records(get_rule("the_word"), []) == []


# ------------------------------------------------------------- on real text


def test_rules_fire_somewhere_but_not_everywhere_on_default_text():
    windows = whitespace_windows("default", per_doc=3, max_chars=20_000)  # standard library and prose
    n_tokens = sum(map(len, windows))
    assert len(windows) == 300
    rates = {}
    rows = [f"{'rule':26} {'family':13} {'tokens':>7} {'windows':>7}"]
    for rule in RULES:
        fired = [rule.activations(w) > 0 for w in windows]
        rates[rule.name] = sum(int(f.sum()) for f in fired) / n_tokens
        in_windows = sum(bool(f.any()) for f in fired) / len(windows)
        flag = "  (rare)" if rates[rule.name] < 0.001 else "  (common)" if rates[rule.name] > 0.25 else ""
        rows.append(f"{rule.name:26} {rule.family:13} {rates[rule.name]:7.2%} {in_windows:7.1%}{flag}")
    print(f"\nrule firing rates on {len(windows)} stdlib windows ({n_tokens} tokens):\n" + "\n".join(rows))
    silent = [name for name, rate in rates.items() if rate == 0 and name not in RARE_ON_STDLIB]
    everywhere = [name for name, rate in rates.items() if rate >= 0.9]
    assert not silent, f"never fire on stdlib text: {silent}"
    assert not everywhere, f"fire on >= 90% of tokens: {everywhere}"
