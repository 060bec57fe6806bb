"""Batched activation capture with streaming per-feature statistics and exemplars.

One pass over the corpus reads every requested feature at every token, stopping each
forward pass as soon as the last hooked site has run. Per feature it keeps, in memory
that does not grow with the corpus:

* count, mean, variance, max, min, fraction of tokens above the activity threshold;
* quantiles of the per-token activation (from a shared uniform reservoir of tokens);
* the ``top_k`` windows by max activation and the ``bottom_k`` by min activation;
* a uniform reservoir of *activating* windows, binned at the end into deciles of
  their max activation (equal-count bins, so every decile is represented);
* ``n_random`` uniformly sampled windows (the same windows for every feature).

Each window is prefixed with one context token (``<|endoftext|>`` / BOS) that is
read by the model but never scored, so the first real token is not an attention-sink
artefact. Even so, some directions read far higher on whatever token comes first
(the planted residual directions of the bench read 68-73 there and under 20
elsewhere), so by default the window's first ``first_position`` positions (one) are
also read as context only: they count in no statistic, rank no exemplar, and their
stored activations are 0. ``first_position=0`` keeps them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
import torch

from .hooks import StopForward, hooked
from .sites import FeatureId, Site, read_group
from .subject import Subject

if TYPE_CHECKING:  # pragma: no cover
    from .corpus import Window

__all__ = [
    "CaptureConfig",
    "Capture",
    "FeatureCapture",
    "CapturedExemplar",
    "capture",
    "activations",
    "activations_on_ids",
    "TextActivations",
    "context_token_id",
    "summarise_values",
]

QUANTILES = (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999)


@dataclass(frozen=True)
class CaptureConfig:
    """What to keep per feature. All sizes are per feature."""

    top_k: int = 50  # windows with the highest max activation
    bottom_k: int = 20  # windows with the lowest min activation (negative side)
    n_random: int = 50  # uniformly sampled windows, shared by all features
    decile_pool: int = 100  # activating windows sampled uniformly, then split into deciles
    quantile_samples: int = 4096  # tokens sampled uniformly for the quantile estimates
    active_threshold: float = 0.0  # a token is "active" when its activation exceeds this
    batch_size: int = 32  # windows per forward pass
    seed: int = 0
    first_position: int = 1  # window positions before this are context only (see the module doc); 0 keeps all

    def __post_init__(self):
        if self.first_position < 0:
            raise ValueError("first_position must be 0 or more")


@dataclass
class CapturedExemplar:
    kind: str  # "top" | "bottom" | "decile" | "random"
    decile: int | None
    rank: int
    window_index: int
    max_act: float
    activations: np.ndarray  # [T] float32


@dataclass
class FeatureCapture:
    feature: FeatureId
    stats: dict
    quantiles: dict[str, float]
    exemplars: list[CapturedExemplar]


@dataclass
class Capture:
    features: list[FeatureCapture]
    windows: list["Window"]
    n_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.n_tokens / self.seconds if self.seconds > 0 else float("nan")


def context_token_id(tokenizer) -> int:
    """The token put before every window: ``<|endoftext|>`` if the vocabulary has it,
    else BOS, else EOS."""
    vocab = tokenizer.get_vocab()
    if "<|endoftext|>" in vocab:
        return vocab["<|endoftext|>"]
    for tid in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if tid is not None:
            return tid
    raise ValueError("tokenizer has no BOS, EOS or <|endoftext|> token")


# ------------------------------------------------------------------ reading


def _group_sites(sites: Sequence[Site]) -> list[tuple[object, list[int]]]:
    """Group feature positions by hook point, keeping first-seen order."""
    groups: dict = {}
    for i, site in enumerate(sites):
        groups.setdefault(site.hook, []).append(i)
    return list(groups.items())


class _Reader:
    """Reads all sites in one forward pass into a ``[B, T, F]`` tensor and stops the
    pass as soon as every hook point has been read."""

    def __init__(self, subject: Subject, sites: Sequence[Site]):
        self.subject = subject
        self.sites = list(sites)
        self.groups = _group_sites(self.sites)

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        parts: dict = {}

        def make_hook(point, idxs):
            group_sites = [self.sites[i] for i in idxs]

            def hook(x: torch.Tensor):
                parts[point] = read_group(group_sites, x).float()
                if len(parts) == len(self.groups):
                    raise StopForward

            return hook

        hooks = [(point, make_hook(point, idxs)) for point, idxs in self.groups]
        kwargs = {"input_ids": input_ids}
        if attention_mask is not None:
            kwargs["attention_mask"] = attention_mask
        with torch.no_grad(), hooked(self.subject.model, hooks):
            try:
                self.subject.model(**kwargs, use_cache=False)
            except StopForward:
                pass
        if len(parts) != len(self.groups):  # pragma: no cover - a hook point never ran
            raise RuntimeError("some hook points were not reached in the forward pass")
        if len(self.groups) == 1:  # the common case: one site, features in order
            point, idxs = self.groups[0]
            if idxs == list(range(len(self.sites))):
                return parts[point]
        b, t = input_ids.shape
        out = torch.empty(b, t, len(self.sites))
        for point, idxs in self.groups:
            out[..., idxs] = parts[point]
        return out


# ---------------------------------------------------------- streaming state


class _SlotSet:
    """The ``k`` entries with the highest score per feature, kept in unordered slots.

    Only the entries that enter the set are copied (their per-token activations),
    so the per-batch cost does not depend on ``k × T``.
    """

    def __init__(self, n_features: int, k: int, length: int):
        self.k = k
        self.score = torch.full((n_features, k), -torch.inf)
        self.window = torch.full((n_features, k), -1, dtype=torch.long)
        self.value = torch.zeros(n_features, k)  # the value to report (e.g. window max)
        self.acts = torch.zeros(n_features, k, length)

    def offer(self, score: torch.Tensor, value: torch.Tensor, acts: torch.Tensor, window0: int) -> None:
        """score, value: [F, B]; acts: [B, T, F]."""
        if self.k == 0:
            return
        k = self.k
        # Cheap filter: only features where some candidate beats the current minimum.
        floor = self.score.min(dim=1, keepdim=True).values
        rows = (score > floor).any(dim=1).nonzero().flatten()
        if rows.numel() == 0:
            return
        merged = torch.cat([self.score[rows], score[rows]], dim=1)  # [r, k+b]
        keep = merged.topk(k, dim=1).indices
        kept = torch.zeros_like(merged, dtype=torch.bool).scatter_(1, keep, True)
        evicted = ~kept[:, :k]  # old slots to overwrite   [r, k]
        # A candidate scored -inf (e.g. a non-activating window offered to the pool)
        # can tie its way in; it never enters.
        entering = kept[:, k:] & torch.isfinite(score[rows])  # [r, b]
        # Pair the j-th evicted slot with the j-th entering candidate of each row.
        slot_order = torch.sort((~evicted).to(torch.int8), dim=1, stable=True).indices  # evicted first
        cand_order = torch.sort((~entering).to(torch.int8), dim=1, stable=True).indices  # entering first
        n_new = entering.sum(dim=1)  # [r]
        width = int(n_new.max())
        if width == 0:
            return
        j = torch.arange(width)
        valid = j.unsqueeze(0) < n_new.unsqueeze(1)  # [r, width]
        r_idx = rows.unsqueeze(1).expand(-1, width)[valid]
        slots = slot_order[:, :width][valid]
        cands = cand_order[:, :width][valid]
        self.score[r_idx, slots] = score[r_idx, cands]
        self.value[r_idx, slots] = value[r_idx, cands]
        self.window[r_idx, slots] = cands + window0
        self.acts[r_idx, slots] = acts[cands, :, r_idx]


def _reservoir(keys: torch.Tensor, new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the smallest uniform keys (a reservoir sample). Updates ``keys`` in place and
    returns (slots that were replaced, indices of the new items that took them)."""
    n = keys.numel()
    if n == 0:
        return torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    merged = torch.cat([keys, new])
    kept = torch.zeros_like(merged, dtype=torch.bool)
    kept[merged.topk(n, largest=False).indices] = True
    slots = (~kept[:n]).nonzero().flatten()
    cands = kept[n:].nonzero().flatten()
    keys[slots] = new[cands]
    return slots, cands


