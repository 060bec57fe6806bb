"""Train the `trained` simulator's head and measure it on rule families it never saw.

    MECHANIC_HOME=~/.cache/mechanic .venv/bin/python bench/train_simulator.py

1. A pool of 32-token windows (evals/training/recipe.py): the `stdlib` corpus (Python
   standard library prose and code), synthetic paragraphs naming the library's word
   categories, and the `prose` corpus (English text); a seeded fifth of the windows
   is held out for validation. Token views (evals/token_views.py, all-MiniLM-L6-v2)
   are computed once (cached with --cache).
2. The rule library (evals/training/library.py), minus any rule whose description
   lies within cosine 0.8 of a bench suite's description or decoy.
3. Leave-one-family-out: for each family (or those of --cv-families), a head trained
   on the other families and the training windows, then on that family's rules over
   the validation windows — for the trained head and for the zero-training embedding
   simulator — simulation validity (true description ranked above each of two decoys
   by pooled Pearson) and detection validity (by detection AUROC over firing and
   quiet windows, half of them hard negatives, for each window pooling).
4. The shipped head: all families, training windows; the level of even odds for
   yes/no answers fitted on the validation windows; its validity there is the
   recorded figure that
   tests/integration/test_simulators_embedded.py reproduces.

Writes evals/weights/simulator_head.safetensors (figures in its metadata) and
bench/results/train_simulator.json. Deterministic given --seed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from mechanic.agent.llm import make_llm
from mechanic.evals.embedding import Embedder, default_embedder
from mechanic.evals.offline import WEIGHTS, EmbeddingSimulator, TrainedSimulator
from mechanic.evals.simulators import make_simulator
from mechanic.evals.token_views import DIM_VIEWS, PHRASES, TokenViews
from mechanic.evals.training.library import FAMILIES
from mechanic.evals.training.recipe import pool_windows, training_rules, validation_mask
from mechanic.evals.training.train import (
    Pool,
    TrainConfig,
    build_pool,
    calibrate,
    detection_cases,
    detection_validity,
    rule_activations,
    train_head,
    validity,
    validity_cases,
)
from mechanic.tools import load_subject
from tqdm import tqdm

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS, DEFAULT_SYNTHETIC, DEFAULT_PROSE = 3000, 1500, 1500


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-windows", type=int, default=DEFAULT_CORPUS)
    ap.add_argument("--synthetic-windows", type=int, default=DEFAULT_SYNTHETIC)
    ap.add_argument("--prose-windows", type=int, default=DEFAULT_PROSE)
    ap.add_argument("--cv-families", default=",".join(FAMILIES),
                    help="comma-separated families to hold out one at a time (default: every family)")
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--hard-negatives", type=int, default=TrainConfig.hard_negatives_per_rule,
                    help="near-miss tokens per rule in each step (tokens like its positives that do not fire)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None, help="npy file for the pool's token views")
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--results", type=Path, default=HERE / "results" / "train_simulator.json")
    ap.add_argument("--skip-cv", action="store_true", help="only train the shipped head")
    ap.add_argument("--local-cases", type=int, default=0,
                    help="also score the local LLM simulator on the first N held-out cases of each family "
                         "(with the offline simulators on the same cases, side by side)")
    args = ap.parse_args()
    t_start = time.perf_counter()

    subject = load_subject("default")
    windows, origin = pool_windows(subject.tokenizer, args.corpus_windows, args.synthetic_windows, args.seed,
                                   n_prose=args.prose_windows)
    train_mask = ~validation_mask(len(windows), args.seed)
    embedder = default_embedder()
    token_views = TokenViews(embedder, cache_size=0)
    starts = np.concatenate([[0], np.cumsum([len(w) for w in windows])])
    if args.cache and args.cache.is_file():
        views = np.load(args.cache, allow_pickle=False)
        if views.shape != (int(starts[-1]), DIM_VIEWS):
            sys.exit(f"{args.cache} holds views of another pool; delete it")
        pool = Pool(windows, views, starts, train_mask, origin)
    else:
        with tqdm(total=len(windows), desc="token views", unit="win") as bar:
            pool = build_pool(windows, token_views, origin, train_mask, progress=bar.update)
        if args.cache:
            np.save(args.cache, pool.views)
    print(f"pool: {len(windows)} windows ({origin.count('synthetic')} synthetic, {origin.count('prose')} prose), "
          f"{len(pool.views)} tokens, "
          f"{int(train_mask.sum())} training windows")

    rules, dropped = training_rules(embedder, seed=args.seed)
    print(f"library: {len(rules)} rules kept, {len(dropped)} dropped as near a bench rule or decoy")
    acts = rule_activations(rules, pool)
    embeddings = {r.name: embedder.encode(list(r.descriptions)) for r in rules}
    phrases = embedder.encode(list(PHRASES))
    validation = np.nonzero(~train_mask)[0]
    cases = validity_cases(rules, pool, acts, validation, seed=args.seed)
    detect_cases = detection_cases(rules, pool, acts, validation, seed=args.seed)
    print(f"validity cases on validation windows: {len(cases)} (detection: {len(detect_cases)})")
    config = TrainConfig(steps=args.steps, lr=args.lr, seed=args.seed, hard_negatives_per_rule=args.hard_negatives)

    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": f"{platform.machine()}, {platform.system()}", "config": asdict(config),
               "pool": {"windows": len(windows), "tokens": int(len(pool.views)),
                        "synthetic_windows": origin.count("synthetic"), "corpus_windows": origin.count("corpus"),
                        "prose_windows": origin.count("prose")},
               "library": {"rules": len(rules), "dropped_near_bench": dropped,
                           "per_family": {f: sum(r.family == f for r in rules) for f in FAMILIES}}}
    # every validity case is made of pool windows: their views are known already
    scoring = TokenViews(embedder)
    scoring.prime(pool.windows, pool.window_views())
    if not args.skip_cv:
        # validation windows recur across cases: keep every span's embedding
        embedding_sim = EmbeddingSimulator(Embedder(cache_size=400_000))
        local = []

        def local_sim():
            if not local:
                local.append(make_simulator(make_llm("local", subject)))
            return local[0]

        cv = {}
        for family in [f for f in args.cv_families.split(",") if f]:
            held = [c for c in cases if c.family == family]
            if not held:
                continue
            head = train_head(pool, rules, acts, embeddings, phrases,
                              replace(config, held_out_families=(family,)))
            trained = TrainedSimulator(head, embedder, scoring)
            cv[family] = {"trained": validity(trained, held), "embedding": validity(embedding_sim, held)}
            held_detect = [c for c in detect_cases if c.family == family]
            cv[family]["detection"] = {"trained": detection_validity(trained, held_detect),
                                       "embedding": detection_validity(embedding_sim, held_detect)}
            if args.local_cases:
                subset = held[: args.local_cases]
                cv[family]["local_subset"] = {"local": validity(local_sim(), subset),
                                              "trained": validity(trained, subset),
                                              "embedding": validity(embedding_sim, subset)}
            print(f"held out {family:16s} trained {cv[family]['trained']['validity']:.3f}  "
                  f"embedding {cv[family]['embedding']['validity']:.3f}  "
                  f"({cv[family]['trained']['pairings']} pairings)", flush=True)
            print("    detection (trained / embedding) by pooling: " + "  ".join(
                f"{how} {v['validity'] or 0:.3f}/{cv[family]['detection']['embedding'][how]['validity'] or 0:.3f}"
                for how, v in cv[family]["detection"]["trained"].items()), flush=True)
        results["held_out_families"] = cv
        for name in ("trained", "embedding"):
            wins = sum(v[name]["wins"] for v in cv.values())
            total = sum(v[name]["pairings"] for v in cv.values())
            results[f"held_out_validity_{name}"] = wins / total
            results["held_out_pairings"] = total
            per_pooling = {}
            for how in next(iter(cv.values()))["detection"][name]:
                done = [v["detection"][name][how] for v in cv.values() if v["detection"][name][how]["pairings"]]
                n = sum(d["pairings"] for d in done)
                per_pooling[how] = sum(d["validity"] * d["pairings"] for d in done) / n if n else None
            results[f"held_out_detection_validity_{name}"] = per_pooling
            print(f"held-out detection validity, {name}: " + "  ".join(
                f"{how} {v:.3f}" for how, v in per_pooling.items() if v is not None), flush=True)
        if args.local_cases:
            for name in ("local", "trained", "embedding"):
                wins = sum(v["local_subset"][name]["wins"] for v in cv.values())
                total = sum(v["local_subset"][name]["pairings"] for v in cv.values())
                results[f"held_out_local_subset_{name}"] = {"validity": wins / total, "pairings": total}
            print("same held-out subset:", {k: v for k, v in results.items() if k.startswith("held_out_local")})
        print(f"held-out families overall: trained {results['held_out_validity_trained']:.3f}, "
              f"embedding {results['held_out_validity_embedding']:.3f}")

    head = train_head(pool, rules, acts, embeddings, phrases, config, log=print)
    logits, fires = [], []  # each validation case's true description against where its rule fires
    uncalibrated = TrainedSimulator(head, embedder, scoring)
    for case in cases:
        (per_record,) = uncalibrated.raw_scores([case.true], case.records)
        logits.append(np.concatenate(per_record))
        fires.append(np.concatenate([r.activations for r in case.records]) > 0)
    head.yes_logit = np.array([calibrate(np.concatenate(logits), np.concatenate(fires))])
    shipped = validity(TrainedSimulator(head, embedder, scoring), cases)
    shipped_detection = detection_validity(TrainedSimulator(head, embedder, scoring), detect_cases)
    results["shipped"] = {"validation_validity": shipped["validity"], "pairings": shipped["pairings"],
                          "validation_mean_true_pearson": shipped["mean_true_pearson"],
                          "views": list(head.views), "yes_level": head.yes_level,
                          "view_gates": {name: dict(zip(head.views, g.round(3).tolist())) for name, g in
                                         zip(("plain", "after", "before"),
                                             head.gates(["x", "x after y", "x before y"]))},
                          "view_scales": head.a.tolist(), "view_offsets": head.b.tolist(),
                          "per_family": shipped["per_family"],
                          "detection_validation_validity": {how: v["validity"] for how, v in shipped_detection.items()},
                          "detection_per_family": {how: v["per_family"] for how, v in shipped_detection.items()}}
    results["seconds"] = time.perf_counter() - t_start
    metadata = {"validation_validity": shipped["validity"], "validation_pairings": shipped["pairings"],
                "validation_mean_true_pearson": shipped["mean_true_pearson"], "seed": args.seed,
                "corpus_windows": args.corpus_windows, "synthetic_windows": args.synthetic_windows,
                "prose_windows": args.prose_windows,
                "config": asdict(config), "library_rules": len(rules),
                "held_out_validity_trained": results.get("held_out_validity_trained")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    head.save(args.out, metadata)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"shipped head: validation validity {shipped['validity']:.3f} over {shipped['pairings']} pairings; "
          f"{args.out} ({args.out.stat().st_size / 1e6:.2f} MB); {results['seconds']:.0f}s")


if __name__ == "__main__":
    sys.exit(main())
