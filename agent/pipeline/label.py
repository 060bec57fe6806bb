"""``mechanic label``: capture, explain, score, store — resumably.

Two phases (:mod:`.phases`), each resumable on its own:

1. **explain** — for every (feature, method) without an explanation under this
   configuration, build the evidence (train split), run the explainer, and store the
   explanation, or the failure with its raw output.
2. **score** — every explanation without scores, plus two sanity controls per feature
   (a *random* description and a *shuffled* one: another feature's explanation), is
   scored on the test split by each scorer; the scores of one explanation are written
   in one transaction.

An interrupted run loses at most the work in flight; a rerun with the same
configuration does only what is missing and never duplicates a row.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

from mechanic import store
from mechanic.evals.lm import LLM, Usage
from mechanic.tools import CaptureConfig, FeatureId, MechanicError, Subject

from .. import llm as llm_backends
from ..evidence import load_evidence, load_scoring_set
from .capture import cache_features, register_model
from .config import LabelConfig
from .models import Models
from .phases import Target, ensure_controls, explain_phase, score_phase
from .scorers import HeldOut, detection_sets

__all__ = ["LabelSummary", "label", "stored_target"]


@dataclass
class LabelSummary:
    run_id: int
    config_hash: str
    features: list[str]
    explained: int = 0
    skipped: int = 0
    failed: int = 0
    scored: int = 0
    score_errors: int = 0  # scorer results stored as errors
    failures: dict[str, int] = field(default_factory=dict)  # failed explanations by cause, most frequent first
    seconds: float = 0.0
    usage: dict[str, Usage] = field(default_factory=dict)  # per method (explainers) and "scoring"


def stored_target(db, subject: Subject, row: dict, config: LabelConfig, name: str | None = None) -> Target:
    """A captured feature as a :class:`~.phases.Target`: everything read from the store."""

    def held_out() -> HeldOut:
        evidence = load_evidence(db, subject, row, with_outputs=False)
        test, select = (load_scoring_set(db, subject, row, split, n_top=config.n_top, n_deciles=config.n_deciles,
                                         n_random=config.n_random) for split in ("test", "select"))
        return HeldOut(row, test, *detection_sets(db, subject, row, evidence, test, config),
                       *detection_sets(db, subject, row, evidence, select, config))

    return Target(
        name or row["feature"], row,
        evidence=lambda: load_evidence(db, subject, row),
        selection=lambda: load_scoring_set(db, subject, row, "select", n_top=config.n_top, n_random=config.n_random),
        held_out=held_out)


def label(
    db,
    subject: Subject,
    features: Sequence[FeatureId],
    config: LabelConfig = LabelConfig(),
    *,
    make_llm: Callable[[str, Subject], LLM] | None = None,
    concurrency: int = 1,
    progress: Callable[[str], None] | None = None,
    capture_config: CaptureConfig = CaptureConfig(),
) -> LabelSummary:
    """Explain and score ``features`` (capturing what is missing first)."""
    say = progress or (lambda _msg: None)
    start = time.perf_counter()
    capture_config = replace(capture_config, first_position=0 if config.keep_first_position else 1)
    models = Models(subject, config, make_llm or llm_backends.make_llm)
    models.preflight()  # before capture: a dead endpoint fails now, not after an hour
    cache = cache_features(db, subject, features, source=config.corpus, n_tokens=config.n_tokens,
                           length=config.window, config=capture_config, progress=False, command="label:capture")
    model_id = register_model(db, subject)
    targets = []
    for name in dict.fromkeys(str(f) for f in features):
        row = store.get_feature(db, subject.name, name, corpus_id=cache.corpus_id)
        if row is None:  # pragma: no cover - cache_features just wrote it
            raise MechanicError(f"{name} was not captured")
        targets.append(stored_target(db, subject, row, config, name))
    chash = config.hash()
    run_id = store.start_run(db, "label", {**asdict(config), "features": [str(f) for f in features],
                                           "model": subject.name, "model_id": model_id})
    summary = LabelSummary(run_id, chash, [str(f) for f in features])
    with store.finishing(db, run_id):
        counts = explain_phase(db, targets, models, run_id, chash, usage=summary.usage, concurrency=concurrency,
                               say=say)
        if config.scorers:
            ensure_controls(db, targets, run_id, chash, config.seed)
            scoring = score_phase(db, targets, models, run_id, chash,
                                  usage=summary.usage.setdefault("scoring", Usage()), say=say)
            counts.scored, counts.score_errors = scoring.scored, scoring.score_errors
    summary.explained, summary.skipped, summary.failed, summary.scored = (
        counts.explained, counts.skipped, counts.failed, counts.scored)
    summary.score_errors, summary.failures = counts.score_errors, dict(counts.causes.most_common())
    summary.seconds = time.perf_counter() - start
    return summary
