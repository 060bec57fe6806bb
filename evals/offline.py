"""Simulators that need no LLM: the ``embedding`` and ``trained`` simulators.

Both predict a level from 0 to 10 at every token of a record from the explanation
alone, through a frozen sentence encoder (all-MiniLM-L6-v2, offline):

* :class:`EmbeddingSimulator` — zero training: the cosine between the explanation's
  sentence embedding and the embedding of each token with its left context
  (:func:`~mechanic.evals.token_features.span_embeddings`).
* :class:`TrainedSimulator` — cosines between the explanation and several views of
  each token (the token's word, its left span, its neighbours, its place in the
  text: :class:`~mechanic.evals.token_views.TokenViews`), weighed by a tiny head
  that reads where to look from the explanation's relation words ("after X" looks at
  the previous token). A word the explanation names outright, quoted or in a list
  ("keywords (def, return, if)"), or spells out ("words ending in -ing"), counts as
  an exact match in that view (:func:`named_ids`): a sentence encoder puts "Python
  keywords (def, ...)" nearer the word "Python" than the word "return", and does not
  spell. The head is trained on a
  procedurally generated library of text-rule features (``evals/training``); its
  weights ship in ``evals/weights`` (``bench/train_simulator.py`` rebuilds them).

An explanation of several modes ("colour words; also closing brackets") is read mode
by mode: each part is simulated on its own and a token's level is the highest of
them, since a sentence encoder averages the parts into one vector that matches
neither (:func:`modes_of`).

The embedding simulator's cosines map onto 0-10 through a fixed logistic; the
trained head's levels are ``10 * sigmoid(logit)``, the transform it is trained
under. Pearson scores depend on that shape, and detection thresholds (a level of 5)
and reports on its scale.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mechanic.tools.errors import MechanicError

from .embedding import DIM, Embedder, default_embedder
from .lm import Usage
from .records import Record
from .simulators import MAX_LEVEL, Simulation, SimulatorBase
from .token_features import span_embeddings
from .token_views import DIM_VIEWS, EMBEDDED, FLAGS, VIEWS, TokenViews, token_words

__all__ = ["DEFAULT_SIMULATOR", "LISTED_VIEWS", "OFFLINE_SIMULATORS", "RELATIONS", "EmbeddingSimulator", "Head",
           "TrainedSimulator", "WEIGHTS", "head_logits", "listed_examples", "listed_matches", "modes_of", "named_ids",
           "named_spellings", "offline_simulator", "relations", "word_ids"]

OFFLINE_SIMULATORS = ("embedding", "trained")
# The default everywhere a simulator is chosen: the best validity measured by bench/simulators.py
# and bench/train_simulator.py (the embedded 135M LLM ranks true explanations above decoys at chance).
DEFAULT_SIMULATOR = "trained"
WEIGHTS = Path(__file__).parent / "weights" / "simulator_head.safetensors"
FORMAT = "mechanic-simulator-head/4"  # 4: words an explanation names or spells count as exact matches

# cosine -> level for the embedding simulator: 10 * sigmoid(SCALE * (cos - CENTRE)); fixed values,
# fitted once on the rule library's validation windows
_EMBEDDING_CALIBRATION = {"scale": 12.0, "centre": 0.45}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


# "X; also Y": how mechanic (and its suites) write a description of several modes
_ALSO = re.compile(r"\s*;\s+also\s+", re.IGNORECASE)


def modes_of(text: str) -> list[str]:
    """The parts of a description of several modes, or the description itself."""
    parts = [p.strip() for p in _ALSO.split(text) if p.strip()]
    return parts or [text]


def _read_by_mode(explanations: Sequence[str], read) -> list[list[np.ndarray]]:
    """``read(texts) -> [text][record] -> [T]`` on every mode of every explanation at
    once, then per explanation the element-wise max over its modes."""
    parts = [modes_of(e) for e in explanations]
    flat = [p for ps in parts for p in ps]
    raw = read(flat) if flat else []
    out, at = [], 0
    for ps in parts:
        rows = raw[at: at + len(ps)]
        at += len(ps)
        out.append([np.max(np.stack(per), axis=0) if len(per) > 1 else per[0] for per in zip(*rows)])
    return out


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
        cal = calibration or _EMBEDDING_CALIBRATION
        self.scale, self.centre = float(cal["scale"]), float(cal["centre"])
        self.name = "embedding:all-MiniLM-L6-v2"
        self.usage = Usage()

    def raw_scores(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        """Cosines ``[explanation][record] -> [T]``."""
        spans = span_embeddings(self.embedder, [r.tokens for r in records])

        def read(texts):
            return [[s @ q for s in spans] for q in self.embedder.encode(texts)]

        return _read_by_mode(explanations, read)

    def levels(self, raw: np.ndarray) -> np.ndarray:
        return (MAX_LEVEL * _sigmoid(self.scale * (raw - self.centre))).astype(np.float64)


# Relation words of an explanation, which a sentence encoder hardly tells apart: measured
# with all-MiniLM-L6-v2, "the word right before 'the'" lies nearer "right after the" (0.54)
# than "the word right after 'the'" does (0.44). So the head reads them from the text.
RELATIONS = {
    "after": re.compile(r"\b(?:after|following|follows|preceded by)\b", re.IGNORECASE),
    "before": re.compile(r"\b(?:before|preceding|precedes|followed by)\b", re.IGNORECASE),
}


def relations(texts: Sequence[str]) -> np.ndarray:
    """``[n, len(RELATIONS)]``: 1 where a text uses a relation's words."""
    return np.array([[bool(rx.search(t)) for rx in RELATIONS.values()] for t in texts], dtype=np.float64
                    ).reshape(len(texts), len(RELATIONS))


