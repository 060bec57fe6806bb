"""Fuzzing scoring: does the explanation single out the right tokens?

Each activating window (cropped to ``window`` tokens around its peak) is shown
twice, with some tokens marked ``«like this»``:

* correctly: the tokens at level ≥ ``min_level`` (activation ≥ min_level/10 of the
  window's maximum);
* incorrectly: as many tokens drawn at random from the window's non-activating
  tokens (level 0, activation below a tenth of the maximum), seeded by
  ``(seed, window number)`` so the draw does not depend on the order of windows.

The model answers whether the marked tokens are the ones the explanation describes.
Correctly marked windows are the positives. Metrics, asking and failure handling are
those of :mod:`.detection` (the ``fuzz`` template in place of ``detect``). A window
with no positive activation, or with no non-activating token to mark instead, gives
no incorrect version and is counted in ``details``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..records import Record, ScoreResult, crop, normalize_to_ten
from ..simulators import escape_token
from .detection import WINDOW, ask_yes_no, binary_results, is_simulator, passage_text, simulator_verdicts

__all__ = ["fuzzing_score", "fuzz_marks", "marked_text"]

OPEN, CLOSE = "«", "»"


def fuzz_marks(record: Record, index: int, seed: int = 0, min_level: int = 5) -> tuple[list[int], list[int] | None]:
    """``(correct, decoy)`` token positions to mark in ``record``: the tokens at
    level ≥ ``min_level``, and as many non-activating ones drawn with
    ``default_rng([seed, index])`` (fewer if the window has fewer; ``None`` when it
    has none, or when nothing in it is active)."""
    a = np.asarray(record.activations, dtype=np.float64)
    if not a.size or a.max() <= 0:
        return [], None
    level = normalize_to_ten([a], float(a.max()))[0]
    correct = [int(i) for i in np.flatnonzero(level >= min_level)]
    pool = np.flatnonzero(level == 0)
    if not pool.size:
        return correct, None
    rng = np.random.default_rng([seed, index])
    decoy = rng.choice(pool, size=min(len(correct), pool.size), replace=False)
    return correct, sorted(int(i) for i in decoy)


def marked_text(tokens: Sequence[str], marks: Sequence[int]) -> str:
    """The window's text with the tokens at ``marks`` wrapped in «»; a token's
    leading spaces stay outside the marks, and a marked line break is shown as ⏎."""
    marked = set(marks)
    parts = []
    for i, tok in enumerate(tokens):
        if i in marked:
            core = tok.lstrip(" ")
            lead = tok[: len(tok) - len(core)]
            parts.append(f"{lead}{OPEN}{escape_token(core) if core.strip() == '' else core}{CLOSE}")
        else:
            parts.append(tok)
    return passage_text(parts)


def fuzzing_score(model, explanation: str, activating: Sequence[Record], seed: int = 0, *,
                  window: int = WINDOW, min_level: int = 5, batch_size: int = 16, concurrency: int = 1,
                  scorer_model: str = "") -> list[ScoreResult]:
    """Fuzzing scores of ``explanation`` on ``activating`` windows: correctly
    marked versions should get yes, decoy-marked ones no."""
    texts: list[str] = []
    marked: list[tuple[Record, list[int]]] = []  # for a simulator: the record and its marks
    y_true: list[bool] = []
    inactive = no_decoy = 0
    for index, record in enumerate(activating):
        rec = crop(record, window)
        correct, decoy = fuzz_marks(rec, index, seed, min_level)
        if not correct:
            inactive += 1
            continue
        texts.append(marked_text(rec.tokens, correct))
        marked.append((rec, correct))
        y_true.append(True)
        if decoy:
            texts.append(marked_text(rec.tokens, decoy))
            marked.append((rec, decoy))
            y_true.append(False)
        else:
            no_decoy += 1
    if is_simulator(model):
        verdicts = simulator_verdicts(model, explanation, [r for r, _ in marked], [m for _, m in marked])
    else:
        verdicts = ask_yes_no(model, "fuzz", explanation, texts, batch_size=batch_size, concurrency=concurrency)
    return binary_results("fuzzing", y_true, verdicts, scorer_model or getattr(model, "name", ""),
                          {"window": window, "min_level": min_level, "seed": seed,
                           "skipped_inactive": inactive, "no_decoy": no_decoy})
