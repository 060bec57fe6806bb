"""Routing a question to its kind, without resting on an LLM's judgement.

Two deterministic passes decide the kind:

* **patterns** — a feature id or "neuron N in layer L" means ``component``; a quoted
  prompt with a verb of predicting or causing means ``behaviour``; "represent",
  "encode", "store", "linearly decode", "where" mean ``where``; "features / neurons /
  units" with "related to", "fire on", "about" mean ``related``.
* **embedding vote** — the question's all-MiniLM-L6-v2 embedding against the dev
  bank (:mod:`.bank`): the kind whose examples are nearest, and how near.

One pattern kind wins outright; several are settled by the vote among them; none
leaves the vote alone, which must be near enough to a kind's examples and nearer
them than to off-topic questions. Only when the vote is in a grey zone may an LLM
choose between the two nearest kinds. What fits no kind is refused.

The slots (the concept, the component, the prompt and the watched token) come from
the wording; :func:`extract_slots` leaves a slot empty when the wording does not
give it, and the caller may ask an LLM to fill it in under checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .bank import DEV_QUESTIONS, OFF_TOPIC

__all__ = ["ASK_KINDS", "Route", "Router", "degenerate_prompt", "extract_slots", "pattern_kinds", "quoted"]

ASK_KINDS = ("where", "component", "behaviour", "related")

FEATURE = re.compile(r"\b((?:mlp|attn|resid):\d+:\w+|sae:[\w.-]+:\d+)\b")
_NEURON_IN_LAYER = re.compile(r"\bneuron\s+#?(\d+)\s+(?:of|in|at|from)\s+layer\s+(\d+)", re.I)
_LAYER_NEURON = re.compile(r"\blayer\s+(\d+),?\s+neuron\s+#?(\d+)", re.I)
_HEAD_IN_LAYER = re.compile(r"\b(?:attention\s+)?head\s+#?(\d+)\s+(?:of|in|at|from)\s+layer\s+(\d+)", re.I)
_LAYER_HEAD = re.compile(r"\blayer\s+(\d+),?\s+(?:attention\s+)?head\s+#?(\d+)", re.I)
# A quote opens after a non-word character and closes before one, so "model's" is no quote.
_QUOTED = re.compile(r"(?<!\w)(['\"“‘`])(.+?)(?:\1|[”’])(?!\w)")

_WHERE = re.compile(
    r"\b(?:represent\w*|encod\w*|stor(?:e|es|ed|ing)|linearly|decod\w*|readable|read off|keep(?:s)? track|"
    r"kept|know(?:s)? (?:whether|that|if|when|about)|how deep|at what depth|which depth)\b", re.I)
_WHERE_WORD = re.compile(r"^\s*(?:where|in which layer|at which layer|which layers?|at what layer)\b", re.I)
_BEHAVIOUR_VERB = re.compile(
    r"\b(?:predict\w*|complet\w*|continu\w*|follow\w*|output\w*|say|says|produc\w*|lead\w*|caus\w*|make|makes|"
    r"responsible|drive\w*|behind|needed|generat\w*)\b", re.I)
_WHICH_PARTS = re.compile(r"\b(?:which|what) (?:components?|layers?|heads?|parts?|circuits?|neurons?)\b", re.I)
_PREDICTS = re.compile(r"\b(?:predict\w*|complet\w*|caus\w*|output\w*|say|says)\b", re.I)
_UNITS = re.compile(r"\b(?:features?|neurons?|units?|latents?)\b", re.I)
_RELATED = re.compile(
    r"\b(?:relat\w*|about|associat\w*|respond\w*|fire\w*|detect\w*|track\w*|to do with|search|find|list|show|"
    r"any|involved|linked|connected)\b", re.I)


def quoted(question: str) -> list[str]:
    """The quoted strings of a question, in order (their inner spaces kept)."""
    return [m.group(2) for m in _QUOTED.finditer(question)]


def component_id(question: str) -> str | None:
    """The component a question names: ``mlp:3:17``, or "neuron 17 in layer 3"."""
    if m := FEATURE.search(question):
        return m.group(1)
    if m := _NEURON_IN_LAYER.search(question):
        return f"mlp:{m.group(2)}:{m.group(1)}"
    if m := _LAYER_NEURON.search(question):
        return f"mlp:{m.group(1)}:{m.group(2)}"
    if m := _HEAD_IN_LAYER.search(question):
        return f"attn:{m.group(2)}:{m.group(1)}"
    if m := _LAYER_HEAD.search(question):
        return f"attn:{m.group(1)}:{m.group(2)}"
    return None


def pattern_kinds(question: str) -> dict[str, str]:
    """Kinds whose patterns the question matches, each with what matched."""
    found: dict[str, str] = {}
    unquoted = _QUOTED.sub(" ", question)
    if c := component_id(question):
        return {"component": f"names the component {c}"}
    if quoted(question) and (m := _BEHAVIOUR_VERB.search(unquoted) or re.search(r"\bwhy does\b", unquoted, re.I)):
        found["behaviour"] = f"a quoted prompt and {m.group(0)!r}"
    elif (w := _WHICH_PARTS.search(unquoted)) and (m := _PREDICTS.search(unquoted)):
        found["behaviour"] = f"{w.group(0)!r} with {m.group(0)!r} (but no quoted prompt)"
    if m := _WHERE.search(unquoted):
        found["where"] = f"{m.group(0)!r}"
    elif (m := _WHERE_WORD.search(unquoted)) and not found and not _UNITS.search(unquoted):
        found["where"] = f"{m.group(0).strip()!r}"
    if (u := _UNITS.search(unquoted)) and (m := _RELATED.search(unquoted)):
        found["related"] = f"{u.group(0)!r} with {m.group(0)!r}"
    return found


# ------------------------------------------------------------------- slots

_CONCEPT_AFTER = [
    re.compile(r"\b(?:is|are) (.+?) (?:(?:best|most|linearly|first|mostly) )*(?:represented|encoded|stored|kept|"
               r"tracked|readable|decodable)\b", re.I),
    re.compile(r"\bwhere (?:is|are) (.+?) (?:represented|encoded|stored|kept|tracked)\b", re.I),
    re.compile(r"\b(?:represents?|representing|represented|encodes?|encoding|encoded|stores?|storing)\s+(.+)$", re.I),
    re.compile(r"\bkeeps? track of (.+)$", re.I),
    re.compile(r"\bknows? (?:that|whether|if|when|about) (.+)$", re.I),
    re.compile(r"\b(?:decode|decodable|readable|read off)\s+(.+)$", re.I),
    re.compile(r"\b(?:relates?|related|relating|associated|linked|connected) (?:to|with) (.+)$", re.I),
    re.compile(r"\b(?:respond|responds|fire|fires|firing|active) (?:to|on|for) (.+)$", re.I),
    re.compile(r"\b(?:detect|detects|track|tracks|about|to do with|involved (?:in|with)) (.+)$", re.I),
]
_LEAD = re.compile(
    r"^(?:(?:information|info|knowledge) about |(?:the )?(?:notion|concept|idea|property) of |whether |that |if |when |"
    r"(?:a |the |each )?(?:token|word|the current token|the next token|it|we|this) (?:is|are) |"
    r"(?:is|are) |(?:the|a|an) |best |most |the model )+", re.I)
_TRAIL = re.compile(
    r"(?:,? and where|,? and at which layer| in (?:the|its|this) (?:residual stream|model|network|layers?)|"
    r" in the model's \w+| (?:is|are) (?:represented|encoded|stored)| inside the model|[?.!\s])+$", re.I)
_NEWLINE_WORDS = re.compile(r"\b(?:a )?(?:newline|new line|line break)\b", re.I)
_WATCH_FIRST = re.compile(r"\b(?:after|in|for|following|given|on|from)\s*$", re.I)


def concept_phrase(question: str) -> str | None:
    """The concept a where/related question is about ("whether a token is a number" ->
    "number"), or None when the wording does not give one."""
    text = question.strip()
    for rx in _CONCEPT_AFTER:
        if m := rx.search(text):
            if inner := quoted(m.group(1)):  # "the word 'import'" -> "import"
                return inner[0]
            concept = _TRAIL.sub("", _LEAD.sub("", m.group(1).strip())).strip(" '\"")
            concept = _LEAD.sub("", concept).strip()
            if concept and len(concept.split()) <= 8:
                return concept
    return None


def extract_slots(kind: str, question: str) -> dict:
    """What the question's wording gives for its kind; an empty value is missing."""
    if kind == "component":
        return {"feature": component_id(question) or ""}
    if kind in ("where", "related"):
        return {"concept": concept_phrase(question) or ""}
    strings = quoted(question)
    prompt, watch = "", ""
    if len(strings) >= 2:
        first, second = strings[0], strings[1]
        between = question[question.find(first) + len(first):question.find(second, question.find(first) + len(first))]
        between = between.rstrip("'\"“”‘’` ")
        if _WATCH_FIRST.search(between):  # "predict 'Monday' after 'Sunday, '": the second is the prompt
            prompt, watch = second, first
        else:
            prompt, watch = first, second
    elif strings:
        prompt = strings[0]
        if _NEWLINE_WORDS.search(_QUOTED.sub(" ", question)):
            watch = "\n"
    return {"prompt": prompt, "watch": watch}


