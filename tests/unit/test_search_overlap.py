"""The measurements of ``bench/search_overlap.py`` (how the search grammar overlaps the
trained simulator's library), on toy inputs where the answer is known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from mechanic.evals.training.library import library_rules

_PATH = Path(__file__).resolve().parents[2] / "bench" / "search_overlap.py"


@pytest.fixture(scope="module")
def overlap():
    spec = importlib.util.spec_from_file_location("search_overlap", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unit(rows):
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_nearest_gives_each_querys_best_reference(overlap):
    refs = _unit([[1, 0], [0, 1], [1, 1]])
    queries = _unit([[0, 1], [1, 0.1], [-1, 0]])
    cos, idx = overlap.nearest(queries, refs)
    assert idx.tolist() == [1, 0, 1]  # (-1, 0) lies nearest (0, 1): cosine 0 against -0.71 and -1
    assert cos[0] == pytest.approx(1.0) and cos[1] == pytest.approx(1 / np.sqrt(1.01), rel=1e-5)
    empty_cos, empty_idx = overlap.nearest(queries, np.zeros((0, 2), np.float32))
    assert np.isnan(empty_cos).all() and (empty_idx == -1).all()


def test_overlap_summary_counts_shares_at_each_threshold(overlap):
    s = overlap.overlap_summary([0.5, 0.79, 0.8, 0.95, None, float("nan")])
    assert s["n"] == 4
    assert s["share_ge_0.8"] == pytest.approx(0.5) and s["share_ge_0.9"] == pytest.approx(0.25)
    assert sum(s["histogram"].values()) == 4 and s["histogram"]["0.9-1.0"] == 1
    assert overlap.overlap_summary([]) == {"n": 0}


def test_exact_matches_fold_case_and_spacing_only(overlap):
    library = ["the word 'not'", "Words ending in -ing"]
    texts = ["The  word 'not'", "words ending in '-ing'", "words ending in -ing"]
    assert overlap.exact_matches(texts, library) == ["The  word 'not'", "words ending in -ing"]


def test_pooled_correlations_per_reference_row(overlap):
    levels = np.array([0, 1, 0, 1], dtype=np.float64)
    acts = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 0, 0], [0, 2, 0, 1]], dtype=np.float64)
    r = overlap.pooled_correlations(levels, acts)
    assert r[0] == pytest.approx(1.0) and r[1] == pytest.approx(-1.0)
    assert r[2] == 0.0  # a constant row has no correlation
    assert r[3] == pytest.approx(np.corrcoef(levels, acts[3])[0, 1])


def test_counterpart_by_text_or_behaviour(overlap):
    assert overlap.counterpart(0.85, None) and overlap.counterpart(0.2, 0.6)
    assert not overlap.counterpart(0.79, 0.49) and not overlap.counterpart(None, None)


def test_same_parameter_sentences_restate_each_constructor(overlap):
    lib = library_rules()
    pairs = overlap.same_parameter_sentences(lib)
    kinds = {lib[i].kind if lib[i].family != "lexical" else "lexical" for i, _ in pairs}
    assert {"word", "lexical", "after_word", "before_word", "suffix", "prefix"} <= kinds
    by_name = {lib[i].name: text for i, text in pairs}
    assert by_name["word_of"] == "the word 'of'"
    assert by_name["after_raise"] == "the token right after 'raise'"
    assert by_name["suffix_tion"].startswith("words ending in '-tion'")
    # rules no grammar constructor restates (statements of code, prose positions) are left out
    assert not any(lib[i].family in ("code", "prose") for i, _ in pairs)
