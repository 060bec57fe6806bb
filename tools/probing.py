"""Linear probes: does a layer linearly encode a concept?

Activations are read with one forward pass per batch, hooks on every requested layer,
stopping as soon as the last of them has been read; padding never enters a mean.
Probes are scikit-learn logistic regressions on standardized features with a
stratified held-out split, so ``test_accuracy`` is the number to believe.

Sites: ``resid`` (the block output, width d_model) and ``mlp`` (the neuron vector,
the input of the down projection, width d_mlp).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from .errors import FeatureIdError, MechanicError
from .hooks import StopForward, forward_until
from .sites import Hookpoint

if TYPE_CHECKING:  # pragma: no cover
    from .subject import Subject

__all__ = [
    "PROBE_SITES",
    "ProbeResult",
    "add_probe_direction",
    "collect_activations",
    "collect_position_activations",
    "collect_token_activations",
    "fit_probe",
    "fit_probe_split",
    "grouped_folds",
    "probe_predict",
    "probe_direction",
    "probe_sweep",
    "read_at_hooks",
    "top_probe_features",
]

PROBE_SITES = ("resid", "mlp")
REDUCES = ("mean", "last")
POOLS = ("tokens", "mean", "last")

Read = Callable[[torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------- reading


def _pool(v: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """[B, T, ...] -> real tokens [n, ...] / per-text mean [B, ...] / last real token [B, ...]."""
    if how == "tokens":
        return v[mask]
    if how == "last":
        return v[torch.arange(v.shape[0], device=v.device), mask.sum(dim=1) - 1]
    m = mask.to(v.dtype).reshape(*mask.shape, *([1] * (v.dim() - 2)))
    return (v * m).sum(dim=1) / m.sum(dim=1)


def read_at_hooks(
    subject: "Subject",
    texts: Sequence[str],
    reads: Sequence[tuple[Hookpoint, Read | None]],
    pool: str = "tokens",
    batch_size: int = 16,
) -> list[torch.Tensor]:
    """For each ``(hookpoint, read)`` (``read=None``: the whole hooked tensor), its
    values over ``texts`` as float32 on the CPU, pooled by ``pool``: ``tokens`` (every
    real token, texts in order: ``[n_tokens, ...]``), ``mean`` or ``last``
    (``[n_texts, ...]``). One forward pass per batch, ended once every hook has fired.
    """
    if pool not in POOLS:
        raise MechanicError(f"unknown pooling {pool!r}; choose from {', '.join(POOLS)}")
    texts = list(texts)
    out: list[list[torch.Tensor]] = [[] for _ in reads]
    for start in range(0, len(texts), batch_size):
        inputs = subject.tokenize(texts[start : start + batch_size])
        mask = inputs["attention_mask"].bool()
        if (mask.sum(dim=1) == 0).any():
            raise MechanicError("a text tokenizes to no tokens")
        pending = set(range(len(reads)))

        def reader(j: int, read: Read | None):
            def fn(x: torch.Tensor) -> None:
                v = x if read is None else read(x)
                out[j].append(_pool(v.detach().float(), mask, pool).cpu())
                pending.discard(j)
                if not pending:
                    raise StopForward  # everything needed is read: skip the rest of the model
            return fn

        forward_until(subject.model, [(h, reader(j, r)) for j, (h, r) in enumerate(reads)], None, **inputs)
        if pending:  # pragma: no cover - a hook point the forward pass never reached
            raise RuntimeError(f"hook points never ran: {[str(reads[j][0]) for j in sorted(pending)]}")
    return [torch.cat(chunks) if chunks else torch.empty(0) for chunks in out]


def _layer_reads(subject: "Subject", layers: Sequence[int], site: str) -> list[tuple[Hookpoint, None]]:
    if site not in PROBE_SITES:
        raise FeatureIdError(f"cannot probe site {site!r}; choose from {', '.join(PROBE_SITES)}")
    layers = list(layers)
    if not layers:
        raise MechanicError("no layers given")
    for layer in layers:
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < subject.n_layers:
            raise FeatureIdError(f"layer {layer!r} out of range: {subject.name} has layers 0-{subject.n_layers - 1}")
    return [(subject.hookpoint(site, int(layer)), None) for layer in layers]


def _texts(texts: Sequence[str]) -> list[str]:
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise MechanicError("no texts given")
    return texts


def collect_activations(
    subject: "Subject",
    texts: Sequence[str],
    layers: Sequence[int],
    site: str = "resid",
    reduce: str = "mean",
    batch_size: int = 16,
) -> dict[int, np.ndarray]:
    """One vector per text and layer: ``{layer: [n_texts, d]}``, the ``mean`` over the
    text's real tokens or the ``last`` real token's vector."""
    if reduce not in REDUCES:
        raise MechanicError(f"unknown reduce {reduce!r}; choose from {', '.join(REDUCES)}")
    reads = _layer_reads(subject, layers, site)
    values = read_at_hooks(subject, _texts(texts), reads, pool=reduce, batch_size=batch_size)
    return {int(layer): v.numpy() for layer, v in zip(layers, values)}


def collect_token_activations(
    subject: "Subject",
    texts: Sequence[str],
    layers: Sequence[int],
    site: str = "resid",
    batch_size: int = 16,
) -> tuple[dict[int, np.ndarray], list[tuple[int, int]]]:
    """One vector per real token: ``({layer: [n_tokens, d]}, [(text_index, position)])``,
    rows in the same order in every layer, so per-token labels can be probed."""
    texts = _texts(texts)
    reads = _layer_reads(subject, layers, site)
    values = read_at_hooks(subject, texts, reads, pool="tokens", batch_size=batch_size)
    index: list[tuple[int, int]] = []
    for start in range(0, len(texts), batch_size):
        lengths = subject.tokenize(texts[start : start + batch_size])["attention_mask"].sum(dim=1)
        index.extend((start + b, t) for b, n in enumerate(lengths.tolist()) for t in range(n))
    return {int(layer): v.numpy() for layer, v in zip(layers, values)}, index


def collect_position_activations(
    subject: "Subject",
    token_ids: Sequence[Sequence[int]],
    positions: Sequence[tuple[int, int]],
    layers: Sequence[int],
    sites: Sequence[str] = PROBE_SITES,
    batch_size: int = 16,
) -> dict[tuple[str, int], np.ndarray]:
    """The vectors at chosen token positions of token-id sequences (corpus windows):
    ``{(site, layer): [len(positions), d]}``, rows in the order of ``positions``
    (``(sequence index, token index)`` pairs). Only the sequences that hold a chosen
    position are run, and only the chosen rows are kept, so a probe over every layer
    and site of a large model costs one forward pass per batch and little memory."""
    reads = [(site, layer, hook) for site in sites for layer, (hook, _) in zip(layers, _layer_reads(subject, layers, site))]
    wanted: dict[int, list[int]] = {}
    for row, (seq, pos) in enumerate(positions):
        if not 0 <= seq < len(token_ids) or not 0 <= pos < len(token_ids[seq]):
            raise MechanicError(f"position {(seq, pos)} is outside the {len(token_ids)} sequences given")
        wanted.setdefault(int(seq), []).append(row)
    out = {(site, int(layer)): np.zeros((len(positions), 0), np.float32) for site, layer, _ in reads}
    chunks: dict[tuple[str, int], list[np.ndarray]] = {key: [] for key in out}
    order: list[int] = []
    seqs = sorted(wanted)
    for start in range(0, len(seqs), batch_size):
        batch = seqs[start:start + batch_size]
        length = max(len(token_ids[s]) for s in batch)
        ids = torch.full((len(batch), length), 0, dtype=torch.long)
        mask = torch.zeros((len(batch), length), dtype=torch.long)
        for b, s in enumerate(batch):
            ids[b, :len(token_ids[s])] = torch.as_tensor(list(token_ids[s]))
            mask[b, :len(token_ids[s])] = 1
        rows = [r for s in batch for r in wanted[s]]
        b_idx = torch.tensor([b for b, s in enumerate(batch) for _ in wanted[s]])
        t_idx = torch.tensor([positions[r][1] for r in rows])
        order.extend(rows)

        def reader(key):
            def fn(x: torch.Tensor) -> None:
                chunks[key].append(x[b_idx.to(x.device), t_idx.to(x.device)].detach().float().cpu().numpy())
            return fn

        hooks = [(hook, reader((site, int(layer)))) for site, layer, hook in reads]
        last = max((h for _, _, h in reads), key=lambda h: (h.layer, h.io == "output"))
        forward_until(subject.model, hooks, last, input_ids=ids.to(subject.device),
                      attention_mask=mask.to(subject.device))
    inverse = np.argsort(np.asarray(order, dtype=np.int64), kind="stable")
    for key in out:
        out[key] = np.concatenate(chunks[key])[inverse]
    return out


# -------------------------------------------------------------------- probes


@dataclass
class ProbeResult:
    """A fitted logistic-regression probe.

    ``coef`` holds weights on *standardized* features (``[d]`` for two classes,
    pointing towards ``classes[1]``; ``[n_classes, d]`` otherwise), so their sizes
    compare across features; ``mean`` / ``scale`` undo the standardization
    (:func:`probe_direction`). ``layer`` / ``site`` are filled by :func:`probe_sweep`.
    """

    train_accuracy: float
    test_accuracy: float
    n_train: int
    n_test: int
    coef: np.ndarray
    intercept: np.ndarray
    classes: list
    mean: np.ndarray
    scale: np.ndarray
    layer: int | None = None
    site: str | None = None

    def to_dict(self, weights: bool = False) -> dict:
        d = {
            "layer": self.layer,
            "site": self.site,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "classes": list(self.classes),
        }
        if weights:
            d.update(coef=self.coef.tolist(), intercept=self.intercept.tolist())
        return d


def _check_labels(y: np.ndarray) -> None:
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        shown = repr(classes[0].item() if len(classes) else None)
        raise MechanicError(f"a probe needs at least two classes; all {len(y)} labels are {shown}")
    if counts.min() < 2:
        rare = classes[counts.argmin()]
        raise MechanicError(
            f"each class needs at least 2 examples (one to train on, one to test); "
            f"class {rare.item()!r} has {counts.min()}"
        )


def fit_probe(
    X: np.ndarray,
    y: Sequence,
    seed: int = 0,
    test_fraction: float = 0.25,
    C: float = 1.0,
) -> ProbeResult:
    """Fit a standardized logistic-regression probe on a stratified train split of
    ``X [n, d]`` / ``y [n]`` and score it on the held-out rest."""
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise MechanicError(f"X must be [n, d] and y [n]; got X {X.shape} and y {y.shape}")
    if not np.isfinite(X).all():
        raise MechanicError("X contains NaN or infinite values")
    if not 0 < test_fraction < 1:
        raise MechanicError(f"test_fraction must be between 0 and 1, not {test_fraction}")
    _check_labels(y)
    n_classes = len(np.unique(y))
    n_test = max(n_classes, math.ceil(test_fraction * len(y)))
    if len(y) - n_test < n_classes:
        raise MechanicError(
            f"too few examples: {len(y)} cannot be split into train and test sets that both "
            f"hold all {n_classes} classes; give more examples or a smaller test_fraction"
        )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=n_test, stratify=y, random_state=seed)
    return _fit_and_score(X_tr, y_tr, X_te, y_te, seed=seed, C=C, max_iter=5000)


def _fit_and_score(X_tr, y_tr, X_te, y_te, *, seed: int, C: float, max_iter: int) -> ProbeResult:
    """A standardised logistic-regression probe fit on the train part, scored on both parts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_tr)
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    clf.fit(scaler.transform(X_tr), y_tr)
    coef = clf.coef_[0] if clf.coef_.shape[0] == 1 else clf.coef_
    return ProbeResult(
        train_accuracy=float(clf.score(scaler.transform(X_tr), y_tr)),
        test_accuracy=float(clf.score(scaler.transform(X_te), y_te)),
        n_train=len(y_tr),
        n_test=len(y_te),
        coef=coef.copy(),
        intercept=clf.intercept_.copy(),
        classes=[c.item() if hasattr(c, "item") else c for c in clf.classes_],
        mean=scaler.mean_.copy(),
        scale=scaler.scale_.copy(),
    )


