"""Output directions, logit effects and input-token rankings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mechanic.tools.errors import FeatureIdError, MechanicError
from mechanic.tools.sae import SAE
from mechanic.tools.subject import TINY_FAMILIES, tiny_subject
from mechanic.tools.vocab import HEAD_REASON, input_tokens, logit_effect, output_direction, output_tokens


def _sae(subject, hook_name: str, d_in: int, d_sae: int = 6) -> SAE:
    g = torch.Generator().manual_seed(0)
    return SAE(
        name="s",
        hook_name=hook_name,
        W_enc=torch.randn(d_in, d_sae, generator=g),
        b_enc=torch.zeros(d_sae),
        W_dec=torch.randn(d_sae, d_in, generator=g),
        b_dec=torch.zeros(d_in),
    )


def _randomize_final_norm(subject) -> torch.Tensor:
    norm = subject.module(subject.arch.final_norm)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(-1.0, 2.0, subject.d_model))
    return norm.weight.detach().clone()


# ---------------------------------------------------------------- directions


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_a_neurons_output_direction_is_what_one_unit_of_it_adds(family):
    subject = tiny_subject(family)
    down = subject.module(f"{subject.arch.blocks}.1.{subject.arch.mlp_out}")
    x = torch.randn(1, 1, subject.d_mlp)
    bumped = x.clone()
    bumped[..., 7] += 1.0
    expected = (down(bumped) - down(x))[0, 0]
    assert torch.allclose(output_direction(subject, "mlp:1:7"), expected, atol=1e-5)


def test_gpt2_conv1d_direction_is_a_row_of_the_weight():
    subject = tiny_subject("gpt2")
    weight = subject.module("transformer.h.2.mlp.c_proj").weight  # [d_mlp, d_model]
    assert torch.equal(output_direction(subject, "mlp:2:11"), weight[11].detach())


def test_resid_and_sae_directions():
    subject = tiny_subject("llama")
    basis = output_direction(subject, "resid:0:4")
    assert basis[4] == 1.0 and basis.abs().sum() == 1.0
    subject.add_direction("up", torch.arange(32.0))
    assert torch.equal(output_direction(subject, "resid:1:up"), torch.arange(32.0))

    resid_sae = _sae(subject, "blocks.1.hook_resid_post", subject.d_model)
    subject.add_sae(resid_sae)
    assert torch.equal(output_direction(subject, "sae:s:3"), resid_sae.W_dec[3])

    # An SAE on the neuron vector decodes into neuron space: map it through W_down.
    neuron_sae = _sae(subject, "blocks.2.mlp.hook_post", subject.d_mlp)
    subject.saes.clear()
    subject.add_sae(neuron_sae)
    down = subject.module("model.layers.2.mlp.down_proj").weight
    assert torch.allclose(output_direction(subject, "sae:s:3"), down @ neuron_sae.W_dec[3], atol=1e-5)


def test_a_head_has_no_output_direction():
    subject = tiny_subject("gpt_neox")
    assert output_direction(subject, "attn:1:2") is None
    result = output_tokens(subject, "attn:1:2")
    assert result == {"feature": "attn:1:2", "promoted": [], "suppressed": [], "reason": HEAD_REASON}


# --------------------------------------------------------------- logit effect


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_logit_effect_equals_the_unembedding_times_the_vector(family):
    subject = tiny_subject(family)
    v = torch.randn(subject.d_model, generator=torch.Generator().manual_seed(1))
    W_U = subject.model.get_output_embeddings().weight.detach()
    manual = W_U @ v
    top, bottom = manual.topk(5), manual.topk(5, largest=False)
    result = logit_effect(subject, v, k=5, through_norm=False)
    assert [t for t, _ in result["promoted"]] == subject.token_strings(top.indices.tolist())
    assert [t for t, _ in result["suppressed"]] == subject.token_strings(bottom.indices.tolist())
    assert np.allclose([x for _, x in result["promoted"]], top.values.numpy(), atol=1e-6)
    assert np.allclose([x for _, x in result["suppressed"]], bottom.values.numpy(), atol=1e-6)


@pytest.mark.parametrize("family", ["llama", "gemma", "gpt2"])
def test_logit_effect_through_the_final_norm_applies_its_gain(family):
    subject = tiny_subject(family)
    weight = _randomize_final_norm(subject)
    v = torch.randn(subject.d_model, generator=torch.Generator().manual_seed(2))
    if family == "gemma":  # Gemma's RMSNorm scales by 1 + weight
        applied = v * (1 + weight)
    elif family == "gpt2":  # LayerNorm centres first
        applied = (v - v.mean()) * weight
    else:
        applied = v * weight
    manual = subject.model.get_output_embeddings().weight.detach() @ applied
    result = logit_effect(subject, v, k=3)
    assert np.allclose([x for _, x in result["promoted"]], manual.topk(3).values.numpy(), atol=1e-5)


def test_output_tokens_of_a_neuron_are_the_logit_effect_of_its_direction():
    subject = tiny_subject("qwen2")
    direction = output_direction(subject, "mlp:0:3")
    result = output_tokens(subject, "mlp:0:3", k=4)
    assert result["reason"] is None and result["feature"] == "mlp:0:3"
    assert result["promoted"] == logit_effect(subject, direction, k=4)["promoted"]
    assert len(result["suppressed"]) == 4


def test_bad_features_and_vectors_give_clear_errors():
    subject = tiny_subject("llama")
    with pytest.raises(FeatureIdError, match="has layers 0-2"):
        output_direction(subject, "mlp:5:0")
    with pytest.raises(FeatureIdError, match="valid neurons are 0-63"):
        output_tokens(subject, "mlp:0:64")
    with pytest.raises(FeatureIdError, match="unknown SAE 'x'"):
        output_direction(subject, "sae:x:1")
    with pytest.raises(MechanicError, match="has d_model=32"):
        logit_effect(subject, torch.ones(10))


# --------------------------------------------------------------- input side


class _Letters:
    def decode(self, ids):
        return "".join(chr(ord("a") + i) for i in ids)


def test_input_tokens_ranks_tokens_by_mean_activation():
    tokens = np.array(
        [
            [0, 1, 2, 3, -1],
            [1, 2, 2, 4, 4],
            [3, 0, 1, 4, -1],
        ]
    )
    acts = np.array(
        [
            [0.0, 5.0, 1.0, 9.0, 100.0],  # the -1 (padding) value must be ignored
            [3.0, 2.0, 0.0, 4.0, np.nan],  # NaN ignored as well
            [7.0, 1.0, 4.0, 4.0, 100.0],
        ]
    )
    # means: a=0.5 (2), b=4.0 (3), c=1.0 (3), d=8.0 (2), e=4.0 (2)
    result = input_tokens(tokens, acts, _Letters(), k=4)
    assert result == [("d", 8.0, 2), ("b", 4.0, 3), ("e", 4.0, 2), ("c", 1.0, 3)]
    assert input_tokens(tokens, acts, _Letters(), k=10, min_count=3) == [("b", 4.0, 3), ("c", 1.0, 3)]
    assert input_tokens(np.full((1, 2), -1), np.zeros((1, 2)), _Letters()) == []


def test_input_tokens_with_the_subjects_tokenizer():
    subject = tiny_subject("gpt2")
    ids = subject.tokenize(["abab", "bbba"])["input_ids"].numpy()
    acts = (ids == ids[0, 1]).astype(float)  # fires on "b"
    assert input_tokens(ids, acts, subject.tokenizer, k=1)[0] == ("b", 1.0, 5)
    with pytest.raises(MechanicError, match="same shape"):
        input_tokens(ids, acts[:, :2], subject.tokenizer)
