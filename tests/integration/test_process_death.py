"""`kill -9` of a `mechanic label` run during capture, explanation and scoring; the same
command run again finishes the rest. The final database equals an uninterrupted run's
in content (no duplicate, no half-written row) and nothing stored before the kill is
computed again. A real process, a real SQLite file, the tiny model."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

FEATURES = "mlp:1:0-5"
ARGS = ["--model", "tiny:llama", "-q", "label", FEATURES, "--methods", "tokens,search", "--scorers",
        "simulation,embedding", "--tokens", "16384"]
TOTAL_EXPLANATIONS = 6 * 2  # features x methods
TOTAL_SCORED = 6 * 4  # and the two floors each


def _command(db: Path) -> list[str]:
    code = "import sys; from mechanic.agent.cli import main; sys.argv = ['mechanic', *sys.argv[1:]]; main()"
    return [sys.executable, "-c", code, "--db", str(db), *ARGS, "--report", str(db.with_suffix(".html"))]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _run(db: Path) -> None:
    proc = subprocess.run(_command(db), capture_output=True, text=True, timeout=300, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]


def _query(db: Path, sql: str) -> list[tuple]:
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # no such table yet, or a lock in passing
        return []
    finally:
        conn.close()


def _count(db: Path, sql: str) -> int:
    rows = _query(db, sql)
    return rows[0][0] if rows else 0


def _kill_when(db: Path, ready, what: str) -> None:
    """Start the command, SIGKILL it (its whole process group) once ``ready(db)``."""
    proc = subprocess.Popen(_command(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not ready(db):
            if proc.poll() is not None:
                pytest.fail(f"the run ended (status {proc.returncode}) before {what}: the kill point was missed")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within 240 s")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


# Columns that differ between equal runs: row ids, run ids, clocks.
_VOLATILE = {"id", "run_id", "created_at", "started_at", "finished_at", "applied_at", "seconds", "latency"}


def _content(db: Path) -> dict[str, list]:
    """Every table that holds results, as a sorted list of rows without volatile
    columns; references to features and explanations by their natural keys."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    feature = {r["id"]: r["feature"] for r in conn.execute("SELECT id, feature FROM features")}
    explanation = {r["id"]: (feature[r["feature_id"]], r["method"], r["role"])
                   for r in conn.execute("SELECT id, feature_id, method, role FROM explanations")}
    out = {}
    for table in ("models", "corpora", "windows", "features", "exemplars", "explanations", "scores"):
        rows = []
        for r in conn.execute(f"SELECT * FROM {table}"):
            row = {k: r[k] for k in r.keys() if k not in _VOLATILE}
            if "feature_id" in row:
                row["feature_id"] = feature[row["feature_id"]]
            if "explanation_id" in row:
                row["explanation_id"] = explanation[row["explanation_id"]]
            for key in ("details", "spec"):
                if isinstance(row.get(key), str):
                    row[key] = json.loads(row[key])
            if isinstance(row.get("details"), dict):
                row["details"].pop("seconds", None)
            # Floats apart: a resumed run embeds other batches than a whole one, and float32
            # sums over other paddings differ in the last bits (~1e-7).
            floats: list[float] = []
            rows.append((json.dumps(_floats_out(row, floats), sort_keys=True, default=repr), tuple(floats)))
        out[table] = sorted(rows)
    conn.close()
    return out


def _floats_out(value, floats: list):
    """``value`` with every float replaced by a marker, the floats appended in order."""
    if isinstance(value, float):
        floats.append(value)
        return "<float>"
    if isinstance(value, dict):
        return {k: _floats_out(value[k], floats) for k in sorted(value)}
    if isinstance(value, list):
        return [_floats_out(v, floats) for v in value]
    return value


def _assert_same(table: str, got: list, want: list) -> None:
    keys_got, keys_want = [k for k, _ in got], [k for k, _ in want]
    missing, extra = sorted(set(keys_want) - set(keys_got)), sorted(set(keys_got) - set(keys_want))
    assert keys_got == keys_want, f"{table} differs from the uninterrupted run's: {missing[:2]} vs {extra[:2]}"
    for (key, a), (_, b) in zip(got, want):
        assert a == pytest.approx(b, abs=1e-5), f"{table}: {key} has {a}, the uninterrupted run {b}"


def _stored(db: Path) -> dict[str, set]:
    """What was paid for: rows with their creation times."""
    return {
        "features": set(_query(db, "SELECT feature, created_at FROM features")),
        "explanations": set(_query(db, "SELECT id, created_at FROM explanations")),
        "scores": set(_query(db, "SELECT explanation_id, scorer, split, metric, created_at FROM scores")),
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    db = tmp_path_factory.mktemp("uninterrupted") / "m.db"
    _run(db)
    content = _content(db)
    assert len([k for k, _ in content["explanations"] if '"role": "explanation"' in k]) == TOTAL_EXPLANATIONS
    return content


def _during_capture(db: Path) -> bool:
    # windows are written, then the features of a pass in one transaction
    return _count(db, "SELECT count(*) FROM windows") > 0 and _count(db, "SELECT count(*) FROM features") == 0


def _during_explanation(db: Path) -> bool:
    n = _count(db, "SELECT count(*) FROM explanations WHERE role = 'explanation'")
    return 2 <= n < TOTAL_EXPLANATIONS


def _during_scoring(db: Path) -> bool:
    n = _count(db, "SELECT count(DISTINCT explanation_id) FROM scores")
    return 2 <= n < TOTAL_SCORED


@pytest.mark.parametrize("ready,what", [(_during_capture, "capture"), (_during_explanation, "explanation"),
                                        (_during_scoring, "scoring")], ids=["capture", "explanation", "scoring"])
def test_killed_label_resumes_to_the_same_database(reference, tmp_path, ready, what):
    db = tmp_path / "m.db"
    _kill_when(db, ready, what)
    paid = _stored(db)
    _run(db)
    after = _stored(db)
    for table, rows in paid.items():
        assert rows <= after[table], f"{table}: rows stored before the kill were written again"
    content = _content(db)
    for table, rows in reference.items():
        _assert_same(table, content[table], rows)
    statuses = [s for (s,) in _query(db, "SELECT status FROM runs ORDER BY id")]
    assert statuses[-1] == "done"


def test_terminated_label_says_interrupted_and_resumes(reference, tmp_path):
    """`kill PID` (SIGTERM) is a stop, not a crash: the process exits at once, its run
    row says `interrupted` (never left `running`), and the rerun completes the rest."""
    db = tmp_path / "m.db"
    proc = subprocess.Popen(_command(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not _during_explanation(db):
            assert proc.poll() is None, "the run ended before explanation began"
            assert time.monotonic() < deadline, "no explanation within 240 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode not in (0, -signal.SIGTERM), err[-2000:]  # it handled the signal and exited
    assert "Traceback" not in err
    assert [s for (s,) in _query(db, "SELECT status FROM runs WHERE command = 'label'")] == ["interrupted"]
    _run(db)
    assert [s for (s,) in _query(db, "SELECT status FROM runs WHERE command = 'label' ORDER BY id")] == [
        "interrupted", "done"]
    content = _content(db)
    for table, rows in reference.items():
        _assert_same(table, content[table], rows)