# Examples an explanation names outright: quoted ('the', "(") or listed in parentheses (dog, horse, bird).
_QUOTED = re.compile(r"""(?<![\w'"`])['"`‘“]([^'"`’”\n]{1,24}?)['"`’”](?!\w)""")
_PARENTHESISED = re.compile(r"\(([^()\n]{1,200})\)")
_LIST_SEPARATOR = re.compile(r",\s*|\s+or\s+|\s+and\s+")
_ONE_WORD = re.compile(r"\w+|[^\w\s]+")
# the embedded views an example is looked for in: the token's own word and its neighbours'
LISTED_VIEWS = ("word", "prev", "next")


def listed_examples(text: str) -> frozenset[str]:
    """The single words and symbols ``text`` names as examples (case-folded): quoted
    ones, and the items of a parenthesised list whose every item is one word or
    symbol ("(dog, horse, bird)", not "(usually a noun or adjective)"). Examples of
    several words or of mixed letters and symbols ('-ed', 'os.path') are left out:
    they name no one token's word."""
    out = {w for w in map(_one_word, (m.group(1) for m in _QUOTED.finditer(text))) if w}
    for m in _PARENTHESISED.finditer(text):
        items = [_one_word(item) for item in _LIST_SEPARATOR.split(m.group(1))]
        if all(items):
            out.update(items)
    return frozenset(out)


def _one_word(item: str) -> str:
    """``item`` case-folded, unquoted and stripped if it is one word or one run of
    symbols, else ""."""
    item = item.strip().strip("'\"`‘’“”").strip() or item.strip()
    return item.casefold() if _ONE_WORD.fullmatch(item) and not item.endswith("...") else ""


