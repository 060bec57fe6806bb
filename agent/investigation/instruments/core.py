"""The instruments the agent's LLM may call, as typed methods with docstrings.

Each public method of :class:`Instruments` marked ``@tool`` is one tool: its
signature and docstring become the schema the LLM sees (:mod:`.toolschema`). A tool
returns an :class:`Observation`: the full result (stored in the ``experiments``
table) and a compact summary (what the LLM reads; small local models have short
contexts). Bad arguments raise :class:`~.toolschema.ToolError`; the caller hands the
message back to the model.

Exemplars come from the ``train`` and ``select`` splits only: the ``test`` split is
held out for the reported scores and no tool can read it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
from mechanic import store
from mechanic.tools import MechanicError, Subject, parse_feature

from ..toolschema import MAX_ITEMS, ToolError, tool_schema, validate_arguments

__all__ = ["Instruments", "Observation", "ToolCall", "tool", "fires_threshold"]


@dataclass
class Observation:
    """What one tool call gave: ``result`` (JSON-able, stored) and ``summary`` (shown)."""

    result: Any
    summary: str


@dataclass
class ToolCall:
    """One executed call: arguments as sent, the observation or the error, seconds taken."""

    tool: str
    arguments: dict
    observation: Observation | None
    error: str | None
    elapsed: float

    @property
    def summary(self) -> str:
        return self.observation.summary if self.observation else f"error: {self.error}"


_TEXT_ARGUMENTS = ("texts", "text", "activating", "near_miss", "positive", "negative")
_ELLIPSIS = re.compile(r"\s*(?:\.{2,}|…)[\s.…]*")  # "..." copied from a reply template; "))" or "!!" are real test texts


def tool(fn: Callable) -> Callable:
    """Mark a method of :class:`Instruments` as a tool the LLM may call."""
    fn.is_tool = True
    return fn


def fires_threshold(stats: dict) -> float:
    """Activation above which a feature counts as firing: a quarter of its largest
    value over the corpus sample (a small positive floor for dead features)."""
    return max(0.25 * float(stats.get("max") or 0.0), 1e-6)


def _short(token: str) -> str:
    return token.replace("\n", "⏎").replace("\t", "⇥")


def _peak_text(tokens: list[str], acts: np.ndarray, threshold: float, width: int = 12) -> str:
    """The text around its peak with firing tokens written [[token]]."""
    if not len(tokens):
        return ""
    peak = int(np.argmax(acts))
    lo, hi = max(0, peak - width + 3), min(len(tokens), peak + 3)
    return "".join(f"[[{_short(t)}]]" if a >= threshold else _short(t)
                   for t, a in zip(tokens[lo:hi], acts[lo:hi])).strip()


class Instruments:
    """Tools over one subject model (and, when investigating, one stored feature).

    ``feature_row`` is the stored feature under investigation (``store.get_feature``);
    tools default to it when no feature is named. ``embedder`` is built on first use
    (semantic search)."""

    def __init__(self, subject: Subject, db=None, feature_row: dict | None = None,
                 embedder: Callable[[], Any] | None = None):
        self.subject = subject
        self.db = db
        self.row = feature_row
        self._embedder_factory = embedder
        self._embedder = None
        self.threshold = fires_threshold(feature_row["stats"] if feature_row and "stats" in feature_row
                                         else (feature_row or {}))

    # ------------------------------------------------------------- plumbing
    @classmethod
    def tool_names(cls) -> list[str]:
        return [name for name, fn in vars(cls).items() if getattr(fn, "is_tool", False)]

    def schemas(self, names: list[str] | None = None) -> list[dict]:
        """The JSON schemas of the tools named (default: all), in that order."""
        return [tool_schema(getattr(type(self), n)) for n in (names or self.tool_names())]

    def call(self, name: str, arguments: Any) -> ToolCall:
        """Validate and run one call. Bad arguments (and errors the instruments report
        for bad input) come back as ``error``; anything else is a bug and raises."""
        start = time.perf_counter()
        args = arguments if isinstance(arguments, dict) else {}
        if name not in self.tool_names():
            return ToolCall(name, args, None, f"unknown tool {name!r}; tools: {', '.join(self.tool_names())}",
                            time.perf_counter() - start)
        fn = getattr(self, name)
        try:
            clean = validate_arguments(getattr(type(self), name), arguments)
            observation = fn(**clean)
        except MechanicError as exc:  # ToolError, FeatureIdError, ...: the request was wrong
            return ToolCall(name, args, None, str(exc), time.perf_counter() - start)
        return ToolCall(name, clean, observation, None, time.perf_counter() - start)

    def _feature(self, feature: str) -> str:
        if not feature:
            if self.row is None:
                raise ToolError("name a feature, e.g. mlp:3:17")
            return self.row["feature"]
        fid = parse_feature(feature)
        self.subject.site(fid)  # range checks: FeatureIdError names the valid range
        return str(fid)

    def check_texts(self, tool: str, arguments: dict) -> None:
        """Refuse, before anything runs, the text arguments of a call that
        :meth:`_texts` would refuse (so a driver can ask for a repair)."""
        least = 2 if tool == "test_hypothesis" else 1
        for name, value in arguments.items():
            if name in _TEXT_ARGUMENTS:
                self._texts(value if isinstance(value, list) else [value], name, least if name != "text" else 1)

    def _texts(self, texts: list[str], what: str = "texts", least: int = 1) -> list[str]:
        """The non-empty texts, each once. A text that is only a tool's or an
        argument's name, or only dots ("..."), is a placeholder, not an
        example, and is refused: an experiment on it would test nothing."""
        out, seen = [], set()
        for t in texts:
            key = t.strip().lower() if isinstance(t, str) else ""
            if key and key not in seen:
                seen.add(key)
                out.append(t)
        if not out:
            raise ToolError(f"{what} is empty; give 1-{MAX_ITEMS} short texts")
        names = {*self.tool_names(), what}
        placeholder = next((t for t in out if t.strip() in names or _ELLIPSIS.fullmatch(t)), None)
        if placeholder is not None:
            raise ToolError(f"{what} holds {placeholder.strip()!r}, a placeholder rather than an example; "
                            f"write the example sentences themselves")
        if len(out) < least:
            raise ToolError(f"{what} needs {least}-{MAX_ITEMS} different texts, got {len(out)}")
        return out

    def _stored_row(self, feature: str) -> dict:
        if self.row is not None and feature == self.row["feature"]:
            return self.row
        row = store.get_feature(self.db, self.subject.name, feature) if self.db is not None else None
        if row is None:
            raise ToolError(f"{feature} has no stored statistics; only features captured with `mechanic cache` do")
        return row

    def _layer(self, layer: int) -> int:
        if not 0 <= layer < self.subject.n_layers:
            raise ToolError(f"layer must be 0-{self.subject.n_layers - 1}, not {layer}")
        return layer

    def _threshold(self, feature: str) -> float:
        """The firing threshold of ``feature``: from its stored statistics, else a
        quarter of the largest activation measured (see :func:`fires_threshold`)."""
        if self.row is not None and feature == self.row["feature"]:
            return self.threshold
        try:
            return fires_threshold(self._stored_row(feature))
        except ToolError:
            return float("nan")  # unknown: the caller decides from the measurements

    def _max_acts(self, texts: list[str], feature: str) -> tuple[list[tuple[float, str]], float]:
        from mechanic.tools import activations

        runs = [(r, np.asarray(r.activations[feature], dtype=np.float32))
                for r in activations(self.subject, texts, [feature])]
        threshold = self._threshold(feature)
        if threshold != threshold:  # no statistics: relative to the largest value seen here
            threshold = fires_threshold({"max": max((float(a.max()) for _, a in runs if len(a)), default=0.0)})
        out = [(float(a.max()) if len(a) else 0.0, _peak_text(r.tokens, a, threshold)) for r, a in runs]
        return out, threshold

    # ---------------------------------------------------------------- tools
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
        lines = [f"{feature} (fires at >= {threshold:.3g}):"]
        lines += [f"- max {m:.3g} {'FIRES' if m >= threshold else 'quiet'}: {p}" for m, p in measured]
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
        if not 1 <= n <= MAX_ITEMS:
            raise ToolError(f"n must be 1-{MAX_ITEMS}, not {n}")
        rows = store.get_exemplars(self.db, self.row["id"], kind=kind, split=split)[:n]
        items = []
        for e in rows:
            tokens = self.subject.token_strings(e.tokens)
            acts = np.asarray(e.activations, dtype=np.float32)
            shown = -acts if kind == "bottom" else acts
            items.append({"window": e.window_idx, "max": round(float(e.max_act), 4),
                          "excerpt": _peak_text(tokens, shown, self.threshold if kind != "bottom" else
                                                0.25 * max(float(-np.min(acts)), 1e-6))})
        summary = [f"{kind} {split} excerpts of {self.row['feature']} (firing tokens in [[ ]]):"]
        summary += [f"- {i['max']:.3g}: {i['excerpt']}" for i in items] or ["- none stored"]
        return Observation({"split": split, "kind": kind, "items": items}, "\n".join(summary))

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
        if q:
            text += "; quantiles " + ", ".join(f"p{float(k) * 100:g}={v:.3g}" for k, v in list(q.items())[-3:])
        return Observation({"feature": feature, **stats, "quantiles": q}, text)

    @tool
    def output_tokens(self, feature: str = "") -> Observation:
        """The next tokens a feature's output directly promotes and suppresses (through the unembedding).

        Args:
            feature: a feature id; empty means the feature under study.
        """
        from mechanic.tools import output_tokens as direct

        feature = self._feature(feature)
        out = direct(self.subject, feature, k=8)
        if out.get("reason"):
            return Observation(out, f"{feature}: {out['reason']}")
        promoted = ", ".join(repr(_short(t)) for t, _ in out["promoted"])
        suppressed = ", ".join(repr(_short(t)) for t, _ in out["suppressed"])
        return Observation(out, f"{feature} promotes {promoted}; suppresses {suppressed}")

    def _effect_summary(self, what: str, eff) -> str:
        up = ", ".join(f"{_short(t)!r}" for t, _ in eff.top_increased[:5]) or "none"
        down = ", ".join(f"{_short(t)!r}" for t, _ in eff.top_decreased[:5]) or "none"
        return f"{what}: KL {eff.kl:.3g}; next tokens up: {up}; down: {down}"

    @tool
    def ablate(self, texts: list[str], feature: str = "") -> Observation:
        """Set the feature to zero on texts and report which next tokens become more and less likely.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            feature: a feature id; empty means the feature under study.
        """
        from mechanic.tools import ablate as do_ablate

        feature = self._feature(feature)
        eff = do_ablate(self.subject, feature, self._texts(texts), method="zero", k=8)
        return Observation(eff.to_dict(), self._effect_summary(f"zeroing {feature}", eff))

    @tool
    def ablate_site(self, text: str, layer: int, site: Literal["mlp", "attn"], watch: str = "") -> Observation:
        """Zero a whole layer's MLP or attention output on a text and report how the next-token distribution changes.

        Args:
            text: a prompt; the effect is read at its last token.
            layer: the layer.
            site: mlp or attn.
            watch: a next token whose probability change to report (optional).
        """
        import torch
        from mechanic.tools import effect
        from mechanic.tools.interventions import ablation_edits, intervened_logits

        self._layer(layer)
        text = self._texts([text], "text")[0]
        edits = ablation_edits(self.subject, f"{site}:{layer}", [text], "zero")
        eff = effect(self.subject, [text], edits, k=8)
        watched = None
        ids = self.subject.tokenizer(watch, add_special_tokens=False)["input_ids"] if watch else []
        if ids:  # a multi-token word is watched by its first token
            inputs = self.subject.tokenize([text])
            with torch.no_grad():
                clean = self.subject.model(**inputs).logits[0, -1].float().softmax(-1)
                edited = intervened_logits(self.subject, inputs, edits)[0, -1].float().softmax(-1)
            watched = float(edited[ids[0]] - clean[ids[0]])
        result = {"site": f"{site}:{layer}", **eff.to_dict(), "watch": watch or None, "watch_change": watched}
        extra = f"; p({watch!r}) changes by {watched:+.3g}" if watched is not None else ""
        return Observation(result, self._effect_summary(f"zeroing {site}:{layer}", eff) + extra)

    @tool
    def steer(self, texts: list[str], scale: float = 1.0, feature: str = "") -> Observation:
        """Add scale times the feature's largest observed activation to it at every
        token and report which next tokens move.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            scale: how much to add, in units of the feature's max activation (raw units
                when it has no stored statistics; negative lowers it).
            feature: a feature id; empty means the feature under study.
        """
        from mechanic.tools import steer as do_steer

        feature = self._feature(feature)
        if not -20 <= scale <= 20:
            raise ToolError(f"scale must be between -20 and 20, not {scale}")
        try:
            peak = float(self._stored_row(feature)["max"])
        except ToolError:  # no stored statistics: scale is in raw activation units
            peak = 1.0
        eff = do_steer(self.subject, feature, self._texts(texts), add=scale * max(peak, 1e-3), k=8)
        return Observation(eff.to_dict(), self._effect_summary(f"adding {scale:g}x max to {feature}", eff))

    @tool
    def probe(self, positive: list[str], negative: list[str], layer: int) -> Observation:
        """Train a linear probe on the residual stream of one layer to tell positive from negative texts.

        Args:
            positive: 3-6 texts that have the property.
            negative: 3-6 texts that do not.
            layer: the layer whose output is read.
        """
        from mechanic.tools import fit_probe, probe_sweep, top_probe_features

        positive, negative = self._texts(positive, "positive"), self._texts(negative, "negative")
        if min(len(positive), len(negative)) < 3:
            raise ToolError("give at least 3 positive and 3 negative texts")
        self._layer(layer)
        texts, labels = positive + negative, [1] * len(positive) + [0] * len(negative)
        (result,) = probe_sweep(self.subject, texts, labels, [layer], site="resid")
        from mechanic.tools import collect_activations

        mlp = collect_activations(self.subject, texts, [layer], site="mlp")[layer]
        neurons = top_probe_features(fit_probe(mlp, labels), site="mlp", layer=layer, k=5)
        out = {**result.to_dict(), "top_mlp_neurons": neurons}
        names = ", ".join(f for f, _ in neurons)
        return Observation(out, f"layer {layer} probe: held-out accuracy {result.test_accuracy:.2f} "
                                f"(train {result.train_accuracy:.2f}); most separating neurons {names}")

    @tool
    def compare(self, other: str, texts: list[str], feature: str = "") -> Observation:
        """Compare two features token by token on texts: correlation of their activations.

        Args:
            other: the feature id to compare with.
            texts: 1-6 texts to measure both on.
            feature: a feature id; empty means the feature under study.
        """
        from mechanic.tools import activations

        a, b = self._feature(feature), self._feature(other)
        runs = activations(self.subject, self._texts(texts), [a, b])
        xa = np.concatenate([np.asarray(r.activations[a], dtype=np.float64) for r in runs])
        xb = np.concatenate([np.asarray(r.activations[b], dtype=np.float64) for r in runs])
        corr = None if xa.std() == 0 or xb.std() == 0 else float(np.corrcoef(xa, xb)[0, 1])
        shown = "undefined (one is constant)" if corr is None else f"{corr:.3f}"
        return Observation({"feature": a, "other": b, "pearson": corr, "n_tokens": len(xa)},
                           f"{a} vs {b} over {len(xa)} tokens: correlation {shown}")

    @tool
    def search_explanations(self, query: str, n: int = 5) -> Observation:
        """Find stored features whose explanations mean something close to the query.

        Args:
            query: what the features should be about, e.g. "month names".
            n: how many, 1-6.
        """
        if self.db is None:
            raise ToolError("no database is open, so nothing is stored to search")
        if not query.strip():
            raise ToolError("query is empty")
        if not 1 <= n <= MAX_ITEMS:
            raise ToolError(f"n must be 1-{MAX_ITEMS}, not {n}")
        rows = list(self.db.query(
            "SELECT e.id, e.text, f.feature FROM explanations e JOIN features f ON f.id = e.feature_id "
            "JOIN models m ON m.id = f.model_id WHERE e.status = 'ok' AND e.role = 'explanation' AND m.name = ?",
            [self.subject.name]))
        if not rows:
            return Observation({"query": query, "matches": []}, "no stored explanations to search")
        embed = self._get_embedder()
        vectors = embed.encode([query] + [r["text"] for r in rows])
        sims = vectors[1:] @ vectors[0]
        order = np.argsort(-sims)
        best, seen = [], set()
        for i in order:
            r = rows[int(i)]
            if r["feature"] in seen:
                continue
            seen.add(r["feature"])
            best.append({"feature": r["feature"], "explanation": r["text"], "similarity": round(float(sims[i]), 4),
                         "explanation_id": r["id"]})
            if len(best) == n:
                break
        lines = [f"- {m['feature']} ({m['similarity']:.2f}): {m['explanation']}" for m in best]
        return Observation({"query": query, "matches": best}, "closest stored explanations:\n" + "\n".join(lines))

    @tool
    def search_by_activation(self, text: str, layer: int, n: int = 5) -> Observation:
        """Find the MLP neurons of a layer that fire most on a text.

        Args:
            text: a short text.
            layer: the layer to search.
            n: how many neurons, 1-6.
        """
        from mechanic.tools import collect_token_activations

        self._layer(layer)
        if not text.strip():
            raise ToolError("text is empty")
        if not 1 <= n <= MAX_ITEMS:
            raise ToolError(f"n must be 1-{MAX_ITEMS}, not {n}")
        acts, _ = collect_token_activations(self.subject, [text], [layer], site="mlp")
        peak = acts[layer].max(axis=0)
        order = np.argsort(-peak)[:n]
        found = [{"feature": f"mlp:{layer}:{int(i)}", "max": round(float(peak[i]), 4)} for i in order]
        if self.db is not None:
            for item in found:
                item["explanation"] = _stored_explanation(self.db, self.subject.name, item["feature"])
        lines = [f"- {f['feature']} max {f['max']:.3g}" + (f": {f['explanation']}" if f.get("explanation") else "")
                 for f in found]
        return Observation({"text": text, "layer": layer, "neurons": found},
                           f"neurons of layer {layer} firing most on the text:\n" + "\n".join(lines))

    # ------------------------------------------------- hypothesis experiments
    @tool
    def test_hypothesis(self, hypothesis: int, activating: list[str], near_miss: list[str]) -> Observation:
        """Test a hypothesis: texts it says should make the feature fire, and near-miss texts it says should not.

        Args:
            hypothesis: the hypothesis number.
            activating: 2-6 texts the hypothesis says the feature fires on.
            near_miss: 2-6 similar texts it says the feature stays quiet on.
        """
        activating, near_miss = self._texts(activating, "activating", 2), self._texts(near_miss, "near_miss", 2)
        feature = self._feature("")
        (on, _), (off, _) = self._max_acts(activating, feature), self._max_acts(near_miss, feature)
        hits = sum(m >= self.threshold for m, _ in on)
        false = sum(m >= self.threshold for m, _ in off)
        result = {"hypothesis": hypothesis, "threshold": self.threshold,
                  "activating": [{"text": t, "max": round(m, 4)} for t, (m, _) in zip(activating, on)],
                  "near_miss": [{"text": t, "max": round(m, 4)} for t, (m, _) in zip(near_miss, off)],
                  "fired_activating": hits, "fired_near_miss": false}
        lines = [f"hypothesis {hypothesis}: fired on {hits}/{len(on)} activating, {false}/{len(off)} near-miss texts"]
        lines += [f"- should fire, max {m:.3g}: {p}" for m, p in on[:4]]
        lines += [f"- should not, max {m:.3g}: {p}" for m, p in off[:4]]
        return Observation(result, "\n".join(lines))

    @tool
    def test_intervention(self, hypothesis: int, text: str, action: Literal["ablate", "steer"],
                          expect_up: list[str]) -> Observation:
        """Test what a hypothesis predicts about the feature's effect: ablate or steer it
        on a text and compare the next tokens that rise with those you expect.

        Args:
            hypothesis: the hypothesis number.
            text: a text on which the feature should matter.
            action: ablate (set it to zero) or steer (add twice its max).
            expect_up: 1-6 tokens you expect to become more likely (after ablation:
                tokens the feature was holding down).
        """
        from mechanic.tools import ablate as do_ablate
        from mechanic.tools import steer as do_steer

        feature = self._feature("")
        text = self._texts([text], "text")[0]
        expected = [t.strip().lower() for t in expect_up if t.strip()]
        if not expected:
            raise ToolError("expect_up is empty; name the tokens you expect to rise")
        if action == "ablate":
            eff = do_ablate(self.subject, feature, [text], method="zero", k=10)
        else:
            eff = do_steer(self.subject, feature, [text], add=2.0 * max(float(self.row["max"]), 1e-3), k=10)
        risen = [t.strip().lower() for t, _ in eff.top_increased]
        matched = sorted({e for e in expected if e in risen})
        agreement = len(matched) / len(expected)
        result = {"hypothesis": hypothesis, "action": action, "expected_up": expected, "matched": matched,
                  "agreement": agreement, "effect": eff.to_dict()}
        return Observation(result, self._effect_summary(f"hypothesis {hypothesis}, {action}", eff)
                           + f"; expected tokens that rose: {len(matched)}/{len(expected)}")

    # --------------------------------------------------------------- helpers
    def _get_embedder(self):
        if self._embedder is None:
            if self._embedder_factory is not None:
                self._embedder = self._embedder_factory()
            else:
                from mechanic.evals.embedding import Embedder

                self._embedder = Embedder()
        return self._embedder


def _stored_explanation(db, model_name: str, feature: str) -> str | None:
    row = db.execute(
        "SELECT e.text FROM explanations e JOIN features f ON f.id = e.feature_id JOIN models m ON m.id = f.model_id "
        "WHERE m.name = ? AND f.feature = ? AND e.status = 'ok' AND e.role = 'explanation' ORDER BY e.id DESC LIMIT 1",
        [model_name, feature]).fetchone()
    return row[0] if row else None
