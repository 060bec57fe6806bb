"""Activation collection and logistic-regression probes."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from mechanic.tools.errors import FeatureIdError, MechanicError
from mechanic.tools.probing import (
    add_probe_direction,
    collect_activations,
    collect_token_activations,
    fit_probe,
    probe_direction,
    probe_sweep,
    top_probe_features,
)
from mechanic.tools.subject import TINY_FAMILIES, tiny_subject

TEXTS = ["the cat sat on the mat", "hi", "abc def"]


def _trigger_texts(n: int = 240, seed: int = 0):
    """Random letter strings; label 1 iff the string contains one '#'."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    texts = []
    for label in labels:
        chars = [rng.choice("abcdefghij") for _ in range(rng.randint(6, 12))]
        if label:
            chars[rng.randrange(len(chars))] = "#"
        texts.append("".join(chars))
    return texts, labels


def _planted(n: int = 200, d: int = 16, dim: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d))
    X[:, dim] += np.where(y == 1, 3.0, -3.0)
    return X, y


# ------------------------------------------------------------------ collection


@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt_neox"])
def test_collected_residuals_match_hidden_states_and_ignore_padding(family):
    subject = tiny_subject(family)
    acts = collect_activations(subject, TEXTS, [0, 1], reduce="mean")
    last = collect_activations(subject, TEXTS, [0, 1], reduce="last")
    for i, text in enumerate(TEXTS):  # each text alone: no padding at all
        hidden = subject.model(**subject.tokenize([text]), output_hidden_states=True).hidden_states
        for layer in (0, 1):  # hidden_states[L + 1] is block L's output
            assert np.allclose(acts[layer][i], hidden[layer + 1][0].mean(0).numpy(), atol=1e-5)
            assert np.allclose(last[layer][i], hidden[layer + 1][0, -1].numpy(), atol=1e-5)
    assert acts[0].shape == (3, subject.d_model)


def test_mlp_site_is_the_neuron_vector():
    subject = tiny_subject("qwen2")
    acts = collect_activations(subject, TEXTS, [2], site="mlp", reduce="last")
    site = subject.site("mlp:2:17")
    seen = []
    from mechanic.tools.hooks import forward_until

    inputs = subject.tokenize(TEXTS)
    forward_until(subject.model, [(site.hook, lambda x: seen.append(site.read(x)))], None, **inputs)
    last = inputs["attention_mask"].sum(1) - 1
    assert acts[2].shape == (3, subject.d_mlp)
    assert np.allclose(acts[2][:, 17], seen[0][torch.arange(3), last].numpy(), atol=1e-6)


def test_collection_stops_after_the_last_requested_layer():
    subject = tiny_subject("llama")
    calls = []
    handle = subject.blocks[2].register_forward_hook(lambda *a: calls.append(1))
    try:
        collect_activations(subject, TEXTS, [0, 1])
        assert calls == []
        collect_activations(subject, TEXTS, [2])
        assert calls == [1]
    finally:
        handle.remove()


def test_token_activations_line_up_with_tokens():
    subject = tiny_subject("gpt2")
    acts, index = collect_token_activations(subject, TEXTS, [1], batch_size=2)
    lengths = [len(t.encode()) for t in TEXTS]  # byte-level tokenizer
    assert len(index) == sum(lengths) == acts[1].shape[0]
    assert index[:3] == [(0, 0), (0, 1), (0, 2)] and index[-1] == (2, lengths[2] - 1)
    alone = collect_token_activations(subject, [TEXTS[2]], [1])[0][1]
    assert np.allclose(acts[1][-lengths[2]:], alone, atol=1e-5)


# ---------------------------------------------------------------------- probes


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_probe_finds_a_planted_trigger_character(family):
    subject = tiny_subject(family)
    texts, labels = _trigger_texts()
    results = probe_sweep(subject, texts, labels, layers=[0, 1, 2])
    assert [r.layer for r in results] == [0, 1, 2]
    assert all(r.site == "resid" for r in results)
    assert all(r.test_accuracy > 0.9 for r in results), [r.test_accuracy for r in results]
    assert results[0].n_test == 60 and results[0].n_train == 180


def test_probe_on_shuffled_labels_stays_near_chance():
    subject = tiny_subject("llama")
    texts, labels = _trigger_texts()
    shuffled = list(labels)
    random.Random(1).shuffle(shuffled)
    result = probe_sweep(subject, texts, shuffled, layers=[0])[0]
    assert result.test_accuracy < 0.75


def test_fit_probe_on_a_planted_direction():
    X, y = _planted()
    result = fit_probe(X, y)
    assert result.test_accuracy > 0.95
    assert result.classes == [0, 1]
    assert top_probe_features(result, site="resid", layer=3, k=3)[0][0] == "resid:3:5"
    result.layer, result.site = 4, "mlp"
    top = top_probe_features(result, k=2)
    assert top[0][0] == "mlp:4:5" and top[0][1] > 0 and abs(top[0][1]) > abs(top[1][1])
    direction = probe_direction(result)
    assert np.linalg.norm(direction) == pytest.approx(1.0)
    assert direction[5] > 0.9  # towards class 1
    assert np.allclose(probe_direction(result, label=0), -direction)


