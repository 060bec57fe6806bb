"""Tools that change the model and watch what follows: zero a feature or a whole
layer's MLP or attention output, add to a feature, or train a linear probe to find
where a property is written."""

from __future__ import annotations

from typing import Literal

import torch
from mechanic.tools import ablate as ablate_feature
from mechanic.tools import (
    ablation_edits,
    collect_activations,
    effect,
    fit_probe,
    intervened_logits,
    probe_sweep,
    top_probe_features,
)
from mechanic.tools import steer as steer_feature

from ..toolschema import ToolError
from .base import Observation, ToolBase, effect_summary, tool

__all__ = ["CausalTools"]


class CausalTools(ToolBase):
    """Interventions on the subject model, and probes of its residual stream."""

    @tool
    def ablate(self, texts: list[str], feature: str = "") -> Observation:
        """Set the feature to zero on texts and report which next tokens become more and less likely.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            feature: a feature id; empty means the feature under study.
        """
        feature = self._feature(feature)
        eff = ablate_feature(self.subject, feature, self._texts(texts), method="zero", k=8)
        return Observation(eff.to_dict(), effect_summary(f"zeroing {feature}", eff))

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
    def steer(self, texts: list[str], scale: float = 1.0, feature: str = "") -> Observation:
        """Add scale times the feature's largest observed activation to it at every
        token and report which next tokens move.

        Args:
            texts: 1-6 short texts; the effect is read at each text's last token.
            scale: how much to add, in units of the feature's max activation (raw units
                when it has no stored statistics; negative lowers it).
            feature: a feature id; empty means the feature under study.
        """
        feature = self._feature(feature)
        if not -20 <= scale <= 20:
            raise ToolError(f"scale must be between -20 and 20, not {scale}")
        try:
            peak = float(self._stored_row(feature)["max"])
        except ToolError:  # no stored statistics: scale is in raw activation units
            peak = 1.0
        eff = steer_feature(self.subject, feature, self._texts(texts), add=scale * max(peak, 1e-3), k=8)
        return Observation(eff.to_dict(), effect_summary(f"adding {scale:g}x max to {feature}", eff))

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
