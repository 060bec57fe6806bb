"""Benchmark of ``mechanic ask`` on the embedded model (SmolLM2-135M-Instruct).

1. Routing: the held-out bank (``tests/data/ask_questions.json``, 24 questions, 6 per
   kind; never used to build the routing, which comes from the dev bank in
   ``agent/ask/bank.py``), routed by patterns and the embedding vote; accuracy.
2. Answers: each question asked in full (``ask`` with the embedded model as the
   planner), with its status, route, confidence, first claim and cost (LLM calls,
   tool calls, seconds). By default the ``where`` questions of the bank; ``--bank``
   asks every ``where``, ``behaviour`` and ``related`` question of the bank, and checks that each ends with a claim backed by experiments or a refusal;
   ``--components N`` adds the first N ``component`` questions, each an
   investigation at a small budget.

    .venv/bin/python bench/ask.py [--bank] [--components N] [--questions "where ..." ...]

Prints the tables and writes bench/results/ask.json. Seconds are wall time of
``ask`` itself in this process (the model is loaded once, before), also given as a
multiple of a reference forward pass (64 windows of 32 tokens) timed before and
after in the same run, so a loaded machine can be read off.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from mechanic import store
from mechanic.agent.ask import ask
from mechanic.agent.ask.routing import Router
from mechanic.agent.llm import make_llm
from mechanic.agent.pipeline import LabelConfig, investigate_feature
from mechanic.evals.embedding import default_embedder
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent
BANK = HERE.parent / "tests" / "data" / "ask_questions.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", action="store_true", help="ask every where/behaviour/related question of the bank")
    parser.add_argument("--questions", nargs="*", help="ask these questions instead")
    parser.add_argument("--components", type=int, default=0,
                        help="also ask the bank's first N component questions (each an investigation, budget 6 LLM calls)")
    parser.add_argument("--out", default=str(HERE / "results" / "ask.json"))
    args = parser.parse_args()
    bank = json.loads(BANK.read_text())["questions"]

    embedder = default_embedder()
    router = Router(embedder)
    t0 = time.perf_counter()
    routed = [(q, router.route(q["question"])) for q in bank]
    route_seconds = time.perf_counter() - t0
    wrong = [{"question": q["question"], "expected": q["kind"], "got": r.kind} for q, r in routed
             if r.kind != q["kind"]]
    accuracy = 1 - len(wrong) / len(bank)
    print(f"routing accuracy on the held-out bank: {accuracy:.3f} ({len(bank) - len(wrong)}/{len(bank)}), "
          f"{1000 * route_seconds / len(bank):.1f} ms per question")
    for w in wrong:
        print(f"  wrong: {w['question']!r}: expected {w['expected']}, got {w['got']}")

    if args.questions:
        questions = args.questions
    elif args.bank:
        questions = [q["question"] for q in bank if q["kind"] != "component"]
    else:
        questions = [q["question"] for q in bank if q["kind"] == "where"]
    questions += [q["question"] for q in bank if q["kind"] == "component"][:args.components]
    t0 = time.perf_counter()
    subject = load_subject(None)
    load_seconds = time.perf_counter() - t0
    llm = make_llm("local", subject)
    config = LabelConfig(methods=("agent",), explainer="local", simulator="trained", scorers=("simulation",),
                         n_tokens=8192, agent_llm_calls=6, agent_tool_calls=6, agent_seconds=300)

    def reference() -> float:
        """Seconds of one forward pass over 64 windows of 32 tokens: the load-independent yardstick."""
        ids = torch.randint(0, subject.vocab_size, (64, 32))
        t = time.perf_counter()
        with torch.no_grad():
            for start in range(0, 64, 16):
                subject.model(input_ids=ids[start:start + 16])
        return time.perf_counter() - t

    ref = [reference()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = store.open_db(Path(tmp) / "ask.db")
        for q in questions:
            run_id = store.start_run(db, "ask", {"question": q})
            t1 = time.perf_counter()
            answer = ask(db, subject, q, llm, run_id=run_id, embedder=embedder,
                         investigate_feature=lambda f: investigate_feature(db, subject, subject.features(f)[0], config))
            seconds = time.perf_counter() - t1
            store.finish_run(db, run_id, "done")
            backed = [c for c in answer.claims if c["experiments"]]
            ok = (answer.status == "done" and bool(backed)) or answer.status == "refused"
            rows.append({"question": q, "status": answer.status, "kind": answer.kind, "route": answer.route,
                         "confidence": answer.confidence, "claims": answer.claims, "error": answer.error,
                         "usage": answer.usage, "seconds": round(seconds, 1), "claim_or_refusal": ok})
            first = answer.claims[0]["text"] if answer.claims else answer.error
            print(f"\n{q}\n  {answer.status}, {answer.kind or 'no kind'}, confidence {answer.confidence}; "
                  f"{answer.usage['llm_calls']} LLM calls, {answer.usage['tool_calls']} tool calls, {seconds:.1f} s\n"
                  f"  {first[:300]}")
    ref.append(reference())
    ref_seconds = sorted(ref)[len(ref) // 2]
    where = [r["seconds"] for r in rows if r["kind"] == "where" and r["status"] == "done"]
    summary = {
        "routing_accuracy": accuracy, "routing_wrong": wrong, "n_bank": len(bank),
        "model_load_seconds": round(load_seconds, 1),
        "where_seconds_max": max(where) if where else None,
        "where_seconds_mean": round(sum(where) / len(where), 1) if where else None,
        "where_over_reference_max": round(max(where) / ref_seconds, 1) if where else None,
        "reference_forward_seconds": [round(r, 2) for r in ref],
        "claim_or_refusal": f"{sum(r['claim_or_refusal'] for r in rows)}/{len(rows)}",
    }
    print("\nsummary:", json.dumps(summary))
    out = {"summary": summary, "answers": rows,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "torch": torch.__version__, "load_average": os.getloadavg()},
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
