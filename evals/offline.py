"""Simulators that need no LLM: the ``embedding`` and ``trained`` simulators.

Both predict a level from 0 to 10 at every token of a record from the explanation
alone, through a frozen sentence encoder (all-MiniLM-L6-v2, offline):

* :class:`EmbeddingSimulator` — zero training: the cosine between the explanation's
  sentence embedding and the embedding of each token with its left context
  (:func:`~mechanic.evals.token_features.span_embeddings`).
* :class:`TrainedSimulator` — a small low-rank bilinear head between the
  explanation's embedding and per-token encoder features
  (:class:`~mechanic.evals.token_features.TokenFeaturizer`), trained on a
  procedurally generated library of text-rule features (``evals/training``); its
  weights ship in ``evals/weights`` (``bench/train_simulator.py`` rebuilds them).

Raw scores map onto 0-10 through a logistic calibration fitted when the head is
trained (on the library's validation windows), so a level of 5 means "about even
odds that the feature fires here". Pearson scores do not depend on the mapping's
scale, but detection thresholds and reports do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mechanic.tools.errors import MechanicError

from .embedding import Embedder, default_embedder
from .lm import Usage
from .records import Record
from .simulators import MAX_LEVEL, Simulation, SimulatorBase
from .token_features import TokenFeaturizer, span_embeddings

__all__ = ["DEFAULT_SIMULATOR", "OFFLINE_SIMULATORS", "EmbeddingSimulator", "Head", "TrainedSimulator", "WEIGHTS",
           "offline_simulator"]

OFFLINE_SIMULATORS = ("embedding", "trained")
# The default everywhere a simulator is chosen: the best validity measured by bench/simulators.py
# and bench/train_simulator.py (the embedded 135M LLM ranks true explanations above decoys at chance).
DEFAULT_SIMULATOR = "embedding"
WEIGHTS = Path(__file__).parent / "weights" / "simulator_head.safetensors"
FORMAT = "mechanic-simulator-head/2"

# cosine -> level for the embedding simulator: 10 * sigmoid(SCALE * (cos - CENTRE)); fitted by
# bench/train_simulator.py on the library's validation windows (see the weights' metadata)
_EMBEDDING_CALIBRATION = {"scale": 12.0, "centre": 0.45}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _charge(total: Usage, seconds: float) -> Usage:
    """An offline simulation costs time only: no LLM calls, no LLM tokens."""
    part = Usage(seconds=seconds)
    total.merge(part)
    return part


class _OfflineSimulator(SimulatorBase):
    """What the offline simulators share: :meth:`raw_scores` for every (explanation,
    record) pair at once, mapped to levels by :meth:`levels`. A simulation costs time
    only (no LLM calls or tokens), split evenly over the explanations."""

    def raw_scores(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        raise NotImplementedError

    def levels(self, raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def run_many(self, explanations: Sequence[str], records: Sequence[Record]) -> list[Simulation]:
        t0 = time.perf_counter()
        raw = self.raw_scores(explanations, records)
        seconds = time.perf_counter() - t0
        out = []
        for per_record in raw:
            usage = _charge(self.usage, seconds / max(len(explanations), 1))
            out.append(Simulation([self.levels(r) for r in per_record], usage))
        return out


class EmbeddingSimulator(_OfflineSimulator):
    """Level = calibrated cosine between the explanation and each token's left-context
    span, both embedded by all-MiniLM-L6-v2."""

    def __init__(self, embedder: Embedder | None = None, calibration: dict | None = None):
        self.embedder = embedder or default_embedder()
        cal = calibration or _load_metadata().get("embedding_calibration") or _EMBEDDING_CALIBRATION
        self.scale, self.centre = float(cal["scale"]), float(cal["centre"])
        self.name = "embedding:all-MiniLM-L6-v2"
        self.usage = Usage()

    def raw_scores(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        """Cosines ``[explanation][record] -> [T]``."""
        spans = span_embeddings(self.embedder, [r.tokens for r in records])
        queries = self.embedder.encode(list(explanations))
        return [[s @ q for s in spans] for q in queries]

    def levels(self, raw: np.ndarray) -> np.ndarray:
        return (MAX_LEVEL * _sigmoid(self.scale * (raw - self.centre))).astype(np.float64)


@dataclass
class Head:
    """The trained simulator's head. For explanation embedding ``e`` [384] (unit norm)
    and token features ``x`` [D] laid out as ``layout`` says
    (:func:`~mechanic.evals.token_features.layout`): ``q = U e + u``,
    ``k = V ((x - mean) / std) + v``, and

        logit = q·k / sqrt(rank) + Σ_block a_block · cos(e, x_block) + c

    so zero-training cosines between the explanation and blocks of the token's
    features are a prior the low-rank part corrects. Level =
    ``10 * sigmoid(scale * logit + shift)``."""

    U: np.ndarray  # [rank, 384]
    u: np.ndarray  # [rank]
    V: np.ndarray  # [rank, D]
    v: np.ndarray  # [rank]
    c: float
    mean: np.ndarray  # [D]
    std: np.ndarray  # [D]
    layout: dict[str, tuple[int, int]]
    cosines: dict[str, float]  # block -> weight
    scale: float = 1.0
    shift: float = 0.0
    metadata: dict | None = None

    @property
    def rank(self) -> int:
        return int(self.U.shape[0])

    @property
    def sentence_spans(self) -> bool:
        return "sentence" in self.layout

    def logits(self, explanation_embeddings: np.ndarray, features: np.ndarray) -> np.ndarray:
        """``[n_explanations, n_tokens]``."""
        keys = ((features - self.mean) / self.std) @ self.V.T + self.v
        out = (explanation_embeddings @ self.U.T + self.u) @ keys.T / np.sqrt(self.rank) + self.c
        for block, weight in self.cosines.items():
            a, b = self.layout[block]
            part = features[:, a:b]
            unit = part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-6)
            out += weight * (explanation_embeddings @ unit.T)
        return out

    def levels(self, logits: np.ndarray) -> np.ndarray:
        return MAX_LEVEL * _sigmoid(self.scale * logits + self.shift)

    def save(self, path: Path | str, metadata: dict | None = None) -> None:
        from safetensors.numpy import save_file

        blocks = list(self.cosines)
        tensors = {"U": self.U, "u": self.u, "V": self.V, "v": self.v, "mean": self.mean, "std": self.std,
                   "c": np.array([self.c]), "cosine_weights": np.array([self.cosines[b] for b in blocks]),
                   "calibration": np.array([self.scale, self.shift])}
        meta = {"format": FORMAT, "layout": json.dumps(self.layout), "cosine_blocks": json.dumps(blocks),
                "metadata": json.dumps(metadata if metadata is not None else (self.metadata or {}))}
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(path), meta)

    @classmethod
    def load(cls, path: Path | str = WEIGHTS) -> "Head":
        from safetensors import safe_open
        from safetensors.numpy import load_file

        path = Path(path)
        if not path.is_file():
            raise MechanicError(f"no trained simulator weights at {path}; rebuild them with "
                                f"`python bench/train_simulator.py`")
        try:
            t = load_file(str(path))
            with safe_open(str(path), "numpy") as f:
                meta = f.metadata() or {}
        except Exception as exc:  # safetensors raises its own error types for a corrupt file
            raise MechanicError(f"could not read simulator weights {path}: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise MechanicError(f"{path} is not a mechanic simulator head ({FORMAT})")
        f64 = {k: v.astype(np.float64) for k, v in t.items()}
        scale, shift = (float(x) for x in f64["calibration"])
        blocks = json.loads(meta["cosine_blocks"])
        layout = {k: tuple(v) for k, v in json.loads(meta["layout"]).items()}
        return cls(f64["U"], f64["u"], f64["V"], f64["v"], float(f64["c"][0]), f64["mean"], f64["std"], layout,
                   dict(zip(blocks, (float(x) for x in f64["cosine_weights"]))), scale, shift,
                   json.loads(meta.get("metadata", "{}")))


def _load_metadata() -> dict:
    try:
        return Head.load(WEIGHTS).metadata or {}
    except MechanicError:
        return {}


class TrainedSimulator(_OfflineSimulator):
    """Level per token from the shipped (or a given) :class:`Head` over
    :class:`TokenFeaturizer` features and the explanation's MiniLM embedding."""

    def __init__(self, head: Head | str | Path | None = None, embedder: Embedder | None = None,
                 featurizer: TokenFeaturizer | None = None):
        self.head = head if isinstance(head, Head) else Head.load(head or WEIGHTS)
        self.embedder = embedder or default_embedder()
        self.featurizer = featurizer or TokenFeaturizer(sentence_spans=self.head.sentence_spans,
                                                        embedder=self.embedder)
        if self.featurizer.layout != self.head.layout:
            raise MechanicError(f"the simulator head expects token features laid out as {self.head.layout}, "
                                f"the featurizer gives {self.featurizer.layout}")
        self.name = "trained:all-MiniLM-L6-v2"
        self.usage = Usage()

    def raw_scores(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        """Logits ``[explanation][record] -> [T]``."""
        feats = self.featurizer([r.tokens for r in records])
        lengths = [len(f) for f in feats]
        stacked = np.concatenate(feats).astype(np.float64) if sum(lengths) else np.zeros((0, self.featurizer.dim))
        logits = self.head.logits(self.embedder.encode(list(explanations)).astype(np.float64), stacked)
        bounds = np.cumsum([0, *lengths])
        return [[row[bounds[i]: bounds[i + 1]] for i in range(len(lengths))] for row in logits]

    def levels(self, raw: np.ndarray) -> np.ndarray:
        return self.head.levels(raw)


def offline_simulator(spec: str) -> EmbeddingSimulator | TrainedSimulator:
    """The simulator named ``embedding`` or ``trained`` (``trained:PATH`` loads other weights)."""
    name, _, arg = spec.partition(":")
    if name == "embedding" and not arg:
        return EmbeddingSimulator()
    if name == "trained":
        return TrainedSimulator(arg or None)
    raise MechanicError(f"unknown offline simulator {spec!r}; choose from {', '.join(OFFLINE_SIMULATORS)}")
