"""Detection scoring: can a reader of the explanation tell which texts make the
feature fire?

Each window (cropped to ``window`` tokens around its peak) is shown with the
explanation, and the model answers whether the feature is active anywhere in it.
Activating windows are the positives, non-activating ones the negatives; metrics
are balanced accuracy and F1 of the answers, and AUPRC of P(yes) when the model
gives probabilities.

Two ways to ask (the same ``detect`` template either way):

* a :class:`~mechanic.evals.lm.SlotScorer`: the prompt up to the text is a shared
  prefix; each body is the text and the question, which ends in ``Answer:``. At the
  body's last position P(yes) is read off the first tokens of the answer words in
  both cases, with and without a leading space (``" yes" " Yes" "yes" "Yes"`` against
  the same for no), renormalised over those candidates; a token that starts both a
  yes- and a no-word is dropped. The answer is yes when P(yes) > 0.5.
* any chat :class:`~mechanic.evals.lm.LLM`: the first standalone "yes" or "no" in
  the reply. An unusable reply is asked for once more, then counted as failed; no
  AUPRC (no probabilities).

Failed windows are left out of the metrics and counted in ``details``; if more than
half failed, every result carries an ``error`` and no value.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from mechanic.prompts import render, render_around

from ..lm import Completion, LLMError, Usage, has_slots
from ..metrics import auprc, balanced_accuracy, f1
from ..records import Record, ScoreResult, crop
from ..simulators import map_calls

__all__ = ["Verdicts", "ask_yes_no", "detection_score", "parse_yes_no", "passage_text", "yes_no_candidates"]

WINDOW = 32
YES_WORDS = (" yes", " Yes", "yes", "Yes")
NO_WORDS = (" no", " No", "no", "No")

_RETRY = "Please answer with one word: yes or no."
_WORD = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def passage_text(tokens: Sequence[str]) -> str:
    """A window's tokens joined back into text, with anything that could close or
    open the prompt's ``<text>`` block defused."""
    text = "".join(tokens)
    return text.replace("</text>", "</ text>").replace("<text>", "< text>")


def yes_no_candidates(tokenizer) -> tuple[list[int], list[int]]:
    """First token ids of the yes-words and of the no-words (see module doc)."""
    def first_ids(words):
        ids = set()
        for w in words:
            enc = tokenizer.encode(w, add_special_tokens=False)
            if enc:
                ids.add(int(enc[0]))
        return ids

    yes, no = first_ids(YES_WORDS), first_ids(NO_WORDS)
    shared = yes & no
    yes, no = sorted(yes - shared), sorted(no - shared)
    if not yes or not no:
        raise LLMError("the scorer's tokenizer does not tell 'yes' from 'no' by their first token")
    return yes, no