def grouped_folds(labels: Sequence, groups: Sequence, n_folds: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Indices of ``n_folds`` folds that keep every group (e.g. a word) in one fold,
    each class's groups dealt out so that every fold holds about as many of its
    tokens as the others: a probe scored on a fold is scored on groups it never
    saw. Fewer folds come back when a class has fewer groups than ``n_folds``;
    MechanicError when a class has fewer than 2."""
    y, g = np.asarray(labels), np.asarray([str(x) for x in groups])
    classes = np.unique(y)
    per_class = {c: np.unique(g[y == c]) for c in classes}
    k = min([n_folds, *(len(v) for v in per_class.values())])
    if len(classes) < 2 or k < 2:
        raise MechanicError(f"each class needs examples from at least 2 different groups to hold some out; "
                            f"groups per class: {[len(v) for v in per_class.values()]}")
    rng = np.random.default_rng(seed)
    fold_of: dict[tuple, int] = {}
    for c, names in per_class.items():
        counts = {n: int(((g == n) & (y == c)).sum()) for n in names}
        load = np.zeros(k)
        for n in sorted(rng.permutation(names).tolist(), key=lambda n: -counts[n]):  # largest first, ties shuffled
            f = int(np.argmin(load + rng.random(k) * 1e-9))
            fold_of[(c, n)] = f
            load[f] += counts[n]
    fold = np.array([fold_of[(c, n)] for c, n in zip(y, g)])
    return [np.flatnonzero(fold == f) for f in range(k)]


def fit_probe_split(
    X: np.ndarray, y: Sequence, train: np.ndarray, test: np.ndarray, seed: int = 0, C: float = 1.0
) -> ProbeResult:
    """:func:`fit_probe` on a split given by index arrays (e.g. from :func:`grouped_folds`)."""

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    train, test = np.asarray(train), np.asarray(test)
    if len(np.unique(y[train])) < 2 or len(test) == 0:
        raise MechanicError("the training split needs both classes and the test split at least one example")
    return _fit_and_score(X[train], y[train], X[test], y[test], seed=seed, C=C, max_iter=2000)


def probe_predict(result: ProbeResult, X: np.ndarray) -> np.ndarray:
    """The class a two-class probe predicts for each row of ``X [n, d]``."""
    if result.coef.ndim != 1:
        raise MechanicError("probe_predict handles two-class probes")
    z = ((np.asarray(X, dtype=np.float64) - result.mean) / result.scale) @ result.coef + result.intercept[0]
    return np.asarray(result.classes, dtype=object)[(z > 0).astype(int)]


def probe_sweep(
    subject: "Subject",
    texts: Sequence[str],
    labels: Sequence,
    layers: Sequence[int],
    site: str = "resid",
    reduce: str = "mean",
    seed: int = 0,
    test_fraction: float = 0.25,
) -> list[ProbeResult]:
    """Fit one probe per layer on text-level ``labels``; one forward pass per batch
    serves every layer."""
    texts, y = _texts(texts), np.asarray(labels)
    if len(y) != len(texts):
        raise MechanicError(f"{len(texts)} texts but {len(y)} labels; give one label per text")
    _check_labels(y)  # before spending a forward pass
    acts = collect_activations(subject, texts, layers, site=site, reduce=reduce)
    results = []
    for layer, X in acts.items():
        result = fit_probe(X, y, seed=seed, test_fraction=test_fraction)
        result.layer, result.site = layer, site
        results.append(result)
    return results


def _weights(result: ProbeResult, label) -> np.ndarray:
    if result.coef.ndim == 1:
        if label is None or label == result.classes[1]:
            return result.coef
        if label == result.classes[0]:
            return -result.coef
    elif label is None:
        return None
    elif label in result.classes:
        return result.coef[result.classes.index(label)]
    raise MechanicError(f"unknown class {label!r}; the probe's classes are {result.classes}")


def top_probe_features(
    result: ProbeResult, site: str | None = None, k: int = 10, label=None, layer: int | None = None
) -> list[tuple[str, float]]:
    """The k coordinates with the largest standardized weights, as feature ids:
    ``[("mlp:3:17", 1.7), ...]``. For more than two classes, name a ``label`` to get
    its signed weights, else each coordinate's weight norm across classes is used."""
    site = site or result.site
    layer = layer if layer is not None else result.layer
    if site not in PROBE_SITES or layer is None:
        raise MechanicError(
            f"name the probe's site ({', '.join(PROBE_SITES)}) and layer; got site={site!r}, layer={layer!r}"
        )
    w = _weights(result, label)
    if w is None:
        w = np.linalg.norm(result.coef, axis=0)
    order = np.argsort(-np.abs(w), kind="stable")[:k]
    return [(f"{site}:{layer}:{i}", float(w[i])) for i in order]


def probe_direction(result: ProbeResult, label=None) -> np.ndarray:
    """The unit normal of the probe's decision boundary in the raw activation space
    (standardization undone), pointing towards ``label`` (default ``classes[1]``; for
    more than two classes a label is required). From a ``resid`` probe this is a
    residual-stream direction, e.g. for ``resid:L:NAME`` via :func:`add_probe_direction`."""
    w = _weights(result, label)
    if w is None:
        raise MechanicError(f"the probe has {len(result.classes)} classes; name the label to point towards")
    raw = w / result.scale
    norm = np.linalg.norm(raw)
    if norm == 0:
        raise MechanicError("the probe's weights are all zero; it has no direction")
    return raw / norm


def add_probe_direction(subject: "Subject", name: str, result: ProbeResult, label=None) -> str:
    """Register a ``resid`` probe's direction on ``subject`` as ``name``; returns the
    feature id ``resid:LAYER:NAME`` that reads it."""
    if result.site != "resid" or result.layer is None:
        raise MechanicError("only a probe fitted on the resid site of a known layer gives a residual direction")
    subject.add_direction(name, torch.as_tensor(probe_direction(result, label), dtype=torch.float32))
    return f"resid:{result.layer}:{name}"
