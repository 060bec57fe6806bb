"""Page times of the viewer (`mechanic serve`) on a synthetic store of 50,000 features.

Builds the store once through the store API (real SQLite: features with exemplars over
real token windows of the tiny llama's tokenizer, two explanations and a floor per
feature with their scores, investigations, a question, bench runs; see
tests/synthetic_store.py) and keeps it for later runs. Then starts `mechanic serve` on
it as its own process, requests the main pages many times (index pages with sorts,
filters, deep pages, keyword and semantic search; feature, explanation, investigation,
question and bench pages), and reports p50/p95 per page kind and overall. The first
semantic search (embedding every distinct explanation once) is timed on its own.

    OMP_NUM_THREADS=1 .venv/bin/python bench/viewer.py [--features 50000] [--repeats 20]

Prints a table and writes bench/results/viewer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic store builder shared with the viewer's tests

from synthetic_store import build_viewer_store  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
        status = response.status
    return time.perf_counter() - t0, status, len(body)


def measure_write_cost(n_features: int) -> dict:
    """Seconds to write the same synthetic store with and without the triggers that keep
    feature_summary current (alternating, twice each), as the ratio with/without."""
    import tempfile

    from mechanic import store
    from mechanic.tools import tiny_subject

    tokenizer = tiny_subject("llama").tokenizer
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    seconds: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(["with", "without", "without", "with"]):
            path = Path(tmp) / f"{i}.db"
            db = store.open_db(path)
            if variant == "without":
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                    db.execute(f"DROP TRIGGER {name}")
            db.conn.close()
            t0 = time.perf_counter()
            build_viewer_store(path, encode, n_features=n_features, n_investigations=0)
            seconds[variant].append(time.perf_counter() - t0)
    w, wo = float(np.median(seconds["with"])), float(np.median(seconds["without"]))
    print(f"writing {n_features:,} features: {w:.1f}s with the summary triggers, {wo:.1f}s without "
          f"(x{w / wo:.2f})", file=sys.stderr)
    return {"features": n_features, "seconds_with": round(w, 2), "seconds_without": round(wo, 2),
            "ratio": round(w / wo, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=20, help="Requests per page kind.")
    parser.add_argument("--db", default=None, help="Store to build or reuse [default: ~/.cache/mechanic/viewer-bench-N.db].")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--out", default=str(HERE / "results" / "viewer.json"))
    parser.add_argument("--write-features", type=int, default=2000,
                        help="Features written with and without the feature_summary triggers, for their cost to writers "
                             "(0 skips it).")
    args = parser.parse_args()
    write_cost = measure_write_cost(args.write_features) if args.write_features else None

    db_path = Path(args.db or Path.home() / ".cache" / "mechanic" / f"viewer-bench-{args.features}.db")
    build_seconds = None
    if args.rebuild or not db_path.exists():
        from mechanic.tools import tiny_subject

        for suffix in ("", "-wal", "-shm"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        tokenizer = tiny_subject("llama").tokenizer
        t0 = time.perf_counter()
        build_viewer_store(db_path, lambda text: tokenizer(text, add_special_tokens=False)["input_ids"],
                           n_features=args.features, n_investigations=200,
                           progress=lambda n: print(f"  built {n:,} features", file=sys.stderr, flush=True))
        build_seconds = time.perf_counter() - t0
        print(f"built {db_path} in {build_seconds:.0f}s", file=sys.stderr)

    from mechanic import store

    db = store.open_db(db_path)  # also applies any pending migration before the server opens it read-only
    feature_ids = [r[0] for r in db.execute("SELECT id FROM features")]
    explanation_ids = [r[0] for r in db.execute("SELECT id FROM explanations WHERE role = 'explanation' LIMIT 20000")]
    agent_ids = [r[0] for r in db.execute("SELECT id FROM agent_runs WHERE kind = 'investigate'")]
    ask_ids = [r[0] for r in db.execute("SELECT id FROM agent_runs WHERE kind = 'ask'")]
    bench_ids = [r[0] for r in db.execute("SELECT id FROM runs WHERE command = 'bench'")]
    n_features = len(feature_ids)
    db.conn.close()

    port = free_port()
    mechanic = Path(sys.executable).with_name("mechanic")
    server = subprocess.Popen([str(mechanic), "--quiet", "--db", str(db_path), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                get(base + "/bench")
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"the server exited: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        rng = random.Random(0)
        last_page = (n_features + 49) // 50
        first_semantic, _, _ = get(base + "/?sq=names+of+months")
        kinds = {
            "index": lambda: "/",
            "index deep page": lambda: f"/?page={rng.randint(2, last_page)}",
            "index sort sim desc": lambda: f"/?sort=sim&desc=1&page={rng.randint(1, 50)}",
            "index sort detect asc": lambda: f"/?sort=detect&page={rng.randint(1, 50)}",
            "index filter layer+method": lambda: f"/?layer={rng.randint(0, 2)}&method=oneshot&sort=topic&desc=1",
            "index filter status": lambda: "/?status=failed&method=oneshot",
            "index keyword": lambda: f"/?q={rng.choice(['month', 'digit', 'python', 'city', 'comma'])}",
            "index semantic": lambda: f"/?sq={rng.choice(['calendar+months', 'numbers+in+code', 'animals'])}",
            "feature": lambda: f"/feature/{rng.choice(feature_ids)}",
            "explanation": lambda: f"/explanation/{rng.choice(explanation_ids)}",
            "investigation": lambda: f"/agent/{rng.choice(agent_ids)}",
            "question": lambda: f"/agent/{rng.choice(ask_ids)}",
            "bench run": lambda: f"/bench/{rng.choice(bench_ids)}",
        }
        get(base + f"/feature/{feature_ids[0]}")  # loads the tokenizer once
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(args.repeats):
            for kind, url in kinds.items():
                seconds, status, _ = get(base + url())
                if status != 200:
                    raise SystemExit(f"{kind}: HTTP {status}")
                times[kind].append(seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)

    def pct(values: list[float]) -> dict:
        a = np.asarray(values) * 1000
        return {"p50_ms": round(float(np.percentile(a, 50)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1),
                "max_ms": round(float(a.max()), 1), "n": int(a.size)}

    per_kind = {k: pct(v) for k, v in times.items()}
    overall = pct([t for v in times.values() for t in v])
    print(f"{'page':<28} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, p in per_kind.items():
        print(f"{kind:<28} {p['p50_ms']:>8.1f} {p['p95_ms']:>8.1f} {p['max_ms']:>8.1f}")
    print(f"{'all pages':<28} {overall['p50_ms']:>8.1f} {overall['p95_ms']:>8.1f} {overall['max_ms']:>8.1f}")
    print(f"first semantic search (embeds every distinct explanation once): {first_semantic:.1f}s")
    if write_cost:
        print(f"writing {write_cost['features']:,} features costs x{write_cost['ratio']:.2f} with the summary triggers")
    result = {
        "what": "viewer page times over HTTP (mechanic serve, its own process) on a synthetic store",
        "features": n_features, "repeats": args.repeats, "db_bytes": db_path.stat().st_size,
        "build_seconds": None if build_seconds is None else round(build_seconds, 1),
        "first_semantic_search_seconds": round(first_semantic, 2),
        "overall": overall, "pages": per_kind, "goal_p95_ms": 300, "summary_triggers_write_cost": write_cost,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