class _State:
    def __init__(self, n_features: int, length: int, cfg: CaptureConfig):
        self.cfg = cfg
        self.length = length
        self.count = 0
        self.sum = torch.zeros(n_features, dtype=torch.float64)
        self.sumsq = torch.zeros(n_features, dtype=torch.float64)
        self.max = torch.full((n_features,), -torch.inf)
        self.min = torch.full((n_features,), torch.inf)
        self.n_active = torch.zeros(n_features, dtype=torch.long)
        self.top = _SlotSet(n_features, cfg.top_k, length)
        self.bottom = _SlotSet(n_features, cfg.bottom_k, length)
        self.pool = _SlotSet(n_features, cfg.decile_pool, length)
        # Shared uniform reservoirs (the same windows / tokens for every feature).
        self.random_key = torch.full((cfg.n_random,), torch.inf)
        self.random_window = torch.full((cfg.n_random,), -1, dtype=torch.long)
        self.random_acts = torch.zeros(n_features, cfg.n_random, length)
        self.q_key = torch.full((cfg.quantile_samples,), torch.inf)
        self.q_values = torch.zeros(n_features, cfg.quantile_samples)
        self.gen = torch.Generator().manual_seed(cfg.seed)

    def update(self, acts: torch.Tensor, window0: int) -> None:
        """acts: [B, T, F] for windows window0 .. window0+B-1."""
        skip = min(self.cfg.first_position, acts.shape[1] - 1)
        if skip > 0:  # context-only positions: stored as 0, counted nowhere
            acts = acts.clone()
            acts[:, :skip] = 0.0
        scored = acts[:, skip:]
        b, t, f = scored.shape
        flat = scored.reshape(-1, f)
        self.count += flat.shape[0]
        # Per-batch sums in fp32 (a few thousand terms), accumulated in fp64.
        self.sum += flat.sum(0).double()
        self.sumsq += (flat * flat).sum(0).double()
        self.n_active += (flat > self.cfg.active_threshold).sum(0)
        wmax = scored.amax(dim=1).T.contiguous()  # [F, B]
        wmin = scored.amin(dim=1).T.contiguous()
        self.max = torch.maximum(self.max, wmax.amax(1))
        self.min = torch.minimum(self.min, wmin.amin(1))
        self.top.offer(wmax, wmax, acts, window0)
        self.bottom.offer(-wmin, wmin, acts, window0)
        # Reservoir of activating windows: keep the smallest uniform keys.
        keys = torch.rand(b, f, generator=self.gen).T
        active = wmax > self.cfg.active_threshold
        self.pool.offer(torch.where(active, -keys, -torch.inf), wmax, acts, window0)

        # Shared window reservoir.
        slots, cands = _reservoir(self.random_key, torch.rand(b, generator=self.gen))
        if cands.numel():
            self.random_window[slots] = cands + window0
            self.random_acts[:, slots] = acts[cands].permute(2, 0, 1)
        # Shared token reservoir for quantiles.
        slots, cands = _reservoir(self.q_key, torch.rand(b * t, generator=self.gen))
        if cands.numel():
            self.q_values[:, slots] = flat[cands].T

    # -------------------------------------------------------------- results
    def results(self) -> list[tuple[dict, dict, list[CapturedExemplar]]]:
        """(stats, quantiles, exemplars) per feature. Tensors become numpy once, so the
        per-feature work is cheap array indexing."""
        n = self.count
        mean = (self.sum / n).numpy()
        var = np.maximum((self.sumsq / n).numpy() - mean * mean, 0.0)
        vmax, vmin, active = self.max.numpy(), self.min.numpy(), self.n_active.numpy()
        filled = torch.isfinite(self.q_key)
        quant = (torch.quantile(self.q_values[:, filled], torch.tensor(QUANTILES), dim=1).T.numpy()
                 if bool(filled.any()) else None)
        skip = min(self.cfg.first_position, self.length - 1)
        sets = {name: _SetArrays(slot, skip) for name, slot in (("top", self.top), ("bottom", self.bottom),
                                                          ("pool", self.pool))}
        r_window = self.random_window.numpy()
        r_order = [int(j) for j in np.argsort(r_window, kind="stable") if r_window[j] >= 0]
        r_acts = self.random_acts.numpy()
        out = []
        for i in range(len(mean)):
            stats = dict(count=n, mean=float(mean[i]), var=float(var[i]), max=float(vmax[i]), min=float(vmin[i]),
                         frac_active=float(active[i]) / n)
            quantiles = {str(q): float(v) for q, v in zip(QUANTILES, quant[i])} if quant is not None else {}
            exemplars = sets["top"].ranked(i, "top", descending=True)
            exemplars += sets["bottom"].ranked(i, "bottom", descending=False)
            exemplars += sets["pool"].deciles(i)
            exemplars += [CapturedExemplar("random", None, rank, int(r_window[j]), float(r_acts[i, j, skip:].max()),
                                           r_acts[i, j].copy()) for rank, j in enumerate(r_order)]
            out.append((stats, quantiles, exemplars))
        return out


