"""Per-token features of a record from a frozen sentence encoder (all-MiniLM-L6-v2).

The offline simulators need, for every token of a subject-model window, a vector
that says what the token is and what surrounds it on the left. Two kinds:

* :func:`span_embeddings` — the sentence embedding of the token with a few tokens of
  left context (``"…the cat sat"`` for ``" sat"``), one encoder call per distinct
  span: in the same space as an explanation's embedding, so a cosine needs no
  training (the ``embedding`` simulator).
* :class:`TokenFeaturizer` — one encoder pass per window, cheap: each token gets
  the mean hidden state of the encoder's word pieces that overlap it, the mean over
  its left-context span, the previous token's state, and a few surface properties
  of the text around it (capitalisation, digits, brackets, strings, line starts,
  repeats); optionally also its span's sentence embedding (about seven times the
  encoder work). The ``trained`` simulator learns to read these.

The subject's tokens and the encoder's word pieces are aligned by characters: a
window is the concatenation of its token strings, every token owns a character
range, and a word piece belongs to every token whose range it overlaps.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .embedding import DIM, Embedder, _model, default_embedder, model_path
from .suites._text import COMMENT, DOC, STRING, bracket_depth, code_classes

__all__ = ["BLOCKS", "CONTEXT", "SURFACE", "TokenFeaturizer", "char_ranges", "layout", "span_embeddings", "span_texts",
           "surface_features"]

CONTEXT = 4  # tokens of a span, the token itself included
SEGMENT = 96  # subject tokens per encoder pass (a window is cut into segments past this)
OVERLAP = 16  # tokens of left context carried into the next segment

SURFACE = ("space_before", "newline", "whitespace", "capitalised", "all_caps", "digit", "punctuation",
           "in_parens", "in_square", "in_curly", "in_string", "in_comment", "in_docstring", "line_start",
           "repeat", "long")


def char_ranges(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end character of each token in the concatenated text."""
    ends = np.cumsum([len(t) for t in tokens], dtype=np.int64)
    return ends - np.array([len(t) for t in tokens], dtype=np.int64), ends


def span_texts(tokens: Sequence[str], context: int = CONTEXT) -> list[str]:
    """For each token, its text with up to ``context - 1`` tokens before it."""
    return ["".join(tokens[max(0, i - context + 1): i + 1]) for i in range(len(tokens))]


def span_embeddings(embedder: Embedder, records_tokens: Sequence[Sequence[str]],
                    context: int = CONTEXT) -> list[np.ndarray]:
    """Unit-norm sentence embeddings ``[T, 384]`` of every token's left-context span,
    one array per record; spans shared between records are encoded once."""
    spans = [span_texts(tokens, context) for tokens in records_tokens]
    flat = [s if s.strip() else "(blank)" for group in spans for s in group]
    vectors = embedder.encode(flat) if flat else np.zeros((0, DIM), np.float32)
    out, at = [], 0
    for group in spans:
        out.append(vectors[at: at + len(group)])
        at += len(group)
    return out


def surface_features(tokens: Sequence[str]) -> np.ndarray:
    """``[T, len(SURFACE)]`` float32 properties of each token and its left context."""
    text = "".join(tokens)
    starts, ends = char_ranges(tokens)
    out = np.zeros((len(tokens), len(SURFACE)), dtype=np.float32)
    if not text:
        return out
    classes = code_classes(text)
    depths = [bracket_depth(text, o, c) for o, c in ("()", "[]", "{}")]
    seen: set[str] = set()
    for i, tok in enumerate(tokens):
        s, e = int(starts[i]), int(ends[i])
        stripped = tok.strip()
        f = out[i]
        f[0] = tok[:1] == " "
        f[1] = "\n" in tok
        f[2] = not stripped
        f[3] = stripped[:1].isupper()
        f[4] = len(stripped) > 1 and stripped.isupper()
        f[5] = any(c.isdigit() for c in stripped)
        f[6] = bool(stripped) and not any(c.isalnum() for c in stripped)
        if e > s:
            last = e - 1
            f[7] = depths[0][last] > 0
            f[8] = depths[1][last] > 0
            f[9] = depths[2][last] > 0
            f[10] = classes[last] == STRING
            f[11] = classes[last] == COMMENT
            f[12] = classes[last] == DOC
        k = s - 1
        while k >= 0 and text[k] in " \t":
            k -= 1
        f[13] = k >= 0 and text[k] == "\n" or (s > 0 and text[s - 1] == "\n")
        key = stripped.lower()
        f[14] = bool(key) and key in seen
        seen.add(key)
        f[15] = min(len(stripped), 12) / 12
    return out


BLOCKS = ("own", "span", "prev", "surface", "sentence")


def layout(sentence_spans: bool = False) -> dict[str, tuple[int, int]]:
    """Where each block of a token's features lies: ``own`` (the token's encoder
    state), ``span`` (its left span's mean state), ``prev`` (the previous token's
    state), ``surface`` (:data:`SURFACE`) and, with ``sentence_spans``, ``sentence``
    (the unit-norm sentence embedding of the left span, as :func:`span_embeddings`)."""
    sizes = {"own": DIM, "span": DIM, "prev": DIM, "surface": len(SURFACE)}
    if sentence_spans:
        sizes["sentence"] = DIM
    out, at = {}, 0
    for name, size in sizes.items():
        out[name] = (at, at + size)
        at += size
    return out


