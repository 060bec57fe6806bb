"""The schema, as numbered migrations.

Each migration is a function ``mNNN_description(db)`` appended to ``MIGRATIONS``;
``apply_migrations`` runs the pending ones in order, each in its own transaction,
and records it in ``_migrations``. Never edit a migration that has shipped: add
the next one.

Enumerations (run status, split, exemplar kind) are checked in Python rather
than by CHECK constraints, so that widening one later needs no table rebuild.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Callable, Iterator

import sqlite_utils

from ._common import now
from .errors import StoreError

__all__ = ["MIGRATIONS", "apply_migrations", "applied_migrations", "check_schema_version", "m001_initial", "m002_explanations_scores", "m003_agent", "m004_bench"]

Migration = Callable[[sqlite_utils.Database], None]


def m001_initial(db: sqlite_utils.Database) -> None:
    """Runs, models, corpora and their windows, features, exemplars, directions."""
    db.executescript(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            config TEXT NOT NULL,            -- JSON, secrets removed
            config_hash TEXT NOT NULL,       -- sha256 of the canonical config JSON
            status TEXT NOT NULL,            -- running | done | failed | interrupted
            error TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX runs_command_hash ON runs (command, config_hash);
        CREATE INDEX runs_status ON runs (status);

        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            family TEXT,
            n_layers INTEGER,
            d_model INTEGER,
            d_mlp INTEGER,
            n_heads INTEGER,
            vocab_size INTEGER,
            created_at TEXT NOT NULL
        );

        CREATE TABLE corpora (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            spec TEXT NOT NULL,              -- JSON: source, n_tokens, window, seed, ...
            config_hash TEXT NOT NULL UNIQUE,
            n_windows INTEGER NOT NULL DEFAULT 0,
            n_tokens INTEGER NOT NULL DEFAULT 0,
            run_id INTEGER REFERENCES runs (id),
            created_at TEXT NOT NULL
        );

        CREATE TABLE windows (
            corpus_id INTEGER NOT NULL REFERENCES corpora (id),
            idx INTEGER NOT NULL,
            doc TEXT NOT NULL,               -- id of the source document
            start INTEGER NOT NULL,          -- token offset of the window in that document
            split TEXT NOT NULL,             -- train | select | test
            n_tokens INTEGER NOT NULL,
            tokens BLOB NOT NULL,            -- int32 little-endian
            PRIMARY KEY (corpus_id, idx)
        );
        CREATE INDEX windows_split ON windows (corpus_id, split);

        CREATE TABLE features (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models (id),
            corpus_id INTEGER NOT NULL REFERENCES corpora (id),
            run_id INTEGER NOT NULL REFERENCES runs (id),
            feature TEXT NOT NULL,           -- canonical id, e.g. mlp:3:17
            kind TEXT NOT NULL,              -- mlp | attn | resid | sae
            layer INTEGER,
            idx INTEGER,
            name TEXT,
            count INTEGER,
            mean REAL,
            var REAL,
            max REAL,
            min REAL,
            frac_active REAL,
            quantiles TEXT NOT NULL,         -- JSON {"0.5": ..., "0.9": ...}
            extra_stats TEXT,                -- JSON of any other statistics
            created_at TEXT NOT NULL,
            UNIQUE (model_id, corpus_id, feature)
        );
        CREATE INDEX features_model_feature ON features (model_id, feature);
        CREATE INDEX features_model_layer ON features (model_id, kind, layer, idx);
        CREATE INDEX features_corpus ON features (corpus_id);
        CREATE INDEX features_run ON features (run_id);

        CREATE TABLE exemplars (
            id INTEGER PRIMARY KEY,
            feature_id INTEGER NOT NULL REFERENCES features (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,              -- top | bottom | decile | random | hard_negative
            decile INTEGER,                  -- 0-9 for kind 'decile', else NULL
            rank INTEGER NOT NULL,
            corpus_id INTEGER NOT NULL,
            window_idx INTEGER NOT NULL,
            split TEXT NOT NULL,
            max_act REAL NOT NULL,
            activations BLOB NOT NULL,       -- float16 little-endian, one per token
            FOREIGN KEY (corpus_id, window_idx) REFERENCES windows (corpus_id, idx)
        );
        CREATE INDEX exemplars_feature_kind ON exemplars (feature_id, kind);
        CREATE INDEX exemplars_window ON exemplars (corpus_id, window_idx);

        CREATE TABLE directions (
            id INTEGER PRIMARY KEY,
            model_id INTEGER NOT NULL REFERENCES models (id),
            name TEXT NOT NULL,
            layer INTEGER,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,            -- float32 little-endian
            source TEXT NOT NULL DEFAULT '',
            run_id INTEGER REFERENCES runs (id),
            created_at TEXT NOT NULL,
            UNIQUE (model_id, name)
        );
        CREATE INDEX directions_run ON directions (run_id);
        """
    )


