"""Simulators: predict a feature's activation at every token from an explanation alone.

A simulator turns ``(explanation, records)`` into one predicted level per token, a
float from 0 to 10. Two ways to get there:

* :class:`AllAtOnceSimulator` — for models with exact log-probabilities
  (:class:`~mechanic.evals.lm.SlotScorer`). The record is written one token per
  line, ``<token>\\t?\\n``; at each tab the model's next-token distribution over the
  level digits gives an expected level. One forward pass per record, and the prompt
  with the explanation is shared by all records (and encoded once per explanation).
* :class:`JsonSimulator` — for chat endpoints without log-probabilities: one call
  per record asking for a JSON object ``{token index: level}``.

``make_simulator(model)`` picks the first when the model can score slots.

A record the simulator could not predict (the JSON reply was unusable twice, or the
call failed for good) is never turned into zeros: :meth:`run` returns ``None`` for
it and a one-line reason in :attr:`Simulation.errors`, so a scorer can report the
failure; :meth:`simulate` raises :class:`~mechanic.evals.lm.LLMError` instead.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence, TypeVar

import numpy as np
from mechanic.prompts import prompt_hash, render

from .lm import LLM, Completion, LLMError, SlotScorer, Usage, has_slots
from .records import Record

__all__ = [
    "LEVELS_SCHEMA",
    "MAX_LEVEL",
    "AllAtOnceSimulator",
    "JsonSimulator",
    "Simulation",
    "Simulator",
    "SimulatorBase",
    "all_at_once_text",
    "escape_token",
    "expected_levels",
    "json_prompt",
    "level_candidates",
    "make_simulator",
    "map_calls",
    "parse_levels",
]

MAX_LEVEL = 10
UNKNOWN = "?"  # what stands in a level's place in the all-at-once body

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Simulation:
    """One explanation simulated on some records: a prediction per record (``None``
    where it failed), what it cost, and why records failed (one line each)."""

    predictions: list[np.ndarray | None]
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(p is None for p in self.predictions)

    def require_all(self) -> list[np.ndarray]:
        """The predictions, or :class:`LLMError` naming the first failure."""
        if self.failed:
            raise LLMError(f"{self.failed} of {len(self.predictions)} records could not be simulated: "
                           f"{self.errors[0] if self.errors else 'unknown error'}")
        return list(self.predictions)  # type: ignore[arg-type]


class Simulator(Protocol):
    """What scorers need from a simulator. ``usage`` accumulates over all calls."""

    name: str
    usage: Usage

    def run(self, explanation: str, records: Sequence[Record]) -> Simulation: ...

    def run_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[Simulation]: ...

    def simulate(self, explanation: str, records: Sequence[Record]) -> list[np.ndarray]: ...

    def simulate_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]: ...


class SimulatorBase:
    """``simulate``/``simulate_many``/``run`` on top of a subclass's ``run_many``:
    a new kind of simulator implements ``run_many`` and sets ``name`` and ``usage``."""

    name: str
    usage: Usage

    def run_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[Simulation]:
        raise NotImplementedError

    def run(self, explanation: str, records: Sequence[Record]) -> Simulation:
        return self.run_many([explanation], records)[0]

    def simulate(self, explanation: str, records: Sequence[Record]) -> list[np.ndarray]:
        """Predicted level (0-10, float) per token of each record; :class:`LLMError`
        if any record could not be simulated."""
        return self.run(explanation, records).require_all()

    def simulate_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        """:meth:`simulate` for several explanations on the same records, batched."""
        return [s.require_all() for s in self.run_many(explanations, records)]


def escape_token(text: str) -> str:
    """A token's text made safe for a one-token-per-line listing: line breaks shown
    as ``⏎``, tabs as ``⇥``."""
    return text.replace("\r\n", "⏎").replace("\r", "⏎").replace("\n", "⏎").replace("\t", "⇥")


def _add(total: Usage, part: Usage) -> None:
    total.calls += part.calls
    total.prompt_tokens += part.prompt_tokens
    total.completion_tokens += part.completion_tokens
    total.seconds += part.seconds


def map_calls(fn: Callable[[T], R], items: Iterable[T], concurrency: int = 1) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``concurrency`` threads, order kept.
    Chat backends block on I/O, so threads are enough to overlap their calls."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        return list(pool.map(fn, items))


# ---------------------------------------------------------------- all at once


def _single_token(tokenizer, text: str) -> int | None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return int(ids[0])
    convert = getattr(tokenizer, "convert_tokens_to_ids", None)
    if convert is not None:  # sentencepiece vocabularies hold "7" but encode it as "▁7"
        tid = convert(text)
        if isinstance(tid, int) and tid != getattr(tokenizer, "unk_token_id", None):
            return tid
    return None


def level_candidates(tokenizer) -> tuple[np.ndarray, list[int]]:
    """The levels the simulator can read off and their token ids: ``0..10`` when
    ``"10"`` is one token, else ``0..9`` (tokenizers that split numbers into digits,
    such as SmolLM2's, where "10" would need two steps). Predictions on the 0-9
    scale are rescaled by 10/9 so every simulator reports 0-10."""
    ids = []
    for level in range(MAX_LEVEL + 1):
        tid = _single_token(tokenizer, str(level))
        if tid is None:
            if level < MAX_LEVEL:
                raise LLMError(f"the simulator's tokenizer does not encode the digit {level} as one token")
            break
        ids.append(tid)
    if len(set(ids)) != len(ids):
        raise LLMError("the simulator's tokenizer maps two level digits to the same token")
    return np.arange(len(ids), dtype=np.float64), ids


def expected_levels(logprobs: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Σ p_i·level_i per row, with the candidates' probabilities renormalised to sum
    to one (the model also puts mass on tokens that are not levels)."""
    lp = np.asarray(logprobs, dtype=np.float64)
    top = lp.max(axis=1, keepdims=True)
    if not np.isfinite(top).all():
        raise LLMError("the simulator gave no finite probability to any level")
    p = np.exp(lp - top)
    p /= p.sum(axis=1, keepdims=True)
    return p @ levels


def all_at_once_text(explanation: str, tokens: Sequence[str], max_level: int = MAX_LEVEL) -> str:
    """The full text the all-at-once simulator reads for one record, for people and
    golden tests (the simulator itself builds token ids piece by piece)."""
    prompt = render("simulate_all_at_once", explanation=explanation, max_level=max_level)
    return prompt + "".join(f"{escape_token(t)}\t{UNKNOWN}\n" for t in tokens)


class AllAtOnceSimulator(SimulatorBase):
    """Bills-style simulation in one forward pass per record.

    Prefix: the ``simulate_all_at_once`` prompt with the explanation. Body: one line
    per token, ``<escaped token>\\t?\\n``. Each piece (token text, tab, ``?\\n``) is
    encoded on its own and the ids concatenated, so the slot of a token is exactly
    the position of its tab; the distribution over the next token there, restricted
    to the level digits, gives the expected level.
    """

    def __init__(self, model: SlotScorer, *, batch_size: int = 8):
        if not has_slots(model):
            raise TypeError("AllAtOnceSimulator needs a model with score_slots (a SlotScorer)")
        self.model = model
        self.tokenizer = model.tokenizer
        self.batch_size = max(1, int(batch_size))
        self.name = f"all_at_once:{getattr(model, 'name', 'model')}"
        self.usage = Usage()
        self.prompt_hash = prompt_hash("simulate_all_at_once")
        self.levels, self.candidates = level_candidates(self.tokenizer)
        self.max_level = int(self.levels[-1])
        self._pieces: dict[str, list[int]] = {}
        self._tab = self._encode("\t")
        self._end = self._encode(UNKNOWN + "\n")
        if not self._tab:
            raise LLMError("the simulator's tokenizer encodes a tab as nothing")

    def _encode(self, piece: str) -> list[int]:
        ids = self._pieces.get(piece)
        if ids is None:
            ids = [int(i) for i in self.tokenizer.encode(piece, add_special_tokens=False)]
            self._pieces[piece] = ids
        return ids

    def body(self, tokens: Sequence[str]) -> tuple[list[int], list[int]]:
        """Token ids of the body for one record and the slot (tab position) of each token."""
        ids: list[int] = []
        slots: list[int] = []
        for tok in tokens:
            ids += self._encode(escape_token(tok))
            ids += self._tab
            slots.append(len(ids) - 1)
            ids += self._end
        return ids, slots

    def prefix(self, explanation: str) -> list[int]:
        text = render("simulate_all_at_once", explanation=explanation, max_level=self.max_level)
        return [int(i) for i in self.tokenizer.encode(text, add_special_tokens=False)]

    def run_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[Simulation]:
        built = [self.body(r.tokens) for r in records]
        rescale = MAX_LEVEL / self.max_level
        out = []
        for explanation in explanations:
            prefix = self.prefix(explanation)
            usage = Usage()
            predictions: list[np.ndarray | None] = []
            for start in range(0, len(built), self.batch_size):
                chunk = built[start : start + self.batch_size]
                bodies = [ids for ids, _ in chunk]
                slots = [s for _, s in chunk]
                t0 = time.perf_counter()
                scored = self.model.score_slots(prefix, bodies, slots, self.candidates)
                usage.add_slots(len(prefix) + sum(map(len, bodies)), time.perf_counter() - t0)
                if len(scored) != len(chunk):
                    raise ValueError(f"score_slots returned {len(scored)} arrays for {len(chunk)} bodies")
                for lp, s in zip(scored, slots):
                    lp = np.asarray(lp)
                    if lp.shape != (len(s), len(self.candidates)):
                        raise ValueError(f"score_slots returned shape {lp.shape}, "
                                         f"expected {(len(s), len(self.candidates))}")
                    predictions.append(expected_levels(lp, self.levels) * rescale if len(s)
                                       else np.zeros(0))
            _add(self.usage, usage)
            out.append(Simulation(predictions, usage))
        return out


# ---------------------------------------------------------------- JSON (no logprobs)

LEVELS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "integer", "minimum": 0, "maximum": MAX_LEVEL},
}

