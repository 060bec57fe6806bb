"""Ground-truth match: does an explanation say what a suite feature really does?

FIND-style three-way choice: a judge reads the produced explanation and three
candidate descriptions — the true one and two decoys, in an order shuffled by the
seed — and picks the candidate that means the same. Chance is 1/3. Two judges:

* :class:`LLMJudge` — the ``judge_choice`` prompt. A model with exact
  log-probabilities (:class:`~mechanic.evals.lm.SlotScorer`) is read at the slot
  after ``Answer:`` over the letters A/B/C (with and without a leading space), once
  for each cyclic rotation of the options, and each option's probability is
  averaged over the three places it took: small models favour one letter whatever
  it labels, and the average cancels that bias (all three prompts share their
  prefix, so it costs one batched pass). Any other model is asked once for JSON
  ``{"answer": "A"}`` (a bare letter in the reply is accepted too). An unusable
  reply is a failed judgement, never a guess.
* :class:`EmbeddingJudge` — the candidate whose sentence embedding is closest
  (cosine) to the explanation's. No LLM.

:func:`truth_similarity` is the plain cosine between the explanation and the true
description.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
from mechanic.prompts import prompt_hash, render

from .embedding import TextEmbedder
from .lm import LLM, LLMError, Usage, has_slots

__all__ = ["CHOICE_SCHEMA", "LETTERS", "Choice", "ChoiceJudge", "EmbeddingJudge", "LLMJudge", "judge_truth",
           "shuffled_options", "truth_similarity"]

LETTERS = ("A", "B", "C")
CHOICE_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string", "enum": list(LETTERS)}},
                 "required": ["answer"], "additionalProperties": False}
_LETTER = re.compile(r"\b([ABC])\b")


@dataclass
class Choice:
    """One judgement: the picked option (index into the options, None when the judge
    failed), whether it is the true one, the judge's probabilities when it has them."""

    picked: int | None
    correct: bool | None
    probabilities: list[float] | None = None
    usage: Usage = field(default_factory=Usage)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"picked": self.picked, "correct": self.correct, "probabilities": self.probabilities,
                "error": self.error}


class ChoiceJudge(Protocol):
    name: str

    def choose(self, explanation: str, options: Sequence[str]) -> tuple[int | None, list[float] | None, Usage,
                                                                           str | None]: ...


def shuffled_options(truth: str, decoys: Sequence[str], key: str, seed: int = 0) -> tuple[list[str], int]:
    """The true description and the decoys in an order drawn from ``(seed, key)``;
    returns ``(options, index_of_truth)``. The same key gives the same order, so every
    method is judged on the same question for one feature."""
    options = [truth, *decoys]
    order = list(range(len(options)))
    random.Random(f"{seed}:{key}").shuffle(order)
    return [options[i] for i in order], order.index(0)


def judge_truth(judge: ChoiceJudge, explanation: str, truth: str, decoys: Sequence[str], key: str,
                seed: int = 0) -> Choice:
    """Ask ``judge`` which of the shuffled true description and decoys ``explanation``
    means; :class:`Choice` with ``correct`` set (None when the judge failed)."""
    if len(decoys) != len(LETTERS) - 1:
        raise ValueError(f"a three-way choice needs exactly {len(LETTERS) - 1} decoys, got {len(decoys)}")
    options, truth_at = shuffled_options(truth, decoys, key, seed)
    picked, probs, usage, error = judge.choose(explanation, options)
    return Choice(picked, None if picked is None else picked == truth_at, probs, usage, error)


