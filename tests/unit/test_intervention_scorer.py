"""The causal (intervention) scorer on tiny random models."""

from __future__ import annotations

import copy
import zlib

import numpy as np
import pytest
import torch
from mechanic.evals.embedding import Embedder
from mechanic.evals.scorers import NEUTRAL_PROMPTS, intervention_score
from mechanic.evals.scorers.intervention import KL_MIN, clamp_value
from mechanic.tools import TINY_FAMILIES, parse_feature, tiny_subject
from mechanic.tools.errors import FeatureIdError, MechanicError


class CharEmbedder:
    """Bag of characters hashed into 64 dims: a string is close to strings that
    share its characters, so an explanation listing tokens retrieves them."""

    name = "chars"

    def encode(self, texts):
        out = np.zeros((len(texts), 64), np.float32)
        for i, t in enumerate(texts):
            for ch in t:
                out[i, zlib.crc32(ch.encode()) % 64] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Width-32 models gain nothing from intra-op threads, and on a busy machine the
    threads' spin-waiting made these tests ~5x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fake():
    return CharEmbedder()


def test_neutral_prompts():
    assert 6 <= len(NEUTRAL_PROMPTS) <= 10
    assert any("def " in p or "import " in p for p in NEUTRAL_PROMPTS)  # code as well as prose
    assert all(isinstance(p, str) and p.strip() for p in NEUTRAL_PROMPTS)


@pytest.mark.parametrize("family", TINY_FAMILIES)
@pytest.mark.parametrize("feature", ["mlp:1:3", "attn:2:1", "resid:1:5"])
def test_value_in_range_and_details(family, feature, fake):
    s = tiny_subject(family)
    r = intervention_score(s, feature, "letters and punctuation", fake, strength=6.0, n_tokens=8)
    d = r.details
    assert (r.scorer, r.metric, r.scorer_model) == ("intervention", "auroc", "chars")
    assert d["chance"] == 0.5 and d["clamp"] == 6.0 and d["clamp_source"] == "strength"
    assert len(d["kl_per_prompt"]) == len(NEUTRAL_PROMPTS)
    assert d["kl"] == pytest.approx(float(np.mean(d["kl_per_prompt"])))
    assert d["kl"] >= KL_MIN  # a scored steering moved the output
    assert r.value is not None and 0.0 <= r.value <= 1.0 and "reason" not in d
    assert r.n == len(d["moved"]) + len(d["control"]) and len(d["moved"]) <= 8 and len(d["control"]) <= 8
    moved, control = [m[0] for m in d["moved"]], [c[0] for c in d["control"]]
    assert not set(moved) & set(control)
    assert all(t == t.strip() and t and t.isprintable() for t in moved + control)
    assert all(rise > 0 for _, rise, _ in d["moved"])
    # the controls changed less (in log-probability) than any moved token
    assert max(abs(c[1]) for c in d["control"]) <= min(m[1] for m in d["moved"])
    if feature.startswith("attn"):
        assert "reason" in d["output_overlap"]  # a head has no output direction
    else:
        ov = d["output_overlap"]
        assert 0.0 <= ov["jaccard"] <= 1.0 and 0.0 <= ov["precision"] <= 1.0


def test_deterministic_and_seed_only_breaks_ties(subject, fake):
    a = intervention_score(subject, "mlp:1:3", "digits 0-9", fake, strength=6.0)
    b = intervention_score(subject, "mlp:1:3", "digits 0-9", fake, strength=6.0)
    assert a.value == b.value and a.details["moved"] == b.details["moved"]
    assert a.details["control"] == b.details["control"]
    c = intervention_score(subject, "mlp:1:3", "digits 0-9", fake, strength=6.0, seed=1)
    assert c.details["kl"] == a.details["kl"]


def test_explanation_from_moved_tokens_beats_unrelated(subject, fake):
    first = intervention_score(subject, "resid:1:5", "x", fake, strength=8.0)
    moved = "".join(m[0] for m in first.details["moved"][:6])
    own = intervention_score(subject, "resid:1:5", moved, fake, strength=8.0)
    assert own.value > 0.5
    control = "".join(c[0] for c in first.details["control"][:6])
    assert intervention_score(subject, "resid:1:5", control, fake, strength=8.0).value < own.value


def test_clamp_sources(subject):
    f = parse_feature("mlp:1:3")
    assert clamp_value(subject, f, NEUTRAL_PROMPTS, strength=3.0) == (3.0, "strength")
    assert clamp_value(subject, f, NEUTRAL_PROMPTS, stats={"max": 1.5}) == (3.0, "stats")
    value, source = clamp_value(subject, f, NEUTRAL_PROMPTS, stats={"max": -0.2})  # never positive
    assert source == "default" and value > 0
    r = intervention_score(subject, "mlp:1:3", "x", CharEmbedder(), stats={"max": 2.5})
    assert r.details["clamp"] == 5.0 and r.details["clamp_source"] == "stats"


def test_steering_that_moves_nothing_is_none(subject, fake):
    s = copy.deepcopy(subject)
    with torch.no_grad():  # neuron 3 of layer 2 (the last block) now writes nothing
        s.blocks[2].mlp.down_proj.weight[:, 3] = 0.0
    r = intervention_score(s, "mlp:2:3", "anything", fake, strength=50.0)
    assert r.value is None and r.n == 0
    assert r.details["kl"] < KL_MIN and "moved nothing" in r.details["reason"]
    assert r.details["output_overlap"]["jaccard"] is not None


def test_bad_arguments(subject, fake):
    with pytest.raises(MechanicError):
        intervention_score(subject, "mlp:1:3", " ", fake)
    with pytest.raises(MechanicError):
        intervention_score(subject, "mlp:1:3", "x", fake, n_tokens=1)
    with pytest.raises(MechanicError):
        intervention_score(subject, "mlp:1:3", "x", fake, prompts=[])
    with pytest.raises(FeatureIdError):
        intervention_score(subject, "mlp:9:3", "x", fake)


def test_with_the_real_embedder(subject):
    e = Embedder(device="cpu")
    r = intervention_score(subject, "resid:1:5", "punctuation marks and symbols", e, strength=8.0, n_tokens=10)
    assert r.value is not None and 0.0 <= r.value <= 1.0
    assert r.scorer_model == "all-MiniLM-L6-v2" and r.usage.calls == 1 and r.usage.seconds > 0
