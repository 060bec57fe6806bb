"""Simulator validity: which simulator can tell a true explanation from a near miss?

    MECHANIC_HOME=~/.cache/mechanic .venv/bin/python bench/simulators.py

For every feature of a ground-truth suite, each simulator predicts activations from
the true description and from each of its two decoys; a pairing is won when the
pooled Pearson correlation of the truth beats the decoy's (chance 50%). Suites:

* ``rules`` — the bench rules suite (evals/suites/rules.py): per rule, up to 10
  windows where it fires and 10 random windows of the default corpus;
* ``planted`` — concept directions fitted by probes in the embedded model's middle
  layer (evals/suites/planted.py), activations the model's real projections on
  test-split windows: the 10 highest windows and 10 random ones.

Simulators: ``local`` (the embedded SmolLM2-135M, all-at-once from logprobs),
``embedding`` and ``trained`` (offline, all-MiniLM-L6-v2). All see exactly the same
cases. Also reported: the mean correlation given the true description, and
throughput in scored (explanation, window) pairs per second on this workload: three
explanations per case, each window encoded once (a window shared by two cases is
encoded once for the offline simulators, which cache window encodings as they do in
a labeling run). Held-out rule
families are measured by bench/train_simulator.py.

Writes bench/results/simulators.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from mechanic.agent.llm import make_llm
from mechanic.evals.embedding import Embedder
from mechanic.evals.offline import EmbeddingSimulator, TrainedSimulator
from mechanic.evals.records import Record
from mechanic.evals.simulators import make_simulator
from mechanic.evals.suites.planted import plant_concepts, resid_token_activations
from mechanic.evals.suites.rules import RULES
from mechanic.evals.token_views import TokenViews
from mechanic.evals.training.train import Case, validity
from mechanic.tools import load_subject, window_split
from mechanic.tools.corpus import corpus_windows

HERE = Path(__file__).resolve().parent
LENGTH = 32


def pick_cases(name: str, family: str, per_window: list[np.ndarray], tokens: list[tuple[str, ...]],
               true: str, decoys: tuple[str, ...], rng: np.random.Generator, top: bool) -> Case | None:
    """Up to 10 activating windows (the highest when ``top``, else random firing
    ones) plus 10 random windows."""
    peaks = np.array([a.max() for a in per_window])
    firing = np.flatnonzero(peaks > 0)
    if len(firing) < 2:
        return None
    chosen = firing[np.argsort(-peaks[firing], kind="stable")][:10] if top else rng.permutation(firing)[:10]
    picks = [*map(int, chosen), *map(int, rng.choice(len(tokens), size=10, replace=False))]
    records = [Record(tokens[i], per_window[i], kind="top" if j < len(chosen) else "random", window=i)
               for j, i in enumerate(picks)]
    return Case(name, family, records, true, decoys)


def rules_cases(tokens: list[tuple[str, ...]], seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = []
    for rule in RULES:
        case = pick_cases(rule.name, rule.family, [rule.activations(t) for t in tokens], tokens,
                          rule.description, rule.decoys, rng, top=False)
        if case is not None:
            cases.append(case)
    return cases


def planted_cases(subject, windows, n: int, seed: int) -> tuple[list[Case], list[dict]]:
    concepts = plant_concepts(subject, windows, n=n, seed=seed)
    test = [w for w in windows if window_split(w.index, seed) == "test"]
    resid = torch.as_tensor(resid_token_activations(subject, [w.tokens for w in test], concepts[0].layer))
    tokens = [tuple(subject.token_strings(w.tokens)) for w in test]
    rng = np.random.default_rng(seed)
    cases = []
    for c in concepts:
        acts = (resid @ torch.as_tensor(c.direction)).numpy()
        per_window = [a - np.median(acts) for a in acts]  # a projection has no natural zero: centre it
        case = pick_cases(c.feature, "planted", per_window, tokens, c.rule.description, c.rule.decoys, rng, top=True)
        if case is not None:
            cases.append(case)
    return cases, [{"feature": c.feature, **c.probe} for c in concepts]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, default=3000, help="32-token corpus windows for the rules suite")
    ap.add_argument("--planted-windows", type=int, default=1500, help="corpus windows to plant and test on")
    ap.add_argument("--planted", type=int, default=12, help="concepts to plant")
    ap.add_argument("--simulators", default="local,embedding,trained")
    ap.add_argument("--local-limit", type=int, default=0, help="score local on the first N cases of a suite only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "simulators.json")
    args = ap.parse_args()
    torch.manual_seed(args.seed)

    subject = load_subject("default")
    decode = subject.token_strings
    windows = corpus_windows(subject.tokenizer, "stdlib", n_tokens=args.windows * LENGTH, length=LENGTH, seed=args.seed)
    suites = {"rules": rules_cases([tuple(decode(w.tokens)) for w in windows], args.seed)}
    planted, probes = planted_cases(subject, windows[: args.planted_windows], args.planted, args.seed)
    suites["planted"] = planted
    print({name: len(cases) for name, cases in suites.items()})

    builders = {"local": lambda: make_simulator(make_llm("local", subject)),
                "embedding": lambda: EmbeddingSimulator(Embedder(cache_size=400_000)),
                "trained": lambda: TrainedSimulator(views=TokenViews(Embedder(cache_size=400_000), cache_size=100_000))}
    results: dict = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     "machine": f"{platform.machine()}, {platform.system()}, torch {torch.__version__}, "
                                f"{torch.get_num_threads()} threads",
                     "seed": args.seed, "planted_probes": probes, "suites": {}}
    for suite, cases in suites.items():
        results["suites"][suite] = {}
        for name in args.simulators.split(","):
            sim = builders[name]()
            subset = cases[: args.local_limit] if name == "local" and args.local_limit else cases
            t0 = time.perf_counter()
            v = validity(sim, subset)
            v["cases_scored"] = len(subset)
            if name != "local" and args.local_limit:  # the same subset as local, for a like-for-like ratio
                v["on_local_subset"] = validity(sim, cases[: args.local_limit])
            results["suites"][suite][name] = v
            print(f"{suite:8s} {name:10s} validity {v['validity']:.3f} ({v['wins']}/{v['pairings']})  "
                  f"true r {v['mean_true_pearson']:.3f}  {v['pairs_per_second']:.1f} pairs/s  "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
    for suite, by_sim in results["suites"].items():
        if "local" in by_sim:
            base = by_sim["local"]["pairs_per_second"]
            for name, v in by_sim.items():
                v["throughput_vs_local"] = v["pairs_per_second"] / base
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
