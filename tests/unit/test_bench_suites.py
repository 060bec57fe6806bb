"""The bench suites' features: the records importer on our fixture files, planted
probe directions in a tiny model, and rule activations summarised exactly as capture
summarises a real feature."""

import json
from pathlib import Path

import numpy as np
import pytest
from mechanic import store
from mechanic.evals.suites.neuron_records import load_records
from mechanic.evals.suites.planted import plant_concepts, resid_token_activations
from mechanic.tools import CaptureConfig, MechanicError, activations_on_ids, capture, corpus_windows, tiny_subject
from mechanic.tools.capture import summarise_values

FIXTURES = Path(__file__).parents[1] / "fixtures" / "records"


# ------------------------------------------------------------------ records


def test_neuron_record_import_splits_like_the_original():
    (f,) = load_records(FIXTURES / "neuron_3_17.json")
    assert f.name == "neuron:3:17" and f.source == "neuron_record" and not f.has_ground_truth
    # 8 top records interleaved train/select/test/test; 6 random select/test/test; quantile bins alternate
    tops = {s: [r for r in getattr(f, s) if r.kind == "top"] for s in ("train", "select", "test")}
    assert [len(tops[s]) for s in ("train", "select", "test")] == [2, 2, 4]
    randoms = {s: [r for r in getattr(f, s) if r.kind == "random"] for s in ("select", "test")}
    assert [len(randoms[s]) for s in ("select", "test")] == [2, 4]
    deciles = [r for r in f.train + f.test if r.kind == "decile"]
    assert len(deciles) == 4 and {r.decile for r in deciles} == {0, 5}
    first = tops["train"][0]
    assert first.tokens[4] == " January" and first.activations[4] == pytest.approx(7.5)
    assert all(len(r.tokens) == len(r.activations) for r in f.train + f.select + f.test)
    windows = [r.window for r in f.train + f.select + f.test]
    assert len(windows) == len(set(windows))  # every record traceable and distinct


def test_puzzle_import_has_truth_decoys_and_both_splits():
    features = {f.name: f for f in load_records(FIXTURES / "puzzles.json")}
    assert set(features) == {"puzzle:colors", "puzzle:negation"}
    colors = features["puzzle:colors"]
    assert colors.has_ground_truth and colors.description == "colour words"
    assert colors.decoys == ("names of fruits", "words describing size")  # the first two false explanations
    assert len(colors.train) == 3 and len(colors.test) == 3
    red = colors.train[0]
    assert red.tokens == ("The", " red", " car", " is", " fast", ".") and red.activations[1] == 9.0
    # a sentence with no activation is a random record
    assert [r.kind for r in colors.train] == [r.kind for r in colors.test] == ["top", "top", "random"]
    assert colors.select == colors.train  # too few sentences for a third split


def test_a_folder_is_read_whole(tmp_path):
    features = load_records(FIXTURES)
    assert {f.name for f in features} == {"neuron:3:17", "puzzle:colors", "puzzle:negation"}


@pytest.mark.parametrize("content, message", [
    ("not json", "not readable JSON"),
    (json.dumps({"foo": 1}), "neither a NeuronRecord"),
    (json.dumps({"neuron_id": {"layer_index": 1}}), "layer_index and neuron_index"),
    (json.dumps({"neuron_id": {"layer_index": 1, "neuron_index": 2}, "most_positive_activation_records": [
        {"tokens": ["a", "b"], "activations": [1.0]}]}), "2 tokens but 1 activations"),
    (json.dumps({"p": {"explanation": "x", "false_explanations": [], "sentences": [[["a"]]]}}),
     "a token is a string or"),
])
def test_malformed_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(MechanicError, match=message):
        load_records(path)


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(MechanicError, match="no records file"):
        load_records(tmp_path / "nope.json")


# ---------------------------------------------------------- capture reuse


@pytest.fixture(scope="module")
def windows(subject):
    return corpus_windows(subject.tokenizer, "default", n_tokens=3072, length=32, seed=0)


def test_values_computed_outside_the_model_are_summarised_like_capture(subject, windows):
    config = CaptureConfig(top_k=6, bottom_k=3, n_random=5, decile_pool=20, batch_size=8)
    real = capture(subject, ["mlp:1:3"], windows, config, progress=False).features[0]
    acts = activations_on_ids(subject, "mlp:1:3", [w.tokens for w in windows])
    by_index = {w.index: a for w, a in zip(windows, acts)}
    (stats, _, exemplars) = summarise_values(
        windows, lambda batch: np.stack([by_index[w.index] for w in batch])[..., None], 1, config)[0]
    assert stats["max"] == pytest.approx(real.stats["max"], rel=1e-4)
    assert stats["count"] == real.stats["count"]
    for kind in ("top", "bottom", "decile", "random"):
        assert [e.window_index for e in exemplars if e.kind == kind] == \
               [e.window_index for e in real.exemplars if e.kind == kind], kind


def test_summarise_values_checks_the_shape(windows):
    with pytest.raises(ValueError, match="values gave"):
        summarise_values(windows, lambda batch: np.zeros((len(batch), 3, 1)), 1, CaptureConfig(batch_size=8))


# ------------------------------------------------------------------ planted


def test_planted_directions_are_real_probe_features(subject, windows):
    concepts = plant_concepts(subject, windows, rules=["newlines", "opening_brackets"], layer=1, seed=0,
                              min_positive=5)
    assert [c.feature for c in concepts] == ["resid:1:planted_newlines", "resid:1:planted_opening_brackets"]
    for c in concepts:
        assert c.name in subject.directions and abs(np.linalg.norm(c.direction) - 1) < 1e-5
        assert 0.5 <= c.probe["test_accuracy"] <= 1.0 and c.probe["positives"] >= 5
    # the feature's activation is the projection of the residual stream on the direction
    c = concepts[0]
    ids = [windows[0].tokens]
    read = activations_on_ids(subject, c.feature, ids)[0]
    resid = resid_token_activations(subject, ids, 1)[0]
    assert np.allclose(read, resid @ c.direction, atol=1e-4)


def test_planted_directions_reload_from_the_store(subject, windows, tmp_path):
    from mechanic.agent.pipeline import register_model, register_stored_directions

    (c,) = plant_concepts(subject, windows, rules=["newlines"], layer=2, min_positive=5)
    db = store.open_db(tmp_path / "m.db")
    store.save_direction(db, register_model(db, subject), c.name, c.direction, layer=c.layer)
    assert not db.conn.in_transaction  # committed: another process (the next CLI call) sees it
    fresh = tiny_subject("llama")
    register_stored_directions(store.open_db(tmp_path / "m.db"), fresh)
    assert np.allclose(fresh.directions[c.name].numpy(), c.direction)


def test_a_named_rule_that_never_fires_is_a_clear_error(subject, windows):
    with pytest.raises(MechanicError, match="fires on"):
        plant_concepts(subject, windows, rules=["month_names"], min_positive=10_000)
