"""Ablation, patching and steering on tiny random models of every family."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from mechanic.tools.errors import FeatureIdError, MechanicError
from mechanic.tools.hooks import hooked
from mechanic.tools.interventions import (
    Effect,
    ablate,
    ablation_edits,
    effect,
    intervened,
    intervened_logits,
    parse_site,
    patch,
    patch_edits,
    position_mask,
    steer,
    steer_edits,
)
from mechanic.tools.sites import Hookpoint
from mechanic.tools.subject import TINY_FAMILIES, tiny_subject

TEXTS = ["the cat sat on the mat", "hello world", "abc"]
SAME_LENGTH = ("the cat sat", "a dog lies!")  # 11 bytes each


def _logits(subject, texts, edits=()):
    return intervened_logits(subject, subject.tokenize(texts), list(edits) if not callable(edits) else edits)


def _observe(subject, site, texts, edits):
    """The feature's values as the model sees them, after ``edits`` ran."""
    seen = []
    hooks = list(edits) + [(site.hook, lambda x: seen.append(site.read(x).detach().clone()))]
    with torch.no_grad(), hooked(subject.model, hooks):
        subject.model(**subject.tokenize(texts), use_cache=False)
    return seen[0]


def _hook_counts(model):
    return [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]


def _max_diff(a, b):
    return float((a - b).abs().max())


# ------------------------------------------------------------------- ablation


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_zero_ablating_a_neuron_equals_zeroing_its_down_projection_weights(family):
    subject = tiny_subject(family)
    i = 5
    ablated = _logits(subject, TEXTS, ablation_edits(subject, "mlp:1:5", TEXTS, "zero"))

    edited = copy.deepcopy(subject.model)
    weight = edited.get_submodule(f"{subject.arch.blocks}.1.{subject.arch.mlp_out}").weight
    with torch.no_grad():
        if subject.arch.conv1d:  # GPT-2 Conv1D: weight is [in, out]
            weight[i, :] = 0.0
        else:
            weight[:, i] = 0.0
        expected = edited(**subject.tokenize(TEXTS), use_cache=False).logits

    clean = _logits(subject, TEXTS)
    assert torch.allclose(ablated, expected, atol=1e-5)
    assert _max_diff(ablated, clean) > 1e-7  # the ablation did something


