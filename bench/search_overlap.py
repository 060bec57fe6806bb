"""How the ``search`` grammar overlaps the trained simulator's training library, and
how often the search finds truths unlike anything in that library.

The description search (``agent/search``) writes its sentences from a grammar; the
``trained`` simulator that measures them was trained on a procedurally generated
library of text rules (``evals/training/library.py``). If the grammar only restated
the library's descriptions, the search would be reading the simulator its own
training data. This script measures how far that goes:

1. **Kinds.** Every fixed sentence the grammar can write (each shape, region,
   category, suffix and prefix; identity, after, before, output and the joined kinds
   as the search actually wrote them on the ``rules`` suite) beside the library rules
   that cover the same notion, found two ways: by *text* (the nearest library
   description by MiniLM cosine) and, for the kinds with a fixed predicate, by
   *behaviour* (the library rule whose activations correlate best with the grammar
   rule's levels over corpus windows). Then the grammar kinds and library kinds left
   without a counterpart.
2. **Text overlap.** ``mechanic bench --suite rules --methods search``; every sentence
   the search measured with the simulator and kept in the explanation's details
   (``candidates``, the top five) and the winner, with its highest cosine to any
   library description — over the whole library, and over the rules the shipped head
   was trained on (``training_rules``) — and exact matches (case-folded).
3. **Held-out match.** The search's ground-truth match (the bench's
   ``truth_embedding``: the 3-way choice between the true description and its two
   decoys, chance 1/3) per ``rules`` family, and split by whether the truth's nearest
   library description (any rule, before the exclusion) lies below or above 0.8
   cosine. The ``rules`` suite is held out of the library by construction: a library
   rule whose description lies within ``EXCLUDE_COSINE`` of a bench description or
   decoy is not trained on.

    OMP_NUM_THREADS=1 .venv/bin/python bench/search_overlap.py [--tokens 20000] [--windows 300]

Prints the tables and writes bench/results/search_overlap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from mechanic import store
from mechanic.agent.bench import BenchConfig, run_bench
from mechanic.agent.search import grammar
from mechanic.agent.search.grammar import CATEGORIES, SHAPE_NAMES, WindowView
from mechanic.agent.search.propose import PREFIXES, SUFFIXES, score_categories
from mechanic.evals.embedding import default_embedder
from mechanic.evals.metrics import bootstrap_ci
from mechanic.evals.token_views import STRUCTURES
from mechanic.evals.training.library import library_rules
from mechanic.evals.training.recipe import EXCLUDE_COSINE, pool_windows, training_rules
from mechanic.tools import load_subject

HERE = Path(__file__).resolve().parent
THRESHOLDS = (0.8, 0.9)
BEHAVIOUR = 0.5  # a library rule whose activations correlate this well with a grammar rule covers its notion
MIN_SUPPORT = 10  # tokens a rule must fire on in the windows for its correlations to count
# What each word-parameterised grammar kind can say, by form (read off the two modules'
# constructors: grammar.identity/after/before/output and library._lexical/_single_words/_triggers).
BY_FORM = {
    "identity": ["single_word.word", "lexical.<category> word lists"],
    "after": ["trigger.after_word"],
    "before": ["trigger.before_word"],
    "output": [],
    "and": [],
    "or": [],
}
LIBRARY_BY_FORM = {"single_word": "identity", "lexical": "identity (a list of the words)",
                   "trigger.after_word": "after", "trigger.before_word": "before"}


# ----------------------------------------------------------------- pure parts


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For unit-norm ``queries`` ``[q, d]`` and ``references`` ``[r, d]``: each query's
    highest cosine to any reference and that reference's index."""
    if len(references) == 0:
        return np.full(len(queries), np.nan, np.float32), np.full(len(queries), -1)
    sims = queries @ references.T
    idx = sims.argmax(axis=1)
    return sims[np.arange(len(queries)), idx], idx


