"""What ``mechanic serve`` and ``mechanic report`` give the viewer (``web``): token
decoding and output-side tokens from the subject model named in the store (loaded on
first use, once per model), MiniLM embeddings for semantic search, the offline
simulator for the overlay, and the bench summaries."""

from __future__ import annotations

import sqlite3
import threading
from functools import partial
from pathlib import Path

import numpy as np
from mechanic import store
from mechanic.tools import MechanicError
from mechanic.web.services import Services

__all__ = ["prepare_store", "viewer_services"]


def prepare_store(path: str | Path) -> None:
    """Bring the store's schema up to date (the viewer itself only reads); MechanicError when there is no store."""
    path = Path(path)
    if not path.is_file():
        raise MechanicError(f"no database at {path}; run `mechanic cache` or `mechanic label` first, or pass --db PATH")
    try:
        db = store.open_db(path)
    except sqlite3.DatabaseError as exc:
        raise MechanicError(f"{path} is not a mechanic database: {exc}") from exc
    db.conn.close()


class _Subjects:
    """Subject models by stored name, loaded once each; a name that cannot load is remembered as such."""

    def __init__(self, preloaded: dict | None = None):
        self._subjects: dict[str, object] = dict(preloaded or {})
        self._failed: dict[str, str] = {}
        self._strings: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def get(self, name: str):
        with self._lock:
            if name in self._failed:
                raise MechanicError(self._failed[name])
            if name not in self._subjects:
                from mechanic.tools import load_subject

                try:
                    self._subjects[name] = load_subject(name)
                except (MechanicError, OSError, ValueError) as exc:
                    self._failed[name] = f"model {name!r} could not be loaded: {exc}"
                    raise MechanicError(self._failed[name]) from exc
            return self._subjects[name]

    def decode(self, model: str, ids) -> list[str]:
        ids = [int(i) for i in ids]
        missing = [i for i in dict.fromkeys(ids) if (model, i) not in self._strings]
        if missing:
            strings = self.get(model).token_strings(missing)
            self._strings.update(((model, i), s) for i, s in zip(missing, strings))
        return [self._strings[(model, i)] for i in ids]

    def output_tokens(self, model: str, feature: str) -> dict:
        from mechanic.tools import output_tokens

        return output_tokens(self.get(model), feature, k=10)


def _simulate(simulator, explanation: str, windows: list[list[str]]) -> tuple[list[np.ndarray], str]:
    from mechanic.evals.records import Record

    records = [Record(tuple(tokens), np.zeros(len(tokens), dtype=np.float32)) for tokens in windows]
    return simulator.simulate(explanation, records), simulator.name


def _embed(texts: list[str]) -> np.ndarray:
    from mechanic.evals.embedding import default_embedder

    return default_embedder().encode(texts)


def viewer_services(*, semantic: bool = True, simulate: bool = True, subjects: dict | None = None) -> Services:
    """The viewer's services; heavy parts (models, the sentence encoder) load on first use.
    ``subjects`` maps stored model names to already loaded subjects (tests, the bench)."""
    from mechanic.evals.offline import DEFAULT_SIMULATOR

    from .bench import bench_summary, compare_runs

    models = _Subjects(subjects)
    simulator_holder: dict = {}

    def simulate_fn(explanation: str, windows: list[list[str]]):
        if "sim" not in simulator_holder:
            from mechanic.evals.offline import offline_simulator

            simulator_holder["sim"] = offline_simulator(DEFAULT_SIMULATOR)
        return _simulate(simulator_holder["sim"], explanation, windows)

    return Services(decode=models.decode, embed=_embed if semantic else None,
                    simulate=simulate_fn if simulate else None, output_tokens=models.output_tokens,
                    bench_summary=partial(bench_summary), compare_runs=partial(compare_runs),
                    simulator_name=DEFAULT_SIMULATOR)
