"""Tools that read a feature without changing the model: its activations on texts the
LLM writes, its stored exemplars and statistics, the tokens its output promotes, and
its correlation with another feature.

Exemplars come from the ``train`` and ``select`` splits only: the ``test`` split is
held out for the reported scores and no tool can read it.
"""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Literal

import numpy as np
from mechanic import store
from mechanic.tools import activations_on_ids
from mechanic.tools import output_tokens as direct_output_tokens

from ..toolschema import ToolError
from .base import Observation, ToolBase, fires_threshold, peak_text, peak_token, short_token, tool

__all__ = ["ReadingTools", "TOKEN_RATE_WINDOWS", "position_flag"]

TOKEN_RATE_WINDOWS = 64  # most windows a token's firing rate is measured on (one forward pass each)


class ReadingTools(ToolBase):
    """Measurements and stored facts of a feature."""

    _by_start: dict | None = None  # shown windows by (document, where they end), read on first use

    @tool
    def activations(self, texts: list[str], feature: str = "") -> Observation:
        """Measure the feature on texts you write: its largest activation in each.

        Args:
            texts: 1-6 short texts.
            feature: a feature id such as mlp:3:17; empty means the feature under study.
        """
        feature = self._feature(feature)
        texts = self._texts(texts)
        measured, threshold = self._max_acts(texts, feature)
        result = {"feature": feature, "threshold": threshold,
                  "texts": [{"text": t, "max": round(m, 4), "fires": m >= threshold, "peak": p}
                            for t, (m, p) in zip(texts, measured)]}
        lines = [f"{feature} ({self._rule(feature, threshold)}):"]
        lines += [f"- {'FIRES' if m >= threshold else 'quiet'}, {p}" for m, p in measured]
        return Observation(result, "\n".join(lines))

    @tool
    def exemplars(self, split: Literal["train", "select"] = "train",
                  kind: Literal["top", "decile", "bottom", "random"] = "top", n: int = 5,
                  decile: int = -1) -> Observation:
        """Stored corpus excerpts where the feature under study fires most, or from the middle
        of its range (deciles of the windows where it is active), most negatively, or at random.

        Args:
            split: train (what you may study) or select (held out for choosing between explanations).
            kind: top, decile, bottom or random excerpts.
            n: how many, 1-6.
            decile: with kind decile, which tenth of the active windows by their max, 0 (weakest) to
                9 (strongest), e.g. 4 or 5 for mid-range ones; -1 spreads the excerpts over all tenths.
        """
        if self.row is None or self.db is None:
            raise ToolError("no stored feature is under study, so there are no exemplars")
        self._count(n)
        if not -1 <= decile <= 9:
            raise ToolError(f"decile must be 0-9, or -1 for a spread, not {decile}")
        rows = store.get_exemplars(self.db, self.row["id"], kind=kind, split=split)
        if kind == "decile":
            rows = _spread(rows, n) if decile < 0 else [e for e in rows if e.decile == decile][:n]
        rows = rows[:n]
        leads = self._leads([e.window_idx for e in rows])
        items = []
        for e in rows:
            tokens = self.subject.token_strings(e.tokens)
            acts = np.asarray(e.activations, dtype=np.float32)
            shown = -acts if kind == "bottom" else acts
            items.append({"window": e.window_idx, "max": round(float(e.max_act), 4),
                          "peak": peak_token(tokens, acts if kind != "bottom" else shown),
                          "excerpt": peak_text(tokens, shown, self.threshold if kind != "bottom" else
                                               0.25 * max(float(-np.min(acts)), 1e-6),
                                               lead=leads.get(e.window_idx, ()))})
        rule = (self._rule(self.row["feature"], self.threshold) if kind != "bottom"
                else "most negative tokens in ⟦ ⟧: at or below a quarter of each excerpt's minimum")
        what = f"{kind} {split} excerpts" + (f" (decile {decile})" if kind == "decile" and decile >= 0 else "")
        summary = [f"{what} of {self.row['feature']} (firing tokens in ⟦ ⟧; {rule}):"]
        summary += [f"- {i['max']:.3g} at {i['peak'].rpartition(' ')[0]}" + (f" (decile {e.decile})" if kind == "decile" else "")
                    + f": {i['excerpt']}" for i, e in zip(items, rows)] or ["- none stored"]
        return Observation({"split": split, "kind": kind, "items": items}, "\n".join(summary))

    def _leads(self, idxs: list[int]) -> dict[int, list[str]]:
        """The tokens of the text just before each window: the stored window that ends
        where it starts in the same document, when there is one and it is not held out
        (the test split is never shown)."""
        if self.row is None or self.db is None or not idxs:
            return {}
        if self._by_start is None:
            shown = [i for split in ("train", "select") for i in store.window_indices(self.db, self.row["corpus_id"], split)]
            self._by_start = {(w.doc, w.start + len(w.tokens)): w
                              for w in store.get_windows(self.db, self.row["corpus_id"], shown).values()}
        windows = store.get_windows(self.db, self.row["corpus_id"], idxs)
        out = {}
        for i in idxs:
            prev = self._by_start.get((windows[i].doc, windows[i].start)) if i in windows else None
            if prev is not None:
                out[i] = self.subject.token_strings(prev.tokens)
        return out

    @tool
    def token_rate(self, token: str) -> Observation:
        """How often the feature fires on a token across the corpus: of the token's occurrences in
        the stored train and select windows, the share where it fires, with its mean activation there.

        Args:
            token: a token or short text as it appears in running text, e.g. " the" (with its leading
                space) or "The"; several tokens are matched as a sequence and read at their largest.
        """
        if self.row is None or self.db is None:
            raise ToolError("no stored feature is under study, so there is no corpus to count in")
        ids = self.subject.tokenizer(token, add_special_tokens=False)["input_ids"] if token else []
        if not ids:
            raise ToolError("token is empty; give a token such as ' the'")
        found = []  # (window tokens, [positions of each occurrence])
        shown = [i for split in ("train", "select") for i in store.window_indices(self.db, self.row["corpus_id"], split)]
        windows = store.get_windows(self.db, self.row["corpus_id"], shown)
        for w in windows.values():
            seq = [int(t) for t in w.tokens]
            hits = [list(range(p, p + len(ids))) for p in range(len(seq) - len(ids) + 1)
                    if seq[p:p + len(ids)] == ids and p >= self.first_position]
            if hits:
                found.append((seq, hits))
            if len(found) >= TOKEN_RATE_WINDOWS:
                break
        if not found:
            return Observation({"token": token, "occurrences": 0},
                               f"{token!r} does not occur in the stored train and select windows")
        acts = activations_on_ids(self.subject, self.row["feature"], [seq for seq, _ in found])
        values = [float(a[span].max()) for a, (_, hits) in zip(acts, found) for span in hits]
        fired = sum(v >= self.threshold for v in values)
        result = {"token": token, "occurrences": len(values), "windows": len(found), "fired": fired,
                  "rate": fired / len(values), "mean": float(np.mean(values)), "max": float(np.max(values)),
                  "threshold": self.threshold, "corpus_frac_active": self.row.get("frac_active")}
        return Observation(result, f"{token!r}: fires on {fired} of {len(values)} occurrences ({100 * fired / len(values):.0f}%) "
                                   f"in {len(found)} train/select windows; mean activation there {result['mean']:.3g}, "
                                   f"max {result['max']:.3g} ({self._rule(self.row['feature'], self.threshold)})")

    @tool
    def minimal_pair(self, text_a: str, text_b: str, feature: str = "") -> Observation:
        """Measure the feature on two texts that differ in one place and report, token by token,
        where they differ and how its activation changes there and after.

        Args:
            text_a: the first text.
            text_b: the same text with one change (a word swapped, added or removed).
            feature: a feature id; empty means the feature under study.
        """
        feature = self._feature(feature)
        text_a, text_b = self._texts([text_a], "text_a")[0], self._texts([text_b], "text_b")[0]
        a, b = self._measure([text_a, text_b], [feature])
        xa, xb = np.asarray(a.activations[feature]), np.asarray(b.activations[feature])
        rows, changed = [], []
        matcher = difflib.SequenceMatcher(a=a.tokens, b=b.tokens, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    rows.append({"a": a.tokens[i], "b": b.tokens[j], "act_a": round(float(xa[i]), 4),
                                 "act_b": round(float(xb[j]), 4), "diff": round(float(xb[j] - xa[i]), 4),
                                 "same": True})
            else:
                part_a = "".join(a.tokens[i1:i2])
                part_b = "".join(b.tokens[j1:j2])
                va = float(xa[i1:i2].max()) if i2 > i1 else None
                vb = float(xb[j1:j2].max()) if j2 > j1 else None
                row = {"a": part_a, "b": part_b, "act_a": va, "act_b": vb, "same": False,
                       "diff": None if va is None or vb is None else round(vb - va, 4)}
                rows.append(row)
                changed.append(row)
        def value(v):
            return "-" if v is None else f"{v:.3g}"
        lines = [f"{feature} on a pair ({self._rule(feature, self.threshold)}): max {xa.max():.3g} (A) vs "
                 f"{xb.max():.3g} (B)"]
        lines += [f"- changed {short_token(r['a'])!r} -> {short_token(r['b'])!r}: {value(r['act_a'])} -> "
                  f"{value(r['act_b'])}" for r in changed] or ["- the texts tokenize the same"]
        shared = sorted((r for r in rows if r["same"]), key=lambda r: -abs(r["diff"]))[:3]
        if shared:
            lines.append("- largest changes at shared tokens: " + ", ".join(
                f"{short_token(r['a'])!r} {r['act_a']:.3g} -> {r['act_b']:.3g}" for r in shared))
        lines.append("- per token: " + " ".join(
            f"{short_token(r['a']) if r['same'] else '[' + short_token(r['a']) + '|' + short_token(r['b']) + ']'}"
            f"({value(r['act_a'])}/{value(r['act_b'])})" for r in rows))
        return Observation({"feature": feature, "text_a": text_a, "text_b": text_b, "tokens": rows,
                            "max_a": float(xa.max()), "max_b": float(xb.max())}, "\n".join(lines))

    @tool
    def feature_stats(self, feature: str = "") -> Observation:
        """Statistics of a stored feature over the corpus sample: max, mean, how often it fires.

        Args:
            feature: a feature id; empty means the feature under study.
        """
        feature = self._feature(feature)
        row = self._stored_row(feature)
        stats = {k: row[k] for k in ("count", "mean", "max", "min", "frac_active")}
        q = row.get("quantiles") or {}
        text = (f"{feature}: max {stats['max']:.3g}, min {stats['min']:.3g}, mean {stats['mean']:.3g}, "
                f"active on {100 * (stats['frac_active'] or 0):.2f}% of {stats['count']} tokens")
        text += f"; it counts as firing at >= {fires_threshold(row):.3g} (a quarter of its max)"
        sample = [np.asarray(e.activations, dtype=np.float32)[self.first_position:] for e in
                  store.get_exemplars(self.db, row["id"], kind="random")] if self.db is not None else []
        sampled = int(sum(len(a) for a in sample))
        if sampled:  # random windows: an unbiased sample of tokens
            firing = int(sum(int((a >= fires_threshold(row)).sum()) for a in sample))
            stats["fires_share"] = {"fired": firing, "tokens": sampled}
            text += f", which it reaches on {100 * firing / sampled:.2f}% of {sampled} tokens of random windows"
        flag = position_flag(store.get_exemplars(self.db, row["id"], kind="top", split="train")) \
            if self.db is not None else None
        if flag:
            stats["position_flag"] = flag
            text += (f". WARNING: {flag['count']} of its {flag['of']} top train excerpts peak at window position "
                     f"{flag['position']}: that looks like an effect of the position, not of the token")
        if q:
            text += "; quantiles " + ", ".join(f"p{float(k) * 100:g}={v:.3g}" for k, v in list(q.items())[-3:])
        return Observation({"feature": feature, **stats, "quantiles": q}, text)

    @tool
    def output_tokens(self, feature: str = "") -> Observation:
        """The next tokens a feature's output directly promotes and suppresses (through the unembedding).

        Args:
            feature: a feature id; empty means the feature under study.
        """
        feature = self._feature(feature)
        out = direct_output_tokens(self.subject, feature, k=8)
        if out.get("reason"):
            return Observation(out, f"{feature}: {out['reason']}")
        promoted = ", ".join(repr(short_token(t)) for t, _ in out["promoted"])
        suppressed = ", ".join(repr(short_token(t)) for t, _ in out["suppressed"])
        return Observation(out, f"{feature} promotes {promoted}; suppresses {suppressed}")

    @tool
    def compare(self, other: str, texts: list[str], feature: str = "") -> Observation:
        """Compare two features token by token on texts: correlation of their activations.

        Args:
            other: the feature id to compare with.
            texts: 1-6 texts to measure both on.
            feature: a feature id; empty means the feature under study.
        """
        a, b = self._feature(feature), self._feature(other)
        runs = self._measure(self._texts(texts), [a, b])
        xa = np.concatenate([np.asarray(r.activations[a], dtype=np.float64) for r in runs])
        xb = np.concatenate([np.asarray(r.activations[b], dtype=np.float64) for r in runs])
        corr = None if xa.std() == 0 or xb.std() == 0 else float(np.corrcoef(xa, xb)[0, 1])
        shown = "undefined (one is constant)" if corr is None else f"{corr:.3f}"
        return Observation({"feature": a, "other": b, "pearson": corr, "n_tokens": len(xa)},
                           f"{a} vs {b} over {len(xa)} tokens: correlation {shown}")


def _spread(rows: list, n: int) -> list:
    """Up to ``n`` decile exemplars taken in turn from each decile, strongest first."""
    by_decile: dict[int, list] = {}
    for e in rows:
        by_decile.setdefault(e.decile, []).append(e)
    out: list = []
    while len(out) < n and any(by_decile.values()):
        for d in sorted(by_decile, reverse=True):
            if by_decile[d] and len(out) < n:
                out.append(by_decile[d].pop(0))
    return out


def position_flag(top: list, least: int = 4, share: float = 0.5) -> dict | None:
    """When at least ``share`` of the top exemplars (``least`` or more of them) peak at
    one window position, that position and how many: a unit that reads high on
    whatever token stands there (such as the first), rather than on a token."""
    peaks = [int(np.argmax(np.asarray(e.activations))) for e in top if len(e.activations)]
    if len(peaks) < least:
        return None
    position, count = Counter(peaks).most_common(1)[0]
    return {"position": position, "count": count, "of": len(peaks)} if count >= share * len(peaks) else None
