"""The investigating agent: a langgraph ``StateGraph`` of plain functions.

::

    evidence -> hypothesize -> design <-> run
                    ^            |
                    |            v
                    |     instrument_tests
                    |            |
                    |            v
                    +-- revise? judge --> finalize

* **evidence** — statistics, top train excerpts, output-side tokens (instrument
  calls, recorded like every other).
* **hypothesize** — several competing hypotheses, each with a prediction that can
  fail; in later rounds the judged ones are shown so refuted ones are revised.
* **design / run** — the LLM picks one experiment per step through a driver
  (:mod:`.drivers`); the run node executes it with the instruments and stores it.
  When guided (by default for JSON-step models, the small local ones; a model with
  native function calling, or ``guided=False``, chooses every experiment) each
  hypothesis first gets one ``test_hypothesis``
  (activating and near-miss texts the LLM writes), then the LLM chooses freely
  until it calls ``finish`` or the round's steps are spent; a step without a valid
  call counts as spent, so a model that never produces one cannot loop.
* **instrument_tests** — the instruments test every hypothesis themselves
  (``test_on_corpus`` on fresh text, ``counterfactual`` edits: :mod:`.selftest`), so
  each verdict rests on at least one test no LLM wrote; search candidates join the
  first round's hypotheses.
* **judge** — precision, recall and causal agreement per hypothesis
  (:mod:`.verdicts`), a verdict each.
* **finalize** — surviving hypotheses are scored on the *select* split with the
  configured simulator; the best is stored as an explanation with method ``agent``
  linked to its agent run. The test split is never read here.

Budgets (LLM calls, tool calls, seconds) are checked before every call; when one
runs out the graph goes straight to finalize and the run ends ``budget_exhausted``.
The state is checkpointed (SQLite, thread id = the agent run) after every node, and
experiment and hypothesis rows are keyed by step and position, so a killed
investigation resumes where it stopped without repeating a row.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Sequence

from mechanic import store
from mechanic.evals.lm import LLM, LLMError
from mechanic.tools import Subject

from .context import usage_row
from .graph import Agent
from .state import METHOD, AgentConfig
from .toolschema import ToolError

__all__ = ["Investigation", "checkpoint_path", "investigate", "load_investigation", "unfinished_run"]


@dataclass
class Investigation:
    """What ``investigate`` returns."""

    agent_run_id: int
    status: str
    explanation_id: int | None
    text: str | None
    hypotheses: list[dict]
    experiments: list[dict]
    usage: dict
    error: str | None = None


def checkpoint_path(db) -> str:
    """Where an investigation's checkpoints live: beside the store's file
    (``NAME.checkpoints.sqlite``), or in memory for an in-memory store."""
    return store.checkpoints_path(db)


@contextmanager
def _saver(path: str) -> Iterator[Any]:
    from langgraph.checkpoint.sqlite import SqliteSaver  # langgraph loads only when an investigation runs

    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        yield SqliteSaver(conn)
    finally:
        conn.close()


def investigate(db, subject: Subject, feature_row: dict, llm: LLM, config: AgentConfig = AgentConfig(), *,
                run_id: int, config_hash: str | None = None, simulator=None, simulator_name: str = "",
                resume: int | None = None, checkpoints: str | None = None,
                embedder: Callable[[], Any] | None = None, method: str = METHOD,
                seed_candidates: Sequence[str] = (), seed_rules: dict[str, dict] | None = None,
                test_simulator=None,
                progress: Callable[[str], None] | None = None) -> Investigation:
    """Investigate one stored feature (``store.get_feature`` row) and store everything.

    ``run_id`` is the ``runs`` row the explanation belongs to; ``resume`` the id of an
    interrupted agent run of the same feature to continue from its checkpoint.
    ``checkpoints`` overrides where checkpoints live (:func:`checkpoint_path`).
    ``seed_candidates`` (e.g. the description search's best) join the first round's
    hypotheses (at most two; ``seed_rules`` maps a seed's text to its grammar rule) and
    compete with the surviving hypotheses on the select split; ``method`` names the
    stored explanation. ``test_simulator`` reads hypotheses for the instruments' own
    tests (default: the offline ``trained`` simulator). An LLM
    that fails for good ends the run ``failed`` with a failed explanation; a
    ``KeyboardInterrupt`` marks it ``interrupted`` (resumable) and propagates."""
    chash = config_hash or store.config_hash(asdict(config))
    if resume is not None:
        found = store.get_agent_run(db, resume)
        if found is None or found["feature_id"] != feature_row["id"]:
            raise ToolError(f"agent run {resume} is not an investigation of {feature_row['feature']}")
        agent_run_id = resume
        store.reopen_agent_run(db, agent_run_id)
    else:
        agent_run_id = store.start_agent_run(db, run_id=run_id, kind="investigate",
                                             budgets={**config.budgets(), "config_hash": chash, "method": method},
                                             feature_id=feature_row["id"], feature=feature_row["feature"],
                                             explainer_model=llm.name)
    agent = Agent(db, subject, feature_row, llm, config, agent_run_id=agent_run_id, run_id=run_id,
                   config_hash=chash, simulator=simulator, simulator_name=simulator_name, embedder=embedder,
                   say=progress or (lambda m: None), method=method, seed_candidates=tuple(seed_candidates),
                   seed_rules=seed_rules, test_simulator=test_simulator)
    path = checkpoints or checkpoint_path(db)
    # the thread names the run and its start time: a checkpoint file left beside a database
    # that was replaced (whose agent runs count from 1 again) is never resumed into a new run
    started_at = store.get_agent_run(db, agent_run_id)["started_at"]
    thread = {"configurable": {"thread_id": f"agent-run-{agent_run_id}@{started_at}"}, "recursion_limit": 10_000}
    error = None
    with _saver(path) as saver:
        graph = agent.graph().compile(checkpointer=saver)
        started = bool(graph.get_state(thread).values)
        try:
            graph.invoke(None if started else {"round": 0, "step": 0, "hypotheses": []}, thread, durability="sync")
        except KeyboardInterrupt:
            store.finish_agent_run(db, agent_run_id, "interrupted", "interrupted; rerun to resume")
            raise
        except LLMError as exc:
            error = str(exc)
            state = graph.get_state(thread).values
            eid = store.write_explanation(
                db, feature_id=feature_row["id"], run_id=run_id, method=method, config_hash=chash, text=None,
                status="failed", error=f"LLM call failed: {exc}", explainer_model=llm.name,
                details={"agent_run_id": agent_run_id})
            store.update_agent_run(db, agent_run_id, usage=usage_row(state), explanation_id=eid)
            store.finish_agent_run(db, agent_run_id, "failed", error)
        except BaseException as exc:
            store.finish_agent_run(db, agent_run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
    return load_investigation(db, agent_run_id, error=error)


def unfinished_run(db, feature_id: int, config_hash: str, method: str = METHOD) -> int | None:
    """The newest agent run of this feature, configuration and method that stopped
    before storing an explanation (killed or interrupted): what a rerun resumes."""
    return store.unfinished_agent_run(db, feature_id, config_hash, method)


def load_investigation(db, agent_run_id: int, error: str | None = None) -> Investigation:
    """An agent run as stored: hypotheses, experiments, the final explanation."""
    run = store.get_agent_run(db, agent_run_id)
    if run is None:
        raise ToolError(f"no agent run {agent_run_id}")
    explanation = store.get_explanation(db, run["explanation_id"]) if run["explanation_id"] else None
    text = explanation["text"] if explanation else None
    return Investigation(agent_run_id, run["status"], run["explanation_id"], text,
                         store.get_hypotheses(db, agent_run_id), store.get_experiments(db, agent_run_id),
                         run["usage"] or {}, error or run["error"])
