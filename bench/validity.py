"""Scorer validity per suite: the figures shipped in evals/validity.json.

For each simulator (default: the default offline one) and suite (default: ``rules``
and ``planted``), runs ``mechanic bench`` with the ``tokens`` method only (validity
needs no explainer: the true description and its two decoys are scored as
explanations) and every scorer that applies, the ``embedding`` judge only (no LLM).
Per scorer column and scorer model it reports validity, the share of decoys the true
description outscores (ties half; chance 0.5), with a 95% bootstrap CI over features.

    OMP_NUM_THREADS=1 python bench/validity.py [--suites rules,planted] [--simulators trained,embedding]

Prints the tables; writes bench/results/validity.json (tables and summaries) and, with
``--ship`` (or later, ``--ship-from`` that JSON), evals/validity.json: the figures `mechanic label`, the report and
`mechanic bench` show for a scorer column when the store has no bench run of its own.
The store (bench/results/validity.db by default) keeps the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch
from mechanic import store
from mechanic.agent.bench import BenchConfig, bench_summary, format_bench, run_bench
from mechanic.agent.pipeline import register_stored_directions
from mechanic.evals.offline import DEFAULT_SIMULATOR
from mechanic.evals.validity import SHIPPED_VALIDITY
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent
SCORERS = ("simulation", "detection", "fuzzing", "topic")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--simulators", default=DEFAULT_SIMULATOR, help="comma separated")
    parser.add_argument("--suites", default="rules,planted")
    parser.add_argument("--limit", type=int, default=None, help="features per suite (default: all)")
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--intervention", action="store_true", help="planted: score the intervention scorer too")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=str(HERE / "results" / "validity.db"))
    parser.add_argument("--out", default=str(HERE / "results" / "validity.json"))
    parser.add_argument("--ship", action="store_true", help=f"also write {SHIPPED_VALIDITY}")
    parser.add_argument("--ship-from", nargs="+", default=None, metavar="JSON",
                        help=f"write {SHIPPED_VALIDITY} from earlier runs' --out files instead of measuring (a later "
                             "file's figure replaces an earlier one's for the same suite, column and scorer model)")
    args = parser.parse_args(argv)
    if args.ship_from:
        done = [json.loads(Path(path).read_text()) for path in args.ship_from]
        figures: dict = {}
        for d in done:
            for suite, per_col in d["figures"].items():
                for col, per_model in per_col.items():
                    figures.setdefault(suite, {}).setdefault(col, {}).update(per_model)
        ship([d["command"] for d in done], max(d["date"] for d in done), done[-1]["model"],
             [r for d in done for r in d["runs"]], figures,
             shipped_by="python bench/validity.py " + shlex.join(argv if argv is not None else sys.argv[1:]))
        return 0

    subject = load_subject(args.model)
    db = store.open_db(args.db)
    register_stored_directions(db, subject)
    figures: dict = {}
    runs, tables = [], []
    for simulator in [s for s in args.simulators.split(",") if s]:
        for suite in [s for s in args.suites.split(",") if s]:
            extra = ("intervention",) if suite == "planted" and args.intervention else ()
            config = BenchConfig(suite=suite, methods=("tokens",), simulator=simulator, judges=("embedding",),
                                 scorers=SCORERS + extra, limit=args.limit, seed=args.seed, n_tokens=args.tokens)
            start = time.perf_counter()
            run = run_bench(db, subject, config, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
            seconds = time.perf_counter() - start
            summary = bench_summary(run.values, run_id=run.run_id, seed=args.seed)
            table = format_bench(summary)
            tables.append(table)
            print(table, f"{suite} with {simulator}: {len(run.items)} features in {seconds:.0f}s; run {run.run_id}\n",
                  sep="\n", flush=True)
            info = summary.get(config.suite_kind, {})
            for col, per_model in info.get("validity", {}).items():
                for model, ci in per_model.items():
                    figures.setdefault(config.suite_kind, {}).setdefault(col, {})[model] = {
                        k: (round(v, 4) if isinstance(v, float) else v) for k, v in ci.items()}
            runs.append({"suite": suite, "simulator": simulator, "run_id": run.run_id, "config": asdict(config),
                         "seconds": round(seconds, 1), "features": len(run.items), "skipped": run.skipped,
                         "summary": summary})
    command = "python bench/validity.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out = {"date": date, "command": command,
           "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                       "threads": torch.get_num_threads(), "load": os.getloadavg()},
           "model": subject.name, "db": args.db, "runs": runs, "tables": tables, "figures": figures}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {args.out}")
    if args.ship:
        ship([command], date, subject.name, runs, figures)
    return 0


def ship(commands: list[str], date: str, model: str, runs: list[dict], figures: dict, shipped_by: str = "") -> None:
    """Write the shipped figures: what was measured, by which commands, when, on what."""
    shipped = {"what": "scorer validity: share of decoys the true description outscores (ties half; chance 0.5), "
                       "mean and 95% bootstrap CI over suite features",
               "commands": commands, "measured": date, "model": model,
               "corpus_tokens": sorted({r["config"]["n_tokens"] for r in runs}),
               "features": {f"{r['suite']} ({r['simulator']})": r["features"] for r in runs}, "figures": figures}
    if shipped_by:
        shipped["shipped_by"] = shipped_by
    SHIPPED_VALIDITY.write_text(json.dumps(shipped, indent=1) + "\n")
    print(f"wrote {SHIPPED_VALIDITY}")


if __name__ == "__main__":
    sys.exit(main())