_RETRY = ("That reply was not a JSON object of the requested form. Reply with only the JSON object, "
          "token indices as keys and levels from 1 to 10 as values, for example {\"3\": 7}.")

TOKENS_PER_ENTRY = 8  # '"12": 10, ' is about 6 tokens in common vocabularies; a margin on top

_PAIR = re.compile(r'"?\s*(\d+)\s*"?\s*:\s*"?\s*(-?\d+(?:\.\d+)?)')


def _as_level(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _as_index(key) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, str) and key.strip().isdigit():
        return int(key.strip())
    return None


def parse_levels(text: str, n: int) -> np.ndarray | None:
    """Levels for ``n`` tokens from a reply holding ``{index: level}``; ``None`` when
    the reply holds no such object.

    Lenient where the meaning is clear: code fences and prose around the object,
    string or float levels, and a reply cut off mid-object (the complete pairs are
    kept). Indices outside the record are ignored, tokens not named are at 0, levels
    are clipped to 0-10. An object whose keys are none of them indices (e.g. the
    tokens' texts) is not understood: ``None``.
    """
    start = text.find("{")
    if start < 0:
        return None
    end = text.rfind("}")
    pairs: list[tuple[int | None, float | None]] | None = None
    if end > start:
        try:
            obj = json.loads(text[start : end + 1])
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            pairs = [(_as_index(k), _as_level(v)) for k, v in obj.items()]
    if pairs is None:  # not valid JSON (e.g. cut off): take the well-formed pairs
        pairs = [(int(i), float(v)) for i, v in _PAIR.findall(text[start:])]
        if not pairs:
            return None
    if pairs and all(i is None for i, _ in pairs):
        return None
    levels = np.zeros(n, dtype=np.float64)
    for i, v in pairs:
        if i is not None and v is not None and 0 <= i < n:
            levels[i] = v
    return np.clip(levels, 0.0, MAX_LEVEL)


