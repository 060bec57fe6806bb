"""Tools that change the model and watch what follows: zero a feature or a whole
layer's MLP or attention output, add to a feature, or train a linear probe to find
where a property is written."""

from __future__ import annotations

from typing import Literal

import torch
from mechanic.tools import (
    ablation_edits,
    collect_activations,
    effect,
    fit_probe,
    intervened_logits,
    probe_sweep,
    steer_edits,
    top_probe_features,
)

from ..toolschema import ToolError
from .base import Observation, ToolBase, effect_summary, short_token, tool

__all__ = ["CausalTools"]


class CausalTools(ToolBase):
    """Interventions on the subject model, and probes of its residual stream."""

    @tool
    def ablate(self, texts: list[str], feature: str = "", watch: list[str] = []) -> Observation:  # noqa: B006
        """Set the feature to zero on texts and report which next tokens become more and less likely.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            feature: a feature id; empty means the feature under study.
            watch: optional next tokens (e.g. " the") whose probability change to report.
        """
        feature = self._feature(feature)
        texts = self._texts(texts)
        edits = ablation_edits(self.subject, feature, texts, "zero")
        eff = effect(self.subject, texts, edits, k=8)
        changes = self._watched(texts, edits, watch)
        return Observation({**eff.to_dict(), "watched": changes},
                           effect_summary(f"zeroing {feature}", eff) + _watched_text(changes))

    @tool
    def ablate_site(self, text: str, layer: int, site: Literal["mlp", "attn"], watch: str = "") -> Observation:
        """Zero a whole layer's MLP or attention output on a text and report how the next-token distribution changes.

        Args:
            text: a prompt; the effect is read at its last token.
            layer: the layer.
            site: mlp or attn.
            watch: a next token whose probability change to report (optional).
        """
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
        return Observation(result, effect_summary(f"zeroing {site}:{layer}", eff) + extra)

    @tool
    def steer(self, texts: list[str], scale: float = 1.0, feature: str = "",
              watch: list[str] = []) -> Observation:  # noqa: B006
        """Add scale times the feature's largest observed activation to it at every
        token and report which next tokens move.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            scale: how much to add, in units of the feature's max activation (raw units
                when it has no stored statistics; negative lowers it).
            feature: a feature id; empty means the feature under study.
            watch: optional next tokens (e.g. " the") whose probability change to report.
        """
        feature = self._feature(feature)
        if not -20 <= scale <= 20:
            raise ToolError(f"scale must be between -20 and 20, not {scale}")
        try:
            peak = float(self._stored_row(feature)["max"])
        except ToolError:  # no stored statistics: scale is in raw activation units
            peak = 1.0
        texts = self._texts(texts)
        edits = steer_edits(self.subject, feature, add=scale * max(peak, 1e-3))
        eff = effect(self.subject, texts, edits, k=8)
        changes = self._watched(texts, edits, watch)
        return Observation({**eff.to_dict(), "watched": changes},
                           effect_summary(f"adding {scale:g}x max to {feature}", eff) + _watched_text(changes))

    def _watched(self, texts: list[str], edits, watch: list[str]) -> list[dict]:
        """For each watched token: its next-token probability at each text's last token,
        clean and intervened, averaged over the texts (a word of several tokens is
        watched by its first)."""
        out = []
        ids = [(w, self.subject.tokenizer(w, add_special_tokens=False)["input_ids"]) for w in watch if w]
        ids = [(w, i[0]) for w, i in ids if i]
        if not ids:
            return out
        inputs = self.subject.tokenize(texts)
        last = inputs["attention_mask"].sum(dim=1) - 1
        rows = torch.arange(len(texts), device=last.device)
        with torch.no_grad():
            clean = self.subject.model(**inputs).logits[rows, last].float().softmax(-1)
            edited = intervened_logits(self.subject, inputs, edits)[rows, last].float().softmax(-1)
        for word, tid in ids:
            before, after = float(clean[:, tid].mean()), float(edited[:, tid].mean())
            out.append({"token": word, "first_token": self.subject.token_strings([tid])[0],
                        "p_clean": round(before, 6), "p_intervened": round(after, 6),
                        "change": round(after - before, 6)})
        return out

    @tool
    def probe(self, positive: list[str], negative: list[str], layer: int) -> Observation:
        """Train a linear probe on the residual stream of one layer to tell positive from negative texts.

        Args:
            positive: 3-6 texts that have the property.
            negative: 3-6 texts that do not.
            layer: the layer whose output is read.
        """
        positive, negative = self._texts(positive, "positive"), self._texts(negative, "negative")
        if min(len(positive), len(negative)) < 3:
            raise ToolError("give at least 3 positive and 3 negative texts")
        self._layer(layer)
        texts, labels = positive + negative, [1] * len(positive) + [0] * len(negative)
        (result,) = probe_sweep(self.subject, texts, labels, [layer], site="resid")
        mlp = collect_activations(self.subject, texts, [layer], site="mlp")[layer]
        neurons = top_probe_features(fit_probe(mlp, labels), site="mlp", layer=layer, k=5)
        out = {**result.to_dict(), "top_mlp_neurons": neurons}
        names = ", ".join(f for f, _ in neurons)
        return Observation(out, f"layer {layer} probe: held-out accuracy {result.test_accuracy:.2f} "
                                f"(train {result.train_accuracy:.2f}); most separating neurons {names}")


def _watched_text(changes: list[dict]) -> str:
    """The watched tokens' probability changes, as the summary shows them."""
    if not changes:
        return ""
    return "; watched: " + ", ".join(f"p({short_token(c['token'])!r}) {c['p_clean']:.3g} -> {c['p_intervened']:.3g} "
                                    f"({c['change']:+.3g})" for c in changes)
