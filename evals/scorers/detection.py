"""Detection scoring: can a reader of the explanation tell which texts make the
feature fire?

Each window (cropped to ``window`` tokens around its peak) is shown with the
explanation, and the model gives each one a score: how sure it is that the feature
is active anywhere in it. Activating windows are the positives, non-activating ones
the negatives.

The headline metric is the **AUROC** of those scores: does the model rank the
windows that fire above those that do not? It needs no threshold, so a model whose
scores all sit on one side of a fixed cut still gets credit for a correct ranking
(a fixed cut once turned good rankings into a constant answer, and a balanced
accuracy of 0.500 for almost every explanation). AUPRC is reported beside it.
Balanced accuracy and F1 are reported at a **threshold fitted per explanation** on
the ``select`` split when its windows are given (the cut that maximises balanced
accuracy there, :func:`fit_threshold`), else at the model's own cut; ``details``
says which.

Three kinds of model answer (the same ``detect`` template for the LLMs):

* an offline simulator: a window's score is its highest predicted level over 10
  (:data:`POOLING`: "active anywhere in the window"). Other poolings
  (:func:`window_score`: the mean, the mean of the top three, noisy-or, the peak
  above the window's median) ranked the truth above decoys no more often on held-out
  families of the simulator's training library, pooled over three training runs
  (``bench/train_simulator.py`` reports each), so the highest level stays.
* a :class:`~mechanic.evals.lm.SlotScorer`: the prompt up to the text is a shared
  prefix; each body is the text and the question, which ends in ``Answer:``. At the
  body's last position P(yes) is read off the first tokens of the answer words in
  both cases, with and without a leading space (``" yes" " Yes" "yes" "Yes"`` against
  the same for no), renormalised over those candidates; a token that starts both a
  yes- and a no-word is dropped. Its own cut is P(yes) > 0.5.
* any chat :class:`~mechanic.evals.lm.LLM`: the first standalone "yes" or "no" in
  the reply, as a score of 1 or 0 (so its AUROC equals its balanced accuracy). An
  unusable reply is asked for once more, then counted as failed; no AUPRC and no
  fitted threshold (no probabilities), and the ``select`` windows are not asked.

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
from ..metrics import auprc, auroc, balanced_accuracy, f1
from ..records import Record, ScoreResult, crop
from ..simulators import map_calls

__all__ = ["POOLING", "POOLINGS", "Verdicts", "ask_yes_no", "detection_score", "fit_threshold", "gives_probabilities",
           "parse_yes_no", "passage_text", "window_score", "yes_no_candidates"]

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

    def split(self, n: int) -> tuple["Verdicts", "Verdicts"]:
        """The first ``n`` answers (carrying the whole usage and every error) and the rest."""
        p = self.p_yes
        return (Verdicts(self.said[:n], None if p is None else p[:n], self.usage, self.errors),
                Verdicts(self.said[n:], None if p is None else p[n:]))

    def scores(self) -> list[float | None]:
        """A ranking score per answer: P(yes) where given, else the answer as 1 or 0."""
        if self.p_yes is not None:
            return [None if s is None else float(p) for s, p in zip(self.said, self.p_yes)]
        return [None if s is None else float(s) for s in self.said]


def gives_probabilities(model) -> bool:
    """Whether ``model`` scores each text (a simulator or a SlotScorer) rather than
    only answering yes or no (a chat LLM)."""
    return is_simulator(model) or has_slots(model)


def is_simulator(model) -> bool:
    """Whether ``model`` is a simulator (an offline one answers yes/no from its
    predicted levels) rather than an LLM to prompt."""
    return callable(getattr(model, "run_many", None)) and not callable(getattr(model, "complete", None))


def window_score(levels, how: str = "max") -> float:
    """A window's detection score in [0, 1] from a simulator's predicted levels (0-10)
    at its tokens, pooled by ``how`` (:data:`POOLINGS`)."""
    p = np.clip(np.asarray(levels, dtype=np.float64) / 10.0, 0.0, 1.0)
    if how == "max":
        return float(p.max())
    if how == "mean":
        return float(p.mean())
    if how.startswith("top"):
        k = int(how[3:])
        return float(np.sort(p)[-k:].mean())
    if how == "noisy_or":  # the chance that at least one token fires, were tokens independent
        return float(1.0 - np.exp(np.sum(np.log1p(-np.minimum(p, 1 - 1e-6)))))
    if how == "max_minus_median":  # how far the window's peak stands above its own typical token
        return float(0.5 + 0.5 * (p.max() - np.median(p)))
    raise ValueError(f"unknown pooling {how!r}; choose from {', '.join(POOLINGS)}")


POOLINGS = ("max", "mean", "top3", "noisy_or", "max_minus_median")
POOLING = "max"  # what detection ranks windows by (see the module doc)


def simulator_verdicts(simulator, explanation: str, records: Sequence[Record],
                       marks: Sequence[Sequence[int]] | None = None, pooling: str = POOLING) -> Verdicts:
    """Yes/no from a simulator's levels. A record's score (``p_yes``) is its levels
    pooled by ``pooling`` (:func:`window_score`), or, with ``marks``, the mean level
    of the marked tokens over 10; the answer is yes where that level (without marks,
    the highest level: some token fires) reaches the simulator's ``yes_level`` (5
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
        if marks is None:
            said.append(float(np.max(pred)) >= yes_level)
            p_yes.append(window_score(pred, pooling))
        else:
            level = float(np.mean(np.asarray(pred)[list(marks[i])]))
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