@pytest.mark.parametrize("family", ["llama", "gpt2", "gpt_neox"])
def test_zero_ablating_a_whole_mlp_site_equals_zeroing_the_whole_down_projection(family):
    subject = tiny_subject(family)
    ablated = _logits(subject, TEXTS, ablation_edits(subject, "mlp:2", TEXTS, "zero"))
    edited = copy.deepcopy(subject.model)
    with torch.no_grad():
        edited.get_submodule(f"{subject.arch.blocks}.2.{subject.arch.mlp_out}").weight.zero_()
        expected = edited(**subject.tokenize(TEXTS), use_cache=False).logits
    assert torch.allclose(ablated, expected, atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_mean_ablation_writes_the_measured_mean_and_changes_the_output(family):
    subject = tiny_subject(family)
    site = subject.site("mlp:0:3")
    tokens_values = torch.cat([_observe(subject, site, [t], [])[0] for t in TEXTS])
    edits = ablation_edits(subject, "mlp:0:3", TEXTS, "mean")
    seen = _observe(subject, site, TEXTS, edits)
    mask = subject.tokenize(TEXTS)["attention_mask"].bool()
    assert torch.allclose(seen[mask], torch.full_like(seen[mask], float(tokens_values.mean())), atol=1e-6)

    result = ablate(subject, "mlp:0:3", TEXTS, method="mean")
    assert result.kl > 0 and result.loss_delta != 0
    given = _observe(subject, site, TEXTS, ablation_edits(subject, "mlp:0:3", TEXTS, "mean", mean=0.25))
    assert torch.allclose(given, torch.full_like(given, 0.25))


@pytest.mark.parametrize("family", ["llama", "gpt_neox"])
def test_resample_ablation_draws_values_seen_on_other_texts_reproducibly(family):
    subject = tiny_subject(family)
    site = subject.site("mlp:1:7")
    pool_texts = ["zzz yyy", "qqq"]
    pool = torch.cat([_observe(subject, site, [t], [])[0] for t in pool_texts])

    def drawn(seed):
        edits = ablation_edits(subject, "mlp:1:7", TEXTS, "resample", resample_texts=pool_texts, seed=seed)
        return _observe(subject, site, TEXTS, edits(subject.tokenize(TEXTS)))

    a, b, c = drawn(0), drawn(0), drawn(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert all(bool(torch.isclose(pool, v).any()) for v in a.flatten())

    result = ablate(subject, "mlp:1:7", TEXTS, method="resample")
    clean = effect(subject, TEXTS, [])
    assert result.kl > 0 and result.loss_intervened != clean.loss_clean


# -------------------------------------------------------------------- patching


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_patching_the_residual_stream_reproduces_the_source_run(family):
    subject = tiny_subject(family)
    source, target = SAME_LENGTH
    src_logits = _logits(subject, [source])
    tgt_logits = _logits(subject, [target])

    last = subject.n_layers - 1
    patched = _logits(subject, [target], patch_edits(subject, f"resid:{last}", source, target))
    assert torch.allclose(patched, src_logits, atol=1e-5)

    every = [e for layer in range(subject.n_layers) for e in patch_edits(subject, f"resid:{layer}", source, target)]
    assert torch.allclose(_logits(subject, [target], every), src_logits, atol=1e-5)

    # The reported KL is KL(target clean || source), at the last token.
    result = patch(subject, f"resid:{last}", source, target)
    logp, logq = tgt_logits[0, -1].log_softmax(-1), src_logits[0, -1].log_softmax(-1)
    assert result.kl == pytest.approx(float((logp.exp() * (logp - logq)).sum()), rel=1e-4, abs=1e-9)
    assert result.n_texts == 1


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_patching_a_feature_at_the_last_position_of_texts_of_different_lengths(family):
    subject = tiny_subject(family)
    site = subject.site("attn:1:2")
    source, target = "a longer source text", "short"
    src_values = _observe(subject, site, [source], [])[0]
    tgt_values = _observe(subject, site, [target], [])[0]
    seen = _observe(subject, site, [target], patch_edits(subject, "attn:1:2", source, target, positions=[-1]))[0]
    assert seen[-1] == pytest.approx(float(src_values[-1]), rel=1e-5)
    assert torch.allclose(seen[:-1], tgt_values[:-1], atol=1e-6)  # earlier positions untouched


def test_patching_every_position_needs_equal_lengths():
    subject = tiny_subject("llama")
    with pytest.raises(MechanicError, match="pass positions"):
        patch(subject, "mlp:1:3", "four", "three")
    with pytest.raises(MechanicError, match="out of range for the target text of 3 tokens"):
        patch(subject, "mlp:1:3", "four", "abc", positions=[3])


# -------------------------------------------------------------------- steering


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_steer_clamp_sets_the_read_value_exactly_at_the_chosen_positions(family):
    subject = tiny_subject(family)
    site = subject.site("mlp:2:9")
    clean = _observe(subject, site, TEXTS, [])
    edits = steer_edits(subject, "mlp:2:9", clamp=3.5, positions=[-1, 0])
    inputs = subject.tokenize(TEXTS)
    seen = _observe(subject, site, TEXTS, edits(inputs))
    mask = position_mask(inputs["attention_mask"], [-1, 0])
    assert bool((seen[mask] == 3.5).all())
    assert torch.equal(seen[~mask], clean[~mask])
    lengths = inputs["attention_mask"].sum(1)
    assert mask.sum(1).tolist() == [2 if n > 1 else 1 for n in lengths.tolist()]


@pytest.mark.parametrize("feature", ["resid:1:4", "attn:1:1", "mlp:0:0"])
def test_steer_add_shifts_the_read_value(feature):
    subject = tiny_subject("gpt2")
    site = subject.site(feature)
    clean = _observe(subject, site, TEXTS, [])
    seen = _observe(subject, site, TEXTS, steer_edits(subject, feature, add=2.0))
    assert torch.allclose(seen, clean + 2.0, atol=1e-5)
    clamped = _observe(subject, site, TEXTS, steer_edits(subject, feature, clamp=1.25))
    assert torch.allclose(clamped, torch.full_like(clamped, 1.25), atol=1e-5)


def test_steer_reports_an_effect_that_grows_with_the_push():
    subject = tiny_subject("llama")
    small = steer(subject, "resid:2:3", TEXTS, add=1.0)
    large = steer(subject, "resid:2:3", TEXTS, add=30.0)
    assert 0 < small.kl < large.kl
    assert large.top_increased and large.top_decreased
    assert all(d > 0 for _, d in large.top_increased) and all(d < 0 for _, d in large.top_decreased)


# ---------------------------------------------------------------------- effect


def test_effect_of_no_edit_is_zero_and_loss_is_the_lm_loss():
    subject = tiny_subject("llama")
    result = effect(subject, TEXTS, [])
    assert result.kl == pytest.approx(0.0, abs=1e-7)
    assert result.top_increased == [] and result.top_decreased == []
    assert result.loss_delta == pytest.approx(0.0, abs=1e-7)

    total, n = 0.0, 0
    for text in TEXTS:
        ids = subject.tokenize([text])["input_ids"]
        logits = subject.model(input_ids=ids).logits
        total += float(torch.nn.functional.cross_entropy(logits[0, :-1], ids[0, 1:], reduction="sum"))
        n += ids.shape[1] - 1
    assert result.loss_clean == pytest.approx(total / n, rel=1e-5)
    assert result.n_texts == 3 and len(result.kl_per_text) == 3


def test_effect_batches_give_the_same_numbers():
    subject = tiny_subject("qwen2")
    edits = steer_edits(subject, "mlp:1:1", add=5.0, positions=[-1])
    one = effect(subject, TEXTS, edits, batch_size=1)
    all_ = effect(subject, TEXTS, edits, batch_size=8)
    assert one.kl == pytest.approx(all_.kl, rel=1e-4)
    assert one.loss_intervened == pytest.approx(all_.loss_intervened, rel=1e-5)


def test_effect_to_dict_is_json():
    subject = tiny_subject("gpt2")
    result = ablate(subject, "attn:0:1", TEXTS)
    assert isinstance(result, Effect)
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data) >= {"kl", "top_increased", "top_decreased", "loss_clean", "loss_intervened", "loss_delta", "n_texts"}


# ----------------------------------------------------------------- hook safety


def test_hooks_are_removed_after_an_exception_inside_the_intervention():
    subject = tiny_subject("llama")
    before = _hook_counts(subject.model)
    with pytest.raises(RuntimeError, match="boom"):
        with intervened(subject, ablation_edits(subject, "mlp:1:5", TEXTS)):
            assert _hook_counts(subject.model) != before
            raise RuntimeError("boom")
    assert _hook_counts(subject.model) == before

    def explode(x):
        raise RuntimeError("boom in hook")

    with pytest.raises(RuntimeError, match="boom in hook"):
        effect(subject, TEXTS, [(subject.hookpoint("mlp", 1), explode)])
    assert _hook_counts(subject.model) == before
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in subject.model.modules())