def word_ids(words: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Case-folded token words ``[T, len(LISTED_VIEWS)]`` (strings) as ids, and the
    id of each distinct word ("" at a window's edge)."""
    vocab: dict[str, int] = {}
    ids = np.array([vocab.setdefault(w.casefold(), len(vocab)) for w in np.asarray(words, object).reshape(-1)],
                   np.int64).reshape(np.shape(words))
    return ids, vocab


# Spellings an explanation names: a suffix in hyphen notation ("-ing") or quoted after "end(s|ing) in/with"
# ("end with 'ed'"), a prefix ("un-", "start(s|ing) with 'pre'"), a first or last letter ("starting with the
# letter b", "whose last letter is y").
_SUFFIX = re.compile(r"(?<![\w-])-([a-z]{1,6})\b(?!-)|\bend(?:s|ing)?\s+(?:in|with)\s+['\"‘“]([a-z]{1,6})['\"’”]",
                     re.IGNORECASE)
_PREFIX = re.compile(r"(?<![\w-])([a-z]{1,6})-(?![\w-])|\b(?:start|begin)(?:s|ing|ning)?\s+with\s+['\"‘“]"
                     r"([a-z]{1,6})['\"’”]", re.IGNORECASE)
_FIRST_LETTER = re.compile(r"\b(?:(?:start|begin)(?:s|ing|ning)?\s+with\s+the\s+letter|first\s+letter\s+is)\s+"
                           r"['\"‘“]?([a-z])\b", re.IGNORECASE)
_LAST_LETTER = re.compile(r"\b(?:end(?:s|ing)?\s+with\s+the\s+letter|last\s+letter\s+is)\s+['\"‘“]?([a-z])\b",
                          re.IGNORECASE)


def named_spellings(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(prefixes, suffixes) ``text`` names (case-folded): see the patterns above.
    A word matches a prefix or suffix only if it is longer than it."""
    suffixes = {(a or b).casefold() for a, b in _SUFFIX.findall(text)} | {
        m.casefold() for m in _LAST_LETTER.findall(text)}
    prefixes = {(a or b).casefold() for a, b in _PREFIX.findall(text)} | {
        m.casefold() for m in _FIRST_LETTER.findall(text)}
    return frozenset(prefixes), frozenset(suffixes)


def named_ids(text: str, vocab: dict[str, int]) -> np.ndarray:
    """Ids (in ``vocab``, case-folded words) of the words ``text`` names: its
    examples (:func:`listed_examples`) and the words spelled as it says
    (:func:`named_spellings`)."""
    ids = {vocab[w] for w in listed_examples(text) if w in vocab}
    prefixes, suffixes = named_spellings(text)
    if prefixes or suffixes:
        ids |= {i for w, i in vocab.items() if w.isalpha() and (
            any(len(w) > len(p) and w.startswith(p) for p in prefixes)
            or any(len(w) > len(x) and w.endswith(x) for x in suffixes))}
    return np.array(sorted(ids), np.int64)


def listed_matches(texts: Sequence[str], ids: np.ndarray, vocab: dict[str, int]) -> np.ndarray:
    """``[T, len(LISTED_VIEWS), len(texts)]`` float32: 1 where the token's word (or
    its neighbour's) is one a text names (:func:`named_ids`)."""
    out = np.zeros((*ids.shape, len(texts)), np.float32)
    for b, text in enumerate(texts):
        named = named_ids(text, vocab)
        if len(named):
            out[..., b] = np.isin(ids, named)
    return out


def head_logits(params: dict, relation_words, embeddings, views, listed=None):
    """The head's logits ``[B, T]`` (torch) for explanations with relation words
    ``[B, R]`` and unit-norm embeddings ``[B, 384]``, over token views ``[T,
    DIM_VIEWS]``; ``params`` holds the tensors of :class:`Head` (``w W a b c tau theta
    phrases``). ``listed`` (``[T, len(LISTED_VIEWS), B]``, :func:`listed_matches`):
    where a view's word is an example the explanation names, its cosine counts as 1,
    the cosine of a word with itself. Shared by training and use, so both compute
    the same thing."""
    import torch

    n = len(EMBEDDED) * DIM
    embedded = views[:, :n].reshape(len(views), len(EMBEDDED), DIM)
    cosines = torch.einsum("tvd,bd->tvb", embedded, embeddings)  # cosines of the embedded views
    if listed is not None:
        at = [EMBEDDED.index(v) for v in LISTED_VIEWS]
        cosines = cosines.clone()
        cosines[:, at] = torch.where(listed > 0, 1.0, cosines[:, at])
    scores = [cosines]
    near = embeddings @ params["phrases"].T  # [B, F]: the explanation against every flag's phrase
    at, lo = n, 0
    for j, phrases in enumerate(FLAGS.values()):
        k = len(phrases)
        # which of the view's phrases the explanation means, if any: a softmax with a "none" option
        tau, theta = params["tau"][j], params["theta"][j]
        z = torch.cat([tau * near[:, lo: lo + k], (tau * theta).expand(len(embeddings), 1)], 1)
        meant = torch.softmax(z, 1)[:, :k]  # [B, k]
        scores.append((views[:, at: at + k] @ meant.T)[:, None])  # [T, 1, B]
        at, lo = at + k, lo + k
    s = torch.cat(scores, 1)  # [T, V, B]
    g = torch.nn.functional.softplus(params["w"] + relation_words @ params["W"])  # [B, V]
    per_view = params["a"][None, :, None] * s + params["b"][None, :, None]
    return ((g.T[None] * per_view).sum(1) + params["c"]).T


PARAMS = ("w", "W", "a", "b", "c", "tau", "theta", "phrases", "yes_logit")


@dataclass
class Head:
    """The trained simulator's head over :class:`~mechanic.evals.token_views.TokenViews`.

    For an explanation with unit-norm embedding ``e`` and relation words ``r``
    (:func:`relations`), each view ``v`` of a token gives a score ``s_v``: the cosine
    of ``e`` with the view's embedding for ``word``, ``span``, ``prev`` and ``next``;
    for ``structure`` and ``shape``, how much of a softmax over the view's phrases
    (plus a "none" option at cosine ``theta``, temperature ``tau``) falls on the
    phrases that hold for the token. Then

        logit = Σ_v g_v · (a_v · s_v + b_v) + c,   g = softplus(w + r W)

    Every score works without training; what is learned is how far to trust each view
    (``a``, ``b``), when an explanation means a flag (``tau``, ``theta``), and where
    to look given the relation words (``w``, ``W``: "after X" moves weight to the
    previous token, "before X" to the next). Level = ``10 * sigmoid(logit)``: the
    head is trained on the Pearson agreement of exactly these levels, and a logistic
    recalibration afterwards bends their shape (it cost validity when measured). A
    yes/no answer (detection, fuzzing) instead reads ``yes_logit``, the logit at
    which a logistic fit on validation windows gives even odds of firing."""

    @property
    def yes_level(self) -> float:
        """The level at which a token is as likely to fire as not."""
        return float(MAX_LEVEL * _sigmoid(np.asarray(self.yes_logit, np.float64).reshape(-1)[0]))

    w: np.ndarray  # [V] gate bias
    W: np.ndarray  # [R, V] gate weights of the relation words
    a: np.ndarray  # [V] scale of each view's score
    b: np.ndarray  # [V] offset of each view's score
    c: np.ndarray  # [1]
    tau: np.ndarray  # [len(FLAGS)]
    theta: np.ndarray  # [len(FLAGS)]
    phrases: np.ndarray  # [F, 384] embeddings of the flag views' phrases, in FLAGS order
    yes_logit: np.ndarray  # [1] where a token is as likely to fire as not (fitted on validation windows)
    views: tuple[str, ...] = VIEWS
    metadata: dict | None = None

    def gates(self, texts: Sequence[str]) -> np.ndarray:
        """``[n_explanations, V]`` weight of each view."""
        return np.logaddexp(0.0, self.w + relations(texts) @ self.W)

    def logits(self, texts: Sequence[str], explanation_embeddings: np.ndarray, views: np.ndarray,
               words: np.ndarray | None = None) -> np.ndarray:
        """``[n_explanations, n_tokens]`` for token views ``[n_tokens, DIM_VIEWS]``;
        ``words`` (``[n_tokens, len(LISTED_VIEWS)]``, :func:`~mechanic.evals.token_views.token_words`)
        lets the examples a text names count (:func:`head_logits`)."""
        import torch

        params = {k: torch.as_tensor(np.asarray(getattr(self, k)), dtype=torch.float32) for k in PARAMS}
        listed = None
        if words is not None:
            listed = torch.from_numpy(listed_matches(texts, *word_ids(words)))
        with torch.no_grad():
            out = head_logits(params, torch.as_tensor(relations(texts), dtype=torch.float32),
                              torch.as_tensor(np.asarray(explanation_embeddings), dtype=torch.float32),
                              torch.as_tensor(np.asarray(views), dtype=torch.float32), listed)
        return out.double().numpy()

    def levels(self, logits: np.ndarray) -> np.ndarray:
        return MAX_LEVEL * _sigmoid(logits)

    def save(self, path: Path | str, metadata: dict | None = None) -> None:
        from safetensors.numpy import save_file

        tensors = {k: np.atleast_1d(getattr(self, k)) for k in PARAMS}
        meta = {"format": FORMAT, "views": json.dumps(list(self.views)), "relations": json.dumps(list(RELATIONS)),
                "flags": json.dumps(FLAGS),
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
            raise MechanicError(f"{path} is not a mechanic simulator head ({FORMAT}); rebuild it with "
                                f"`python bench/train_simulator.py`")
        views = tuple(json.loads(meta["views"]))
        same = (views == VIEWS and tuple(json.loads(meta["relations"])) == tuple(RELATIONS)
                and json.loads(meta["flags"]) == {k: list(v) for k, v in FLAGS.items()})
        missing = [k for k in PARAMS if k not in t]
        if not same or missing:
            raise MechanicError(f"{path} was trained on other token views ({views}; missing {missing}); rebuild it "
                                f"with `python bench/train_simulator.py`")
        f64 = {k: v.astype(np.float64) for k, v in t.items()}
        return cls(*(f64[k] for k in PARAMS), views=views, metadata=json.loads(meta.get("metadata", "{}")))


class TrainedSimulator(_OfflineSimulator):
    """Level per token from the shipped (or a given) :class:`Head` over the tokens'
    :class:`~mechanic.evals.token_views.TokenViews` and the explanation."""

    def __init__(self, head: Head | str | Path | None = None, embedder: Embedder | None = None,
                 views: TokenViews | None = None):
        self.head = head if isinstance(head, Head) else Head.load(head or WEIGHTS)
        self.embedder = embedder or default_embedder()
        self.views = views or TokenViews(self.embedder)
        self.yes_level = self.head.yes_level  # detection and fuzzing answer yes from this level up
        self.name = "trained:all-MiniLM-L6-v2"
        self.usage = Usage()

    def raw_scores(self, explanations: Sequence[str], records: Sequence[Record]) -> list[list[np.ndarray]]:
        """Logits ``[explanation][record] -> [T]``."""
        per_record = self.views([r.tokens for r in records])
        lengths = [len(v) for v in per_record]
        stacked = np.concatenate(per_record) if sum(lengths) else np.zeros((0, DIM_VIEWS), np.float16)
        words = token_words([r.tokens for r in records])
        bounds = np.cumsum([0, *lengths])

        def read(texts):
            logits = self.head.logits(texts, self.embedder.encode(texts), stacked, words)
            return [[row[bounds[i]: bounds[i + 1]] for i in range(len(lengths))] for row in logits]

        return _read_by_mode(explanations, read)

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