def degenerate_prompt(prompt: str) -> str | None:
    """Why a prompt is no test of a behaviour (a repetition, too short), or None."""
    text = prompt.strip()
    if len(text) < 3:
        return "it is too short"
    if m := re.fullmatch(r"(.{1,12}?)\1{2,}.{0,12}", text, re.S):
        return f"it repeats {m.group(1)!r}"
    words = text.split()
    if len(words) >= 4 and len(set(words)) <= len(words) // 3:
        return "it repeats the same few words"
    chars = text.replace(" ", "")
    if len(chars) >= 8 and len(set(chars)) <= 3:
        return f"it uses only the characters {''.join(sorted(set(chars)))!r}"
    return None


# ------------------------------------------------------------------ routing


@dataclass
class Route:
    """Where a question goes and why: ``kind`` (None: refused), the ``reason``
    printed to the user, the ``slots`` the wording gives, and the embedding
    similarity to each kind's examples."""

    kind: str | None
    reason: str
    slots: dict = field(default_factory=dict)
    similarity: dict = field(default_factory=dict)
    by: str = "pattern"  # pattern | embedding | llm | none

    def to_dict(self) -> dict:
        return {"kind": self.kind, "reason": self.reason, "slots": self.slots, "similarity": self.similarity,
                "by": self.by}


