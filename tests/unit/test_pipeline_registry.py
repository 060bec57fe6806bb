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
