"""A database the store cannot use: one clear line, nothing written to the file."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _invoke(db: Path, *args):
    return CliRunner().invoke(cli, ["--db", str(db), "--model", "tiny:llama", "-q", *args])


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(range(256)) * 20)
    before = _digest(junk)
    with pytest.raises(store.StoreError, match="is not a mechanic database"):
        store.open_db(junk)
    result = _invoke(junk, "label", "mlp:0:0", "--methods", "tokens", "--scorers", "topic")
    assert result.exit_code == 1
    assert "junk.db is not a mechanic database" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert _digest(junk) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]  # no -wal, no report


def test_a_store_from_a_newer_mechanic_is_refused_and_never_written(tmp_path):
    path = tmp_path / "new.db"
    db = store.open_db(path)
    db.execute("INSERT INTO _migrations (id, name, applied_at) VALUES (99, 'm099_from_the_future', 'x')")
    db.conn.commit()
    db.conn.close()
    before = _digest(path)
    with pytest.raises(store.StoreError, match=r"newer mechanic \(schema migration 99"):
        store.open_db(path)
    result = _invoke(path, "cache", "--layers", "0", "--tokens", "256", "--window", "16")
    assert result.exit_code == 1, result.output
    assert "written by a newer mechanic" in result.output and "Traceback" not in result.output
    assert _digest(path) == before
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM runs").fetchone()[0]
    assert rows == 0


def test_a_directory_as_db_is_one_line(tmp_path):
    result = _invoke(tmp_path, "show", "mlp:0:0")
    assert result.exit_code == 1
    assert "is a directory" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_read_only_database_is_refused_with_nothing_written(tmp_path):
    """Run as an unprivileged user when the tests run as root (root writes read-only
    files), so the permission is real."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "m.db"
    store.open_db(path).conn.close()
    before = _digest(path)
    os.chmod(path, 0o444)
    os.chmod(folder, 0o555)
    tmp_path.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not Path("/usr/bin/setpriv").exists():
            pytest.skip("running as root without setpriv: cannot drop the privilege that ignores permissions")
        prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        for parent in tmp_path.parents:  # the unprivileged user must reach the folder
            if str(parent).startswith(("/tmp/", "/var/tmp/")) and parent.stat().st_mode & 0o005 != 0o005:
                parent.chmod(parent.stat().st_mode | 0o005)
    code = ("import sys; from mechanic.agent.cli import main; "
            "sys.argv = ['mechanic', '--db', sys.argv[1], '--model', 'tiny:llama', '-q', 'cache', '--layers', '0', "
            "'--tokens', '256', '--window', '16']; main()")
    proc = subprocess.run([*prefix, sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    os.chmod(folder, 0o755)
    assert proc.returncode == 1, proc.stderr
    assert "read-only" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert _digest(path) == before


def test_a_read_then_write_waits_for_another_writer_instead_of_failing(tmp_path):
    """Another process holds the write lock; our transaction reads, then writes. A
    deferred BEGIN would fail at the write ("database is locked": its snapshot is stale
    once the other commits); the store's transactions take the lock first, so they wait."""
    import threading
    import time

    path = tmp_path / "m.db"
    db = store.open_db(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO runs (command, config, config_hash, status, started_at) "
                  "VALUES ('other', '{}', 'x', 'done', 'now')")

    def commit_later():
        time.sleep(0.5)
        other.execute("COMMIT")

    thread = threading.Thread(target=commit_later)
    thread.start()
    with db.atomic():
        seen = db.execute("SELECT count(*) FROM runs").fetchone()[0]
        store.start_run(db, "ours", {"seen": seen})
    thread.join()
    assert [r["command"] for r in db["runs"].rows] == ["other", "ours"]
    assert seen == 1  # it waited for the other writer, then read


def test_an_explanation_is_stored_once_per_feature_method_role_and_config(tmp_path):
    db = store.open_db(tmp_path / "m.db")
    model = store.upsert_model(db, "m", family="llama", n_layers=1, d_model=4, d_mlp=8, n_heads=1, vocab_size=10)
    corpus = store.upsert_corpus(db, "c", {"source": "x"})
    run = store.start_run(db, "label", {})
    fid = store.write_feature(db, model_id=model, corpus_id=corpus, run_id=run, feature="mlp:0:0", kind="mlp",
                              layer=0, idx=0, name=None, stats={}, quantiles={}, exemplars=[])
    fields = dict(feature_id=fid, run_id=run, method="tokens", config_hash="h", text="first")
    first, written = store.write_explanation_once(db, **fields)
    again, written_again = store.write_explanation_once(db, **{**fields, "text": "second"})
    other, _ = store.write_explanation_once(db, **{**fields, "config_hash": "h2"})
    assert written and not written_again and again == first and other != first
    assert [r["text"] for r in db["explanations"].rows] == ["first", "first"]
