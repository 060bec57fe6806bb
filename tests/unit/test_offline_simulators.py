"""The offline simulators: token views, the embedding and trained simulators, and
training the head on a small rule library (real MiniLM, no subject model)."""

from __future__ import annotations

import numpy as np
import pytest
from mechanic.evals.embedding import DIM, Embedder
from mechanic.evals.metrics import pearson
from mechanic.evals.offline import (
    FORMAT,
    EmbeddingSimulator,
    Head,
    TrainedSimulator,
    listed_examples,
    listed_matches,
    modes_of,
    named_ids,
    named_spellings,
    offline_simulator,
    relations,
    word_ids,
)
from mechanic.evals.records import Record
from mechanic.evals.token_features import char_ranges, span_texts
from mechanic.evals.token_views import (
    DIM_VIEWS,
    EMBEDDED,
    PHRASES,
    SHAPES,
    STRUCTURES,
    VIEWS,
    TokenViews,
    shape_flags,
    split,
    structure_flags,
    token_words,
    word_texts,
)
from mechanic.evals.training.library import FAMILIES, library_rules, pick_decoys
from mechanic.evals.training.synthetic import synthetic_paragraphs
from mechanic.evals.training.train import TrainConfig, build_pool, calibrate, rule_activations, train_head
from mechanic.tools.errors import MechanicError

VIEW = {name: i for i, name in enumerate(VIEWS)}


@pytest.fixture(scope="module")
def embedder():
    return Embedder(device="cpu").load()


def words(text: str) -> tuple[str, ...]:
    """A crude tokenization: each word with its leading space, punctuation alone."""
    import re

    return tuple(re.findall(r" ?\w+|\s+|[^\w\s]", text))


# ---------------------------------------------------------------- views


def test_char_ranges_and_spans():
    tokens = ("The", " cat", " sat", ".")
    starts, ends = char_ranges(tokens)
    assert starts.tolist() == [0, 3, 7, 11] and ends.tolist() == [3, 7, 11, 12]
    assert span_texts(tokens, context=2) == ["The", "The cat", " cat sat", " sat."]


def test_word_texts_join_word_pieces_and_name_whitespace():
    tokens = (" Jan", "uary", " ==", "\n", "    ", "my", "_list")
    assert word_texts(tokens) == ["January", "January", "==", "line break", "indentation", "my_list", "my_list"]


def test_structure_and_shape_texts_read_the_text():
    tokens = words('x = f(a, "b")  # note\nif x:\n    y = HTTP')
    text = list(tokens)
    flags = structure_flags(tokens)

    def structure(i):
        return {name for name, on in zip(STRUCTURES, flags[i]) if on}

    assert structure(text.index("a")) == {"inside parentheses"}
    assert structure(text.index("b")) == {"inside parentheses", "inside a string literal"}
    assert structure(text.index("x")) == set()
    assert structure(text.index(" note")) == {"inside a comment", "at the end of a line"}
    assert structure(text.index("if")) == {"at the start of a line"}
    shapes = shape_flags(tokens)

    def shape(i):
        return {name for name, on in zip(SHAPES, shapes[i]) if on}

    assert shape(text.index(" HTTP")) == {"a word in capital letters"}
    assert shape(text.index(" x")) == {"a repeat of an earlier token"} and shape(0) == set()
    assert shape(text.index("(")) == {"a punctuation mark"}


def test_sentence_flags_read_prose():
    tokens = words('He ran home. "Where is it?" she asked.\n\nThen 42 days passed!')
    text = list(tokens)
    flags = structure_flags(tokens)
    opens, closes = STRUCTURES.index("at the start of a sentence"), STRUCTURES.index("at the end of a sentence")
    started = [t.strip() for t, f in zip(text, flags) if f[opens]]
    ended = [t.strip() for t, f in zip(text, flags) if f[closes]]
    assert started == ["Where", "Then"]  # the window's first word may be mid-sentence: not flagged
    assert ended == ["home", ".", "it", "?", "asked", ".", "passed", "!"]
    digits = SHAPES.index("a token of digits")
    assert [t.strip() for t, f in zip(text, shape_flags(tokens)) if f[digits]] == ["42"]


