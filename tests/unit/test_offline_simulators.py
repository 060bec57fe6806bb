"""The offline simulators: token features, the embedding and trained simulators, and
training the head on a small rule library (real MiniLM, no subject model)."""

from __future__ import annotations

import numpy as np
import pytest

from mechanic.evals.embedding import DIM, Embedder
from mechanic.evals.metrics import pearson
from mechanic.evals.offline import EmbeddingSimulator, Head, TrainedSimulator, offline_simulator
from mechanic.evals.records import Record
from mechanic.evals.token_features import (SURFACE, TokenFeaturizer, char_ranges, layout, span_texts,
                                           surface_features)
from mechanic.evals.training.library import FAMILIES, library_rules, pick_decoys
from mechanic.evals.training.synthetic import synthetic_paragraphs
from mechanic.evals.training.train import TrainConfig, build_pool, calibrate, rule_activations, train_head
from mechanic.tools.errors import MechanicError


BLOCKS = ("own", "span")  # the cosine priors of heads trained here (no sentence-span block)


@pytest.fixture(scope="module")
def embedder():
    return Embedder(device="cpu").load()


def words(text: str) -> tuple[str, ...]:
    """A crude tokenization: each word with its leading space, punctuation alone."""
    import re

    return tuple(re.findall(r" ?\w+|\s+|[^\w\s]", text))


# ---------------------------------------------------------------- features


def test_char_ranges_and_spans():
    tokens = ("The", " cat", " sat", ".")
    starts, ends = char_ranges(tokens)
    assert starts.tolist() == [0, 3, 7, 11] and ends.tolist() == [3, 7, 11, 12]
    assert span_texts(tokens, context=2) == ["The", "The cat", " cat sat", " sat."]


def test_surface_features_read_the_text():
    tokens = words('x = f(a, "b")\nif x:\n    y = x')
    f = surface_features(tokens)
    col = {name: i for i, name in enumerate(SURFACE)}
    text = list(tokens)
    a = text.index(" a") if " a" in text else text.index("a")
    assert f[a, col["in_parens"]] == 1
    assert f[text.index("x"), col["in_parens"]] == 0
    b = text.index("b")
    assert f[b, col["in_string"]] == 1 and f[a, col["in_string"]] == 0
    assert f[text.index("if"), col["line_start"]] == 1
    last_x = len(text) - 1
    assert f[last_x, col["repeat"]] == 1 and f[0, col["repeat"]] == 0


def test_featurizer_aligns_with_tokens_and_fills_every_block(embedder):
    tokens = words("The dog chased the cat across the garden.\n\nThen it slept.")
    fz = TokenFeaturizer(sentence_spans=True, embedder=embedder)
    (feats,) = fz([tokens])
    lay = layout(True)
    assert feats.shape == (len(tokens), fz.dim) == (len(tokens), 4 * DIM + len(SURFACE))
    own = feats[:, slice(*lay["own"])]
    prev = feats[:, slice(*lay["prev"])]
    assert np.allclose(prev[1:], own[:-1]) and not prev[0].any()
    blank = tokens.index("\n\n")
    assert not own[blank].any()  # whitespace overlaps no word piece
    words_at = [i for i, t in enumerate(tokens) if t.strip()]
    assert all(np.linalg.norm(own[i]) > 0 for i in words_at)
    sentence = feats[:, slice(*lay["sentence"])]
    assert np.allclose(np.linalg.norm(sentence, axis=1), 1, atol=1e-4)


def test_featurizer_handles_windows_longer_than_a_segment(embedder):
    tokens = words(" ".join(f"word{i}" for i in range(150)))
    (feats,) = TokenFeaturizer(embedder=embedder)([tokens])
    own = feats[:, :DIM]
    assert feats.shape[0] == len(tokens)
    assert all(np.linalg.norm(own[i]) > 0 for i, t in enumerate(tokens) if t.strip())


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


@pytest.fixture(scope="module")
def tiny_library(embedder):
    """A few lexical and character rules over synthetic paragraphs, features computed once."""
    paragraphs = synthetic_paragraphs(80, seed=3)
    windows = [words(p)[:40] for p in paragraphs]
    rules = [r for r in library_rules(seed=0, subsets=0)
             if r.name in ("lex_animals", "lex_vehicles", "lex_drinks", "lex_countries", "lex_professions",
                           "lex_weather", "lex_instruments", "lex_sports", "suffix_ness", "word_the")]
    fz = TokenFeaturizer(embedder=embedder)
    train = np.arange(len(windows)) % 4 != 0
    pool = build_pool(windows, fz, train=train)
    acts = rule_activations(rules, pool)
    emb = {r.name: embedder.encode(list(r.descriptions)) for r in rules}
    return pool, fz.layout, rules, acts, emb