def truth_similarity(embedder: TextEmbedder, explanation: str, truth: str) -> float:
    """Cosine between the sentence embeddings of ``explanation`` and ``truth``."""
    a, b = np.asarray(embedder.encode([explanation, truth]), dtype=np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


class EmbeddingJudge:
    """Picks the option whose embedding has the highest cosine with the explanation's."""

    def __init__(self, embedder: TextEmbedder):
        self.embedder = embedder
        self.name = f"embedding:{embedder.name}"

    def choose(self, explanation: str, options: Sequence[str]):
        t0 = time.perf_counter()
        vectors = np.asarray(self.embedder.encode([explanation, *options]), dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        norms[norms == 0] = 1.0
        unit = vectors / norms[:, None]
        sims = unit[1:] @ unit[0]
        usage = Usage(seconds=time.perf_counter() - t0)
        # softmax of the cosines at a temperature of 0.05: a readable confidence, not a calibrated one
        z = np.exp((sims - sims.max()) / 0.05)
        return int(np.argmax(sims)), [float(p) for p in z / z.sum()], usage, None


class LLMJudge:
    """The ``judge_choice`` prompt, read by slot log-probabilities or answered in JSON."""

    def __init__(self, llm: LLM):
        self.llm = llm
        self.name = getattr(llm, "name", "llm")
        self.prompt_hash = prompt_hash("judge_choice")

    def _prompt(self, explanation: str, options: Sequence[str]) -> str:
        if len(options) != len(LETTERS):
            raise ValueError(f"the judge takes {len(LETTERS)} options, got {len(options)}")
        clean = [" ".join(str(o).split()) for o in options]
        return render("judge_choice", explanation=" ".join(explanation.split()),
                      **{f"option_{letter.lower()}": text for letter, text in zip(LETTERS, clean)})

    def choose(self, explanation: str, options: Sequence[str]):
        if has_slots(self.llm):
            return self._choose_slots(explanation, options)
        return self._choose_chat(self._prompt(explanation, options))

    def _choose_slots(self, explanation: str, options: Sequence[str]):
        tok = self.llm.tokenizer
        letter_ids: list[set[int]] = []
        for letter in LETTERS:
            ids = set()
            for variant in (letter, " " + letter):
                enc = tok.encode(variant, add_special_tokens=False)
                if enc:
                    ids.add(int(enc[0]))
            letter_ids.append(ids)
        shared = set.intersection(*letter_ids) if letter_ids else set()
        letter_ids = [ids - shared for ids in letter_ids]
        if not all(letter_ids):
            raise LLMError("the judge's tokenizer does not tell the letters A, B and C apart by their first token")
        candidates = sorted(set().union(*letter_ids))
        n = len(options)
        rotations = [[(start + j) % n for j in range(n)] for start in range(n)]  # letter j shows option order[j]
        prompts = [[int(i) for i in tok.encode(self._prompt(explanation, [options[k] for k in order]),
                                                add_special_tokens=False)] for order in rotations]
        shared = 0
        while all(len(p) > shared + 1 for p in prompts) and len({p[shared] for p in prompts}) == 1:
            shared += 1
        bodies = [p[shared:] for p in prompts]
        t0 = time.perf_counter()
        scored = self.llm.score_slots(prompts[0][:shared], bodies, [[len(b) - 1] for b in bodies], candidates)
        usage = Usage()
        usage.add_slots(shared + sum(map(len, bodies)), time.perf_counter() - t0)
        per_option = np.zeros(n)
        for order, lp in zip(rotations, scored):
            lp = np.asarray(lp, dtype=np.float64).reshape(-1)
            if not np.isfinite(lp.max()):
                return None, None, usage, "the judge gave no finite probability to any letter"
            p = np.exp(lp - lp.max())
            per_letter = np.array([sum(p[candidates.index(i)] for i in ids_) for ids_ in letter_ids])
            per_option[order] += per_letter / per_letter.sum()
        per_option /= len(rotations)
        # A judge blind to the content (one letter whatever it labels) ties every option
        # after averaging: break ties by a draw seeded with the explanation, so its
        # expected accuracy is chance and not whatever sits first.
        tied = [i for i in range(n) if per_option[i] >= per_option.max() - 1e-9]
        picked = tied[0] if len(tied) == 1 else random.Random(explanation).choice(tied)
        return picked, [float(x) for x in per_option], usage, None

    def _choose_chat(self, prompt: str):
        usage = Usage()
        messages = [{"role": "user", "content": prompt + "\nReply with JSON such as {\"answer\": \"B\"}."}]
        try:
            completion = self.llm.complete(messages, max_tokens=16, temperature=0.0, json_schema=CHOICE_SCHEMA)
        except LLMError as exc:
            return None, None, usage, str(exc)
        usage.add(completion)
        letter = _parse_letter(completion.text)
        if letter is None:
            return None, None, usage, f"no letter A, B or C in the reply {completion.text[:80]!r}"
        return LETTERS.index(letter), None, usage, None


def _parse_letter(text: str) -> str | None:
    """The letter in ``{"answer": "B"}``, else the first standalone A, B or C."""
    text = (text or "").strip()
    try:
        data = json.loads(text)
        if isinstance(data, dict) and str(data.get("answer", "")).strip().upper() in LETTERS:
            return str(data["answer"]).strip().upper()
    except (json.JSONDecodeError, ValueError):
        pass
    m = _LETTER.search(text)
    return m.group(1) if m else None