class TokenFeaturizer:
    """Token features ``[T, dim]`` for records, laid out as :func:`layout` says: one
    encoder pass per window, plus one short encoding per distinct span when
    ``sentence_spans`` is set; a cache of recent windows."""

    def __init__(self, device: str = "cpu", batch_size: int = 32, context: int = CONTEXT,
                 cache_size: int = 4096, sentence_spans: bool = False, embedder: Embedder | None = None):
        self.device = device
        self.batch_size = batch_size
        self.context = context
        self.cache_size = cache_size
        self.sentence_spans = sentence_spans
        self.embedder = embedder
        self.layout = layout(sentence_spans)
        self.dim = max(end for _, end in self.layout.values())
        self._cache: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, records_tokens: Sequence[Sequence[str]], progress=None) -> list[np.ndarray]:
        keys = [tuple(t) for t in records_tokens]
        with self._lock:
            missing = [k for k in dict.fromkeys(keys) if k not in self._cache]
            fresh: dict[tuple[str, ...], np.ndarray] = {}
            for start in range(0, len(missing), self.batch_size):
                chunk = missing[start: start + self.batch_size]
                fresh.update(zip(chunk, self._encode(chunk)))
                if progress is not None:
                    progress(len(chunk))
            out = [fresh[k] if k in fresh else self._cache[k] for k in keys]
            if self.cache_size:
                for k, v in fresh.items():
                    self._cache[k] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def prime(self, windows: Sequence[Sequence[str]], features: Sequence[np.ndarray]) -> None:
        """Remember features already computed for ``windows`` (e.g. a training pool's),
        regardless of ``cache_size``."""
        with self._lock:
            for tokens, feats in zip(windows, features):
                if feats.shape != (len(tokens), self.dim):
                    raise ValueError(f"features of shape {feats.shape} for {len(tokens)} tokens of dim {self.dim}")
                self._cache[tuple(tokens)] = feats
            self.cache_size = max(self.cache_size, len(self._cache))

    def _encode(self, windows: list[tuple[str, ...]]) -> list[np.ndarray]:
        # cut long windows into segments with some left context, encode all segments together
        pieces: list[tuple[int, int, int, tuple[str, ...]]] = []  # (window, first kept, offset, tokens)
        for w, tokens in enumerate(windows):
            for begin in range(0, max(len(tokens), 1), SEGMENT):
                lead = max(0, begin - OVERLAP)
                pieces.append((w, begin - lead, begin, tokens[lead: begin + SEGMENT]))
        states = self._states([p[3] for p in pieces])
        out = [np.zeros((len(t), self.dim), np.float32) for t in windows]
        for (w, keep, begin, tokens), feats in zip(pieces, states):
            n = len(tokens) - keep
            out[w][begin: begin + n, : 2 * DIM] = feats[keep:]
        a, b = self.layout["prev"]
        s0, s1 = self.layout["surface"]
        for w, tokens in enumerate(windows):
            out[w][1:, a:b] = out[w][:-1, :DIM]
            out[w][:, s0:s1] = surface_features(tokens)
        if self.sentence_spans:
            embedder = self.embedder or default_embedder()
            a, b = self.layout["sentence"]
            for w, vectors in enumerate(span_embeddings(embedder, windows, self.context)):
                out[w][:, a:b] = vectors
        return out

    def _states(self, segments: list[tuple[str, ...]]) -> list[np.ndarray]:
        import torch

        model = _model(model_path(), self.device)
        bert, tokenizer = model[0].auto_model, model.tokenizer
        texts = ["".join(s) for s in segments]
        enc = tokenizer(texts, return_offsets_mapping=True, padding=True, truncation=True,
                        max_length=512, return_tensors="pt")
        offsets = enc.pop("offset_mapping").numpy()
        with torch.inference_mode():
            hidden = bert(**{k: v.to(self.device) for k, v in enc.items()}).last_hidden_state.float().cpu().numpy()
        mask = enc["attention_mask"].numpy().astype(bool)
        out = []
        for b, tokens in enumerate(segments):
            starts, ends = char_ranges(tokens)
            keep = mask[b] & (offsets[b, :, 1] > offsets[b, :, 0])
            p_start, p_end, h = offsets[b, keep, 0], offsets[b, keep, 1], hidden[b, keep]
            feats = np.zeros((len(tokens), 2 * DIM), np.float32)
            if len(h):
                # a word piece belongs to every token whose characters it overlaps
                overlap = (p_end[None, :] > starts[:, None]) & (p_start[None, :] < ends[:, None])  # [T, P]
                span_start = starts[np.maximum(np.arange(len(tokens)) - self.context + 1, 0)]
                in_span = (p_end[None, :] > span_start[:, None]) & (p_start[None, :] < ends[:, None])
                for j, m in enumerate((overlap, in_span)):
                    counts = m.sum(1, keepdims=True)
                    # tokens no piece overlaps (pure whitespace) keep zeros: the surface features say so
                    feats[:, j * DIM:(j + 1) * DIM] = (m.astype(np.float32) @ h) / np.maximum(counts, 1)
            out.append(feats)
        return out