def test_views_are_unit_norm_and_neighbours_line_up(embedder):
    tokens = words("The dog chased the cat (across the garden).\n\nThen it slept.")
    (views,) = TokenViews(embedder)([tokens])
    assert views.shape == (len(tokens), DIM_VIEWS) and views.dtype == np.float16
    embedded, flags = split(views)
    assert embedded.shape == (len(tokens), len(EMBEDDED), DIM) and set(flags) == set(VIEWS) - set(EMBEDDED)
    norms = np.linalg.norm(embedded.astype(np.float32), axis=2)
    assert np.all((np.abs(norms - 1) < 1e-2) | (norms == 0))
    assert np.all(norms[:, VIEW["word"]] > 0.99) and np.all(norms[:, VIEW["span"]] > 0.99)
    word, prev, nxt = (embedded[:, VIEW[v]] for v in ("word", "prev", "next"))
    assert np.array_equal(prev[1:], word[:-1]) and not prev[0].any()
    assert np.array_equal(nxt[:-1], word[1:]) and not nxt[-1].any()
    inside = [i for i, t in enumerate(tokens) if t.strip() in ("across", "garden")]
    parens = STRUCTURES.index("inside parentheses")
    assert all(flags["structure"][i, parens] == 1 for i in inside) and flags["structure"][1, parens] == 0
    assert np.array_equal(flags["structure"], structure_flags(tokens))


def test_views_cache_and_prime(embedder):
    tv = TokenViews(embedder, cache_size=4)
    tokens = words("a small test")
    (first,) = tv([tokens])
    (again,) = tv([tokens])
    assert np.array_equal(first, again)
    fake = np.zeros((3, DIM_VIEWS), np.float16)
    tv.prime([("x", "y", "z")], [fake])
    assert tv([("x", "y", "z")])[0] is fake
    with pytest.raises(ValueError, match="views of shape"):
        tv.prime([("x",)], [fake])


def test_relations_read_where_to_look():
    r = relations(["the word right after 'the'", "what comes before a comma", "names of months",
                   "a noun preceded by 'the'", "a verb followed by a comma"])
    assert r.tolist() == [[1, 0], [0, 1], [0, 0], [1, 0], [0, 1]]


# ---------------------------------------------------------------- embedding simulator


def test_embedding_simulator_lights_what_the_explanation_names(embedder):
    tokens = words("The report was filed. A dog and a horse ran past the office. The meeting ended.")
    acts = np.array([1.0 if t.strip() in ("dog", "horse") else 0.0 for t in tokens], np.float32)
    record = Record(tokens, acts)
    sim = EmbeddingSimulator(embedder)
    right, wrong = sim.simulate_many(["names of animals", "words about office meetings"], [record])
    assert all(0 <= p.min() and p.max() <= 10 for p in (right[0], wrong[0]))
    assert pearson(right[0], acts) > pearson(wrong[0], acts)
    assert sim.usage.calls == 0 and sim.usage.seconds > 0


def test_offline_simulator_specs():
    assert isinstance(offline_simulator("embedding"), EmbeddingSimulator)
    with pytest.raises(MechanicError, match="unknown offline simulator"):
        offline_simulator("nonsense")
    with pytest.raises(MechanicError, match="no trained simulator weights"):
        offline_simulator("trained:/nonexistent/head.safetensors")


# ---------------------------------------------------------------- training the head

TINY = ("lex_animals", "lex_vehicles", "lex_drinks", "lex_countries", "lex_professions", "lex_weather",
        "lex_instruments", "lex_sports", "suffix_ness", "word_and", "word_of", "word_is", "after_and", "after_of", "after_a",
        "before_of", "before_and", "before_is")


@pytest.fixture(scope="module")
def tiny_library(embedder):
    """A few lexical, single-word and trigger rules over synthetic paragraphs, views computed once."""
    paragraphs = synthetic_paragraphs(80, seed=3)
    windows = [words(p)[:40] for p in paragraphs]
    rules = [r for r in library_rules(seed=0, subsets=0) if r.name in TINY]
    train = np.arange(len(windows)) % 4 != 0
    pool = build_pool(windows, TokenViews(embedder), train=train)
    acts = rule_activations(rules, pool)
    emb = {r.name: embedder.encode(list(r.descriptions)) for r in rules}
    return pool, rules, acts, emb, embedder.encode(list(PHRASES))


