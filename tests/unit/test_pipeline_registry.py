"""The scorer registry and the method ranking the shared phases rely on."""

from mechanic.agent.pipeline import METHODS, SCORER_FUNCTIONS, SCORERS, LabelConfig, method_rank


def test_every_configurable_scorer_has_a_function_and_no_other():
    assert tuple(SCORER_FUNCTIONS) == SCORERS


def test_the_shuffled_floor_borrows_from_the_most_elaborate_method():
    ranked = sorted(METHODS, key=method_rank)
    assert ranked[:2] == ["agent", "tiered"]
    assert ranked[2:] == ["bestofk", "search", "oneshot", "tokens"]
    assert method_rank("something else") > max(method_rank(m) for m in METHODS)


def test_label_config_refuses_an_unregistered_scorer():
    import pytest
    from mechanic.tools import MechanicError

    with pytest.raises(MechanicError, match="unknown scorer 'vibes'"):
        LabelConfig(scorers=("simulation", "vibes"))


def test_the_search_reads_with_an_offline_simulator_even_when_the_run_scores_over_an_endpoint():
    from mechanic.agent.pipeline import Models
    from mechanic.evals.offline import TrainedSimulator

    made = []
    endpoint = Models(None, LabelConfig(simulator="openai:some-model"), lambda spec, s: made.append(spec))
    assert isinstance(endpoint.search_simulator, TrainedSimulator)
    assert made == []  # no LLM was built for the search
    offline = Models(None, LabelConfig(simulator="embedding"), lambda spec, s: made.append(spec))
    assert offline.search_simulator is offline.simulator


class _Fixed:
    """An explainer that answers one fixed result (the choice logic under test is tiered's)."""

    def __init__(self, result):
        self.result, self.method = result, result.method

    def explain(self, evidence):
        return self.result


def _tiered(select_score, fallback_text):
    from mechanic.agent.explainers import ExplainResult
    from mechanic.agent.pipeline import Tiered

    found = ExplainResult("search", "the word 'the'", details={"select_score": select_score})
    searched = [{"text": "the word 'the'"}, {"text": "words ending in '-ed'"}]
    written = ExplainResult("bestofk", fallback_text, details={"searched": searched})
    asked = []

    def fallback():
        asked.append(True)
        return _Fixed(written)

    return Tiered(_Fixed(found), fallback, threshold=0.3).explain(None), asked


def test_tiered_keeps_the_search_above_the_threshold_without_asking_the_llm():
    result, asked = _tiered(0.5, "numbers")
    assert (result.method, result.text, result.details["source"], asked) == ("tiered", "the word 'the'", "search", [])


def test_tiered_takes_the_llm_description_only_where_it_won_best_of_k():
    won, asked = _tiered(0.1, "numbers written in digits")
    assert asked and (won.text, won.details["source"], won.details["search"]) == (
        "numbers written in digits", "bestofk", "the word 'the'")
    # best-of-k re-chose among the search's own candidates: the search's choice stands
    kept, _ = _tiered(0.1, "words ending in '-ed'")
    assert (kept.text, kept.details["source"], kept.details["fallback"]) == (
        "the word 'the'", "search", {"method": "bestofk", "chose": "words ending in '-ed'"})
