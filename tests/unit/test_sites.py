"""Feature ids, site adapters and the read/write contract of every site kind."""

import pytest
import torch
from mechanic.tools.errors import ArchitectureError, FeatureIdError
from mechanic.tools.hooks import forward_until, hooked
from mechanic.tools.sites import FeatureId, architecture_for, parse_feature, parse_features
from mechanic.tools.subject import TINY_FAMILIES, tiny_subject


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("mlp:5:7", ("mlp", 5, None, [7])),
        ("mlp:5:0-3", ("mlp", 5, None, [0, 1, 2, 3])),
        ("mlp:5:1,4,9", ("mlp", 5, None, [1, 4, 9])),
        ("mlp:5:*", ("mlp", 5, None, None)),
        ("attn:2:3", ("attn", 2, None, [3])),
        ("resid:3:month", ("resid", 3, "month", None)),
        ("resid:3:12", ("resid", 3, None, [12])),
        ("sae:res3:10-11", ("sae", None, "res3", [10, 11])),
    ],
)
def test_parse_features(spec, expected):
    assert parse_features(spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("neuron:1:2", "unknown feature kind"),
        ("mlp:1", "malformed"),
        ("mlp:x:2", "layer must be"),
        ("mlp:1:5-2", "empty range"),
        ("mlp:1:a", "bad index"),
        ("mlp:1:2:3", "malformed"),
    ],
)
def test_parse_errors_say_what_is_wrong(spec, message):
    with pytest.raises(FeatureIdError, match=message):
        parse_features(spec)


def test_feature_id_round_trips():
    for spec in ["mlp:3:17", "attn:0:2", "resid:4:month", "resid:4:9", "sae:res:3"]:
        assert str(parse_feature(spec)) == spec
    with pytest.raises(FeatureIdError, match="several features"):
        parse_feature("mlp:3:1-4")


def test_unknown_architecture_names_supported_ones():
    with pytest.raises(ArchitectureError, match="supported families: gemma, gpt-neox, gpt2, llama, qwen2"):
        architecture_for("mamba")


def test_out_of_range_errors_name_valid_range(subject):
    with pytest.raises(FeatureIdError, match="layers 0-2"):
        subject.features("mlp:3:0")
    with pytest.raises(FeatureIdError, match="neurons are 0-63"):
        subject.features("mlp:1:64")
    with pytest.raises(FeatureIdError, match="heads are 0-3"):
        subject.site("attn:1:4")
    with pytest.raises(FeatureIdError, match="unknown direction 'month'"):
        subject.site("resid:1:month")
    with pytest.raises(FeatureIdError, match="unknown SAE"):
        subject.features("sae:nope:1")


def test_expansion_counts(subject):
    assert len(subject.features("mlp:1:*")) == 64
    assert len(subject.features("attn:0:*")) == 4
    assert len(subject.features("resid:2:*")) == 32
    assert subject.features("mlp:0:2-3") == [FeatureId("mlp", 0, 2), FeatureId("mlp", 0, 3)]


def _capture_tensor(subject, point, enc):
    got = {}

    def keep(x):
        got["x"] = x.clone()

    forward_until(subject.model, [(point, keep)], point, **enc)
    return got["x"]


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_mlp_site_reads_down_projection_input(family):
    subject = tiny_subject(family)
    enc = subject.tokenize(["the cat sat on the mat"])
    site = subject.site("mlp:1:5")
    x = _capture_tensor(subject, site.hook, enc)
    assert x.shape[-1] == subject.d_mlp
    assert torch.equal(site.read(x), x[..., 5])


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_head_site_reads_norm_of_head_slice(family):
    subject = tiny_subject(family)
    enc = subject.tokenize(["hello there"])
    site = subject.site("attn:2:1")
    x = _capture_tensor(subject, site.hook, enc)
    hd = subject.head_dim
    expected = x[..., hd : 2 * hd].norm(dim=-1)
    assert torch.allclose(site.read(x), expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["mlp:1:5", "attn:1:2", "resid:1:3"])
def test_write_sets_value_and_leaves_the_rest(subject, kind):
    site = subject.site(kind)
    x = torch.randn(2, 5, 64 if kind.startswith("mlp") else 32)
    target = torch.full((2, 5), 0.75)
    y = site.write(x, target)
    assert torch.allclose(site.read(y), target, atol=1e-5)
    if kind.startswith("mlp"):
        others = [i for i in range(64) if i != 5]
        assert torch.equal(y[..., others], x[..., others])
    if kind.startswith("resid"):
        others = [i for i in range(32) if i != 3]
        assert torch.allclose(y[..., others], x[..., others])


def test_named_direction_reads_projection(subject):
    d = torch.randn(32)
    subject.add_direction("probe", d)
    try:
        site = subject.site("resid:2:probe")
        x = torch.randn(1, 4, 32)
        assert torch.allclose(site.read(x), x @ d, atol=1e-5)
        y = site.write(x, torch.zeros(1, 4))
        assert torch.allclose(site.read(y), torch.zeros(1, 4), atol=1e-4)
    finally:
        subject.directions.pop("probe")
    with pytest.raises(FeatureIdError, match="d_model=32"):
        subject.add_direction("bad", torch.ones(5))


def test_hooks_removed_after_exception(subject):
    site = subject.site("mlp:0:1")
    module = subject.module(site.hook.module)

    def boom(x):
        raise RuntimeError("inside the forward pass")

    with pytest.raises(RuntimeError, match="inside the forward pass"):
        with hooked(subject.model, [(site.hook, boom)]):
            subject.model(**subject.tokenize(["abc"]))
    assert not module._forward_pre_hooks and not module._forward_hooks


def test_early_stop_returns_no_logits_and_full_pass_does(subject):
    enc = subject.tokenize(["abc"])
    point = subject.hookpoint("mlp", 0)
    assert forward_until(subject.model, [], point, **enc) is None
    logits = forward_until(subject.model, [], None, **enc)
    assert logits.shape == (1, 3, subject.vocab_size)