def m002_explanations_scores(db: sqlite_utils.Database) -> None:
    """Explanations of features (and the sanity-control explanations scored beside
    them) and the scores every scorer gave them."""
    db.executescript(
        """
        CREATE TABLE explanations (
            id INTEGER PRIMARY KEY,
            feature_id INTEGER NOT NULL REFERENCES features (id) ON DELETE CASCADE,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            method TEXT NOT NULL,            -- tokens | oneshot | bestofk | agent | random | shuffled
            role TEXT NOT NULL,              -- explanation | control | candidate
            text TEXT,                       -- NULL when status is 'failed'
            status TEXT NOT NULL,            -- ok | failed
            error TEXT,
            raw TEXT,                        -- the explainer's raw output, kept for audit
            explainer_model TEXT,
            prompt_hash TEXT,
            config_hash TEXT NOT NULL,       -- the labeling configuration (for resume)
            llm_calls INTEGER NOT NULL DEFAULT 0,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            details TEXT,                    -- JSON
            created_at TEXT NOT NULL
        );
        CREATE INDEX explanations_feature ON explanations (feature_id, method, role);
        CREATE INDEX explanations_config ON explanations (config_hash, method);
        CREATE INDEX explanations_run ON explanations (run_id);

        CREATE TABLE scores (
            id INTEGER PRIMARY KEY,
            explanation_id INTEGER NOT NULL REFERENCES explanations (id) ON DELETE CASCADE,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            scorer TEXT NOT NULL,            -- simulation | detection | fuzzing | embedding | intervention
            scorer_model TEXT,
            split TEXT NOT NULL,             -- top | random | all | test ...
            metric TEXT NOT NULL,            -- pearson | balanced_accuracy | f1 | auprc | auroc
            value REAL,                      -- NULL when undefined or when the scorer failed
            n INTEGER,
            llm_calls INTEGER NOT NULL DEFAULT 0,
            tokens INTEGER NOT NULL DEFAULT 0,
            seconds REAL NOT NULL DEFAULT 0,
            error TEXT,
            details TEXT,                    -- JSON
            created_at TEXT NOT NULL,
            UNIQUE (explanation_id, scorer, split, metric)
        );
        CREATE INDEX scores_run ON scores (run_id);
        """
    )


def m003_agent(db: sqlite_utils.Database) -> None:
    """Investigations by the agent (``mechanic investigate``, ``ask``, ``label --method
    agent``): one ``agent_runs`` row each, its hypotheses and every experiment it ran."""
    db.executescript(
        """
        CREATE TABLE agent_runs (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            kind TEXT NOT NULL,              -- investigate | ask
            feature_id INTEGER REFERENCES features (id) ON DELETE CASCADE,
            feature TEXT,                    -- canonical feature id (investigate)
            question TEXT,                   -- the question (ask)
            status TEXT NOT NULL,            -- running | done | budget_exhausted | failed | interrupted
            error TEXT,
            explainer_model TEXT,
            budgets TEXT NOT NULL,           -- JSON {llm_calls, tool_calls, seconds}
            usage TEXT,                      -- JSON {llm_calls, tool_calls, prompt_tokens, completion_tokens, seconds}
            explanation_id INTEGER REFERENCES explanations (id),
            answer TEXT,                     -- JSON (ask): claims, confidence, untested
            started_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX agent_runs_feature ON agent_runs (feature_id);
        CREATE INDEX agent_runs_run ON agent_runs (run_id);

        CREATE TABLE hypotheses (
            id INTEGER PRIMARY KEY,
            agent_run_id INTEGER NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
            round INTEGER NOT NULL,
            idx INTEGER NOT NULL,            -- position within its round
            text TEXT NOT NULL,
            prediction TEXT,                 -- what would refute it
            status TEXT NOT NULL,            -- open | judged
            verdict TEXT,                    -- supported | refuted | inconclusive
            precision REAL,
            recall REAL,
            causal_agreement REAL,
            details TEXT,                    -- JSON
            created_at TEXT NOT NULL,
            UNIQUE (agent_run_id, round, idx)
        );

        CREATE TABLE experiments (
            id INTEGER PRIMARY KEY,
            agent_run_id INTEGER NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
            step INTEGER NOT NULL,           -- order within the run (a resumed run never repeats one)
            hypothesis_id INTEGER REFERENCES hypotheses (id),
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,         -- JSON
            result TEXT,                     -- JSON, NULL when the call failed
            summary TEXT,                    -- what the LLM was shown
            error TEXT,                      -- a rejected call (bad arguments)
            elapsed REAL NOT NULL DEFAULT 0, -- seconds
            created_at TEXT NOT NULL,
            UNIQUE (agent_run_id, step)
        );
        CREATE INDEX experiments_hypothesis ON experiments (hypothesis_id);
        """
    )


