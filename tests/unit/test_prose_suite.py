"""The prose suite: every rule against hand-written sentences (where it fires and where
it must not), the suite's invariants, and firing rates on the prose corpus."""

from __future__ import annotations

import re

import numpy as np
import pytest
from mechanic.evals.suites import FAMILIES, PROSE_RULES, RULES
from support import whitespace_windows

RULE = {rule.name: rule for rule in PROSE_RULES}

# name -> [(tokens, active indices)], tokens cut as a SmolLM2-style BPE would (leading
# spaces kept, words sometimes split). Each rule has a case where it fires and a near
# miss where it must not.
CASES: dict[str, list[tuple[list[str], set[int]]]] = {
    # ---- word classes
    "second_person_pronouns": [
        (["If", " you", " lose", " your", " way", ",", " thou", " art", " lost"], {1, 3, 6}),
        (["I", " told", " them", " about", " young", " Yves"], set()),
    ],
    "possessive_determiners": [
        (["My", " dog", " ate", " their", " lunch", " and", " its", " bone"], {0, 3, 6}),
        (["He", " gave", " it", " to", " them", " myself"], set()),
    ],
    "indefinite_articles": [
        (["A", " man", " and", " an", " owl", " saw", " a", " cat"], {0, 3, 6}),
        (["A", ":", " Because", " the", " answer", " is", " A", ".", " Smith"], set()),
        ([" any", " and", " as", " at"], set()),
    ],
    "demonstratives": [
        (["This", " is", " what", " those", " people", " want"], {0, 3}),
        ([" the", " thistle", " there", " thus"], set()),
    ],
    "prepositions": [
        ([" one", " of", " them", " went", " into", " town", " with", " her"], {1, 4, 6}),
        ([" to", " go", " and", " sing", " often"], set()),
    ],
    "and_but_or": [
        ([" bread", " and", " butter", ",", " but", " not", " tea", " or", " milk"], {1, 4, 7}),
        ([" band", " butter", " order", " nor", "th"], set()),
    ],
    "be_have_do": [
        (["It", " was", " what", " we", " had", " been", " told", ",", " did", " you"], {1, 4, 5, 8}),
        ([" island", " shaved", " dozen", " hasty"], set()),
    ],
    "modal_verbs": [
        (["You", " can", " go", " but", " you", " must", " not", " stay", ";", " I", " would"], {1, 5, 10}),
        (["In", " May", " the", " canal", " will", "ow", " mighty"], set()),
    ],
    "ly_adverbs": [
        (["He", " quickly", " and", " quiet", "ly", " left", ",", " only", " slowly"], {1, 3, 4, 7, 8}),
        ([" my", " family", " in", " Italy", " in", " July", " ply"], set()),
    ],
    "wh_words": [
        (["Who", " knows", " why", " and", " how", "?"], {0, 2, 4}),
        ([" somewhere", " whoever", " wheat", " whale"], set()),
    ],
    # ---- semantic categories
    "colours": [
        ([" a", " red", " rose", " and", " White", " sn", "ow"], {1, 4}),
        ([" a", " reddish", " blu", "ish", " tone", " bred"], set()),
    ],
    "body_parts": [
        (["His", " hands", " and", " heart", " and", " feet", " ached"], {1, 3, 5}),
        ([" handy", " arm", "chair", " footnote"], set()),
    ],
    "family_members": [
        (["My", " mother", " and", " my", " brother", "'s", " wife"], {1, 4, 6}),
        ([" smother", " another", " sonnet"], set()),
    ],
    "people_words": [
        (["The", " man", " and", " the", " women", " saw", " a", " child"], {1, 4, 7}),
        ([" manner", " mankind", " personal", " boycott"], set()),
    ],
    "feelings": [
        (["Love", " and", " fear", " bring", " joy", " and", " anger"], {0, 2, 4, 6}),
        ([" glove", " hopeful", "ly", " madness"], set()),
    ],
    "animals": [
        ([" The", " dog", " chased", " two", " mice", " and", " a", " bird"], {1, 4, 7}),
        ([" dogma", " catalogue", " ant", "ique", " bear"], set()),
    ],
    "food_and_drink": [
        ([" bread", ",", " cheese", " and", " wine", " for", " dinner", ";", " eat", "!"], {0, 2, 4, 6, 8}),
        ([" breadth", " teacher", " winery", " sugary"], set()),
    ],
    "times_of_day": [
        (["At", " midnight", " and", " again", " tomorrow", " morning"], {1, 4, 5}),
        ([" the", " nightingale", " mornings", "tar"], set()),
    ],
    "life_and_death": [
        (["He", " was", " born", ",", " lived", " and", " died"], {2, 4, 6}),
        ([" deadline", " lively", " diet", " lifetime"], set()),
    ],
    # ---- numbers and dates
    "digit_numbers": [
        (["In", " 19", "84", " he", " paid", " $", "3", ".", "50"], {1, 2, 6, 7, 8}),
        ([" R", "2", "D", "2", " 3", "rd", " x", "1"], set()),
    ],
    "years": [
        (["In", " 1", "9", "8", "4", " and", " 2", "0", "0", "1"], {1, 2, 3, 4, 6, 7, 8, 9}),
        ([" 3", "0", "0", " men", " and", " 1", ",", "9", "8", "4", " cows", " 1", "2", "3", "4", "5"], set()),
    ],
    "number_words": [
        (["One", " day", " two", " hundred", " men", " came"], {0, 2, 3}),
        ([" someone", " often", " tender", " lonely", " twofold"], set()),
    ],
    "ordinals": [
        (["The", " first", " and", " second", " time", ",", " the", " 2", "1", "st", " century"], {1, 3, 7, 8, 9}),
        ([" firstly", " 2", "1", " st", "ations", " thirds"], set()),
    ],
    "months_and_days": [
        (["On", " Friday", ",", " June", " 5", ",", " we", " left"], {1, 3}),
        ([" a", " sunny", " day", " in", " the", " march", "ing", " band"], set()),
    ],
    # ---- sentence position
    "sentence_first_word": [
        ([" it", " rained", ".", " Then", " we", " left", "!", "  ", "Why", "?"], {3, 8}),
        (["Mr", ".", " Smith", " and", " J", ".", " R", ".", " Ewing", " met", " Dr", ".", " Who"], set()),
    ],
    "word_before_full_stop": [
        ([" We", " went", " home", ".", " It", " was", " late", ".\n"], {2, 6}),
        ([" Mr", ".", " Smith", " said", " no", "!", " Why", "?", " 3", ".", "5"], set()),
    ],
    "question_sentences": [
        (["He", " left", ".", " Why", " did", " he", " go", "?", " Nobody", " knows", "."], {3, 4, 5, 6}),
        (["He", " asked", " why", " she", " left", "."], set()),
    ],
    # ---- quotes and dialogue
    "inside_double_quotes": [
        (["He", " said", " \"", "Go", " home", ",\"", " and", " left", "."], {3, 4, 5}),
        (["basket", "\"", "--", "which", " is", " but", " a", " manner"], set()),
    ],
    "attribution": [
        ([" truth", ".", "\n", "\t", "\t", "--", " Mark", " Tw", "ain", ",", " \"", "Life", "\"", "\n", "Next"],
         {6, 7, 8, 9, 10, 11, 12}),
        (["a", " man", " --", " I", " mean", " a", " boy", "\n", "--", "not", " this"], set()),
    ],
    "possessive_s": [
        (["John", "'s", " hat", " and", " the", " world", "\u2019s", " end"], {1, 6}),
        (["It", "'s", " what", "'s", " there", ";", " let", "'s", " go", " to", " the", " shops"], set()),
    ],
    "contractions": [
        (["I", "'m", " sure", " it", "'s", " what", " we", "'ll", " do", ";", " you", "'d", " know"], {1, 4, 7, 11}),
        (["John", "'s", " hat", " don", "'t", " rock", " 'n", "'", " roll"], set()),
    ],
    # ---- negation
    "negations": [
        (["I", " do", " not", " know", ",", " nor", " do", " they", ";", " never", "!"], {2, 5, 9}),
        ([" a", " note", " on", " knots", " and", " nouns", " snow"], set()),
    ],
    # ---- names
    "capitalised_mid_sentence": [
        (["Then", " John", " went", " to", " Paris", " with", " I", " and", " NASA"], {1, 4}),
        (["Then", " he", " left", ".", " Then", " they", " left", ".\n", "And", " \"", "Go", "\""], set()),
    ],
    "first_names": [
        (["When", " Mary", " met", " George", " and", " Oscar"], {1, 3, 5}),
        ([" Smith", " and", " London", " mary", " Will", " Mark"], set()),
    ],
    # ---- context: the word before
    "word_after_the": [
        (["The", " cat", " saw", " the", " big", " dog"], {1, 4}),
        ([" there", " cat", " then", " dog", " other", " one"], set()),
    ],
    "word_after_to": [
        ([" I", " want", " to", " go", " to", " town"], {3, 5}),
        ([" too", " much", " toward", " home", " to"], set()),
    ],
    "word_after_i": [
        (["I", " think", " that", " I", " am", " right"], {1, 4}),
        ([" the", " I", "/", "O", " bus", " it", " is", " in", " Iowa"], set()),
    ],
}


