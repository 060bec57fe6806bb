"""Capture features of a subject model into the store, resumably.

``cache_features`` is what ``mechanic cache`` (and, later, ``mechanic label``) calls:
it skips features already in the store for this model and corpus sample, captures the
rest in bounded-memory passes, and writes each pass's features in transactions, so an
interrupted run loses at most one pass and a rerun does only what is missing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

from mechanic import store
from mechanic.tools import (
    CaptureConfig,
    FeatureId,
    Subject,
    capture,
    check_source,
    corpus_spec,
    corpus_windows,
    window_split,
)

__all__ = ["CacheSummary", "cache_features", "register_model", "register_stored_directions"]

# Per-feature state is ~(top_k + bottom_k + decile_pool + n_random) x window floats;
# this many features per pass keeps a pass under ~1 GB at the defaults.
MAX_FEATURES_PER_PASS = 4096


@dataclass
class CacheSummary:
    model: str
    corpus_id: int
    run_id: int
    requested: int
    skipped: int
    captured: int
    n_tokens: int = 0
    seconds: float = 0.0
    features: list[str] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.n_tokens / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens_per_second"] = round(self.tokens_per_second, 1)
        return d


def register_model(db, subject: Subject) -> int:
    return store.upsert_model(
        db,
        subject.name,
        family=subject.arch.family,
        n_layers=subject.n_layers,
        d_model=subject.d_model,
        d_mlp=subject.d_mlp,
        n_heads=subject.n_heads,
        vocab_size=subject.vocab_size,
    )


def register_stored_directions(db, subject: Subject) -> None:
    """Make directions saved in the store usable as ``resid:L:NAME`` features."""
    import torch

    model_id = register_model(db, subject)
    for name, vector in store.load_directions(db, model_id).items():
        if name not in subject.directions:
            subject.add_direction(name, torch.as_tensor(vector))


def cache_features(
    db,
    subject: Subject,
    features: Sequence[FeatureId],
    *,
    source: str = "default",
    n_tokens: int = 20_000,
    length: int = 64,
    config: CaptureConfig = CaptureConfig(),
    progress: bool = True,
    command: str = "cache",
) -> CacheSummary:
    """Capture whatever of ``features`` the store lacks for this model and corpus sample."""
    spec = corpus_spec(source, n_tokens, length, config.seed, first_position=config.first_position)
    check_source(source, config.seed)  # a missing, empty or binary file: refused before anything is written
    model_id = register_model(db, subject)
    corpus_id = store.upsert_corpus(db, source, spec)
    run_id = store.start_run(
        db, command, {"model": subject.name, "corpus": spec, "features": len(features), "capture": asdict(config)}
    )
    done = store.captured_features(db, model_id, corpus_id)
    todo = [f for f in features if str(f) not in done]
    summary = CacheSummary(subject.name, corpus_id, run_id, len(features), len(features) - len(todo), 0)
    with store.finishing(db, run_id):
        if todo:
            windows = corpus_windows(subject.tokenizer, source, n_tokens=n_tokens, length=length, seed=config.seed)
            splits = {w.index: window_split(w.index, config.seed) for w in windows}
            store.write_windows(
                db, corpus_id, (store.WindowRow(w.index, w.doc, w.start, splits[w.index], list(w.tokens)) for w in windows)
            )
            for start in range(0, len(todo), MAX_FEATURES_PER_PASS):
                chunk = todo[start : start + MAX_FEATURES_PER_PASS]
                cap = capture(subject, chunk, windows, config, progress=progress)
                with db.atomic():  # one commit per pass
                    for fc in cap.features:
                        _write(db, model_id, corpus_id, run_id, fc, splits)
                        summary.features.append(str(fc.feature))
                summary.captured += len(chunk)
                summary.n_tokens += cap.n_tokens
                summary.seconds += cap.seconds
    return summary


def _write(db, model_id: int, corpus_id: int, run_id: int, fc, splits: dict[int, str]) -> None:
    f = fc.feature
    rows = [
        store.ExemplarRow(e.kind, e.decile, e.rank, e.window_index, splits[e.window_index], e.max_act, e.activations)
        for e in fc.exemplars
    ]
    store.write_feature(
        db,
        model_id=model_id,
        corpus_id=corpus_id,
        run_id=run_id,
        feature=str(f),
        kind=f.kind,
        layer=f.layer,
        idx=f.index,
        name=f.name,
        stats=fc.stats,
        quantiles=fc.quantiles,
        exemplars=rows,
    )