def _validation_margin(head: Head, pool, rules, acts, emb) -> float:
    """Mean over rules of how much better a rule's own plain description predicts it on
    the validation rows (Pearson r) than the best of the other rules' descriptions."""
    rows = ~pool.train_rows
    texts = [r.descriptions[0] for r in rules]
    levels = head.levels(head.logits(texts, np.stack([emb[r.name][0] for r in rules]), pool.views[rows]))
    margins = []
    for i, r in enumerate(rules):
        y = acts[r.name][rows]
        if not y.any():
            continue
        corr = [pearson(p, y) or 0.0 for p in levels]
        margins.append(corr[i] - max(c for j, c in enumerate(corr) if j != i))
    return float(np.mean(margins))


SMALL = TrainConfig(steps=150, rules_per_step=8, positives_per_rule=8, random_tokens=128, lr=3e-2, temperature=0.2)


def test_head_logits_are_the_same_in_training_and_use(tiny_library):
    import torch
    from mechanic.evals.offline import PARAMS, head_logits, relations

    pool, rules, acts, emb, phrases = tiny_library
    head = train_head(pool, rules, acts, emb, phrases, TrainConfig(**{**SMALL.__dict__, "steps": 20}))
    texts = ["the word right after 'of'", "names of animals (dog, horse)"]
    e = np.stack([emb["after_of"][0], emb["lex_animals"][0]])
    words = token_words(pool.windows)[:200]
    params = {k: torch.as_tensor(np.asarray(getattr(head, k)), dtype=torch.float32) for k in PARAMS}
    listed = torch.from_numpy(listed_matches(texts, *word_ids(words)))
    assert listed.shape == (200, 3, 2) and listed.sum() > 0
    direct = head_logits(params, torch.as_tensor(relations(texts), dtype=torch.float32),
                         torch.as_tensor(e, dtype=torch.float32), torch.from_numpy(pool.views[:200]).float(), listed)
    assert np.allclose(direct.numpy(), head.logits(texts, e, pool.views[:200], words), atol=1e-4)
    plain = head.logits(texts, e, pool.views[:200])
    named = listed.numpy().any(1).T  # [B, T]: tokens where some view's word is named
    assert not np.allclose(plain[named], direct.numpy()[named]) and np.allclose(plain[~named], direct.numpy()[~named])


@pytest.mark.parametrize("text, named", [
    ("Python reserved keywords (def, return, None)", {"def", "return", "none"}),
    ("the word right after 'the' (usually a noun or adjective)", {"the"}),  # a remark in brackets is no list
    ("arithmetic operators (+, -, *, /)", {"+", "-", "*", "/"}),
    ("the tokens ' +', ' **', 'self'", {"+", "**", "self"}),
    ("verbs of saying (said, asked or replied)", {"said", "asked", "replied"}),
    ("words ending in '-ed' and the module os.path", set()),  # mixed letters and symbols name no token's word
    ("a sentence's first word (strongest at paragraphs)", set()),  # an apostrophe opens no quote
])
def test_listed_examples_are_the_single_words_a_description_names(text, named):
    assert listed_examples(text) == named


@pytest.mark.parametrize("text, prefixes, suffixes", [
    ("words ending in -ing (using, running)", set(), {"ing"}),
    ("words beginning with un-", {"un"}, set()),
    ("words that end with 'ed' or start with 'pre'", {"pre"}, {"ed"}),
    ("words starting with the letter b", {"b"}, set()),
    ("words whose last letter is 'y'", set(), {"y"}),
    ("hyphenated words (well-known, read-only) and non-empty lists", set(), set()),  # hyphens inside words
    ("a sentence ending in a question mark; negations ending in n't", set(), set()),  # no affix notation
])
def test_named_spellings_read_affix_notation(text, prefixes, suffixes):
    assert named_spellings(text) == (prefixes, suffixes)


def test_named_ids_spell_out_affixes_over_longer_words():
    vocab = {"running": 0, "ing": 1, "sing": 2, "things": 3, "undo": 4, "dog": 5}
    assert named_ids("words ending in -ing", vocab).tolist() == [0, 2]  # not the bare suffix, not 'things'
    assert named_ids("the prefix un- (dog)", vocab).tolist() == [4, 5]