def overlap_summary(cosines: Sequence[float], thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """The share of cosines at or above each threshold, and their distribution."""
    c = np.asarray([x for x in cosines if x is not None and np.isfinite(x)], dtype=np.float64)
    if not len(c):
        return {"n": 0}
    out = {"n": int(len(c)), "mean": float(c.mean()), "min": float(c.min()), "max": float(c.max())}
    out.update({f"p{q}": float(np.percentile(c, q)) for q in (10, 25, 50, 75, 90)})
    out.update({f"share_ge_{t}": float((c >= t).mean()) for t in thresholds})
    edges = np.round(np.arange(0.0, 1.05, 0.1), 1)
    counts, _ = np.histogram(np.clip(c, 0.0, 1.0), bins=edges)
    out["histogram"] = {f"{lo:.1f}-{hi:.1f}": int(n) for lo, hi, n in zip(edges[:-1], edges[1:], counts)}
    return out


def normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def exact_matches(texts: Sequence[str], library: Sequence[str]) -> list[str]:
    """The distinct ``texts`` that appear in ``library`` verbatim (case and spacing folded)."""
    known = {normalised(t) for t in library}
    return sorted({t for t in texts if normalised(t) in known})


def pooled_correlations(levels: np.ndarray, activations: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``levels`` ``[n]`` with each row of ``activations``
    ``[k, n]``; 0 where either is constant."""
    x = levels - levels.mean()
    a = activations - activations.mean(axis=1, keepdims=True)
    denom = np.sqrt((x ** 2).sum() * (a ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a @ x) / denom
    return np.where(denom > 0, r, 0.0)


def counterpart(cosine: float | None, pearson: float | None) -> bool:
    """Whether two rules cover the same notion: their sentences lie within the
    exclusion cosine, or their activations correlate at ``BEHAVIOUR``."""
    return (cosine is not None and cosine >= EXCLUDE_COSINE) or (pearson is not None and pearson >= BEHAVIOUR)


def summarise_kinds(templates: Sequence[dict], written: Sequence[dict], library_side: Sequence[dict]) -> dict:
    """Per grammar kind: its sentences, how many have a library counterpart and which
    library groups those are; and the sentences and library groups left without one."""
    per_kind: dict[str, dict] = {}
    for r in templates:
        k = per_kind.setdefault(r["kind"], {"sentences": 0, "with_counterpart": 0, "library_groups": Counter(),
                                            "by_form": BY_FORM.get(r["kind"], [])})
        k["sentences"] += 1
        t, b = r["text_nearest"], r["behaviour_nearest"]
        if counterpart(t["cosine"], b["pearson"]):
            k["with_counterpart"] += 1
            if t["cosine"] >= EXCLUDE_COSINE:
                k["library_groups"][f"{t['family']}.{t['kind']}"] += 1
            if b["pearson"] is not None and b["pearson"] >= BEHAVIOUR:
                k["library_groups"][f"{b['family']}.{b['kind']}"] += 1
    for w in written:
        per_kind.setdefault(w["kind"], {"sentences": w["sentences"], "with_counterpart": w["within_exclusion"],
                                        "library_groups": Counter(w["nearest_library_kinds"]),
                                        "by_form": BY_FORM.get(w["kind"], [])})
    for k in per_kind.values():
        k["library_groups"] = dict(k["library_groups"].most_common())
    return {
        "per_kind": per_kind,
        "grammar_without_counterpart": [
            f"{r['kind']}:{r['name']}" for r in templates
            if not counterpart(r["text_nearest"]["cosine"], r["behaviour_nearest"]["pearson"])],
        "library_without_counterpart": [
            g["group"] for g in library_side if not counterpart(g["best_cosine"], g["best_pearson"])],
        "library_without_counterpart_even_by_form": [
            g["group"] for g in library_side
            if not counterpart(g["best_cosine"], g["best_pearson"]) and not g.get("by_form")],
        "grammar_kinds_without_library_kind": [k for k, v in BY_FORM.items() if not v],
    }


# ----------------------------------------------------------------- 1. kinds


def grammar_templates() -> list[tuple[str, str, grammar.Rule | None]]:
    """(kind, name, rule) for every fixed sentence of the grammar: shapes, regions,
    categories (their sentence is the category name), and the search's suffixes and
    prefixes (said without examples)."""
    out = [("shape", n, grammar.shape(n)) for n in SHAPE_NAMES]
    out += [("region", s, grammar.region(s)) for s in STRUCTURES]
    out += [("category", name, None) for name, _ in CATEGORIES]
    out += [("suffix", s, grammar.suffix(s, [])) for s in SUFFIXES]
    out += [("prefix", p, grammar.prefix(p, [])) for p in PREFIXES]
    return out


def kinds(lib, lib_texts, lib_owner, lib_vecs, embedder, windows, candidates_by_kind) -> dict:
    t0 = time.perf_counter()
    # library activations over the windows: [rules, tokens]
    acts = np.stack([np.concatenate([r.activations(w) for w in windows]) for r in lib]).astype(np.float64)
    support = (acts > 0).sum(axis=1)  # tokens each library rule fires on
    views = [WindowView(tuple(w)) for w in windows]
    score_categories(views, embedder)
    rows = []
    for kind, name, rule in grammar_templates():
        if kind == "category":
            # graded membership: the word's cosine to the category, less the mean (as the search reads it)
            text = name
            phrase = dict(CATEGORIES)[name]
            levels = np.concatenate([np.clip(v.categories[name], 0, None) for v in views])
        else:
            text, phrase = rule.text, None
            levels = np.concatenate([rule.levels(v) for v in views]).astype(np.float64)
        vec = embedder.encode([text] + ([phrase] if phrase else []))
        cos, idx = nearest(vec, lib_vecs)
        best = int(np.argmax(cos))
        corr = np.where(support >= MIN_SUPPORT, pooled_correlations(levels.astype(np.float64), acts), 0.0)
        j = int(np.argmax(corr))
        text_match = lib[lib_owner[idx[best]]]
        rows.append({
            "kind": kind, "name": name, "text": text,
            "text_nearest": {"rule": text_match.name, "family": text_match.family, "kind": text_match.kind,
                             "description": lib_texts[idx[best]], "cosine": float(cos[best]),
                             "via": "category phrase" if best == 1 else "sentence"},
            "behaviour_nearest": ({"rule": lib[j].name, "family": lib[j].family, "kind": lib[j].kind,
                                   "pearson": float(corr[j])} if corr[j] > 0 and (levels > 0).sum() >= MIN_SUPPORT
                                  else {"rule": None, "family": None, "kind": None, "pearson": None}),
            "fires_on_share_of_tokens": float((levels > 0).mean()),
        })
    # the word-parameterised kinds, as the search wrote them on the rules suite
    written = []
    for kind, texts in sorted(candidates_by_kind.items()):
        cos, idx = nearest(embedder.encode(texts), lib_vecs)
        fams = Counter(f"{lib[lib_owner[i]].family}.{lib[lib_owner[i]].kind}" for i in idx)
        written.append({"kind": kind, "sentences": len(texts), "mean_max_cosine": float(np.mean(cos)),
                        "within_exclusion": int((cos >= EXCLUDE_COSINE).sum()),
                        "nearest_library_kinds": dict(fams.most_common(5))})
    # library side: each (family, kind) group's best behavioural and textual counterpart in the grammar
    template_vecs = embedder.encode([r["text"] for r in rows])
    grammar_levels = []
    for kind, name, rule in grammar_templates():
        if kind == "category":
            grammar_levels.append(np.concatenate([np.clip(v.categories[name], 0, None) for v in views]))
        else:
            grammar_levels.append(np.concatenate([rule.levels(v) for v in views]))
    grammar_levels = np.stack(grammar_levels).astype(np.float64)
    grammar_levels[(grammar_levels > 0).sum(axis=1) < MIN_SUPPORT] = 0.0  # too rare here to compare
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(lib):
        groups[f"{r.family}.{r.kind}"].append(i)
    library_side = []
    for group, members in sorted(groups.items()):
        best_corr, best_name = 0.0, None
        measured = [i for i in members if support[i] >= MIN_SUPPORT]
        for i in measured:
            corr = pooled_correlations(acts[i], grammar_levels)
            j = int(np.argmax(corr))
            if corr[j] > best_corr:
                best_corr, best_name = float(corr[j]), rows[j]["kind"] + ":" + rows[j]["name"]
        texts_idx = [k for k, o in enumerate(lib_owner) if o in set(members)]
        cos, idx = nearest(lib_vecs[texts_idx], template_vecs)
        k = int(np.argmax(cos))
        form = LIBRARY_BY_FORM.get(group, LIBRARY_BY_FORM.get(group.split(".")[0]))
        library_side.append({"group": group, "rules": len(members), "measured": len(measured), "by_form": form,
                             "best_behaviour": best_name, "best_pearson": best_corr if measured else None,
                             "best_text": rows[idx[k]]["kind"] + ":" + rows[idx[k]]["name"],
                             "best_cosine": float(cos[k])})
    return {"templates": rows, "written": written, "library_side": library_side,
            "tokens": int(acts.shape[1]), "seconds": time.perf_counter() - t0}


def same_parameter_sentences(lib) -> list[tuple[int, str]]:
    """(library rule index, the grammar's sentence for the same parameter) for every
    library rule a grammar constructor can restate: one word, a listed-word subset, the
    word after or before a trigger, a suffix, a prefix."""
    out = []
    for i, r in enumerate(lib):
        param = r.name.split("_", 1)[1] if "_" in r.name else ""
        if r.family == "single_word":
            out.append((i, grammar.identity([param]).text))
        elif r.family == "lexical" and r.name.rsplit("_", 1)[-1].isdigit():
            out.append((i, grammar.identity(r.descriptions[1].split(", ")).text))
        elif r.kind == "after_word":
            out.append((i, grammar.after([param]).text))
        elif r.kind == "before_word":
            out.append((i, grammar.before([param]).text))
        elif r.kind == "suffix":
            out.append((i, grammar.suffix(param, []).text))
        elif r.kind == "prefix":
            out.append((i, grammar.prefix(param, []).text))
    return out


def same_parameter(lib, embedder) -> dict:
    """How each library constructor's descriptions compare with what the grammar writes
    for the same parameter: verbatim (case and spacing folded) or by cosine."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for i, text in same_parameter_sentences(lib):
        r = lib[i]
        cos = float((embedder.encode([text]) @ embedder.encode(list(r.descriptions)).T).max())
        groups[f"{r.family}.{r.kind}" if r.family != "lexical" else "lexical.word_list"].append(
            {"rule": r.name, "grammar": text, "verbatim": bool(exact_matches([text], r.descriptions)), "cosine": cos})
    return {g: {"rules": len(v), "verbatim": sum(x["verbatim"] for x in v),
                "mean_cosine": float(np.mean([x["cosine"] for x in v])),
                "share_ge_0.8": float(np.mean([x["cosine"] >= EXCLUDE_COSINE for x in v])),
                "example": v[0]} for g, v in sorted(groups.items())}


# ----------------------------------------------------------------- 2 and 3: the bench run


def searched_sentences(db, run) -> list[dict]:
    """Every sentence the search measured with the simulator and kept, per feature:
    the winner and the stored candidates."""
    out = []
    chash = run.config.hash()
    for it in run.items:
        for e in store.get_explanations(db, feature_id=it.row["id"], config_hash=chash, method="search"):
            if e["status"] != "ok" or e["role"] != "explanation":
                continue
            details = e.get("details") or {}
            out.append({"feature": it.name, "text": e["text"], "kind": (details.get("rule") or {}).get("kind"),
                        "winner": True})
            for c in details.get("candidates", []):
                if c["text"] != e["text"]:
                    out.append({"feature": it.name, "text": c["text"], "kind": c.get("kind"), "winner": False})
    return out


def text_overlap(sentences, lib_texts, lib_owner, lib_vecs, trained_texts, trained_vecs, embedder) -> dict:
    texts = [s["text"] for s in sentences]
    vecs = embedder.encode(texts)
    cos_all, idx_all = nearest(vecs, lib_vecs)
    cos_trained, _ = nearest(vecs, trained_vecs)
    for s, c, i, ct in zip(sentences, cos_all, idx_all, cos_trained):
        s.update({"max_cosine_library": float(c), "nearest_library": lib_texts[i], "max_cosine_trained": float(ct)})
    distinct = sorted(set(texts))
    out = {"sentences": len(texts), "distinct": len(distinct),
           "library": overlap_summary(cos_all), "trained": overlap_summary(cos_trained),
           "winners_library": overlap_summary([s["max_cosine_library"] for s in sentences if s["winner"]]),
           "winners_trained": overlap_summary([s["max_cosine_trained"] for s in sentences if s["winner"]]),
           "exact_library": exact_matches(distinct, lib_texts), "exact_trained": exact_matches(distinct, trained_texts),
           "closest": sorted(({"text": s["text"], "library": s["nearest_library"], "cosine": s["max_cosine_library"]}
                              for s in {s["text"]: s for s in sentences}.values()),
                             key=lambda d: -d["cosine"])[:12]}
    return out


def held_out_match(run, lib_vecs, lib_texts, embedder) -> dict:
    match = {v["name"]: v["value"] for v in run.values if v["method"] == "search" and v["metric"] == "truth_embedding"}
    cos, idx = nearest(embedder.encode([it.description for it in run.items]), lib_vecs)
    per = [{"feature": it.name, "family": it.family, "truth": it.description, "match": match.get(it.name),
            "truth_library_cosine": float(c), "truth_nearest_library": lib_texts[i]}
           for it, c, i in zip(run.items, cos, idx)]
    groups = {"all": per}
    for fam in sorted({p["family"] for p in per}):
        groups[fam] = [p for p in per if p["family"] == fam]
    groups[f"truth < {EXCLUDE_COSINE} to library"] = [p for p in per if p["truth_library_cosine"] < EXCLUDE_COSINE]
    groups[f"truth >= {EXCLUDE_COSINE} to library"] = [p for p in per if p["truth_library_cosine"] >= EXCLUDE_COSINE]
    groups["truth < 0.7 to library"] = [p for p in per if p["truth_library_cosine"] < 0.7]
    return {"groups": {k: bootstrap_ci([p["match"] for p in v]) for k, v in groups.items()}, "features": per}


# ----------------------------------------------------------------- output


def _f(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _ci(ci):
    return "-" if ci.get("mean") is None else f"{ci['mean']:.2f} [{ci['lo']:.2f}, {ci['hi']:.2f}] (n={ci['n']})"


def print_report(result: dict) -> None:
    k = result["kinds"]
    print("1. kinds: each fixed sentence of the grammar beside its nearest library rule")
    print(f"   text: MiniLM cosine to every library description (categories also by their phrase); "
          f"behaviour: pooled Pearson of the rule's levels with each library rule over {k['tokens']:,} corpus tokens\n")
    print(f"{'kind':<9} {'grammar sentence':<44} {'nearest by text':<38} {'cos':>5}  "
          f"{'nearest by behaviour':<32} {'r':>5}")
    for r in k["templates"]:
        t, b = r["text_nearest"], r["behaviour_nearest"]
        by = f"{b['family']}.{b['rule']}" if b["rule"] else "(too rare to compare)"
        print(f"{r['kind']:<9} {r['text'][:44]:<44} {(t['family'] + '.' + t['rule'])[:38]:<38} {t['cosine']:>5.2f}  "
              f"{by[:32]:<32} {_f(b['pearson']):>5}")
    print("\n   word-parameterised kinds, as the search wrote them on the rules suite:")
    for w in k["written"]:
        print(f"   {w['kind']:<9} {w['sentences']:>4} sentences, mean max cosine {w['mean_max_cosine']:.2f}, "
              f"{w['within_exclusion']} at >= {EXCLUDE_COSINE}, "
              f"nearest library kinds {w['nearest_library_kinds']}")
    print("\n   the same parameter: what the grammar writes for a library rule's word or affix")
    print(f"   {'library constructor':<28} {'rules':>5} {'verbatim':>8} {'mean cos':>8} {'>=0.8':>6}  example")
    for g, v in k["same_parameter"].items():
        ex = v["example"]
        print(f"   {g:<28} {v['rules']:>5} {v['verbatim']:>8} {v['mean_cosine']:>8.2f} {v['share_ge_0.8']:>6.2f}  "
              f"{ex['grammar']!r} ({ex['cosine']:.2f})")
    print("\n   library side: each library (family.kind) beside its best grammar counterpart")
    print(f"   {'library group':<30} {'rules':>5} {'seen':>4}  {'by behaviour':<32} {'r':>5}  {'by text':<32} "
          f"{'cos':>5}  by form")
    for g in k["library_side"]:
        print(f"   {g['group']:<30} {g['rules']:>5} {g['measured']:>4}  {str(g['best_behaviour'])[:32]:<32} "
              f"{_f(g['best_pearson']):>5}  {g['best_text'][:32]:<32} {g['best_cosine']:>5.2f}  {g['by_form'] or '-'}")
    s = result["summary"]
    print("\n   per grammar kind: sentences with a library counterpart, and the library groups they map to")
    for kind, v in s["per_kind"].items():
        have = f"{v['with_counterpart']}/{v['sentences']}"
        print(f"   {kind:<9} {have:>6}  {v['library_groups']}  by form: {v['by_form'] or 'none'}")
    print(f"\n   grammar templates with no library counterpart (text cos < {EXCLUDE_COSINE} and r < {BEHAVIOUR}): "
          f"{len(s['grammar_without_counterpart'])}/{len(k['templates'])}: "
          + ", ".join(s["grammar_without_counterpart"]))
    print(f"   library groups with no grammar counterpart by text or behaviour: "
          f"{len(s['library_without_counterpart'])}/{len(k['library_side'])}; of them without one even by form "
          f"(no word list, trigger or affix restates them): {len(s['library_without_counterpart_even_by_form'])}: "
          + ", ".join(s["library_without_counterpart_even_by_form"]))

    o = result["text_overlap"]
    print(f"\n2. text overlap: {o['sentences']} sentences the search measured on rules ({o['distinct']} distinct)")
    print(f"   {'against':<26} {'n':>4} {'mean':>5} {'p50':>5} {'p90':>5} {'max':>5} {'>=0.8':>6} {'>=0.9':>6}")
    for label, key in (("all library descriptions", "library"), ("trained-on descriptions", "trained"),
                       ("winners vs library", "winners_library"), ("winners vs trained", "winners_trained")):
        d = o[key]
        print(f"   {label:<26} {d['n']:>4} {d['mean']:>5.2f} {d['p50']:>5.2f} {d['p90']:>5.2f} {d['max']:>5.2f} "
              f"{d['share_ge_0.8']:>6.2f} {d['share_ge_0.9']:>6.2f}")
    print(f"   distribution (all library): {o['library']['histogram']}")
    print(f"   exact matches: library {len(o['exact_library'])} {o['exact_library']}, "
          f"trained-on {len(o['exact_trained'])} {o['exact_trained']}")
    print("   closest pairs:")
    for c in o["closest"][:8]:
        print(f"     {c['cosine']:.2f}  {c['text'][:60]!r} ~ {c['library'][:50]!r}")

    h = result["held_out_match"]
    print("\n3. ground-truth match of search on rules (embedding judge, chance 0.33; mean [95% CI])")
    print(f"   (the rules suite is held out of the library by construction: library rules within "
          f"{EXCLUDE_COSINE} cosine of a bench description or decoy are not trained on)")
    for name, ci in h["groups"].items():
        print(f"   {name:<34} {_ci(ci)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=20_000, help="corpus tokens of the rules bench")
    ap.add_argument("--windows", type=int, default=300, help="32-token corpus windows for the behaviour match")
    ap.add_argument("--synthetic", type=int, default=300,
                    help="32-token windows of the library's synthetic prose added for the behaviour match "
                         "(the corpus hardly names animals or cities)")
    ap.add_argument("--db", default=str(HERE / "results" / "search-overlap.db"))
    ap.add_argument("--output", default=str(HERE / "results" / "search_overlap.json"))
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()

    subject = load_subject()
    embedder = default_embedder()
    lib = library_rules()
    lib_texts = [d for r in lib for d in r.descriptions]
    lib_owner = [i for i, r in enumerate(lib) for _ in r.descriptions]
    lib_vecs = embedder.encode(lib_texts)
    trained, dropped = training_rules(embedder)
    trained_texts = [d for r in trained for d in r.descriptions]
    trained_vecs = embedder.encode(trained_texts)

    db = store.open_db(args.db)
    config = BenchConfig(suite="rules", methods=("search",), judges=("embedding",), scorers=("simulation",),
                         validity=False, n_tokens=args.tokens)
    run = run_bench(db, subject, config, progress=say)
    sentences = searched_sentences(db, run)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for s in sentences:
        if s["kind"] in ("identity", "after", "before", "output", "and", "or"):
            by_kind[s["kind"]].append(s["text"])

    windows, _ = pool_windows(subject.tokenizer, args.windows, args.synthetic)
    kind_table = kinds(lib, lib_texts, lib_owner, lib_vecs, embedder, windows, by_kind)
    kind_table["same_parameter"] = same_parameter(lib, embedder)
    overlap = text_overlap(sentences, lib_texts, lib_owner, lib_vecs, trained_texts, trained_vecs, embedder)
    match = held_out_match(run, lib_vecs, lib_texts, embedder)

    summary = summarise_kinds(kind_table["templates"], kind_table["written"], kind_table["library_side"])
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average": os.getloadavg(), "model": subject.name, "tokens": args.tokens,
        "embedder": embedder.name, "exclude_cosine": EXCLUDE_COSINE, "behaviour_threshold": BEHAVIOUR,
        "library": {"rules": len(lib), "descriptions": len(lib_texts), "trained_rules": len(trained),
                    "trained_descriptions": len(trained_texts), "dropped_near_bench": dropped},
        "derivation": {
            "text": "MiniLM (all-MiniLM-L6-v2) cosine of the grammar's sentence, and for categories also of the "
                    "category phrase, to every paraphrase of every library rule (library_rules(), before the "
                    "exclusion); the highest is reported",
            "behaviour": f"pooled Pearson over {kind_table['tokens']} tokens ({args.windows} default-corpus and "
                         f"{args.synthetic} synthetic-prose windows of the library's own recipe) between the grammar rule's levels (categories: the word's cosine to the "
                         "category phrase less the mean, clipped at 0) and every library rule's activations",
            "counterpart": f"text cosine >= {EXCLUDE_COSINE} or behaviour r >= {BEHAVIOUR}",
            "same_parameter": "for every library rule a grammar constructor can restate (single_word, lexical word "
                              "lists, trigger, suffix, prefix), the grammar's sentence for the same word or affix, "
                              "compared with that rule's paraphrases verbatim and by cosine",
            "word_kinds": "identity, after, before and output are parameterised by words from the evidence: "
                          "by form they can say what library single_word, lexical word lists and trigger rules say; "
                          "measured here by the sentences the search actually wrote",
            "no_library_kind": "output (what the text continues with), and (conjunctions), or (modes) have no "
                               "library family: every library rule is one notion of the input text",
        },
        "run": {"run_id": run.run_id, "features": len(run.items), "skipped": run.skipped,
                "seconds": run.seconds},
        "summary": summary, "kinds": kind_table, "text_overlap": overlap, "held_out_match": match,
        "sentences": sentences, "wall_seconds": time.perf_counter() - t0,
    }
    print(f"search/library overlap: {subject.name}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs; library {len(lib)} rules ({len(trained)} trained on), "
          f"rules bench {len(run.items)} features\n")
    print_report(result)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2, default=str))
    print(f"\nsaved {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