class _SetArrays:
    """A slot set as numpy arrays, for building results."""

    def __init__(self, slots: _SlotSet, skip: int = 0):
        self.window = slots.window.numpy()
        self.value = slots.value.numpy()
        self.acts = slots.acts.numpy()
        self.peak = self.acts[..., skip:].max(axis=-1) if self.acts.size else np.zeros(self.window.shape)

    def ranked(self, i: int, kind: str, descending: bool) -> list[CapturedExemplar]:
        idx = np.flatnonzero(self.window[i] >= 0)
        if kind == "bottom":  # only windows that go below zero describe a negative side
            idx = idx[self.value[i, idx] < 0]
        key = -self.value[i, idx] if descending else self.value[i, idx]
        order = idx[np.argsort(key, kind="stable")]
        return [CapturedExemplar(kind, None, rank, int(self.window[i, s]), float(self.peak[i, s]),
                                 self.acts[i, s].copy()) for rank, s in enumerate(order)]

    def deciles(self, i: int) -> list[CapturedExemplar]:
        idx = np.flatnonzero(self.window[i] >= 0)
        order = idx[np.argsort(self.value[i, idx], kind="stable")]  # ascending max: equal-count bins
        n = len(order)
        out, counts = [], [0] * 10
        for pos, s in enumerate(order):
            decile = min(9, pos * 10 // n)
            out.append(CapturedExemplar("decile", decile, counts[decile], int(self.window[i, s]),
                                        float(self.value[i, s]), self.acts[i, s].copy()))
            counts[decile] += 1
        return out


# --------------------------------------------------------------------- API


def capture(
    subject: Subject,
    features: Sequence[FeatureId | str],
    windows: Sequence["Window"],
    config: CaptureConfig = CaptureConfig(),
    progress: bool = True,
) -> Capture:
    """Read ``features`` on every token of ``windows`` and summarise them (see module doc)."""
    if not windows:
        raise ValueError("no windows to capture")
    sites = [subject.site(f) for f in features]
    reader = _Reader(subject, sites)
    length = len(windows[0].tokens)
    state = _State(len(sites), length, config)
    ctx = context_token_id(subject.tokenizer)
    device = subject.device
    bar = _progress(len(windows) * length, progress)
    start = time.perf_counter()
    for w0 in range(0, len(windows), config.batch_size):
        batch = windows[w0 : w0 + config.batch_size]
        ids = torch.tensor([(ctx, *w.tokens) for w in batch], device=device)
        acts = reader(ids)[:, 1:, :].cpu()  # drop the context token
        state.update(acts, w0)
        bar.update(acts.shape[0] * acts.shape[1])
    seconds = time.perf_counter() - start
    bar.close()
    out = [FeatureCapture(site.feature, stats, quantiles, exemplars)
           for site, (stats, quantiles, exemplars) in zip(sites, state.results())]
    return Capture(out, list(windows), len(windows) * length, seconds)  # tokens read, context-only ones included


def summarise_values(
    windows: Sequence["Window"],
    values: Callable[[Sequence["Window"]], np.ndarray],
    n_features: int,
    config: CaptureConfig = CaptureConfig(),
) -> list[tuple[dict, dict, list[CapturedExemplar]]]:
    """Statistics and exemplars of activations computed *outside* the model (e.g. a
    text rule over token strings), chosen exactly as :func:`capture` chooses them: the
    same streaming state, batches and seeded reservoirs. ``values(batch)`` returns
    ``[B, T, n_features]`` for a batch of windows. One ``(stats, quantiles,
    exemplars)`` per feature."""
    if not windows:
        raise ValueError("no windows to summarise")
    state = _State(n_features, len(windows[0].tokens), config)
    for w0 in range(0, len(windows), config.batch_size):
        batch = windows[w0 : w0 + config.batch_size]
        acts = torch.as_tensor(np.asarray(values(batch), dtype=np.float32))
        if acts.shape != (len(batch), len(windows[0].tokens), n_features):
            raise ValueError(f"values gave {tuple(acts.shape)} for {len(batch)} windows and {n_features} features")
        state.update(acts, w0)
    return state.results()


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="tok", unit_scale=True, desc="capture", disable=not enabled, leave=False)


