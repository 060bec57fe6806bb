"""Tools that read a feature without changing the model: its activations on texts the
LLM writes, its stored exemplars and statistics, the tokens its output promotes, and
its correlation with another feature.

Exemplars come from the ``train`` and ``select`` splits only: the ``test`` split is
held out for the reported scores and no tool can read it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from mechanic import store
from mechanic.tools import activations as feature_activations
from mechanic.tools import output_tokens as direct_output_tokens

from ..toolschema import ToolError
from .base import Observation, ToolBase, fires_threshold, peak_text, peak_token, short_token, tool

__all__ = ["ReadingTools"]


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
                  kind: Literal["top", "decile", "bottom", "random"] = "top", n: int = 5) -> Observation:
        """Stored corpus excerpts where the feature under study fires most (or across
        deciles, most negatively, at random).

        Args:
            split: train (what you may study) or select (held out for choosing between explanations).
            kind: top, decile, bottom or random excerpts.
            n: how many, 1-6.
        """
        if self.row is None or self.db is None:
            raise ToolError("no stored feature is under study, so there are no exemplars")
        self._count(n)
        rows = store.get_exemplars(self.db, self.row["id"], kind=kind, split=split)[:n]
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
        summary = [f"{kind} {split} excerpts of {self.row['feature']} (firing tokens in ⟦ ⟧; {rule}):"]
        summary += [f"- {i['max']:.3g} at {i['peak']}: {i['excerpt']}" for i in items] or ["- none stored"]
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
        runs = feature_activations(self.subject, self._texts(texts), [a, b])
        xa = np.concatenate([np.asarray(r.activations[a], dtype=np.float64) for r in runs])
        xb = np.concatenate([np.asarray(r.activations[b], dtype=np.float64) for r in runs])
        corr = None if xa.std() == 0 or xb.std() == 0 else float(np.corrcoef(xa, xb)[0, 1])
        shown = "undefined (one is constant)" if corr is None else f"{corr:.3f}"
        return Observation({"feature": a, "other": b, "pearson": corr, "n_tokens": len(xa)},
                           f"{a} vs {b} over {len(xa)} tokens: correlation {shown}")
