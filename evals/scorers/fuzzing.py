"""Fuzzing scoring: does the explanation single out the right tokens?

Each activating window (cropped to ``window`` tokens around its peak) is shown
twice, with some tokens marked ``«like this»``:

* correctly: the tokens at level ≥ ``min_level`` (activation ≥ min_level/10 of the
  window's maximum);
* incorrectly: as many tokens drawn at random from the window's non-activating
  tokens (level 0, activation below a tenth of the maximum), seeded by
  ``(seed, window number)`` so the draw does not depend on the order of windows.

The model answers whether the marked tokens are the ones the explanation describes.
Correctly marked windows are the positives. Metrics (AUROC headline, balanced
accuracy at a cut fitted on the ``select`` split's activating windows, marked the
same way), asking and failure handling are those of :mod:`.detection` (the ``fuzz``
template in place of ``detect``; an offline simulator's score for a marked window is
its mean predicted level over the marked tokens). A window
with no positive activation, or with no non-activating token to mark instead, gives
no incorrect version and is counted in ``details``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..records import Record, ScoreResult, crop, normalize_to_ten
from ..simulators import escape_token
from .detection import WINDOW, binary_results, gives_probabilities, judge_windows, passage_text

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


def _marked_versions(activating: Sequence[Record], seed: int, window: int, min_level: int):
    """(records, marks, truth, inactive, no_decoy): each window correctly marked and,
    where possible, decoy-marked."""
    records: list[Record] = []
    marks: list[list[int]] = []
    y_true: list[bool] = []
    inactive = no_decoy = 0
    for index, record in enumerate(activating):
        rec = crop(record, window)
        correct, decoy = fuzz_marks(rec, index, seed, min_level)
        if not correct:
            inactive += 1
            continue
        records.append(rec)
        marks.append(correct)
        y_true.append(True)
        if decoy:
            records.append(rec)
            marks.append(decoy)
            y_true.append(False)
        else:
            no_decoy += 1
    return records, marks, y_true, inactive, no_decoy


def fuzzing_score(model, explanation: str, activating: Sequence[Record], seed: int = 0, *,
                  window: int = WINDOW, min_level: int = 5, batch_size: int = 16, concurrency: int = 1,
                  scorer_model: str = "", select: Sequence[Record] | None = None) -> list[ScoreResult]:
    """Fuzzing scores of ``explanation`` on ``activating`` windows: correctly marked
    versions should rank above decoy-marked ones. ``select``: activating windows of
    the select split, on which the yes/no cut is fitted."""
    records, marks, y_true, inactive, no_decoy = _marked_versions(activating, seed, window, min_level)
    n_test = len(records)
    y_sel: list[bool] = []
    if select and gives_probabilities(model):
        sel_records, sel_marks, y_sel, _, _ = _marked_versions(select, seed, window, min_level)
        if True in y_sel and False in y_sel:
            records, marks = records + sel_records, marks + sel_marks
        else:
            y_sel = []
    texts = [marked_text(r.tokens, m) for r, m in zip(records, marks)]
    verdicts = judge_windows(model, "fuzz", explanation, records, marks, texts, batch_size=batch_size,
                             concurrency=concurrency)
    on_test, on_select = verdicts.split(n_test)
    return binary_results("fuzzing", y_true, on_test, scorer_model or getattr(model, "name", ""),
                          {"window": window, "min_level": min_level, "seed": seed,
                           "skipped_inactive": inactive, "no_decoy": no_decoy},
                          (y_sel, on_select) if y_sel else None)
