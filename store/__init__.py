"""The SQLite store: schema (numbered migrations) and typed read/write functions.

One database file holds everything a run produces; it opens unchanged in Datasette.
Tables (migration 1): ``runs``, ``models``, ``corpora``, ``windows`` (token ids as
int32 blobs), ``features`` (statistics and quantiles), ``exemplars`` (per-token
activations as float16 blobs), ``directions`` (float32 blobs), and ``_migrations``; migration 2 adds
``explanations`` and ``scores``, migration 3 the agent's ``agent_runs``,
``hypotheses`` and ``experiments``, migration 4 the benchmark tables ``bench_items`` and
``bench_values``; migration 5 ``feature_summary`` (the viewer's index, kept by triggers).
Every derived row carries the ``run_id`` of the run that made it.

This package depends on nothing else in mechanic.
"""

from ._common import write_transaction
from .agent import (
    AGENT_KINDS,
    AGENT_STATUSES,
    VERDICTS,
    checkpoints_path,
    finish_agent_run,
    get_agent_run,
    get_agent_runs,
    get_experiments,
    get_hypotheses,
    judge_hypothesis,
    reopen_agent_run,
    start_agent_run,
    unfinished_agent_run,
    update_agent_run,
    write_experiment,
    write_hypothesis,
)
from .bench import get_bench_items, get_bench_values, get_validity_values, write_bench_items, write_bench_values
from .blobs import decode_activations, decode_tokens, decode_vector
from .corpora import SPLITS, WindowRow, get_corpus, get_windows, upsert_corpus, window_indices, write_windows
from .db import database_problem, open_db
from .directions import load_directions, save_direction
from .errors import StoreError
from .exemplars import EXEMPLAR_KINDS, Exemplar, ExemplarRow, get_exemplars
from .explanations import (
    EXPLANATION_ROLES,
    EXPLANATION_STATUSES,
    get_explanation,
    get_explanations,
    get_scores,
    labeled_features,
    latest_explanation_text,
    merge_explanation_details,
    searchable_explanations,
    write_explanation,
    write_explanation_once,
    write_scores,
)
from .features import captured_features, get_feature, list_features, write_feature
from .migrations import MIGRATIONS, applied_migrations
from .models import get_model, upsert_model
from .runs import RUN_STATUSES, config_hash, find_runs, finish_run, finishing, get_run, start_run
from .viewer import (
    SORTS,
    agent_run_list,
    count_agent_runs,
    feature_by_id,
    open_readonly,
    run_products,
    store_version,
    summary_choices,
    summary_page,
    summary_rows,
    summary_search_rows,
)

__all__ = [
    "AGENT_KINDS",
    "AGENT_STATUSES",
    "VERDICTS",
    "checkpoints_path",
    "finish_agent_run",
    "get_agent_run",
    "get_agent_runs",
    "get_experiments",
    "get_hypotheses",
    "judge_hypothesis",
    "reopen_agent_run",
    "start_agent_run",
    "unfinished_agent_run",
    "update_agent_run",
    "write_experiment",
    "write_hypothesis",
    "EXPLANATION_ROLES",
    "EXPLANATION_STATUSES",
    "get_explanation",
    "get_explanations",
    "merge_explanation_details",
    "get_scores",
    "labeled_features",
    "latest_explanation_text",
    "searchable_explanations",
    "write_explanation",
    "write_explanation_once",
    "write_scores",
    "EXEMPLAR_KINDS",
    "MIGRATIONS",
    "RUN_STATUSES",
    "SPLITS",
    "StoreError",
    "Exemplar",
    "ExemplarRow",
    "WindowRow",
    "applied_migrations",
    "captured_features",
    "config_hash",
    "decode_activations",
    "decode_tokens",
    "database_problem",
    "decode_vector",
    "find_runs",
    "finish_run",
    "finishing",
    "get_bench_items",
    "get_bench_values",
    "get_validity_values",
    "get_corpus",
    "get_exemplars",
    "get_feature",
    "get_model",
    "get_run",
    "get_windows",
    "list_features",
    "load_directions",
    "open_db",
    "save_direction",
    "start_run",
    "upsert_corpus",
    "upsert_model",
    "write_bench_items",
    "write_bench_values",
    "write_feature",
    "window_indices",
    "write_windows",
    "SORTS",
    "agent_run_list",
    "count_agent_runs",
    "feature_by_id",
    "open_readonly",
    "run_products",
    "store_version",
    "summary_choices",
    "summary_page",
    "summary_rows",
    "summary_search_rows",
    "write_transaction",
]
