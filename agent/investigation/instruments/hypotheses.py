"""Tools that test one of the agent's hypotheses: does the feature fire on the texts
the hypothesis picks out and stay quiet on near misses, and does ablating or
steering it move the next tokens the hypothesis says it should. Their results are
what :func:`~..verdicts.verdict` judges."""

from __future__ import annotations

from typing import Literal

from mechanic.tools import ablate as ablate_feature
from mechanic.tools import steer as steer_feature

from ..toolschema import ToolError
from .base import Observation, ToolBase, effect_summary, tool

__all__ = ["HypothesisTools"]


class HypothesisTools(ToolBase):
    """Experiments on the feature under study, each tied to a numbered hypothesis."""

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
        lines = [f"hypothesis {hypothesis}: fired on {hits}/{len(on)} activating, {false}/{len(off)} near-miss texts "
                 f"({self._rule(feature, self.threshold)})"]
        lines += [f"- should fire, {p}" for m, p in on]
        lines += [f"- should not, {p}" for m, p in off]
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
