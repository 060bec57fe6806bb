"""Tests of a hypothesis that the instruments run themselves: no LLM writes a text.

* :meth:`CorpusTestTools.test_on_corpus` — a fresh corpus sample that no split has
  used: windows cut from the feature's corpus source past the ones capture read,
  from documents none of whose windows the store holds. The simulator reads the
  hypothesis and predicts, token by token, where the feature fires (a level of
  :data:`FIRE_LEVEL` of 10 or more); near misses are the tokens it predicts quiet that
  are the same words as tokens it predicts to fire. The feature's real activations
  give recall (of the tokens predicted to fire, those that fired) and precision (of
  the tokens that fired, those predicted), with counts and intervals — the feature
  read as a detector of what the hypothesis describes, as in every verdict
  (:mod:`..verdict_rule`). The first token of each window is left
  out (the attention-sink position reads high for many units).
* :meth:`CorpusTestTools.counterfactual` — on the top ``train`` windows, edits of what
  the hypothesis names (:func:`~.hypothesis_rules.plan_edits`): the firing word
  swapped for another member of its class and for a non-member, the context it names
  removed. The activation at the edited position says whether each edit went the way
  the hypothesis predicts.

Both read the hypothesis as a rule of the description search's grammar where they
need one: the rule a search candidate carries, else the one its text states
(:func:`~.hypothesis_rules.parse_rule`), else the search proposal for this feature
that the simulator reads most like the hypothesis. The result says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from mechanic import store
from mechanic.evals.metrics import pearson
from mechanic.evals.records import Record
from mechanic.tools import activations_on_ids, corpus_windows

from ...explainers import mark_token
from ...search import Rule, WindowView, find_peaks, propose, score_categories
from ..toolschema import ToolError
from ..verdict_rule import wilson
from .base import Observation, ToolBase, short_token, tool
from .hypothesis_rules import holds_at, parse_rule, plan_edits, rule_from_dict

__all__ = ["FIRE_LEVEL", "FRESH_WINDOWS", "CorpusTestTools", "FreshSample"]

FIRE_LEVEL = 5.0  # the simulator's level (0-10) at which a token is predicted to fire
FRESH_WINDOWS = 64  # windows in the fresh sample
MIN_MATCH = 0.3  # how alike (Pearson) the simulator's reading of a hypothesis and a proposed rule must be
EDIT_WINDOWS = 4  # top train windows the counterfactual edits


@dataclass
class FreshSample:
    """Windows no split has used, with the feature's activations on them."""

    indices: list[int]  # window indices in the extended corpus sample (all >= first)
    first: int  # the first index past the captured sample (its window count)
    docs: int
    records: list[Record]


def _interval(k: int, n: int) -> str:
    if not n:
        return "n/a"
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


def _excerpt(tokens, t: int, width: int = 8) -> str:
    left = "".join(short_token(x) for x in tokens[max(0, t - width):t])
    right = "".join(short_token(x) for x in tokens[t + 1:t + 3])
    return f"{left}{mark_token(tokens[t])}{right}".strip()