# ---------------------------------------------------------------- bad input


def test_parse_site():
    subject = tiny_subject("gpt_neox")
    assert parse_site(subject, "resid:2") == Hookpoint("gpt_neox.layers.2", "output", 2)
    assert parse_site(subject, "mlp:0").module == "gpt_neox.layers.0.mlp.dense_4h_to_h"
    assert str(parse_site(subject, "mlp:0:5").feature) == "mlp:0:5"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda s: ablate(s, "neuron:1:2", TEXTS), FeatureIdError, "unknown feature kind 'neuron'"),
        (lambda s: ablate(s, "foo:1", TEXTS), FeatureIdError, "mlp:LAYER, attn:LAYER or resid:LAYER"),
        (lambda s: ablate(s, "mlp:7:1", TEXTS), FeatureIdError, "has layers 0-2"),
        (lambda s: ablate(s, "mlp:7", TEXTS), FeatureIdError, "has layers 0-2"),
        (lambda s: ablate(s, "mlp:1:64", TEXTS), FeatureIdError, "valid neurons are 0-63"),
        (lambda s: ablate(s, "mlp:1:2", TEXTS, method="noise"), MechanicError, "zero, mean, resample"),
        (lambda s: ablate(s, "mlp:1:2", []), MechanicError, "no texts"),
        (lambda s: steer(s, "mlp:1:2", TEXTS, add=1.0, clamp=2.0), MechanicError, "exactly one of add"),
        (lambda s: steer(s, "mlp:1:2", TEXTS), MechanicError, "exactly one of add"),
        (lambda s: steer(s, "resid:1", TEXTS, add=1.0), FeatureIdError, "single feature"),
        (lambda s: steer(s, "mlp:1:2", TEXTS, add=1.0, positions=[5]), MechanicError, "position 5 is out of range"),
        (lambda s: patch(s, "resid:1:month", "ab", "cd"), FeatureIdError, "unknown direction 'month'"),
    ],
)
def test_bad_input_gives_a_clear_error(call, error, message):
    subject = tiny_subject("llama")
    with pytest.raises(error, match=message):
        call(subject)