def test_a_named_example_matches_its_word_and_its_neighbours():
    words = token_words([["The", " dog", " ran"], [" Dog", "s"]])
    assert words.tolist() == [["The", "", "dog"], ["dog", "The", "ran"], ["ran", "dog", ""],
                              ["Dogs", "", "Dogs"], ["Dogs", "Dogs", ""]]
    m = listed_matches(["dogs (dog, cat)", "nothing named"], *word_ids(words))
    assert m.shape == (5, 3, 2) and not m[..., 1].any()
    assert m[..., 0].tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 0]]  # case-folded, whole words


def test_head_training_converges_and_beats_the_untrained_head(tiny_library):
    pool, rules, acts, emb, phrases = tiny_library
    assert {"after_and", "before_of", "word_and"} <= set(acts)
    untrained = train_head(pool, rules, acts, emb, phrases, TrainConfig(**{**SMALL.__dict__, "steps": 0}))
    trained = train_head(pool, rules, acts, emb, phrases, SMALL)
    before = _validation_margin(untrained, pool, rules, acts, emb)
    after = _validation_margin(trained, pool, rules, acts, emb)
    assert after > before + 0.05 and after > 0, (before, after)


def test_flag_views_light_the_structure_an_explanation_names(tiny_library, embedder):
    pool, rules, acts, emb, phrases = tiny_library
    head = train_head(pool, rules, acts, emb, phrases, TrainConfig(**{**SMALL.__dict__, "steps": 0}))
    tokens = words("We said (very quietly) that it rained.")
    (views,) = TokenViews(embedder)([tokens])
    texts = ["words inside parentheses", "names of animals"]
    inside_parens, animals = head.logits(texts, embedder.encode(texts), views)
    inside = np.array([t.strip() in ("very", "quietly") for t in tokens])
    assert inside_parens[inside].min() > inside_parens[~inside].max()
    assert np.ptp(animals) < np.ptp(inside_parens)  # no structure named: the flags stay quiet


def test_training_learns_where_relation_words_look(tiny_library):
    pool, rules, acts, emb, phrases = tiny_library
    head = train_head(pool, rules, acts, emb, phrases, SMALL)
    plain, after, before = head.gates(["x", "x after y", "x before y"])
    assert after[VIEW["prev"]] > plain[VIEW["prev"]] and after[VIEW["prev"]] > after[VIEW["word"]]
    assert before[VIEW["next"]] > plain[VIEW["next"]] and before[VIEW["next"]] > before[VIEW["word"]]


def test_training_is_deterministic_given_a_seed(tiny_library):
    pool, rules, acts, emb, phrases = tiny_library
    config = TrainConfig(steps=20, rules_per_step=8, positives_per_rule=4, random_tokens=64, seed=5)
    a = train_head(pool, rules, acts, emb, phrases, config)
    b = train_head(pool, rules, acts, emb, phrases, config)
    c = train_head(pool, rules, acts, emb, phrases, TrainConfig(**{**config.__dict__, "seed": 6}))
    assert np.array_equal(a.W, b.W) and np.array_equal(a.a, b.a) and np.array_equal(a.theta, b.theta)
    assert not np.array_equal(a.W, c.W)


def test_levels_lie_on_zero_to_ten_and_survive_save_and_load(tiny_library, tmp_path, embedder):
    pool, rules, acts, emb, phrases = tiny_library
    head = train_head(pool, rules, acts, emb, phrases, SMALL)
    rule = max(rules, key=lambda r: int((acts[r.name] > 0).sum()))  # the rule with the most firing tokens
    text = list(rule.descriptions[:1])
    levels = head.levels(head.logits(text, emb[rule.name][:1], pool.views))[0]
    fires = acts[rule.name] > 0
    assert 0 <= levels.min() and levels.max() <= 10
    assert levels[fires].mean() > 3 * levels[~fires].mean()
    # yes/no answers read the level of even odds from a logistic fit, not level 5
    logits = head.logits(text, emb[rule.name][:1], pool.views)[0]
    head.yes_logit = np.array([calibrate(logits, fires)])
    yes = levels >= head.yes_level
    assert 0 < head.yes_level < 10 and yes[fires].mean() > yes[~fires].mean() + 0.3
    path = tmp_path / "head.safetensors"
    head.save(path, {"validation_validity": 0.5})
    loaded = Head.load(path)
    assert loaded.metadata == {"validation_validity": 0.5} and loaded.views == VIEWS
    assert abs(loaded.yes_level - head.yes_level) < 1e-4
    assert np.allclose(loaded.levels(loaded.logits(text, emb[rule.name][:1], pool.views[:50])), levels[:50],
                       atol=1e-3)
    sim = TrainedSimulator(loaded, embedder)
    (pred,) = sim.simulate("names of animals", [Record(pool.windows[0], acts[rule.name][pool.rows(0)])])
    assert pred.shape == (len(pool.windows[0]),) and 0 <= pred.min() <= pred.max() <= 10
    from mechanic.evals.scorers.detection import simulator_verdicts

    records = [Record(pool.windows[w], acts[rule.name][pool.rows(w)]) for w in range(40)]
    verdicts = simulator_verdicts(sim, text[0], records)
    peaks = [float(np.max(p)) for p in sim.simulate(text[0], records)]
    assert verdicts.said == [p >= sim.yes_level for p in peaks]


