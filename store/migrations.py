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

__all__ = ["MIGRATIONS", "apply_migrations", "applied_migrations", "check_schema_version", "m001_initial",
           "m002_explanations_scores", "m003_agent", "m004_bench", "m005_feature_summary", "SUMMARY_COLUMNS"]

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


# The headline number of each scorer, as a feature_summary column: (column, scorer, split, metric),
# as in the label table (detection and fuzzing by AUROC; the topic scorer was stored as `embedding`
# before its rename, so its column reads either name).
SUMMARY_COLUMNS = (
    ("sim", "simulation", "all", "pearson"),
    ("sim_top", "simulation", "top", "pearson"),
    ("detect", "detection", "test", "auroc"),
    ("fuzz", "fuzzing", "test", "auroc"),
    ("topic", ("topic", "embedding"), "test", "auroc"),
    ("causal", "intervention", "prompts", "auroc"),
)


def _scorer_is(column: str, scorer) -> str:
    names = (scorer,) if isinstance(scorer, str) else scorer
    return f"{column} IN ({', '.join(repr(n) for n in names)})"


def _summarize(feature: str) -> list[str]:
    """SQL that rebuilds the feature_summary rows of the feature whose id is the SQL
    expression ``feature``: one row per method (its best explanation) and one row with
    method '' (the best over every method, or status 'none' when there is none)."""
    scores = ",\n".join(
        f"(SELECT value FROM scores s WHERE s.explanation_id = e.id AND {_scorer_is('s.scorer', scorer)} "
        f"AND s.split = '{split}' AND s.metric = '{metric}') AS {col}"
        for col, scorer, split, metric in SUMMARY_COLUMNS)
    cols = ", ".join(c for c, *_ in SUMMARY_COLUMNS)
    floor = ("(SELECT max(s.value) FROM explanations c JOIN scores s ON s.explanation_id = c.id "
             f"WHERE c.feature_id = {feature} AND c.role = 'control' AND s.scorer = 'simulation' "
             "AND s.split = 'all' AND s.metric = 'pearson')")
    best = "(e.status = 'ok') DESC, e.sim IS NULL, e.sim DESC, e.detect DESC, e.topic DESC, e.id DESC"
    ranked = f"""
        SELECT e.*, row_number() OVER (PARTITION BY e.method ORDER BY {best}) AS rank_method,
               count(*) OVER (PARTITION BY e.method) AS n_method
        FROM (SELECT x.id, x.feature_id, x.method, x.text, x.status, {scores.replace("e.id", "x.id")}
              FROM explanations x WHERE x.feature_id = {feature} AND x.role = 'explanation') e"""
    insert = (f"INSERT INTO feature_summary (feature_id, method, model_id, kind, layer, idx, explanation_id, text, "
              f"status, n_explanations, {cols}, floor_sim)")
    return [f"DELETE FROM feature_summary WHERE feature_id = {feature}", f"""
        {insert}
        SELECT f.id, '', f.model_id, f.kind, f.layer, f.idx, NULL, NULL, 'none', 0, {", ".join("NULL" for _ in SUMMARY_COLUMNS)},
               {floor}
        FROM features f WHERE f.id = {feature}
          AND NOT EXISTS (SELECT 1 FROM explanations WHERE feature_id = {feature} AND role = 'explanation')""", f"""
        {insert}
        SELECT f.id, r.method, f.model_id, f.kind, f.layer, f.idx, r.id, r.text, r.status, r.n_method, {cols}, {floor}
        FROM ({ranked}) r JOIN features f ON f.id = r.feature_id WHERE r.rank_method = 1""", f"""
        {insert}
        SELECT feature_id, '', model_id, kind, layer, idx, explanation_id, text, status,
               (SELECT sum(n_explanations) FROM feature_summary WHERE feature_id = {feature} AND method != ''),
               {cols}, floor_sim
        FROM feature_summary WHERE feature_id = {feature} AND method != ''
        ORDER BY (status = 'ok') DESC, sim IS NULL, sim DESC, detect DESC, topic DESC, explanation_id DESC
        LIMIT 1"""]


def _body(feature: str) -> str:
    return " ".join(f"{statement};" for statement in _summarize(feature))


def _statements(script: str) -> list[str]:
    """The statements of ``script``: split on ';' at the end of a line, except inside a trigger body."""
    out, current = [], []
    for line in script.splitlines():
        current.append(line)
        text = "\n".join(current).strip()
        if text.endswith(";") and (not text.upper().startswith("CREATE TRIGGER") or text.upper().endswith("END;")):
            out.append(text)
            current = []
    if "\n".join(current).strip():
        out.append("\n".join(current).strip())
    return out


