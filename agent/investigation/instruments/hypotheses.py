"""Tools that test one of the agent's hypotheses: does the feature fire on the texts
the hypothesis picks out and stay quiet on near misses, and does ablating or
steering it move the next tokens the hypothesis says it should. Their results are
what :func:`~..verdicts.verdict` judges."""

from __future__ import annotations

from typing import Literal

import numpy as np
from mechanic.tools import ablate as ablate_feature
from mechanic.tools import steer as steer_feature

from ..toolschema import ToolError
from .base import Observation, ToolBase, effect_summary, peak_text, peak_token, short_token, target_tokens, tool

__all__ = ["HypothesisTools"]


class HypothesisTools(ToolBase):
    """Experiments on the feature under study, each tied to a numbered hypothesis."""

    @tool
    def test_hypothesis(self, hypothesis: int, activating: list[str], near_miss: list[str],
                        target: str = "", edge_case: list[str] = [],  # noqa: B006
                        adversarial: list[str] = []) -> Observation:  # noqa: B006
        """Test a hypothesis: texts it says should make the feature fire, and near-miss texts it says should not.

        Args:
            hypothesis: the hypothesis number.
            activating: 2-6 texts the hypothesis says the feature fires on (positive probes).
            near_miss: 2-6 similar texts it says the feature stays quiet on (negative probes).
            edge_case: optional texts at the edge of what it describes (rare forms, odd contexts) on which
                it says the feature still fires.
            adversarial: optional texts built to fool it (the surface of the activating texts without
                what it says matters) on which it says the feature stays quiet.
            target: optional token or substring the hypothesis is about (e.g. "the"); each text is then
                scored on the tokens that overlap it (any case), not on its largest value anywhere, and
                every token's activation is reported. A text without it is scored on all its tokens.
        """
        activating, near_miss = self._texts(activating, "activating", 2), self._texts(near_miss, "near_miss", 2)
        feature = self._feature("")
        target = target.strip("\n") if target.strip() else ""
        edge = self._scored(self._texts(edge_case, "edge_case"), feature, target) if edge_case else []
        tricks = self._scored(self._texts(adversarial, "adversarial"), feature, target) if adversarial else []
        on, off = self._scored(activating, feature, target), self._scored(near_miss, feature, target)
        hits = sum(x["max"] >= self.threshold for x in on)
        false = sum(x["max"] >= self.threshold for x in off)
        typed = {kind: {"right": sum((x["max"] >= self.threshold) == fires for x in items), "n": len(items)}
                 for kind, items, fires in (("positive", on, True), ("negative", off, False),
                                            ("edge_case", edge, True), ("adversarial", tricks, False)) if items}
        result = {"hypothesis": hypothesis, "threshold": self.threshold, "target": target or None,
                  "activating": on, "near_miss": off, "edge_case": edge, "adversarial": tricks,
                  "fired_activating": hits, "fired_near_miss": false, "accuracy_by_type": typed}
        scored = f" on the target {target!r}" if target else ""
        lines = [f"hypothesis {hypothesis}: fired{scored} on {hits}/{len(on)} activating, {false}/{len(off)} "
                 f"near-miss texts ({self._rule(feature, self.threshold)})"]
        lines.append("accuracy by probe type: " + ", ".join(f"{k.replace('_', '-')} {v['right']}/{v['n']}"
                                                            for k, v in typed.items()))
        for label, items in (("should fire", on), ("should not", off), ("edge case, should fire", edge),
                             ("adversarial, should not", tricks)):
            for x in items:
                lines.append(f"- {label}, {x['shown']}")
                if target:
                    lines.append("  per token: " + ", ".join(f"{short_token(t)!r} {a:.3g}" for t, a in x["tokens"]))
        for x in on + off + edge + tricks:
            del x["shown"]
        return Observation(result, "\n".join(lines))

    def _scored(self, texts: list[str], feature: str, target: str) -> list[dict]:
        """Each text measured: ``max`` is the value scored (over the target's tokens when
        a target is named and found, else over all tokens), ``text_max`` the largest
        anywhere, ``tokens`` every token with its activation."""
        out = []
        for run in self._measure(texts, [feature]):
            acts = np.asarray(run.activations[feature], dtype=np.float32)
            span = target_tokens(run.tokens, target) if target else []
            value = float(acts[span].max()) if span else (float(acts.max()) if len(acts) else 0.0)
            where = ""
            if target:
                where = (f"target {target!r} {value:.3g}, " if span else f"target {target!r} not in the text "
                         f"(all tokens scored), ")
            out.append({"text": run.text, "max": round(value, 4), "text_max": round(float(acts.max()), 4),
                        "target_tokens": span,
                        "tokens": [[t, round(float(a), 4)] for t, a in zip(run.tokens, acts)],
                        "shown": f"{where}peak {peak_token(run.tokens, acts)}: "
                                 f"{peak_text(run.tokens, acts, self.threshold)}"})
        return out

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
        feature = self._feature("")
        text = self._texts([text], "text")[0]
        expected = [t.strip().lower() for t in expect_up if t.strip()]
        if not expected:
            raise ToolError("expect_up is empty; name the tokens you expect to rise")
        if action == "ablate":
            eff = ablate_feature(self.subject, feature, [text], method="zero", k=10)
        else:
            eff = steer_feature(self.subject, feature, [text], add=2.0 * max(float(self.row["max"]), 1e-3), k=10)
        risen = [t.strip().lower() for t, _ in eff.top_increased]
        matched = sorted({e for e in expected if e in risen})
        agreement = len(matched) / len(expected)
        result = {"hypothesis": hypothesis, "action": action, "expected_up": expected, "matched": matched,
                  "agreement": agreement, "effect": eff.to_dict()}
        return Observation(result, effect_summary(f"hypothesis {hypothesis}, {action}", eff)
                           + f"; expected tokens that rose: {len(matched)}/{len(expected)}")
