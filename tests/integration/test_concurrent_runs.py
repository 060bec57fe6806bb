"""Two `mechanic label` processes on one database at once, with overlapping features,
and a reader opening the store all the while: both finish, the reader never fails, the file passes SQLite's integrity check, no row is lost and none is
duplicated (each feature has one explanation per method and one set of floors)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

from mechanic import store

COMMON = ["--model", "tiny:llama", "-q", "label", "--methods", "tokens,search", "--scorers", "embedding",
          "--tokens", "8192"]


def _start(db, features: str, report: str) -> subprocess.Popen:
    code = "import sys; from mechanic.agent.cli import main; sys.argv = ['mechanic', *sys.argv[1:]]; main()"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    args = [*COMMON[:4], features, *COMMON[4:], "--report", report]
    return subprocess.Popen([sys.executable, "-c", code, "--db", str(db), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_two_label_runs_on_one_database(tmp_path):
    db = tmp_path / "m.db"
    first = _start(db, "mlp:1:0-3", str(tmp_path / "a.html"))
    second = _start(db, "mlp:1:2-5", str(tmp_path / "b.html"))
    # a reader (as `mechanic show` or the viewer would open the store) while both write
    seen, reads = [], 0
    deadline = time.monotonic() + 400
    while any(p.poll() is None for p in (first, second)) and time.monotonic() < deadline:
        if db.exists():
            try:
                reader = store.open_db(db)
            except store.StoreError as exc:  # only a file not yet created by the writers
                assert "not a mechanic database" not in str(exc), exc
                continue
            seen.append(reader.execute("SELECT count(*) FROM explanations").fetchone()[0])
            reader.conn.close()
            reads += 1
        time.sleep(0.2)
    for proc in (first, second):
        out, err = proc.communicate(timeout=400)
        assert proc.returncode == 0, err[-3000:]
    assert reads > 10 and seen == sorted(seen)  # the reader never failed and never saw rows vanish
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    features = dict(conn.execute("SELECT feature, id FROM features"))
    assert sorted(features) == [f"mlp:1:{i}" for i in range(6)]
    rows = conn.execute("SELECT feature_id, method, role, config_hash, count(*) FROM explanations "
                        "WHERE role IN ('explanation', 'control') GROUP BY feature_id, method, role, config_hash"
                        ).fetchall()
    assert all(n == 1 for *_, n in rows), [r for r in rows if r[-1] > 1]
    by_feature = {}
    for feature_id, method, role, _, _ in rows:
        by_feature.setdefault(feature_id, set()).add((method, role))
    want = {("tokens", "explanation"), ("search", "explanation"), ("random", "control"), ("shuffled", "control")}
    assert all(by_feature.get(features[f]) == want for f in features), by_feature
    unscored = conn.execute("SELECT count(*) FROM explanations e WHERE e.status = 'ok' AND e.role != 'candidate' AND "
                            "NOT EXISTS (SELECT 1 FROM scores s WHERE s.explanation_id = e.id)").fetchone()[0]
    assert unscored == 0
    assert [s for (s,) in conn.execute("SELECT status FROM runs WHERE command = 'label'")] == ["done", "done"]