def fit_threshold(y_true: Sequence[bool], scores: Sequence[float]) -> float | None:
    """The cut (answer yes at ``score >= cut``) with the highest balanced accuracy on
    ``(y_true, scores)``: a midpoint between two adjacent distinct scores, or just
    outside their range; of equally good cuts the middle one. None unless both
    classes are present."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if not t.any() or t.all():
        return None
    values = np.unique(s)
    cuts = np.r_[values[0] - 1e-6, (values[:-1] + values[1:]) / 2, values[-1] + 1e-6]
    said = s[None, :] >= cuts[:, None]  # [cuts, n]
    tpr = (said & t).sum(1) / t.sum()
    tnr = (~said & ~t).sum(1) / (~t).sum()
    ba = 0.5 * (tpr + tnr)
    best = np.flatnonzero(ba >= ba.max() - 1e-12)
    return float(cuts[best[len(best) // 2]])


def _kept(y_true: Sequence[bool], verdicts: Verdicts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, said, score) over the usable answers."""
    keep = [i for i, s in enumerate(verdicts.said) if s is not None]
    scores = verdicts.scores()
    return (np.array([bool(y_true[i]) for i in keep], dtype=bool),
            np.array([bool(verdicts.said[i]) for i in keep], dtype=bool),
            np.array([scores[i] for i in keep], dtype=np.float64))


def binary_results(scorer: str, y_true: Sequence[bool], verdicts: Verdicts, scorer_model: str,
                   details: dict | None = None,
                   select: tuple[Sequence[bool], Verdicts] | None = None) -> list[ScoreResult]:
    """AUROC, AUPRC (with probabilities), balanced accuracy and F1 of ``verdicts``
    against ``y_true``, split ``test``; failed answers left out and counted. With
    ``select`` (its truth and verdicts, probabilities needed), balanced accuracy and
    F1 are taken at the cut fitted there; otherwise at the model's own answers."""
    truth, said, score = _kept(y_true, verdicts)
    info = {**(details or {}), "positives": int(truth.sum()), "negatives": int((~truth).sum()),
            "failed": verdicts.failed}
    if verdicts.errors:
        info["errors"] = verdicts.errors[:5]
    if select is not None and verdicts.p_yes is not None:
        sel_truth, _, sel_score = _kept(*select)
        cut = fit_threshold(sel_truth, sel_score)
        info["select_positives"], info["select_negatives"] = int(sel_truth.sum()), int((~sel_truth).sum())
        if cut is None:
            info["threshold_from"] = "model (the select split lacks a positive or a negative window)"
        else:
            said = score >= cut
            info["threshold"], info["threshold_from"] = cut, "select"
    else:
        info["threshold_from"] = "model"
    info["said_yes"] = int(said.sum())
    error = None
    if verdicts.failed and verdicts.failed * 2 > len(verdicts.said):
        error = f"{verdicts.failed} of {len(verdicts.said)} answers were unusable: {verdicts.errors[0]}"
    metrics: dict[str, float | None] = {"auroc": None, "balanced_accuracy": None, "f1": None}
    if verdicts.p_yes is not None:
        metrics["auprc"] = None
    if error is None and len(truth):
        metrics["auroc"] = auroc(truth, score)
        metrics["balanced_accuracy"] = balanced_accuracy(truth, said)
        metrics["f1"] = f1(truth, said)
        if verdicts.p_yes is not None:
            metrics["auprc"] = auprc(truth, score)
    return [ScoreResult(scorer, metric, "test", value, len(truth), scorer_model, verdicts.usage, dict(info), error)
            for metric, value in metrics.items()]


def judge_windows(model, template: str, explanation: str, records: Sequence[Record],
                  marks: Sequence[Sequence[int]] | None = None, texts: Sequence[str] | None = None, *,
                  batch_size: int = 16, concurrency: int = 1) -> Verdicts:
    """Answers for ``records``: a simulator reads the records (and ``marks``), an LLM
    the ``texts`` through ``template``."""
    if is_simulator(model):
        return simulator_verdicts(model, explanation, records, marks)
    return ask_yes_no(model, template, explanation, texts, batch_size=batch_size, concurrency=concurrency)


def detection_score(model, explanation: str, activating: Sequence[Record], non_activating: Sequence[Record],
                    *, window: int = WINDOW, batch_size: int = 16, concurrency: int = 1,
                    scorer_model: str = "",
                    select: tuple[Sequence[Record], Sequence[Record]] | None = None) -> list[ScoreResult]:
    """Detection scores of ``explanation``: activating windows should rank above
    non-activating ones. ``model`` is an offline simulator, a SlotScorer or a chat
    LLM. ``select``: activating and non-activating windows of the select split, on
    which the yes/no cut is fitted (see the module doc)."""
    test = [crop(r, window) for r in [*activating, *non_activating]]
    y_true = [True] * len(activating) + [False] * len(non_activating)
    sel: list[Record] = []
    y_sel: list[bool] = []
    if select is not None and gives_probabilities(model) and select[0] and select[1]:
        sel = [crop(r, window) for r in [*select[0], *select[1]]]
        y_sel = [True] * len(select[0]) + [False] * len(select[1])
    records = test + sel
    verdicts = judge_windows(model, "detect", explanation, records, texts=[passage_text(r.tokens) for r in records],
                             batch_size=batch_size, concurrency=concurrency)
    on_test, on_select = verdicts.split(len(test))
    return binary_results("detection", y_true, on_test, scorer_model or getattr(model, "name", ""),
                          {"window": window}, (y_sel, on_select) if sel else None)
