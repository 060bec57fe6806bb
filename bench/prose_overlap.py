"""How far the ``prose`` suite is held out from what the offline scorers and the search
were built on, and its figures on the part that is.

The ``trained`` simulator was trained on a library of text rules
(``evals/training/library.py``), filtered against the bench suites' texts; the
description search (``agent/search``) writes category sentences from a fixed list
(``grammar.CATEGORIES``). A prose truth that restates one of them is not a test of
generalisation. Per prose rule this script reports:

* the nearest library description by MiniLM cosine, and the share of the rule's word
  list (``WORD_LISTS``) that one of the library's word-category rules fires on;
* the nearest search category by MiniLM cosine.

Then, with ``EXCLUDE_COSINE`` (0.8, the library's own threshold) as the line: scorer
validity per column on the features whose truth is far from every library description
(from the bench runs of the ``prose`` suite in ``--db``, e.g. what ``bench/validity.py
--suites prose`` filled), and the ``tokens`` and ``search`` ground-truth match
(``truth_embedding``) on the features far from every search category (from the
``--json`` output of ``mechanic bench --suite prose --methods tokens,search``).

    OMP_NUM_THREADS=1 .venv/bin/python bench/prose_overlap.py --db VALIDITY_DB [--bench-json FILE]

Prints the tables and writes bench/results/prose_overlap.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from mechanic import store
from mechanic.agent.search.grammar import CATEGORIES
from mechanic.evals.embedding import default_embedder
from mechanic.evals.metrics import bootstrap_ci
from mechanic.evals.suites import PROSE_RULES
from mechanic.evals.suites.prose import WORD_LISTS
from mechanic.evals.training.recipe import EXCLUDE_COSINE, training_rules

HERE = Path(__file__).resolve().parent


def _in_library(words: set[str], lexical) -> float:
    """The share of ``words`` that one of the library's word-category rules fires on."""
    hits = sum(any(r.activations([" " + w]).max() > 0 for r in lexical) for w in sorted(words))
    return round(hits / len(words), 2)


def _ci(values) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in bootstrap_ci(list(values), seed=0).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a store with bench runs of the prose suite (validity)")
    parser.add_argument("--bench-json", default=str(HERE / "results" / "bench-prose.json"),
                        help="mechanic bench --suite prose --methods tokens,search --json output")
    parser.add_argument("--out", default=str(HERE / "results" / "prose_overlap.json"))
    args = parser.parse_args(argv)

    embedder = default_embedder()
    lib_rules, _ = training_rules(embedder, seed=0)  # the rules the head is trained on
    library = sorted({d for r in lib_rules for d in r.descriptions})
    lexical = [r for r in lib_rules if r.name in (f"lex_{r.kind}", f"sem_{r.kind}")]  # whole word categories
    categories = [text for _, text in CATEGORIES]
    truths = embedder.encode([r.description for r in PROSE_RULES])
    to_library = truths @ embedder.encode(library).T
    to_search = truths @ embedder.encode(categories).T

    rules, print_rows = {}, []
    for i, rule in enumerate(PROSE_RULES):
        j, k = int(np.argmax(to_library[i])), int(np.argmax(to_search[i]))
        words = WORD_LISTS.get(rule.name)
        shared = _in_library(set(words), lexical) if words else None
        rules[rule.name] = {"truth": rule.description, "library": library[j], "library_cosine": round(float(
            to_library[i, j]), 3), "words_in_library_lists": shared, "search_category": categories[k],
            "search_cosine": round(float(to_search[i, k]), 3)}
        print_rows.append(f"{rule.name:26} {to_library[i, j]:5.2f} {str(shared):>5}  {library[j][:40]:40}  "
                          f"{to_search[i, k]:5.2f}  {categories[k][:40]}")
    print(f"{'rule':26} {'lib':>5} {'words':>5}  {'nearest library description':40}  {'srch':>5}  nearest search category")
    print("\n".join(print_rows))
    near_library = {f"rule:{n}" for n, r in rules.items() if r["library_cosine"] >= EXCLUDE_COSINE}
    near_search = {f"rule:{n}" for n, r in rules.items() if r["search_cosine"] >= EXCLUDE_COSINE}
    print(f"\nwithin {EXCLUDE_COSINE} of a library description: {sorted(near_library)}")
    print(f"within {EXCLUDE_COSINE} of a search category: {sorted(near_search)}")

    db = store.open_db(args.db)
    validity: dict = {}
    runs = [r for r in db.query("select id from runs where command = 'bench' and status = 'done' order by id")]
    for run in runs:
        values = [v for v in store.get_bench_values(db, run["id"]) if v["suite"] == "prose" and v["method"] == "validity"
                  and v["value"] is not None]
        per: dict = defaultdict(lambda: defaultdict(list))
        for v in values:
            per[(v["details"] or {}).get("scorer_model") or ""][v["metric"]].append((v["name"], v["value"]))
        for model, columns in per.items():
            for col, pairs in columns.items():
                validity.setdefault(model, {})[col] = {
                    "all": _ci(x for _, x in pairs),
                    "held_out": _ci(x for n, x in pairs if n not in near_library)}
    print("\nscorer validity on prose: all features / truths far from the library")
    for model, columns in validity.items():
        for col, cis in sorted(columns.items()):
            a, h = cis["all"], cis["held_out"]
            print(f"  {col:10} {model:32} {a['mean']:.2f} [{a['lo']:.2f}, {a['hi']:.2f}] n={a['n']}   "
                  f"{h['mean']:.2f} [{h['lo']:.2f}, {h['hi']:.2f}] n={h['n']}")

    match: dict = {}
    if Path(args.bench_json).is_file():
        data = json.loads(Path(args.bench_json).read_text())
        for method in ("tokens", "search"):
            pairs = [(v["name"], v["value"]) for v in data["values"]
                     if v["method"] == method and v["metric"] == "truth_embedding" and v["value"] is not None]
            match[method] = {"all": _ci(x for _, x in pairs),
                             "far_from_search_categories": _ci(x for n, x in pairs if n not in near_search),
                             "near_search_categories": _ci(x for n, x in pairs if n in near_search)}
        print("\ntruth chosen (embedding judge): all / far from the search's categories / near them")
        for method, cis in match.items():
            print(f"  {method:8} " + "   ".join(f"{c['mean']:.2f} [{c['lo']:.2f}, {c['hi']:.2f}] n={c['n']}"
                                               for c in cis.values()))
    out = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "command": "python bench/prose_overlap.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "threshold": EXCLUDE_COSINE, "rules": rules, "near_library": sorted(near_library),
           "near_search": sorted(near_search), "validity": validity, "truth_match": match}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