def _case_ids():
    return [f"{name}-{i}" for name, cases in CASES.items() for i in range(len(cases))]


@pytest.mark.parametrize("name,tokens,expected",
                         [(name, t, e) for name, cases in CASES.items() for t, e in cases], ids=_case_ids())
def test_hand_written_case(name, tokens, expected):
    acts = RULE[name].activations(tokens)
    active = {int(i) for i in np.nonzero(acts > 0)[0]}
    assert active == set(expected), f"{name} on {tokens}: active at {sorted(active)}"


def test_every_rule_has_a_positive_and_a_negative_case():
    assert set(CASES) == set(RULE)
    for name, cases in CASES.items():
        assert any(expected for _, expected in cases), f"{name} has no positive case"
        assert any(not expected for _, expected in cases), f"{name} has no negative case"


def test_suite_shape():
    assert 30 <= len(PROSE_RULES) <= 45
    names = [rule.name for rule in PROSE_RULES]
    assert len(set(names)) == len(names)
    assert not set(names) & {rule.name for rule in RULES}  # a rule:NAME feature means one rule
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in names)
    assert {rule.family for rule in PROSE_RULES} == set(FAMILIES)
    for rule in PROSE_RULES:
        texts = [rule.description, *rule.decoys]
        assert len({text.strip().lower() for text in texts}) == 3, rule.name


