"""Replay the agent's final choice on a stored bench run, under the rule that the
description search's runners-up cannot win (its own choice speaks for them).

For each suite feature of a bench database that holds ``search`` and ``agent``
explanations: the agent's stored candidates and their select scores are taken as they
are, the search's runners-up (its second and third best, from the ``search``
explanation's details) are set aside, and the best remaining candidate is the new
choice. The stored choice and the new one are both judged 3-way (the embedding judge,
as ``mechanic bench`` does) against the truth and its two decoys. Nothing is
recomputed but the judge, so the replay shows what the rule changes on the same
evidence.

    python bench/agent_choice_replay.py BENCH.db [--out bench/results/agent_choice_replay.json]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

from mechanic.agent.investigation.conclude import final_choice
from mechanic.evals.embedding import default_embedder
from mechanic.evals.judge import EmbeddingJudge, judge_truth

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--out", default=str(HERE / "results" / "agent_choice_replay.json"))
    args = ap.parse_args(argv)
    db = sqlite3.connect(args.db)
    db.row_factory = sqlite3.Row
    judge = EmbeddingJudge(default_embedder())
    results = []
    for item in db.execute("SELECT * FROM bench_items WHERE description IS NOT NULL ORDER BY id"):
        rows = {r["method"]: r for r in db.execute(
            "SELECT * FROM explanations WHERE feature_id = ? AND role = 'explanation' AND status = 'ok'",
            [item["feature_id"]])}
        if not {"agent", "search"} <= set(rows):
            continue
        agent, search = rows["agent"], rows["search"]
        found = json.loads(search["details"])
        seeds = list(dict.fromkeys([search["text"], *(c["text"] for c in found.get("candidates", []))]))[:3]
        cands = json.loads(agent["details"])["candidates"]
        best = final_choice([c["text"] for c in cands], [c["select_score"] for c in cands], seeds)
        decoys = json.loads(item["decoys"])[:2]
        judged = {which: judge_truth(judge, text, item["description"], decoys, key=item["name"]).correct
                  for which, text in (("stored", agent["text"]), ("replayed", cands[best]["text"]))}
        results.append({"name": item["name"], "truth": item["description"], "stored": agent["text"],
                        "replayed": cands[best]["text"], "stored_correct": judged["stored"],
                        "replayed_correct": judged["replayed"]})
        mark = "same" if cands[best]["text"] == agent["text"] else "changed"
        print(f"{item['name']}: {mark}; stored {agent['text']!r} ({judged['stored']}); "
              f"replayed {cands[best]['text']!r} ({judged['replayed']})")
    summary = {"features": len(results), "changed": sum(r["stored"] != r["replayed"] for r in results),
               "stored_correct": sum(bool(r["stored_correct"]) for r in results),
               "replayed_correct": sum(bool(r["replayed_correct"]) for r in results)}
    print(summary)
    Path(args.out).write_text(json.dumps({"db": str(args.db), "summary": summary, "features": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