class CorpusTestTools(ToolBase):
    """Instrument-run tests of the numbered hypotheses of the current round.

    ``hypotheses`` (the current round's, each ``{"text", "rule"?}``) and
    ``test_simulator`` (what reads a hypothesis: an offline simulator; the default
    ``trained`` one when unset) are set by whoever runs the investigation."""

    hypotheses: list[dict] = []
    test_simulator: Any = None
    fresh_windows: int = FRESH_WINDOWS

    # ------------------------------------------------------------------ tools
    @tool
    def test_on_corpus(self, hypothesis: int) -> Observation:
        """Test a hypothesis on fresh corpus text no split has used: the simulator marks the tokens it says fire,
        and the feature's real activations give precision and recall, with counts.

        Args:
            hypothesis: the hypothesis number.
        """
        text, _ = self._hypothesis(hypothesis)
        sample = self._fresh()
        levels = self._simulator().simulate(text, sample.records)
        hits = predicted_n = fired_n = near_n = near_fired = 0
        predicted_words: set[str] = set()
        views = [WindowView(r.tokens) for r in sample.records]
        masks = []
        for r, lv, view in zip(sample.records, levels, views):
            pred = np.asarray(lv, dtype=np.float32) >= FIRE_LEVEL
            fired = r.activations >= self.threshold
            pred[0] = fired[0] = False  # the first position is left out
            masks.append((pred, fired))
            predicted_words |= {view.keys[t] for t in np.flatnonzero(pred)}
        examples = {"hit": [], "false alarm": [], "missed": []}
        for r, (pred, fired), view in zip(sample.records, masks, views):
            hits += int((pred & fired).sum())
            predicted_n += int(pred.sum())
            fired_n += int(fired.sum())
            near = ~pred & np.array([k in predicted_words for k in view.keys])
            near[0] = False
            near_n += int(near.sum())
            near_fired += int((near & fired).sum())
            for name, where in (("hit", pred & fired), ("false alarm", pred & ~fired), ("missed", ~pred & fired)):
                for t in np.flatnonzero(where)[:1]:
                    if len(examples[name]) < 2:
                        examples[name].append(f"{r.activations[t]:.3g}: {_excerpt(r.tokens, int(t))}")
        tokens = sum(len(r.tokens) - 1 for r in sample.records)
        result = {"hypothesis": hypothesis, "text": text, "threshold": self.threshold, "fire_level": FIRE_LEVEL,
                  "windows": sample.indices, "first_fresh_window": sample.first, "documents": sample.docs,
                  "tokens": tokens, "predicted": predicted_n, "fired": fired_n, "hits": hits,
                  "near_miss": near_n, "near_miss_fired": near_fired,
                  "precision": hits / fired_n if fired_n else None,
                  "recall": hits / predicted_n if predicted_n else None, "examples": examples}
        lines = [f"hypothesis {hypothesis} on {len(sample.records)} fresh windows ({tokens} tokens no split has "
                 f"seen; fires at >= {self.threshold:.3g}):",
                 f"- recall {_interval(hits, predicted_n)}: the hypothesis says it fires at {predicted_n} tokens; "
                 f"it fired at {hits} of them",
                 f"- precision {_interval(hits, fired_n)}: it fired at {fired_n} tokens; the hypothesis covers "
                 f"{hits} of them",
                 f"- near misses (same words, predicted quiet): fired at {near_fired}/{near_n}"]
        lines += [f"- {name}, {e}" for name, found in examples.items() for e in found]
        return Observation(result, "\n".join(lines))

    @tool
    def counterfactual(self, hypothesis: int) -> Observation:
        """Edit what a hypothesis names in the top train windows: swap the firing word for another member of its
        class and for a non-member, remove the context it names; report the activation change at the edit.

        Args:
            hypothesis: the hypothesis number.
        """
        text, rule_dict = self._hypothesis(hypothesis)
        if self.row is None or self.db is None:
            raise ToolError("no stored feature is under study, so there are no train windows to edit")
        top = store.get_exemplars(self.db, self.row["id"], kind="top", split="train")
        windows = [(e, self.subject.token_strings(e.tokens)) for e in top]
        views = [WindowView(tuple(tokens)) for _, tokens in windows]
        rule, how = self._hypothesis_rule(text, rule_dict, windows, views)
        if rule is None:
            raise ToolError(f"hypothesis {hypothesis} names nothing the edits can change: {how}")
        pool = self._pool(rule, views)
        edits, notes, covered, peaks = [], [], 0, 0
        for (e, tokens), view in zip(windows, views):
            acts = np.asarray(e.activations, dtype=np.float32)
            if len(edits) >= 3 * EDIT_WINDOWS or peaks >= 2 * EDIT_WINDOWS:
                break
            if acts.max() < self.threshold:
                continue
            peaks += 1
            where = holds_at(rule, view) & (acts >= self.threshold)
            where[0] = False
            if not where.any():
                continue
            covered += 1
            t = int(np.flatnonzero(where)[np.argmax(acts[where])])
            shift = (covered - 1) * 7 % max(1, len(pool))  # other replacement words in each window
            planned, why = plan_edits(rule, view, t, pool[shift:] + pool[:shift])
            notes += [n for n in why if n not in notes]
            edits += [(e, view, t, p) for p in planned]
        measured = self._measure_edits(edits)
        agreeing = sum(m["agrees"] for m in measured)
        result = {"hypothesis": hypothesis, "text": text, "rule": rule.to_dict(), "rule_source": how,
                  "threshold": self.threshold, "peaks": peaks, "peaks_where_rule_holds": covered,
                  "edits": len(measured), "agreeing": agreeing, "results": measured, "notes": notes}
        lines = [f"hypothesis {hypothesis} read as the rule {rule.text!r} ({how}); it holds at {covered} of "
                 f"{peaks} firing top train windows",
                 f"- edits that went as it predicts: {_interval(agreeing, len(measured))}"]
        lines += [f"- {m['what']} {m['note']}: {m['before']:.3g} -> {m['after']:.3g} "
                  f"({'ok' if m['agrees'] else 'against'}; expected {m['expect']})" for m in measured[:6]]
        lines += [f"- note: {n}" for n in notes[:2]]
        return Observation(result, "\n".join(lines))

    # --------------------------------------------------------------- helpers
    def _hypothesis(self, number: int) -> tuple[str, dict | None]:
        if not 1 <= number <= len(self.hypotheses):
            if not self.hypotheses:
                raise ToolError("there are no numbered hypotheses to test")
            raise ToolError(f"hypothesis must be 1-{len(self.hypotheses)}, not {number}")
        h = self.hypotheses[number - 1]
        return h["text"], h.get("rule")

    def _simulator(self):
        if self.test_simulator is None:
            from mechanic.evals.offline import DEFAULT_SIMULATOR, offline_simulator

            self.test_simulator = offline_simulator(DEFAULT_SIMULATOR)
        return self.test_simulator

    def _fresh(self) -> FreshSample:
        """The fresh sample (built once per instrument set; see the module doc)."""
        cached = getattr(self, "_fresh_sample", None)
        if cached is not None:
            return cached
        if self.row is None or self.db is None or not self.row.get("corpus_id"):
            raise ToolError("no stored feature with a corpus is under study, so there is no corpus to sample")
        corpus = store.get_corpus(self.db, self.row["corpus_id"])
        spec, first = corpus["spec"], int(corpus["n_windows"])
        length, cap = int(spec["length"]), int(spec.get("max_windows_per_doc", 8))
        # past the captured windows, and from documents none of whose windows were captured
        windows = corpus_windows(self.subject.tokenizer, spec["source"], length=length, seed=int(spec["seed"]),
                                 max_windows_per_doc=cap,
                                 n_tokens=(first + (cap + 1) * self.fresh_windows) * length)
        seen = {w.doc for w in windows[:first]}
        fresh = [w for w in windows[first:] if w.doc not in seen][: self.fresh_windows]
        if not fresh:
            raise ToolError("the corpus source has no text past the captured sample; capture a smaller sample "
                            "(--tokens) or use a larger corpus")
        acts = activations_on_ids(self.subject, self.row["feature"], [w.tokens for w in fresh])
        records = [Record(tuple(self.subject.token_strings(w.tokens)), a, "random", "fresh", w.index)
                   for w, a in zip(fresh, acts)]
        self._fresh_sample = FreshSample([w.index for w in fresh], first, len({w.doc for w in fresh}), records)
        return self._fresh_sample

    def _hypothesis_rule(self, text: str, rule_dict: dict | None, windows, views) -> tuple[Rule | None, str]:
        """The grammar rule the hypothesis stands for, and how it was found."""
        if rule_dict:
            return rule_from_dict(rule_dict), "the rule the description search found"
        parsed = parse_rule(text)
        if parsed is not None:
            if parsed.kind == "category" or any(p.kind == "category" for p in parsed.parts):
                score_categories(views, self._embedder_instance())
            return parsed, "parsed from the hypothesis's words"
        records = [Record(tuple(tokens), np.asarray(e.activations, dtype=np.float32), "top", "train", e.window_idx)
                   for e, tokens in windows]
        if not records:
            return None, "no train windows"
        score_categories(views, self._embedder_instance())
        rules = propose(find_peaks(records, views))
        if not rules:
            return None, "the search proposes no rule for this feature"
        read = np.concatenate(self._simulator().simulate(text, records))
        best, best_r = None, None
        for rule in rules:
            r = pearson(np.concatenate([rule.levels(v) for v in views]), read)
            if r is not None and r >= MIN_MATCH and (best_r is None or r > best_r):
                best, best_r = rule, r
        if best is None:
            return None, (f"the grammar cannot read it, and no rule the search proposes agrees with how the "
                          f"simulator reads it (r >= {MIN_MATCH})")
        return best, f"the search proposal the simulator reads most like it, r={best_r:.2f}"

    def _pool(self, rule: Rule, views: list[WindowView]) -> list[tuple[str, bool]]:
        """Replacement words from real text (the train windows and the fresh sample):
        each distinct word with whether the rule's head holds at it."""
        head = rule
        while head.kind in ("and", "or"):
            head = head.parts[0]
        try:
            extra = [WindowView(r.tokens) for r in self._fresh().records]
        except ToolError:
            extra = []
        every = views + extra
        if head.kind == "category":
            score_categories(every, self._embedder_instance())
        seen: dict[str, bool] = {}
        for v in every:
            held = head.levels(v) > 0
            for t, w in enumerate(v.words):
                w = w.strip()
                # whole words of one token only, so a swap replaces exactly one word
                if w and w == v.tokens[t].strip() and w not in seen and len(w) <= 16:
                    seen[w] = bool(held[t])
        members = [w for w, m in seen.items() if m]
        others = [w for w, m in seen.items() if not m]
        return [(w, True) for w in members] + [(w, False) for w in others]

    def _measure_edits(self, edits: list) -> list[dict]:
        """Each edit applied to its window (up to the firing token) and the activation read."""
        tokenizer = self.subject.tokenizer
        sequences, reads, kept = [], [], []
        for e, view, t, edit in edits:
            ids = list(map(int, e.tokens[: t + 1]))
            new = tokenizer(edit.text, add_special_tokens=False)["input_ids"] if edit.text else []
            edited = ids[: edit.start] + list(new) + ids[edit.end + 1:]
            if not edited:
                continue
            sequences += [ids, edited]
            reads.append(len(edited) - 1)
            kept.append((e.window_idx, t, edit))
        acts = activations_on_ids(self.subject, self.row["feature"], sequences)
        out = []
        if not sequences:
            return []
        for i, (window, t, edit) in enumerate(kept):
            before, after = float(acts[2 * i][t]), float(acts[2 * i + 1][reads[i]])
            fires = after >= self.threshold
            out.append({"what": edit.what, "note": edit.note, "expect": edit.expect, "window": window, "position": t,
                        "span": [edit.start, edit.end], "replacement": edit.text, "before": round(before, 4),
                        "after": round(after, 4), "change": round(after - before, 4),
                        "agrees": fires if edit.expect == "fire" else not fires})
        return out