def json_prompt(explanation: str, tokens: Sequence[str]) -> str:
    listing = "\n".join(f"{i}\t{escape_token(t)}" for i, t in enumerate(tokens))
    return render("simulate_json", explanation=explanation, tokens=listing)


class JsonSimulator(SimulatorBase):
    """Logprob-free simulation: one chat call per record with the ``simulate_json``
    prompt, constrained to :data:`LEVELS_SCHEMA` where the backend supports it. An
    unusable reply is asked for once more; a second failure marks the record failed.
    Records run on up to ``concurrency`` threads. A reply is capped at what listing
    every token of the record takes (:data:`TOKENS_PER_ENTRY` each), so a model that
    rambles stops early instead of running to ``max_tokens``."""

    def __init__(self, llm: LLM, *, max_tokens: int = 512, concurrency: int = 1, seed: int | None = 0):
        self.llm = llm
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.seed = seed
        self.name = f"json:{getattr(llm, 'name', 'llm')}"
        self.usage = Usage()
        self.prompt_hash = prompt_hash("simulate_json")

    def _call(self, messages: list[dict], completions: list[Completion], n_tokens: int) -> str:
        cap = min(self.max_tokens, TOKENS_PER_ENTRY * n_tokens + 16)
        c = self.llm.complete(messages, max_tokens=cap, temperature=0.0,
                              json_schema=LEVELS_SCHEMA, seed=self.seed)
        completions.append(c)
        return c.text

    def _one(self, job: tuple[str, int, Record]) -> tuple[np.ndarray | None, str | None, list[Completion]]:
        explanation, index, record = job
        completions: list[Completion] = []
        messages = [{"role": "user", "content": json_prompt(explanation, record.tokens)}]
        try:
            reply = self._call(messages, completions, len(record.tokens))
            levels = parse_levels(reply, len(record.tokens))
            if levels is None:
                messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": _RETRY}]
                reply = self._call(messages, completions, len(record.tokens))
                levels = parse_levels(reply, len(record.tokens))
        except LLMError as e:
            return None, f"record {index}: {e}", completions
        if levels is None:
            return None, f"record {index}: no level object in the reply {reply[:80]!r}", completions
        return levels, None, completions

    def run_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[Simulation]:
        out = []
        for explanation in explanations:
            results = map_calls(self._one, [(explanation, i, r) for i, r in enumerate(records)], self.concurrency)
            usage = Usage()
            for _, _, completions in results:
                for c in completions:
                    usage.add(c)
            _add(self.usage, usage)
            out.append(Simulation([p for p, _, _ in results], usage, [e for _, e, _ in results if e]))
        return out


def make_simulator(model, **options) -> AllAtOnceSimulator | JsonSimulator:
    """The all-at-once simulator when ``model`` has exact log-probabilities, else the
    JSON one. ``options`` the chosen class does not take are ignored, so one call
    site can configure both (``batch_size`` for the first; ``max_tokens``,
    ``concurrency``, ``seed`` for the second)."""
    if has_slots(model):
        return AllAtOnceSimulator(model, **{k: v for k, v in options.items() if k == "batch_size"})
    return JsonSimulator(model, **{k: v for k, v in options.items() if k != "batch_size"})