@dataclass
class TextActivations:
    text: str
    tokens: list[str]
    activations: dict[str, list[float]] = field(default_factory=dict)  # feature -> per token


def _read_sequences(subject: Subject, sites: Sequence[Site], token_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """Read ``sites`` on token-id sequences, each prefixed by the context token as in
    capture and right-padded: ``[N, max_len, F]`` (the context position dropped)."""
    ctx = context_token_id(subject.tokenizer)
    width = max(len(t) for t in token_ids)
    ids = torch.full((len(token_ids), width + 1), ctx, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for j, t in enumerate(token_ids):
        ids[j, 1 : len(t) + 1] = torch.tensor(list(map(int, t)), dtype=torch.long)
        mask[j, : len(t) + 1] = 1
    return _Reader(subject, sites)(ids.to(subject.device), mask.to(subject.device))[:, 1:, :].cpu()


def activations(subject: Subject, texts: Sequence[str], features: Iterable[FeatureId | str]) -> list[TextActivations]:
    """Per-token activations of ``features`` on ``texts`` (each prefixed by the context
    token, as in capture; the context token itself is not returned)."""
    texts = list(texts)
    if not texts:
        raise ValueError("no texts given")
    sites = [subject.site(f) for f in features]
    token_ids = subject.fit_ids([subject.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts],
                                reserve=1)  # the context token
    acts = _read_sequences(subject, sites, token_ids)
    out = []
    for j, (text, ids) in enumerate(zip(texts, token_ids)):
        per = {str(s.feature): acts[j, : len(ids), i].tolist() for i, s in enumerate(sites)}
        out.append(TextActivations(text, subject.token_strings(ids), per))
    return out


def activations_on_ids(subject: Subject, feature: FeatureId | str, token_ids: Sequence[Sequence[int]],
                       batch_size: int = 16) -> list[np.ndarray]:
    """One feature on exact token-id sequences (e.g. stored windows), each prefixed by
    the context token as in capture. Returns one float32 array per sequence."""
    sites = [subject.site(feature)]
    out: list[np.ndarray] = []
    for i in range(0, len(token_ids), batch_size):
        batch = token_ids[i : i + batch_size]
        acts = _read_sequences(subject, sites, batch)[..., 0].numpy()
        out += [acts[j, : len(t)].astype(np.float32) for j, t in enumerate(batch)]
    return out