SAMPLE = ["\t", "\"", "Why", " don", "'t", " you", " eat", " bread", "?\"", " she", " asked", " John", ".", "\n",
          "\t\t", "--", " Mark", " Twain", ",", " 1", "8", "8", "4", "\n", "\n", "I", "'m", " not", " the", " one"]


@pytest.mark.parametrize("rule", PROSE_RULES, ids=lambda r: r.name)
def test_output_type_length_and_determinism(rule):
    acts = rule.activations(SAMPLE)
    assert acts.dtype == np.float32 and acts.shape == (len(SAMPLE),)
    assert np.all(acts >= 0) and np.all(np.isfinite(acts))
    assert np.array_equal(acts, rule.activations(tuple(SAMPLE)))
    assert rule.activations([]).shape == (0,)


def test_rules_fire_somewhere_but_not_everywhere_on_prose():
    windows = whitespace_windows("prose", per_doc=2)
    assert len(windows) == 300
    n_tokens = sum(map(len, windows))
    rows = [f"{'rule':26} {'tokens':>7} {'windows':>7}"]
    in_windows = {}
    for rule in PROSE_RULES:
        fired = [rule.activations(w) > 0 for w in windows]
        rate = sum(int(f.sum()) for f in fired) / n_tokens
        in_windows[rule.name] = sum(bool(f.any()) for f in fired)
        rows.append(f"{rule.name:26} {rate:7.2%} {in_windows[rule.name]:7d}")
        assert rate < 0.5, f"{rule.name} fires on {rate:.0%} of prose tokens"
    print(f"\nprose rule firing on {len(windows)} windows ({n_tokens} tokens):\n" + "\n".join(rows))
    assert all(n >= 3 for n in in_windows.values()), {k: n for k, n in in_windows.items() if n < 3}


def test_each_word_list_is_what_its_rule_fires_on():
    from mechanic.evals.suites.prose import WORD_LISTS

    assert set(WORD_LISTS) <= set(RULE)
    for name, words in WORD_LISTS.items():
        for word in sorted(words):
            shown = word.capitalize() if name == "first_names" else word  # names fire capitalised only
            assert RULE[name].activations([" " + shown, " x"]).tolist() == [1.0, 0.0], (name, word)
