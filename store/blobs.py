"""Arrays as compact, portable BLOBs (little-endian, no header).

Token ids are int32, per-token activations float16 (half the size of float32 and
plenty for ranking and display), directions float32. A blob's length in bytes
divided by the item size gives the number of items.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "decode_activations",
    "decode_tokens",
    "decode_vector",
    "encode_activations",
    "encode_activations_many",
    "encode_tokens",
    "encode_vector",
]

_TOKENS = np.dtype("<i4")
_ACTS = np.dtype("<f2")
_VECTOR = np.dtype("<f4")
_F16_MAX = float(np.finfo(np.float16).max)


def encode_tokens(tokens: np.ndarray | Sequence[int]) -> bytes:
    """Token ids -> int32 blob. Raises ValueError for ids that do not fit in int32."""
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ValueError(f"tokens must be 1-D, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"tokens must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
        raise ValueError("token id out of int32 range")
    return arr.astype(_TOKENS, copy=False).tobytes()


def decode_tokens(blob: bytes) -> np.ndarray:
    """int32 blob -> writable np.int32 array."""
    return np.frombuffer(blob, dtype=_TOKENS).astype(np.int32)


def encode_activations(acts: np.ndarray | Sequence[float]) -> bytes:
    """Per-token activations -> float16 blob.

    Values beyond float16's range (±65504) are clipped rather than turned into inf;
    the exact maximum is kept separately in ``exemplars.max_act``.
    """
    arr = np.asarray(acts, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"activations must be 1-D, got shape {arr.shape}")
    return np.clip(arr, -_F16_MAX, _F16_MAX).astype(_ACTS).tobytes()


def encode_activations_many(rows: Sequence[np.ndarray | Sequence[float]]) -> list[bytes]:
    """``[encode_activations(r) for r in rows]``, with one clip and one cast for all rows."""
    arrays = [np.asarray(r, dtype=np.float32) for r in rows]
    if not arrays:
        return []
    for arr in arrays:
        if arr.ndim != 1:
            raise ValueError(f"activations must be 1-D, got shape {arr.shape}")
    flat = np.clip(np.concatenate(arrays), -_F16_MAX, _F16_MAX).astype(_ACTS)
    ends = np.cumsum([a.size for a in arrays]).tolist()
    return [flat[start:end].tobytes() for start, end in zip([0, *ends[:-1]], ends)]


def decode_activations(blob: bytes) -> np.ndarray:
    """float16 blob -> writable np.float32 array."""
    return np.frombuffer(blob, dtype=_ACTS).astype(np.float32)


def encode_vector(vector: np.ndarray | Sequence[float]) -> bytes:
    """A direction -> float32 blob."""
    arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1:
        raise ValueError(f"vector must be 1-D, got shape {arr.shape}")
    return arr.astype(_VECTOR, copy=False).tobytes()


def decode_vector(blob: bytes) -> np.ndarray:
    """float32 blob -> writable np.float32 array."""
    return np.frombuffer(blob, dtype=_VECTOR).astype(np.float32)