def m004_bench(db: sqlite_utils.Database) -> None:
    """Benchmark runs (``mechanic bench``): the suite features a run measured, with
    their ground truth, and one value per (feature, method, metric)."""
    db.executescript(
        """
        CREATE TABLE bench_items (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            suite TEXT NOT NULL,             -- rules | planted | records
            feature_id INTEGER NOT NULL REFERENCES features (id) ON DELETE CASCADE,
            name TEXT NOT NULL,              -- e.g. rule:month_names, resid:15:planted_numbers
            family TEXT,
            description TEXT,                -- the ground truth (NULL when the suite has none)
            decoys TEXT,                     -- JSON list of wrong descriptions
            details TEXT,                    -- JSON
            created_at TEXT NOT NULL,
            UNIQUE (run_id, suite, name)
        );
        CREATE INDEX bench_items_feature ON bench_items (feature_id);

        CREATE TABLE bench_values (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            suite TEXT NOT NULL,
            name TEXT NOT NULL,              -- the suite feature
            method TEXT NOT NULL,            -- tokens | oneshot | ... | random | shuffled | truth | decoy_1 ...
            metric TEXT NOT NULL,            -- sim | detect | fuzz | truth_choice_llm | truth_cosine | cost_* ...
            value REAL,                      -- NULL when undefined or failed
            details TEXT,                    -- JSON
            UNIQUE (run_id, suite, name, method, metric)
        );
        CREATE INDEX bench_values_run ON bench_values (run_id, suite, method, metric);
        """
    )


MIGRATIONS: list[Migration] = [m001_initial, m002_explanations_scores, m003_agent, m004_bench]


def _number(migration: Migration) -> int:
    match = re.fullmatch(r"m(\d{3})_\w+", migration.__name__)
    if match is None:
        raise ValueError(f"migration {migration.__name__!r} is not named mNNN_description")
    return int(match.group(1))


@contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[None]:
    # BEGIN IMMEDIATE takes the write lock up front, so two processes opening a new
    # store at once apply each migration exactly once instead of racing.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    """Names of the migrations recorded in ``_migrations``, in order."""
    if not db["_migrations"].exists():
        return []
    return [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY id")]


def check_schema_version(db: sqlite_utils.Database, name: str = "the database") -> None:
    """Raise :class:`StoreError` when ``db`` records a migration this version does not
    know (it was written by a newer mechanic). Reads only: a newer store is never
    written to. Also the first read of a file, so a file that is not SQLite fails here
    (``sqlite3.DatabaseError``)."""
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if not db["_migrations"].exists():
        return
    known = {_number(m): m.__name__ for m in MIGRATIONS}
    rows = db.execute("SELECT id, name FROM _migrations ORDER BY id").fetchall()
    unknown = [(number, label) for number, label in rows if known.get(number) != label]
    if unknown:
        number, label = unknown[-1]
        raise StoreError(
            f"{name} was written by a newer mechanic (schema migration {number}, {label}; this version knows "
            f"up to {max(known)}): upgrade mechanic to use it, or pass --db with another path")


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Run every pending migration, in order; return the names of those applied now."""
    numbers = [_number(m) for m in MIGRATIONS]
    if numbers != sorted(set(numbers)):
        raise ValueError(f"migration numbers must be unique and ascending: {numbers}")
    if db["_migrations"].exists():
        done = {row[0] for row in db.execute("SELECT id FROM _migrations")}
        if done.issuperset(numbers):  # up to date: a reader opening the store takes no write lock
            return []
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations"
        " (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, applied_at TEXT NOT NULL)"
    )
    applied: list[str] = []
    for number, migration in zip(numbers, MIGRATIONS):
        with _immediate(db):
            done = db.execute("SELECT 1 FROM _migrations WHERE id = ?", [number]).fetchone()
            if done:
                continue
            migration(db)
            db.execute(
                "INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)",
                [number, migration.__name__, now()],
            )
        applied.append(migration.__name__)
    return applied
