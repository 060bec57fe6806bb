"""The ``poly`` suite: polysemantic features whose modes are known.

Real neurons respond to several unrelated things. Each feature here is the union of
two or three ``rules`` features (:mod:`.rules`), each mode at its own strength
(1.0, 0.6 and, for every third feature, a third at 0.35): its activation at a token
is the largest of its modes'. The truth is the list of modes; an explanation is
credited with each mode it covers (mode recall, judged per mode against that mode's
two decoys), so an explainer that names only the strongest mode gets a third or a half.

The pairs are fixed by position in the rule lists (a token-level rule with the one 13
places on; a third mode from the rules that fire on the token after a given word), not
chosen by how any explainer does on them.

``POLY_DEV`` pairs the same rules differently (a rule with the one 5 places on, the
third mode from the rules about regions and line positions): the set to develop an
explainer's handling of several modes on, so that ``POLY`` stays held out for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .rules import RULES, Rule

__all__ = ["POLY", "POLY_DEV", "PolyRule", "STRENGTHS"]

STRENGTHS = (1.0, 0.6, 0.35)
_THIRD = ("after_the", "after_return", "after_import", "after_negation", "class_names")
_THIRD_DEV = ("inside_string_literal", "line_start", "inside_parentheses", "after_comma", "attribute_after_dot")


@dataclass(frozen=True)
class PolyRule:
    """A feature with several modes: ``modes[i]`` fires at ``strengths[i]`` of its level."""

    name: str
    modes: tuple[Rule, ...]
    strengths: tuple[float, ...]
    family: str = "poly"

    @property
    def description(self) -> str:
        return "; also ".join(m.description for m in self.modes)

    @property
    def decoys(self) -> tuple[str, str]:
        return tuple("; also ".join(m.decoys[i] for m in self.modes) for i in range(2))

    def activations(self, tokens: Sequence[str]) -> np.ndarray:
        levels = [s * m.activations(tokens) for m, s in zip(self.modes, self.strengths)]
        return np.max(np.stack(levels), axis=0).astype(np.float32)

    def mode_details(self) -> list[dict]:
        return [{"rule": m.name, "description": m.description, "decoys": list(m.decoys), "strength": s}
                for m, s in zip(self.modes, self.strengths)]


def _poly(offset: int | None, thirds: Sequence[str]) -> tuple[PolyRule, ...]:
    token = [r for r in RULES if r.family == "token-level"]
    third = [r for r in RULES if r.name in thirds]
    out = []
    half = len(token) // 2
    offset = offset or half
    for i in range(half):
        modes = [token[i], token[(i + offset) % len(token)]]
        if i % 3 == 0:
            modes.append(third[(i // 3) % len(third)])
        out.append(PolyRule("poly_" + "__".join(m.name for m in modes), tuple(modes), STRENGTHS[: len(modes)]))
    return tuple(out)


POLY = _poly(None, _THIRD)
POLY_DEV = _poly(5, _THIRD_DEV)
