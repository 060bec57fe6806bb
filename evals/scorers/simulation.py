"""Simulation scoring: how well an explanation predicts the feature token by token.

A simulator reads only the explanation and predicts a level per token; the score is
the Pearson correlation between those predictions and the true activations, pooled
over every token of a split (records concatenated, not a mean of per-record
correlations). Three splits from one simulation:

* ``top`` — records of kind ``top`` or ``decile`` (where the feature fires);
* ``random`` — records of kind ``random`` (what it does on ordinary text);
* ``all`` — every record given.

A constant prediction (or constant truth) has no correlation: the value is ``None``
and ``details["undefined"]`` says why. Records the simulator could not predict are
left out and counted; if more than half of a split failed, the result carries an
``error`` and no value.
"""

from __future__ import annotations

import copy
from typing import Sequence

import numpy as np

from ..lm import Usage
from ..metrics import pearson
from ..records import Record, ScoreResult
from ..simulators import Simulation, Simulator

__all__ = ["SPLITS", "pooled_scores", "simulation_score", "simulation_scores_many"]

SPLITS: dict[str, frozenset[str] | None] = {
    "top": frozenset({"top", "decile"}),
    "random": frozenset({"random"}),
    "all": None,  # everything
}


def simulation_score(simulator: Simulator, explanation: str, records: Sequence[Record],
                     scorer_model: str = "") -> list[ScoreResult]:
    """One :class:`ScoreResult` per split (``top``, ``random``, ``all``), metric
    ``pearson``. The three share one ``usage``: the cost of the single simulation."""
    (sim,) = _run_many(simulator, [explanation], records)
    return _results(sim, records, scorer_model or simulator.name)


def simulation_scores_many(simulator: Simulator, explanations: Sequence[str], records: Sequence[Record],
                           scorer_model: str = "") -> list[list[ScoreResult]]:
    """:func:`simulation_score` for several explanations of one feature, simulated
    in one batched pass (what best-of-k selection calls). One list per explanation."""
    sims = _run_many(simulator, list(explanations), records)
    return [_results(sim, records, scorer_model or simulator.name) for sim in sims]


def pooled_scores(simulator: Simulator, explanations: Sequence[str],
                  records: Sequence[Record]) -> tuple[list[float | None], Usage]:
    """Each explanation's pooled ("all" split) simulation score on ``records``, and
    what simulating them all cost: what choosing among candidates needs."""
    results = simulation_scores_many(simulator, explanations, records)
    usage = Usage()
    for rs in results:  # the results of one explanation share one usage record
        for u in {id(r.usage): r.usage for r in rs}.values():
            usage.merge(u)
    return [next((r.value for r in rs if r.split == "all"), None) for rs in results], usage


def _run_many(simulator, explanations: list[str], records: Sequence[Record]) -> list[Simulation]:
    """Simulations with their cost. A simulator that only offers ``simulate`` /
    ``simulate_many`` (no per-record failures) is charged the change in its
    ``usage``, split evenly over the explanations."""
    if callable(getattr(simulator, "run_many", None)):
        return simulator.run_many(explanations, records)
    before = copy.copy(simulator.usage)
    if callable(getattr(simulator, "simulate_many", None)):
        predictions = simulator.simulate_many(explanations, records)
    else:
        predictions = [simulator.simulate(e, records) for e in explanations]
    after, k = simulator.usage, max(1, len(explanations))
    share = Usage(calls=(after.calls - before.calls) // k,
                  prompt_tokens=(after.prompt_tokens - before.prompt_tokens) // k,
                  completion_tokens=(after.completion_tokens - before.completion_tokens) // k,
                  seconds=(after.seconds - before.seconds) / k)
    return [Simulation(list(p), share) for p in predictions]


def _results(sim: Simulation, records: Sequence[Record], scorer_model: str) -> list[ScoreResult]:
    if len(sim.predictions) != len(records):
        raise ValueError(f"simulator returned {len(sim.predictions)} predictions for {len(records)} records")
    out = []
    for split, kinds in SPLITS.items():
        members = [i for i, r in enumerate(records) if kinds is None or r.kind in kinds]
        ok = [i for i in members if sim.predictions[i] is not None]
        failed = len(members) - len(ok)
        details: dict = {"records": len(ok), "tokens": int(sum(len(records[i].tokens) for i in ok)),
                         "failed": failed}
        value, error = None, None
        if failed and failed * 2 > len(members):
            error = f"{failed} of {len(members)} records could not be simulated: " + (
                sim.errors[0] if sim.errors else "unknown error")
        elif not ok:
            details["undefined"] = "no records"
        else:
            pred = np.concatenate([np.asarray(sim.predictions[i], dtype=np.float64) for i in ok])
            true = np.concatenate([np.asarray(records[i].activations, dtype=np.float64) for i in ok])
            if pred.shape != true.shape:
                raise ValueError(f"simulator predicted {pred.size} tokens for {true.size}")
            value = pearson(pred, true)
            if value is None:
                details["undefined"] = ("fewer than two tokens" if pred.size < 2
                                        else "constant prediction" if np.ptp(pred) == 0
                                        else "constant activations")
        if failed and sim.errors:
            details["errors"] = [e for e in sim.errors][:5]
        out.append(ScoreResult("simulation", "pearson", split, value, len(ok), scorer_model,
                               sim.usage, details, error))
    return out