def test_head_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(MechanicError, match="could not read simulator weights"):
        Head.load(bad)
    from safetensors.numpy import save_file

    old = tmp_path / "old.safetensors"
    save_file({"U": np.zeros((2, 2), np.float32)}, str(old), {"format": "mechanic-simulator-head/2"})
    with pytest.raises(MechanicError, match=f"not a mechanic simulator head \\({FORMAT}\\)"):
        Head.load(old)


# ---------------------------------------------------------------- the library


def test_library_rules_are_unique_and_cover_every_family():
    rules = library_rules()
    assert len(rules) > 800 and len({r.name for r in rules}) == len(rules)
    assert {r.family for r in rules} == set(FAMILIES)
    assert all(len(r.descriptions) >= 2 for r in rules)


@pytest.mark.parametrize("name, text, fires", [
    ("lex_animals", "The dog saw a Horse.", ["dog", "Horse"]),
    ("suffix_ness", "Kindness and darkness, not a witness.", ["Kindness", "darkness", "witness"]),
    ("after_of", "a list of values and one of them", ["values", "them"]),
    ("before_of", "a list of values and one of them", ["list", "one"]),
    ("first_in_parens", "call(alpha, beta)", ["alpha"]),
    ("if_condition", "if x > 3:\n    pass", ["x", ">", "3"]),
    ("paragraph_start", "end.\n\nNext part", ["Next"]),
    ("sem_royalty", "The king met a queen and a farmer.", ["king", "queen"]),
    ("wc_contractions", "It's late, we'll go; the king's horse.", ["'", "s", "'", "ll"]),
    ("wc_possessive_s", "It's late, we'll go; the king's horse.", ["'", "s"]),
    ("wc_negated_verb", "They did not go and don't stay.", ["go", "stay"]),
    ("speaker_after_said", '"Go home," said Mary, and he left.', ["Mary"]),
    ("dialogue", 'He said "come with me" and left.', ["come", "with", "me"]),
    ("years", "In 1984 and 2001, 300 people came.", ["1984", "2001"]),
    ("clock_times", "We met at 3:30 pm and left.", ["3", ":", "30", "pm"]),
    ("name_after_title", "Mr. Brown met Dr Watson.", ["Brown", "Watson"]),
    ("attribution", "Time is money.\n-- Benjamin Franklin", ["Benjamin", "Franklin"]),
])
def test_library_rules_fire_where_their_descriptions_say(name, text, fires):
    rule = next(r for r in library_rules() if r.name == name)
    tokens = words(text)
    acts = rule.activations(tokens)
    lit = [t.strip() for t, a in zip(tokens, acts) if a > 0 and t.strip()]
    assert lit == fires


def test_prose_families_fire_on_prose():
    rules = library_rules()
    prose = {"semantic", "word_class", "sentence", "numbers_dates", "names"}
    assert prose <= set(FAMILIES) and all(any(r.family == f for r in rules) for f in prose)
    text = words(" ".join(synthetic_paragraphs(40, seed=2)))
    fired = {r.family for r in rules if r.family in prose and r.activations(text).any()}
    assert fired == prose


def test_decoys_are_siblings_that_fire_elsewhere():
    rules = library_rules()
    tokens = [words(p) for p in synthetic_paragraphs(60, seed=1)]
    acts = {r.name: np.concatenate([r.activations(t) for t in tokens]) for r in rules if r.family == "lexical"}
    lexical = [r for r in rules if r.family == "lexical"]
    rule = next(r for r in lexical if r.name == "lex_animals")
    decoys = pick_decoys(rule, lexical, acts, np.random.default_rng(0))
    assert len(decoys) == 2 and all(d.family == "lexical" and d.name != rule.name for d in decoys)
    for d in decoys:
        assert np.corrcoef(acts[d.name], acts[rule.name])[0, 1] < 0.5