def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no (the first of them as a whole word), None if neither."""
    m = _WORD.search(text)
    return None if m is None else m.group(1).lower() == "yes"


@dataclass
class Verdicts:
    """Answers for a list of texts: ``said`` yes/no (None where it failed) and
    ``p_yes`` when the model gave probabilities."""

    said: list[bool | None]
    p_yes: list[float] | None = None
    usage: Usage = field(default_factory=Usage)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(s is None for s in self.said)


def is_simulator(model) -> bool:
    """Whether ``model`` is a simulator (an offline one answers yes/no from its
    predicted levels) rather than an LLM to prompt."""
    return callable(getattr(model, "run_many", None)) and not callable(getattr(model, "complete", None))


def simulator_verdicts(simulator, explanation: str, records: Sequence[Record],
                       marks: Sequence[Sequence[int]] | None = None) -> Verdicts:
    """Yes/no from a simulator's levels: a record's score is its highest predicted
    level (or, with ``marks``, the mean level of the marked tokens), ``p_yes`` that
    score over 10, and the answer yes at the simulator's ``yes_level`` or more (5
    unless it says otherwise: even odds on a calibrated 0-10 scale)."""
    yes_level = float(getattr(simulator, "yes_level", 5.0))
    sim = simulator.run(explanation, records)
    said: list[bool | None] = []
    p_yes: list[float] = []
    for i, pred in enumerate(sim.predictions):
        if pred is None or not len(pred):
            said.append(None)
            p_yes.append(float("nan"))
            continue
        level = float(np.max(pred)) if marks is None else float(np.mean(np.asarray(pred)[list(marks[i])]))
        said.append(level >= yes_level)
        p_yes.append(level / 10.0)
    return Verdicts(said, p_yes, sim.usage, list(sim.errors))


def ask_yes_no(model, template: str, explanation: str, texts: Sequence[str], *, batch_size: int = 16,
               concurrency: int = 1, max_tokens: int = 16) -> Verdicts:
    """Ask ``template`` (with ``$explanation`` and ``$text``) about each text."""
    if has_slots(model):
        return _ask_slots(model, template, explanation, texts, batch_size)
    return _ask_chat(model, template, explanation, texts, concurrency, max_tokens)


def _ask_slots(model, template: str, explanation: str, texts: Sequence[str], batch_size: int) -> Verdicts:
    tok = model.tokenizer
    yes, no = yes_no_candidates(tok)
    candidates = yes + no
    before, after = render_around(template, "text", explanation=explanation)
    prefix = [int(i) for i in tok.encode(before, add_special_tokens=False)]
    bodies = [[int(i) for i in tok.encode(t + after, add_special_tokens=False)] for t in texts]
    usage = Usage()
    p_yes: list[float] = []
    for start in range(0, len(bodies), max(1, batch_size)):
        chunk = bodies[start : start + max(1, batch_size)]
        t0 = time.perf_counter()
        scored = model.score_slots(prefix, chunk, [[len(b) - 1] for b in chunk], candidates)
        usage.add_slots(len(prefix) + sum(map(len, chunk)), time.perf_counter() - t0)
        for lp in scored:
            lp = np.asarray(lp, dtype=np.float64).reshape(-1)
            if lp.shape != (len(candidates),):
                raise ValueError(f"score_slots returned {lp.shape} for {len(candidates)} candidates")
            top = lp.max()
            if not np.isfinite(top):
                raise LLMError("the scorer gave no finite probability to yes or no")
            p = np.exp(lp - top)
            p_yes.append(float(p[: len(yes)].sum() / p.sum()))
    return Verdicts([p > 0.5 for p in p_yes], p_yes, usage)


def _ask_chat(llm, template: str, explanation: str, texts: Sequence[str], concurrency: int,
              max_tokens: int) -> Verdicts:
    def one(job: tuple[int, str]) -> tuple[bool | None, str | None, list[Completion]]:
        index, text = job
        completions: list[Completion] = []
        messages = [{"role": "user", "content": render(template, explanation=explanation, text=text)}]
        try:
            for attempt in range(2):
                c = llm.complete(messages, max_tokens=max_tokens, temperature=0.0)
                completions.append(c)
                answer = parse_yes_no(c.text)
                if answer is not None:
                    return answer, None, completions
                messages = messages + [{"role": "assistant", "content": c.text},
                                       {"role": "user", "content": _RETRY}]
        except LLMError as e:
            return None, f"text {index}: {e}", completions
        return None, f"text {index}: no yes or no in the reply {c.text[:80]!r}", completions

    results = map_calls(one, list(enumerate(texts)), concurrency)
    usage = Usage()
    for _, _, completions in results:
        for c in completions:
            usage.add(c)
    return Verdicts([a for a, _, _ in results], None, usage, [e for _, e, _ in results if e])


def binary_results(scorer: str, y_true: Sequence[bool], verdicts: Verdicts, scorer_model: str,
                   details: dict | None = None) -> list[ScoreResult]:
    """Balanced accuracy, F1 and (with probabilities) AUPRC of ``verdicts`` against
    ``y_true``, split ``test``; failed answers left out and counted."""
    keep = [i for i, s in enumerate(verdicts.said) if s is not None]
    truth = np.array([bool(y_true[i]) for i in keep], dtype=bool)
    said = np.array([bool(verdicts.said[i]) for i in keep], dtype=bool)
    info = {**(details or {}), "positives": int(truth.sum()), "negatives": int((~truth).sum()),
            "said_yes": int(said.sum()), "failed": verdicts.failed}
    if verdicts.errors:
        info["errors"] = verdicts.errors[:5]
    error = None
    if verdicts.failed and verdicts.failed * 2 > len(verdicts.said):
        error = f"{verdicts.failed} of {len(verdicts.said)} answers were unusable: {verdicts.errors[0]}"
    metrics: dict[str, float | None] = {"balanced_accuracy": None, "f1": None}
    if verdicts.p_yes is not None:
        metrics["auprc"] = None
    if error is None and keep:
        metrics["balanced_accuracy"] = balanced_accuracy(truth, said)
        metrics["f1"] = f1(truth, said)
        if verdicts.p_yes is not None:
            metrics["auprc"] = auprc(truth, np.array([verdicts.p_yes[i] for i in keep]))
    return [ScoreResult(scorer, metric, "test", value, len(keep), scorer_model, verdicts.usage, dict(info), error)
            for metric, value in metrics.items()]


def detection_score(model, explanation: str, activating: Sequence[Record], non_activating: Sequence[Record],
                    *, window: int = WINDOW, batch_size: int = 16, concurrency: int = 1,
                    scorer_model: str = "") -> list[ScoreResult]:
    """Detection scores of ``explanation``: activating windows should get yes,
    non-activating ones no. ``model`` is a SlotScorer (probabilities, AUPRC) or a
    chat LLM."""
    y_true = [True] * len(activating) + [False] * len(non_activating)
    if is_simulator(model):
        verdicts = simulator_verdicts(model, explanation, [crop(r, window) for r in [*activating, *non_activating]])
    else:
        texts = [passage_text(crop(r, window).tokens) for r in [*activating, *non_activating]]
        verdicts = ask_yes_no(model, "detect", explanation, texts, batch_size=batch_size, concurrency=concurrency)
    return binary_results("detection", y_true, verdicts, scorer_model or getattr(model, "name", ""),
                          {"window": window})
