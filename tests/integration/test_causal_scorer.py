"""The intervention scorer on the real embedded model and the real embedder."""

from mechanic.evals.embedding import Embedder
from mechanic.evals.scorers import intervention_score

# A layer-20 neuron whose steering (clamped to 10, about twice its max on a few
# thousand corpus tokens) promotes reporting verbs: "said, saying, described,
# mentioned, explained, remarked, warned".
NEURON = "mlp:20:0"


def test_own_moved_tokens_beat_an_unrelated_explanation(embedded):
    embedder = Embedder(device="cpu")
    probe = intervention_score(embedded, NEURON, "placeholder", embedder, strength=10.0)
    d = probe.details
    assert d["kl"] > 0.01 and len(d["moved"]) == 20 and len(d["control"]) == 20
    assert "said" in [m[0] for m in d["moved"]]
    assert d["output_overlap"]["precision"] is not None  # a neuron has an output direction

    own = ", ".join(m[0] for m in d["moved"][:5])
    ours = intervention_score(embedded, NEURON, own, embedder, strength=10.0)
    unrelated = intervention_score(embedded, NEURON, "recipes for baking sourdough bread", embedder, strength=10.0)
    assert ours.value > 0.5
    assert unrelated.value < ours.value
    assert ours.details["moved"] == d["moved"]  # the steering does not depend on the explanation