class Router:
    """Deterministic routing (see the module doc). ``embedder`` is anything with
    ``encode(texts) -> unit vectors``; None routes by patterns alone. ``choose``
    (optional) is asked to pick between the two nearest kinds in the grey zone:
    ``choose(question, [kind_a, kind_b]) -> kind or None``."""

    ACCEPT = 0.50  # the vote alone routes from this similarity up
    GREY = 0.38  # between GREY and ACCEPT, an LLM may choose; below, refuse
    MARGIN = 0.05  # over the nearest off-topic question

    def __init__(self, embedder=None, choose: Callable[[str, list[str]], str | None] | None = None):
        self.embedder = embedder
        self.choose = choose
        self._bank = None

    def _vectors(self):
        if self._bank is None:
            texts = [q for qs in DEV_QUESTIONS.values() for q in qs] + list(OFF_TOPIC)
            labels = [k for k, qs in DEV_QUESTIONS.items() for _ in qs] + ["none"] * len(OFF_TOPIC)
            self._bank = (np.asarray(self.embedder.encode(texts)), np.array(labels))
        return self._bank

    def similarity(self, question: str) -> dict[str, float]:
        """Per kind (and ``none``), the mean of the two highest cosines to its examples."""
        if self.embedder is None:
            return {}
        vectors, labels = self._vectors()
        sims = vectors @ np.asarray(self.embedder.encode([question]))[0]
        out = {}
        for kind in (*ASK_KINDS, "none"):
            top = np.sort(sims[labels == kind])[-2:]
            out[kind] = round(float(top.mean()), 3)
        return out

    def route(self, question: str) -> Route:
        patterns = pattern_kinds(question)
        sims = self.similarity(question)
        shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(sims.items(), key=lambda kv: -kv[1]))
        if len(patterns) == 1:
            kind, why = next(iter(patterns.items()))
            return self._done(kind, f"pattern: {why}" + (f"; nearest examples: {shown}" if sims else ""),
                              question, sims, "pattern")
        if len(patterns) > 1:
            if sims:
                kind = max(patterns, key=lambda k: sims[k])
                why = "; ".join(f"{k}: {w}" for k, w in patterns.items())
                return self._done(kind, f"patterns for several kinds ({why}); the nearest examples are {kind}'s "
                                        f"({shown})", question, sims, "pattern")
            kind = next(k for k in ("component", "behaviour", "where", "related") if k in patterns)
            return self._done(kind, f"patterns for {', '.join(patterns)}; {kind} takes precedence", question, sims,
                              "pattern")
        if not sims:
            return Route(None, "no pattern of any kind matched", by="none")
        ranked = sorted(ASK_KINDS, key=lambda k: -sims[k])
        best = ranked[0]
        if sims[best] >= self.ACCEPT and sims[best] >= sims["none"] + self.MARGIN:
            return self._done(best, f"no pattern matched; the nearest examples are {best}'s ({shown})", question, sims,
                              "embedding")
        if sims[best] >= self.GREY and sims[best] >= sims["none"] and self.choose is not None:
            kind = self.choose(question, ranked[:2])
            if kind in ranked[:2]:
                return self._done(kind, f"no pattern matched and the nearest examples were close ({shown}); the "
                                        f"LLM chose {kind} from {ranked[0]} and {ranked[1]}", question, sims, "llm")
        return Route(None, f"no pattern matched and no kind's examples are near enough ({shown})", similarity=sims,
                     by="none")

    @staticmethod
    def _done(kind: str, reason: str, question: str, sims: dict, by: str) -> Route:
        return Route(kind, reason, extract_slots(kind, question), sims, by)