def test_multiclass_probe_needs_a_label_for_a_direction():
    rng = np.random.default_rng(0)
    y = np.repeat(["red", "green", "blue"], 40)
    X = rng.normal(size=(120, 8))
    for k, name in enumerate(["red", "green", "blue"]):
        X[y == name, k] += 4.0
    result = fit_probe(X, y)
    assert result.test_accuracy > 0.9 and result.coef.shape == (3, 8)
    assert probe_direction(result, label="green").argmax() == 1
    with pytest.raises(MechanicError, match="name the label"):
        probe_direction(result)
    with pytest.raises(MechanicError, match="unknown class 'pink'"):
        probe_direction(result, label="pink")
    result.layer, result.site = 0, "resid"
    assert {f for f, _ in top_probe_features(result, k=3)} == {"resid:0:0", "resid:0:1", "resid:0:2"}


def test_probe_direction_becomes_a_resid_feature():
    subject = tiny_subject("llama")
    texts, labels = _trigger_texts(120)
    result = probe_sweep(subject, texts, labels, layers=[1])[0]
    feature = add_probe_direction(subject, "hash", result)
    assert feature == "resid:1:hash"
    assert torch.allclose(subject.directions["hash"].norm(), torch.tensor(1.0))
    site = subject.site(feature)
    assert site.hook == subject.hookpoint("resid", 1)


@pytest.mark.parametrize(
    "X, y, kwargs, message",
    [
        (np.zeros((10, 3)), [1] * 10, {}, "at least two classes; all 10 labels are 1"),
        (np.zeros((10, 3)), [0] * 9 + [1], {}, "class 1 has 1"),
        (np.zeros((4, 3)), [0, 0, 1, 1], {"test_fraction": 0.75}, "too few examples"),
        (np.zeros((4, 3)), [0, 0, 1, 1], {"test_fraction": 1.0}, "between 0 and 1"),
        (np.zeros((5, 3)), [0, 1], {}, r"X must be \[n, d\]"),
        (np.full((4, 2), np.nan), [0, 0, 1, 1], {}, "NaN"),
    ],
)
def test_fit_probe_fails_gracefully(X, y, kwargs, message):
    with pytest.raises(MechanicError, match=message):
        fit_probe(X, y, **kwargs)


def test_fit_probe_on_the_smallest_possible_set():
    result = fit_probe(np.array([[0.0], [0.1], [5.0], [5.1]]), ["a", "a", "b", "b"])
    assert (result.n_train, result.n_test) == (2, 2)
    assert result.test_accuracy == 1.0 and result.classes == ["a", "b"]


def test_sweep_rejects_bad_arguments_before_running_the_model():
    subject = tiny_subject("gpt2")
    with pytest.raises(MechanicError, match="at least two classes"):
        probe_sweep(subject, TEXTS, ["a", "a", "a"], layers=[0])
    with pytest.raises(MechanicError, match="3 texts but 2 labels"):
        probe_sweep(subject, TEXTS, [0, 1], layers=[0])
    with pytest.raises(FeatureIdError, match="choose from resid, mlp"):
        collect_activations(subject, TEXTS, [0], site="attn")
    with pytest.raises(FeatureIdError, match="has layers 0-2"):
        collect_activations(subject, TEXTS, [3])
    with pytest.raises(MechanicError, match="choose from mean, last"):
        collect_activations(subject, TEXTS, [0], reduce="max")


# ------------------------------------------------------- positions, grouped splits


def test_position_activations_match_the_token_activations_at_those_positions():
    from mechanic.tools.probing import collect_position_activations

    subject = tiny_subject("llama")
    ids = [subject.tokenizer(t, add_special_tokens=False)["input_ids"] for t in ("the cat sat", "on a mat!", "xyz")]
    positions = [(1, 3), (0, 0), (2, 2), (0, 5)]
    got = collect_position_activations(subject, ids, positions, [0, 2], sites=("resid", "mlp"), batch_size=2)
    assert set(got) == {("resid", 0), ("resid", 2), ("mlp", 0), ("mlp", 2)}
    texts = ["the cat sat", "on a mat!", "xyz"]
    for site in ("resid", "mlp"):
        full, index = collect_token_activations(subject, texts, [2], site=site)
        rows = [index.index(p) for p in positions]
        assert np.allclose(got[(site, 2)], full[2][rows], atol=1e-5)
    with pytest.raises(MechanicError, match="outside"):
        collect_position_activations(subject, ids, [(5, 0)], [0])


def test_grouped_folds_keep_each_group_in_one_fold_and_balance_the_classes():
    from mechanic.tools.probing import grouped_folds

    rng = np.random.default_rng(0)
    groups = [f"w{i}" for i in rng.integers(0, 20, 200)]
    labels = [int(g[1:]) % 2 for g in groups]
    folds = grouped_folds(labels, groups, n_folds=4)
    assert len(folds) == 4 and sorted(np.concatenate(folds).tolist()) == list(range(200))
    owner = {}
    for f, idx in enumerate(folds):
        for i in idx:
            assert owner.setdefault(groups[i], f) == f
        assert 0.25 < np.mean(np.asarray(labels)[idx]) < 0.75
    assert len(grouped_folds([0, 0, 1, 1, 1], ["a", "b", "c", "d", "e"], n_folds=5)) == 2
    with pytest.raises(MechanicError, match="at least 2 different groups"):
        grouped_folds([0, 0, 1, 1], ["a", "a", "b", "c"])


def test_a_probe_on_a_given_split_predicts_what_it_scores():
    from mechanic.tools.probing import fit_probe_split, probe_predict

    X, y = _planted()
    train, test = np.arange(0, len(y), 2), np.arange(1, len(y), 2)
    result = fit_probe_split(X, y, train, test)
    assert result.n_train == len(train) and result.n_test == len(test)
    assert np.mean(probe_predict(result, X[test]) == y[test]) == pytest.approx(result.test_accuracy)
    with pytest.raises(MechanicError, match="both classes"):
        fit_probe_split(X, y, train[y[train] == 0], test)
