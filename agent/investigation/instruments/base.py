"""The plumbing every instrument shares: what a call gives back (:class:`Observation`,
:class:`ToolCall`), the ``@tool`` mark, and :class:`ToolBase`, which validates and
runs calls and checks the arguments common to many tools (features, texts, layers).

The tools themselves live in one module per kind (:mod:`.reading`, :mod:`.causal`,
:mod:`.search`, :mod:`.hypotheses`) and are put together in :mod:`.toolset`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np
from mechanic import store
from mechanic.tools import Effect, MechanicError, Subject, activations, parse_feature

from ...explainers import mark_token
from ..toolschema import MAX_ITEMS, ToolError, tool_schema, validate_arguments

__all__ = ["Observation", "ToolBase", "ToolCall", "effect_summary", "fires_threshold", "firing_rule", "first_position", "hide_name", "peak_text",
           "peak_token", "short_token", "shown_name", "target_tokens", "tool"]

# A site id that says where a unit is and nothing of what it does.
_PLAIN_SITE = re.compile(r"^(?:mlp|attn):\d+:\d+$|^sae:[^:]+:\d+$")


def shown_name(row: dict) -> str:
    """The unit's name as an explainer sees it: a plain site id as it is
    (``mlp:15:42``), but an opaque one (``unit#7``) for a named feature — a text
    rule, a planted or probe direction, a records file — whose name could give the
    answer away (``resid:15:planted_python_keywords``)."""
    feature = row["feature"]
    return feature if _PLAIN_SITE.match(feature) else f"unit#{row['id']}"


def hide_name(text: str, row: dict) -> str:
    """``text`` with the unit's real name, and its descriptive last part, replaced by
    :func:`shown_name`."""
    shown = shown_name(row)
    feature = row["feature"]
    if shown == feature:
        return text
    text = text.replace(feature, shown)
    tail = feature.rpartition(":")[2]
    return text.replace(tail, shown) if len(tail) >= 4 else text


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


_TEXT_ARGUMENTS = ("texts", "text", "text_a", "text_b", "activating", "near_miss", "positive", "negative")
_ELLIPSIS = re.compile(r"\s*(?:\.{2,}|…)[\s.…]*")  # "..." copied from a reply template; "))" or "!!" are real test texts


def tool(fn: Callable) -> Callable:
    """Mark a method of :class:`ToolBase` subclasses as a tool the LLM may call."""
    fn.is_tool = True
    return fn


def fires_threshold(stats: dict) -> float:
    """Activation above which a feature counts as firing: a quarter of its largest
    value over the corpus sample (a small positive floor for dead features)."""
    return max(0.25 * float(stats.get("max") or 0.0), 1e-6)


def first_position(db, row: dict | None) -> int:
    """The first window position the feature's capture measured (``CaptureConfig.first_position``,
    recorded in its corpus sample's spec; 0 for captures from before it existed)."""
    if db is None or not row or row.get("corpus_id") is None:
        return 0
    corpus = store.get_corpus(db, row["corpus_id"])
    return int(((corpus or {}).get("spec") or {}).get("first_position", 0))


def firing_rule(threshold: float, peak: float | None = None) -> str:
    """How "fires" is decided, as every result that counts firing states it."""
    if peak is not None and peak > 0:
        return f"fires = activation >= {threshold:.3g}, a quarter of its largest activation on the corpus ({peak:.3g})"
    return f"fires = activation >= {threshold:.3g}"


def short_token(token: str) -> str:
    """A token as shown to the LLM: newlines and tabs made visible."""
    return token.replace("\n", "⏎").replace("\t", "⇥")


def peak_text(tokens: list[str], acts, threshold: float, before: int = 12, after: int = 6,
              lead: list[str] | tuple[str, ...] = ()) -> str:
    """The text around its peak, cut only between tokens: at least ``before`` tokens
    before the peak (taken from ``lead``, the text that precedes these tokens, when the
    peak is near their start) and ``after`` after it, with every token at or above
    ``threshold`` written ⟦token⟧ and "…" where text was left out. A short text is
    shown whole."""
    if not len(tokens):
        return ""
    acts = np.asarray(acts, dtype=np.float32)
    peak = int(np.argmax(acts))
    lo, hi = max(0, peak - before), min(len(tokens), peak + after + 1)
    if len(tokens) <= before + after + 1:
        lo, hi = 0, len(tokens)
    lead = list(lead)[max(0, len(lead) - (before - (peak - lo))):] if peak - lo < before else []
    body = "".join(mark_token(t) if a >= threshold else short_token(t) for t, a in zip(tokens[lo:hi], acts[lo:hi]))
    head = "".join(short_token(t) for t in lead)
    return ("…" if lo > 0 or lead else "") + head + body + ("…" if hi < len(tokens) else "")


def target_tokens(tokens: list[str], target: str) -> list[int]:
    """The positions of the tokens that overlap an occurrence of ``target`` (any case)
    in the text the tokens spell."""
    text, needle = "".join(tokens).lower(), target.lower()
    ends, pos = [], 0
    for t in tokens:
        pos += len(t)
        ends.append(pos)
    found: set[int] = set()
    start = text.find(needle) if needle else -1
    while start >= 0:
        stop = start + len(needle)
        begin = 0
        for i, end in enumerate(ends):
            if end > start and begin < stop:
                found.add(i)
            begin = end
        start = text.find(needle, start + 1)
    return sorted(found)


def peak_token(tokens: list[str], acts) -> str:
    """The token at which ``acts`` peak, quoted, with its value: ``' the' 3.21``."""
    if not len(tokens):
        return "(no tokens)"
    acts = np.asarray(acts, dtype=np.float32)
    peak = int(np.argmax(acts))
    return f"{short_token(tokens[peak])!r} {float(acts[peak]):.3g}"


def effect_summary(what: str, eff: Effect) -> str:
    """One line on an intervention's effect: KL and the next tokens that rose and fell most."""
    up = ", ".join(f"{short_token(t)!r}" for t, _ in eff.top_increased[:5]) or "none"
    down = ", ".join(f"{short_token(t)!r}" for t, _ in eff.top_decreased[:5]) or "none"
    return f"{what}: KL {eff.kl:.3g}; next tokens up: {up}; down: {down}"


class ToolBase:
    """Tools over one subject model (and, when investigating, one stored feature).

    ``feature_row`` is the stored feature under investigation (``store.get_feature``);
    tools default to it when no feature is named. ``embedder`` is built on first use
    (semantic search). A subclass that puts the tools together names them, in the
    order the LLM is shown them, in ``TOOLS``."""

    TOOLS: ClassVar[tuple[str, ...]] = ()
    first_position: int = 0  # the first position measured, as in the capture (earlier ones are context only)

    def __init__(self, subject: Subject, db=None, feature_row: dict | None = None,
                 embedder: Callable[[], Any] | None = None):
        self.subject = subject
        self.db = db
        self.row = feature_row
        self._embedder_factory = embedder
        self._embedder = None
        self.threshold = fires_threshold(feature_row["stats"] if feature_row and "stats" in feature_row
                                         else (feature_row or {}))
        self.first_position = first_position(db, feature_row)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.TOOLS:  # a class that puts the tools together: its list is every tool, once
            marked = {name for name in dir(cls) if getattr(getattr(cls, name), "is_tool", False)}
            if sorted(cls.TOOLS) != sorted(marked):
                raise TypeError(f"{cls.__name__}.TOOLS must name each @tool method once: {sorted(marked)}")

    # ------------------------------------------------------------- calling
    @classmethod
    def tool_names(cls) -> list[str]:
        return list(cls.TOOLS)

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

    def check_texts(self, tool: str, arguments: dict) -> None:
        """Refuse, before anything runs, the text arguments of a call that
        :meth:`_texts` would refuse (so a driver can ask for a repair)."""
        least = 2 if tool == "test_hypothesis" else 1
        for name, value in arguments.items():
            if name in _TEXT_ARGUMENTS:
                self._texts(value if isinstance(value, list) else [value], name, least if isinstance(value, list) else 1)

    # ----------------------------------------------------- argument checks
    def _feature(self, feature: str) -> str:
        if not feature or (self.row is not None and feature.strip() == shown_name(self.row)):
            if self.row is None:
                raise ToolError("name a feature, e.g. mlp:3:17")
            return self.row["feature"]
        fid = parse_feature(feature)
        self.subject.site(fid)  # range checks: FeatureIdError names the valid range
        return str(fid)

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

    def _layer(self, layer: int) -> int:
        if not 0 <= layer < self.subject.n_layers:
            raise ToolError(f"layer must be 0-{self.subject.n_layers - 1}, not {layer}")
        return layer

    def _count(self, n: int) -> int:
        if not 1 <= n <= MAX_ITEMS:
            raise ToolError(f"n must be 1-{MAX_ITEMS}, not {n}")
        return n

    # ------------------------------------------------------ stored features
    def _stored_row(self, feature: str) -> dict:
        if self.row is not None and feature == self.row["feature"]:
            return self.row
        row = store.get_feature(self.db, self.subject.name, feature) if self.db is not None else None
        if row is None:
            raise ToolError(f"{feature} has no stored statistics; only features captured with `mechanic cache` do")
        return row

    def _rule(self, feature: str, threshold: float) -> str:
        """:func:`firing_rule` for ``feature`` (its corpus max when stored), and which
        positions are left out."""
        try:
            peak = float(self._stored_row(feature)["max"])
        except ToolError:
            peak = None
        rule = firing_rule(threshold, peak if threshold == fires_threshold({"max": peak or 0.0}) else None)
        if self.first_position:
            rule += (f"; the first {self.first_position} token(s) of each text are context only and read 0, as in "
                     f"the corpus capture: put a word before the one under test")
        return rule

    def _measure(self, texts: list[str], features: list[str]):
        """Per-token activations of ``features`` on ``texts`` (``TextActivations``),
        with the context-only first positions read as 0, as the capture stores them."""
        runs = activations(self.subject, texts, features)
        for r in runs:
            for f in features:
                values = r.activations[f]
                for i in range(min(self.first_position, len(values) - 1)):
                    values[i] = 0.0
        return runs

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
        """Each text's largest activation of ``feature`` and how it is shown (the peak
        token with its value, then the text with firing tokens marked), and the threshold used."""
        runs = [(r, np.asarray(r.activations[feature], dtype=np.float32))
                for r in self._measure(texts, [feature])]
        threshold = self._threshold(feature)
        if threshold != threshold:  # no statistics: relative to the largest value seen here
            threshold = fires_threshold({"max": max((float(a.max()) for _, a in runs if len(a)), default=0.0)})
        out = [(float(a.max()) if len(a) else 0.0, f"peak {peak_token(r.tokens, a)}: {peak_text(r.tokens, a, threshold)}")
               for r, a in runs]
        return out, threshold
