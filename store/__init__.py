"""The SQLite store: schema (numbered migrations) and typed read/write functions.

One database file holds everything a run produces; it opens unchanged in Datasette.
Tables (migration 1): ``runs``, ``models``, ``corpora``, ``windows`` (token ids as
int32 blobs), ``features`` (statistics and quantiles), ``exemplars`` (per-token
activations as float16 blobs), ``directions`` (float32 blobs), and ``_migrations``.
Every derived row carries the ``run_id`` of the run that made it.

This package depends on nothing else in mechanic.
"""

from .blobs import decode_activations, decode_tokens, decode_vector
from .corpora import SPLITS, WindowRow, get_corpus, get_windows, upsert_corpus, write_windows
from .db import open_db
from .directions import load_directions, save_direction
from .explanations import (
    EXPLANATION_ROLES,
    EXPLANATION_STATUSES,
    get_explanations,
    get_scores,
    labeled_features,
    write_explanation,
    write_scores,
)
from .exemplars import EXEMPLAR_KINDS, Exemplar, ExemplarRow, get_exemplars
from .features import captured_features, get_feature, list_features, write_feature
from .migrations import MIGRATIONS, applied_migrations
from .models import get_model, upsert_model
from .runs import RUN_STATUSES, config_hash, find_runs, finish_run, get_run, start_run

__all__ = [
    "EXPLANATION_ROLES",
    "EXPLANATION_STATUSES",
    "get_explanations",
    "get_scores",
    "labeled_features",
    "write_explanation",
    "write_scores",
    "EXEMPLAR_KINDS",
    "MIGRATIONS",
    "RUN_STATUSES",
    "SPLITS",
    "Exemplar",
    "ExemplarRow",
    "WindowRow",
    "applied_migrations",
    "captured_features",
    "config_hash",
    "decode_activations",
    "decode_tokens",
    "decode_vector",
    "find_runs",
    "finish_run",
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
    "write_feature",
    "write_windows",
]