def test_a_description_of_several_modes_is_read_mode_by_mode(embedder):
    assert modes_of("colour words; also closing brackets; Also the word 'the'") == [
        "colour words", "closing brackets", "the word 'the'"]
    assert modes_of("words; and also more") == ["words; and also more"]  # only "; also" joins modes
    assert modes_of("the word 'also'") == ["the word 'also'"]
    simulator = TrainedSimulator(embedder=embedder)
    record = Record((" The", " red", " car", " stopped", ")", " near", " the", " house", "."), np.zeros(9), "top",
                    "test", 0)
    first, second, both = (simulator.run_many([t], [record])[0].predictions[0]
                           for t in ("colour words", "closing brackets", "colour words; also closing brackets"))
    np.testing.assert_allclose(both, np.maximum(first, second), rtol=1e-5)
    assert not np.allclose(first, second)


def test_the_shipped_head_lights_the_words_an_explanation_names(embedder):
    simulator = TrainedSimulator(embedder=embedder)
    tokens = words("In Python you write def, then return the value if it is running and not a ring.")
    record = Record(tokens, np.zeros(len(tokens)), "top", "test", 0)

    def level(text, word):
        (pred,) = simulator.run_many([text], [record])[0].predictions
        return float(pred[[t.strip(" ,.") for t in tokens].index(word)])

    keywords = "Python reserved keywords (def, return, if)"
    assert min(level(keywords, w) for w in ("def", "return", "if")) > level(keywords, "Python") + 2
    assert level("words ending in -ing", "running") > level("words ending in -ing", "write") + 2  # spelled, not meant
    # a name with no example leaves the words as the sentence encoder reads them
    plain = simulator.run_many(["Python reserved keywords"], [record])[0].predictions[0]
    assert plain[[t.strip(" ,.") for t in tokens].index("return")] < level(keywords, "return")


def test_detection_validity_on_library_cases(tiny_library):
    from mechanic.evals.simulators import Simulation, SimulatorBase
    from mechanic.evals.training.train import detection_cases, detection_validity

    pool, rules, acts, _, _ = tiny_library
    by_text = {r.descriptions[0]: r for r in rules}

    class Oracle(SimulatorBase):
        """Predicts each description's rule exactly."""

        name, usage = "oracle", None

        def run_many(self, explanations, records):
            return [Simulation([10.0 * by_text[e].activations(r.tokens) for r in records]) for e in explanations]

    validation = np.nonzero(~pool.train_window)[0]
    cases = detection_cases(rules, pool, acts, validation, seed=0, n=6, n_hard=3)
    assert cases and all(c.true == by_text[c.true].descriptions[0] and len(c.decoys) == 2 for c in cases)
    for c in cases:
        assert all(r.activations.max() > 0 for r in c.activating) and all(r.activations.max() == 0 for r in c.negatives)
        assert 2 <= len(c.negatives) <= len(c.activating)
    got = detection_validity(Oracle(), cases, poolings=("max", "mean"))
    for how in ("max", "mean"):
        assert got[how]["mean_true_auroc"] == pytest.approx(1.0)  # the truth ranks every firing window first
        assert got[how]["pairings"] == 2 * len(cases) and got[how]["validity"] > 0.75


def test_training_rules_leave_out_what_restates_a_bench_suite(embedder):
    from mechanic.evals.training.recipe import bench_texts, training_rules

    texts = bench_texts()
    assert "the word right after 'the' (usually a noun or adjective)" in texts  # the rules suite
    assert any("modal verbs" in t for t in texts)  # the prose suite
    rules, dropped = training_rules(embedder)
    kept = {r.name for r in rules}
    assert "wc_demonstratives" in dropped and "(0." in dropped["wc_demonstratives"]  # near a prose truth
    assert dropped["wc_modals"].startswith("fires on 100% of the prose suite's modal_verbs")  # by behaviour
    assert {"wc_ly_adverbs", "clock_times", "speaker_after_said", "sem_royalty"} <= kept
    assert not kept & set(dropped)