def _validation_loss(head: Head, pool, rules, acts, emb) -> float:
    """Balanced logistic loss of each rule's plain description on the validation rows."""
    rows = ~pool.train_rows
    x = pool.features[rows].astype(np.float64)
    losses = []
    for r in rules:
        y = acts[r.name][rows] > 0
        if not y.any():
            continue
        z = head.logits(emb[r.name][:1].astype(np.float64), x)[0]
        nll = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * ~y
        losses.append(nll[y].mean() + nll[~y].mean())
    return float(np.mean(losses))


def test_head_training_converges_and_beats_the_untrained_head(tiny_library):
    pool, lay, rules, acts, emb = tiny_library
    config = TrainConfig(steps=150, rules_per_step=8, positives_per_rule=8, random_tokens=128, lr=3e-3, rank=16,
                         cosine_blocks=BLOCKS)
    untrained = train_head(pool, lay, rules, acts, emb, TrainConfig(**{**config.__dict__, "steps": 0}))
    trained = train_head(pool, lay, rules, acts, emb, config)
    assert _validation_loss(trained, pool, rules, acts, emb) < 0.8 * _validation_loss(untrained, pool, rules, acts, emb)


def test_training_is_deterministic_given_a_seed(tiny_library):
    pool, lay, rules, acts, emb = tiny_library
    config = TrainConfig(steps=20, rules_per_step=8, positives_per_rule=4, random_tokens=64, rank=8, seed=5,
                         cosine_blocks=BLOCKS)
    a = train_head(pool, lay, rules, acts, emb, config)
    b = train_head(pool, lay, rules, acts, emb, config)
    c = train_head(pool, lay, rules, acts, emb, TrainConfig(**{**config.__dict__, "seed": 6}))
    assert np.array_equal(a.U, b.U) and np.array_equal(a.V, b.V) and a.cosines == b.cosines
    assert not np.array_equal(a.U, c.U)


def test_calibration_maps_onto_zero_to_ten(tiny_library, tmp_path, embedder):
    pool, lay, rules, acts, emb = tiny_library
    head = train_head(pool, lay, rules, acts, emb,
                      TrainConfig(steps=100, rules_per_step=8, positives_per_rule=8, random_tokens=128, rank=16,
                                  cosine_blocks=BLOCKS))
    rule = rules[0]
    logits = head.logits(emb[rule.name][:1].astype(np.float64), pool.features.astype(np.float64))[0]
    fires = acts[rule.name] > 0
    head.scale, head.shift = calibrate(logits, fires)
    levels = head.levels(logits)
    assert levels.min() >= 0 and levels.max() <= 10
    # a logistic fit with an intercept matches the base rate: level / 10 reads as P(fires)
    assert abs(levels.mean() / 10 - fires.mean()) < 0.02
    assert levels[fires].mean() > 2 * levels[~fires].mean()
    path = tmp_path / "head.safetensors"
    head.save(path, {"validation_validity": 0.5})
    loaded = Head.load(path)
    assert loaded.metadata == {"validation_validity": 0.5} and loaded.layout == head.layout
    assert np.allclose(loaded.levels(loaded.logits(emb[rule.name][:1].astype(np.float64),
                                                   pool.features[:50].astype(np.float64))),
                       levels[:50], atol=1e-3)
    sim = TrainedSimulator(loaded, embedder)
    (pred,) = sim.simulate("names of animals", [Record(pool.windows[0], acts[rule.name][pool.rows(0)])])
    assert pred.shape == (len(pool.windows[0]),) and 0 <= pred.min() <= pred.max() <= 10


def test_head_load_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(MechanicError, match="could not read simulator weights"):
        Head.load(bad)


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
    ("first_in_parens", "call(alpha, beta)", ["alpha"]),
    ("if_condition", "if x > 3:\n    pass", ["x", ">", "3"]),
    ("paragraph_start", "end.\n\nNext part", ["Next"]),
])
def test_library_rules_fire_where_their_descriptions_say(name, text, fires):
    rule = next(r for r in library_rules() if r.name == name)
    tokens = words(text)
    acts = rule.activations(tokens)
    lit = [t.strip() for t, a in zip(tokens, acts) if a > 0 and t.strip()]
    assert lit == fires


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