def m005_feature_summary(db: sqlite_utils.Database) -> None:
    """What the viewer's index lists and sorts: per feature and method the best
    explanation with its headline scores (and per feature the best over all methods,
    method ''), kept current by triggers on features, explanations and scores so that
    any writer maintains it and a read-only reader can page it through its indexes."""
    headline = " OR ".join(f"({_scorer_is('NEW.scorer', scorer)} AND NEW.split = '{split}' AND NEW.metric = '{metric}')"
                           for _, scorer, split, metric in SUMMARY_COLUMNS)
    # an explanation's headline scores, and a control's sim (the floor); never a candidate's
    headline = ("(SELECT CASE role WHEN 'explanation' THEN (" + headline + ") WHEN 'control' THEN (NEW.scorer = "
                "'simulation' AND NEW.split = 'all' AND NEW.metric = 'pearson') ELSE 0 END FROM explanations "
                "WHERE id = NEW.explanation_id)")
    old_headline = headline.replace("NEW.", "OLD.")
    of_score = "(SELECT feature_id FROM explanations WHERE id = {}.explanation_id)"
    columns = ",\n".join(f"            {col} REAL" for col, *_ in SUMMARY_COLUMNS)
    indexes = "\n".join(f"        CREATE INDEX feature_summary_{col} ON feature_summary (model_id, method, {col});"
                         for col, *_ in SUMMARY_COLUMNS)
    script = f"""
        CREATE TABLE feature_summary (
            feature_id INTEGER NOT NULL REFERENCES features (id) ON DELETE CASCADE,
            method TEXT NOT NULL,            -- '' for the best over every method
            model_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            layer INTEGER,
            idx INTEGER,
            explanation_id INTEGER,          -- NULL when the feature has no explanation
            text TEXT,
            status TEXT NOT NULL,            -- ok | failed | none
            n_explanations INTEGER NOT NULL DEFAULT 0,
{columns},
            floor_sim REAL,                  -- the best control's sim: the floor
            PRIMARY KEY (feature_id, method)
        );
        CREATE INDEX feature_summary_order ON feature_summary (model_id, method, kind, layer, idx);
        CREATE INDEX feature_summary_status ON feature_summary (model_id, method, status);
        CREATE INDEX feature_summary_text ON feature_summary (model_id, method, text, kind, layer, idx);
{indexes}

        CREATE TRIGGER feature_summary_feature_insert AFTER INSERT ON features BEGIN {_body("NEW.id")} END;
        CREATE TRIGGER feature_summary_feature_update AFTER UPDATE OF model_id, kind, layer, idx ON features
        BEGIN {_body("NEW.id")} END;
        CREATE TRIGGER feature_summary_explanation_insert AFTER INSERT ON explanations WHEN NEW.role = 'explanation'
        BEGIN {_body("NEW.feature_id")} END;
        CREATE TRIGGER feature_summary_explanation_update AFTER UPDATE OF feature_id, method, role, text, status
        ON explanations BEGIN {_body("OLD.feature_id")} {_body("NEW.feature_id")} END;
        CREATE TRIGGER feature_summary_explanation_delete AFTER DELETE ON explanations
        BEGIN {_body("OLD.feature_id")} END;
        CREATE TRIGGER feature_summary_score_insert AFTER INSERT ON scores WHEN {headline}
        BEGIN {_body(of_score.format("NEW"))} END;
        CREATE TRIGGER feature_summary_score_update AFTER UPDATE OF value ON scores WHEN {headline}
        BEGIN {_body(of_score.format("NEW"))} END;
        CREATE TRIGGER feature_summary_score_delete AFTER DELETE ON scores WHEN {old_headline}
        BEGIN {_body(of_score.format("OLD"))} END;
        """
    # One statement at a time, inside the migration's transaction (sqlite_utils' script splitter is
    # slow on long trigger bodies, and sqlite3's executescript would commit first).
    for statement in _statements(script):
        db.execute(statement)
    for (feature_id,) in db.execute("SELECT id FROM features").fetchall():
        for statement in _summarize(str(int(feature_id))):
            db.execute(statement)


MIGRATIONS: list[Migration] = [m001_initial, m002_explanations_scores, m003_agent, m004_bench,
                               m005_feature_summary]


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
