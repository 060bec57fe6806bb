"""Causal experiments: ablate, patch and steer, all built on one primitive.

An *edit* is ``(hookpoint, fn)`` with ``fn(x) -> x'``, exactly what
:func:`~mechanic.tools.hooks.hooked` installs. Every experiment here is one generic
edit, :func:`replace_edit`, which swaps in new values for a feature (through
``site.write``) or for a whole site's tensor, optionally only at some positions. What
differs between ablation, steering and patching is only *which* values go in:

=============  ==============================================================
zero ablation  0
mean ablation  the feature's mean (given, or measured on the texts)
resample       the feature's value at a random real token of other texts
steer          value + add, or a clamped constant
patch          the value recorded at the same site in a run on another text
=============  ==============================================================

:func:`effect` runs texts clean and edited and reports what changed at the next-token
distribution (KL, top promoted / suppressed tokens) and in LM loss.

A *target* is a feature id (``mlp:3:17``, ``attn:2:1``, ``resid:1:4``, ``sae:NAME:I``)
or a whole site (``mlp:3`` the neuron vector, ``attn:3`` the concatenated head
outputs, ``resid:3`` the block output); see :func:`parse_site`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence, Union

import torch
import torch.nn.functional as F

from .errors import FeatureIdError, MechanicError
from .hooks import forward_until, hooked
from .probing import read_at_hooks
from .sites import FeatureId, Hookpoint, Site

if TYPE_CHECKING:  # pragma: no cover
    from .subject import Subject

__all__ = [
    "Edit",
    "Edits",
    "Effect",
    "WHOLE_SITES",
    "ablate",
    "ablation_edits",
    "effect",
    "intervened",
    "intervened_logits",
    "parse_site",
    "patch",
    "patch_edits",
    "position_mask",
    "replace_edit",
    "steer",
    "steer_edits",
]

Edit = tuple[Hookpoint, Callable[[torch.Tensor], torch.Tensor]]
# Edits either fixed, or built per batch from its tokenized inputs (for edits that
# depend on positions or draw random values per token).
Edits = Union[Sequence[Edit], Callable[[Mapping[str, torch.Tensor]], Sequence[Edit]]]
Target = Union[Site, Hookpoint]

WHOLE_SITES = ("mlp", "attn", "resid")
ABLATIONS = ("zero", "mean", "resample")
_USAGE = (
    "a whole site is mlp:LAYER, attn:LAYER or resid:LAYER; a feature is mlp:LAYER:INDEX, "
    "attn:LAYER:HEAD, resid:LAYER:NAME or sae:NAME:INDEX"
)


# ------------------------------------------------------------------ the primitive


@contextmanager
def intervened(subject: "Subject", edits: Sequence[Edit]) -> Iterator[None]:
    """Apply ``edits`` to every forward pass of ``subject`` inside the block; the
    hooks are removed on exit, also when the block raises."""
    with hooked(subject.model, edits):
        yield


def replace_edit(
    target: Target,
    new_values: Callable[[torch.Tensor], torch.Tensor],
    mask: torch.Tensor | None = None,
) -> Edit:
    """The one generic edit.

    For a feature (:class:`Site`), ``new_values`` maps its current values ``[B, T]``
    to the values it should read, and the edit writes them with ``site.write`` (so
    whatever the feature does not span is untouched). For a whole site
    (:class:`Hookpoint`), ``new_values`` maps the hooked tensor ``[B, T, D]`` to its
    replacement. ``mask`` (bool ``[B, T]``) limits the edit to some positions.
    """
    if isinstance(target, Site):
        site = target

        def replace(x: torch.Tensor) -> torch.Tensor:
            return site.write(x, new_values(site.read(x)))

        hook = site.hook
    else:
        replace, hook = new_values, target

    def fn(x: torch.Tensor) -> torch.Tensor:
        new = replace(x).to(x.dtype)
        if mask is None:
            return new
        m = mask.to(x.device).reshape(*mask.shape, *([1] * (x.dim() - mask.dim())))
        return torch.where(m, new, x)

    return (hook, fn)


def intervened_logits(subject: "Subject", inputs: Mapping[str, torch.Tensor], edits: Edits) -> torch.Tensor:
    """Logits ``[B, T, V]`` of one tokenized batch run with ``edits``."""
    batch_edits = edits(inputs) if callable(edits) else edits
    return forward_until(subject.model, batch_edits, None, **inputs)


# -------------------------------------------------------------------- targets


def parse_site(subject: "Subject", spec: str | FeatureId | Site | Hookpoint) -> Target:
    """A feature id -> its :class:`Site`; a whole site ``KIND:LAYER`` -> its
    :class:`Hookpoint` (``mlp``: the neuron vector, ``attn``: the concatenated head
    outputs, ``resid``: the block output)."""
    if isinstance(spec, (Site, Hookpoint)):
        return spec
    if isinstance(spec, FeatureId):
        spec = str(spec)
    parts = spec.strip().split(":")
    if len(parts) != 2:
        return subject.site(spec)
    kind, layer = parts
    if kind not in WHOLE_SITES:
        raise FeatureIdError(f"unknown whole-site kind {kind!r} in {spec!r}; {_USAGE}")
    if not layer.isdigit():
        raise FeatureIdError(f"layer must be a non-negative integer in {spec!r}; {_USAGE}")
    if int(layer) >= subject.n_layers:
        raise FeatureIdError(
            f"layer {layer} out of range in {spec!r}: {subject.name} has layers 0-{subject.n_layers - 1}"
        )
    return subject.hookpoint(kind, int(layer))


def _target_hook_read(target: Target):
    if isinstance(target, Site):
        return target.hook, target.read
    return target, None


# ------------------------------------------------------------------ positions


def _resolve(position: int, n: int, what: str) -> int:
    q = position if position >= 0 else n + position
    if not 0 <= q < n:
        raise MechanicError(
            f"position {position} is out of range for {what} of {n} tokens "
            f"(valid: 0..{n - 1}, or -{n}..-1 counting from its last token)"
        )
    return q


def position_mask(attention_mask: torch.Tensor, positions: Sequence[int] | None) -> torch.Tensor | None:
    """Bool ``[B, T]``: True at ``positions`` of each text. Negative positions count
    back from each text's last real token. None means every position (returns None)."""
    if positions is None:
        return None
    lengths = attention_mask.sum(dim=1).tolist()
    mask = torch.zeros(attention_mask.shape, dtype=torch.bool, device=attention_mask.device)
    for b, n in enumerate(lengths):
        for p in positions:
            mask[b, _resolve(int(p), int(n), "a text")] = True
    return mask


# --------------------------------------------------------------------- effect


@dataclass
class Effect:
    """What an intervention changed, clean vs intervened, on the same texts.

    ``kl``: mean over texts of KL(clean ‖ intervened) between next-token
    distributions at each text's last real token. ``top_increased`` /
    ``top_decreased``: up to k (token, mean probability change) at that position,
    only tokens whose probability actually rose / fell. ``loss_*``: mean next-token
    LM loss over all real tokens of the texts (None when no text has two tokens).
    """

    kl: float
    top_increased: list[tuple[str, float]]
    top_decreased: list[tuple[str, float]]
    loss_clean: float | None
    loss_intervened: float | None
    loss_delta: float | None
    n_texts: int
    kl_per_text: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_texts(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    if not texts:
        raise MechanicError("no texts given")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t:
            raise MechanicError(f"text {i} is empty or not a string")
    return texts


def effect(subject: "Subject", texts: Sequence[str], edits: Edits, k: int = 10, batch_size: int = 16) -> Effect:
    """Run ``texts`` clean and with ``edits`` (no gradients) and compare."""
    texts = _check_texts(texts)
    kls: list[torch.Tensor] = []
    delta_sum = None
    loss_sums = torch.zeros(2, dtype=torch.float64)
    n_loss = 0
    for start in range(0, len(texts), batch_size):
        inputs = subject.tokenize(texts[start : start + batch_size])
        ids, attn = inputs["input_ids"], inputs["attention_mask"]
        if (attn.sum(dim=1) == 0).any():
            raise MechanicError("a text tokenizes to no tokens")
        clean = forward_until(subject.model, [], None, **inputs).float()
        edited = intervened_logits(subject, inputs, edits).float()
        last = attn.sum(dim=1) - 1
        rows = torch.arange(ids.shape[0], device=ids.device)
        logp = clean[rows, last].log_softmax(-1)
        logq = edited[rows, last].log_softmax(-1)
        kls.append((logp.exp() * (logp - logq)).sum(-1).clamp_min(0.0).cpu())
        d = (logq.exp() - logp.exp()).sum(0).cpu()
        delta_sum = d if delta_sum is None else delta_sum + d
        target_mask = attn[:, 1:].bool()
        n_loss += int(target_mask.sum())
        for j, logits in enumerate((clean, edited)):
            ce = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")
            loss_sums[j] += float(ce[target_mask].double().sum())
    kl_all = torch.cat(kls)
    mean_delta = delta_sum / len(texts)
    if n_loss:
        loss_clean, loss_edit = (float(v) / n_loss for v in loss_sums)
        loss_delta = loss_edit - loss_clean
    else:
        loss_clean = loss_edit = loss_delta = None
    return Effect(
        kl=float(kl_all.mean()),
        top_increased=_top_tokens(subject, mean_delta, k, largest=True),
        top_decreased=_top_tokens(subject, mean_delta, k, largest=False),
        loss_clean=loss_clean,
        loss_intervened=loss_edit,
        loss_delta=loss_delta,
        n_texts=len(texts),
        kl_per_text=[float(v) for v in kl_all],
    )


def _top_tokens(subject: "Subject", delta: torch.Tensor, k: int, largest: bool) -> list[tuple[str, float]]:
    values, ids = delta.topk(min(k, delta.numel()), largest=largest)
    keep = values > 0 if largest else values < 0
    values, ids = values[keep], ids[keep]
    return list(zip(subject.token_strings(ids.tolist()), (float(v) for v in values)))


# -------------------------------------------------------------- specialisations


def _values(subject: "Subject", texts: Sequence[str], target: Target) -> torch.Tensor:
    """The target's values at every real token of ``texts``: ``[n]`` or ``[n, D]``."""
    hook, read = _target_hook_read(target)
    values = read_at_hooks(subject, _check_texts(texts), [(hook, read)], pool="tokens")[0]
    if values.shape[0] == 0:
        raise MechanicError("the texts have no tokens to measure the feature on")
    return values


def _constant(value) -> Callable[[torch.Tensor], torch.Tensor]:
    value = torch.as_tensor(value, dtype=torch.float32)
    return lambda v: value.to(v.device, v.dtype).expand_as(v)


def ablation_edits(
    subject: "Subject",
    feature,
    texts: Sequence[str],
    method: str = "zero",
    mean=None,
    resample_texts: Sequence[str] | None = None,
    seed: int = 0,
) -> Edits:
    """The edits of :func:`ablate` (see there)."""
    target = parse_site(subject, feature)
    if method == "zero":
        return [replace_edit(target, torch.zeros_like)]
    if method == "mean":
        value = mean if mean is not None else _values(subject, texts, target).mean(dim=0)
        return [replace_edit(target, _constant(value))]
    if method == "resample":
        pool = _values(subject, resample_texts if resample_texts is not None else texts, target)
        gen = torch.Generator().manual_seed(seed)

        def per_batch(inputs: Mapping[str, torch.Tensor]) -> list[Edit]:
            idx = torch.randint(pool.shape[0], tuple(inputs["input_ids"].shape), generator=gen)
            drawn = pool[idx]  # [B, T] for a feature, [B, T, D] for a whole site
            return [replace_edit(target, lambda v: drawn.to(v.device, v.dtype))]

        return per_batch
    raise MechanicError(f"unknown ablation method {method!r}; choose from {', '.join(ABLATIONS)}")


def ablate(
    subject: "Subject",
    feature,
    texts: Sequence[str],
    method: str = "zero",
    mean=None,
    resample_texts: Sequence[str] | None = None,
    seed: int = 0,
    k: int = 10,
) -> Effect:
    """Knock out a feature (or a whole site) on ``texts`` and measure the effect.

    ``method``: ``zero``; ``mean`` (the given ``mean``, else the feature's mean over
    the texts' real tokens); ``resample`` (each position gets the feature's value at
    a random real token, drawn with ``seed``, of a run on ``resample_texts``, by
    default the same texts).
    """
    edits = ablation_edits(subject, feature, texts, method, mean, resample_texts, seed)
    return effect(subject, texts, edits, k=k)


def steer_edits(
    subject: "Subject",
    feature,
    add: float | None = None,
    clamp: float | None = None,
    positions: Sequence[int] | None = None,
) -> Edits:
    """The edits of :func:`steer` (see there)."""
    if (add is None) == (clamp is None):
        raise MechanicError("steer needs exactly one of add (shift the value) or clamp (set the value)")
    target = parse_site(subject, feature)
    if not isinstance(target, Site):
        raise FeatureIdError(f"steer needs a single feature, not the whole site {feature!r}; {_USAGE}")
    values = (lambda v: v + add) if add is not None else _constant(clamp)
    if positions is None:
        return [replace_edit(target, values)]
    return lambda inputs: [replace_edit(target, values, position_mask(inputs["attention_mask"], positions))]


def steer(
    subject: "Subject",
    feature,
    texts: Sequence[str],
    add: float | None = None,
    clamp: float | None = None,
    positions: Sequence[int] | None = None,
    k: int = 10,
) -> Effect:
    """Shift (``add``) or fix (``clamp``) a feature's value at ``positions`` (None:
    all; negative counts back from each text's last token) and measure the effect."""
    return effect(subject, texts, steer_edits(subject, feature, add, clamp, positions), k=k)


def patch_edits(
    subject: "Subject",
    site,
    source_text: str,
    target_text: str,
    positions: Sequence[int] | None = None,
) -> list[Edit]:
    """The edits of :func:`patch` (see there)."""
    target = parse_site(subject, site)
    source_text, target_text = _check_texts([source_text, target_text])
    n_src = int(subject.tokenize([source_text])["attention_mask"].sum())
    n_tgt = int(subject.tokenize([target_text])["attention_mask"].sum())
    if positions is None:
        if n_src != n_tgt:
            raise MechanicError(
                f"the source text has {n_src} tokens and the target {n_tgt}; patching every "
                "position needs equal lengths, so pass positions (e.g. [-1] for the last token)"
            )
        pairs = [(i, i) for i in range(n_tgt)]
    else:
        pairs = [(_resolve(int(p), n_src, "the source text"), _resolve(int(p), n_tgt, "the target text")) for p in positions]
    recorded = _values(subject, [source_text], target)  # [n_src] or [n_src, D]
    aligned = torch.zeros((1, n_tgt, *recorded.shape[1:]), dtype=recorded.dtype)
    mask = torch.zeros((1, n_tgt), dtype=torch.bool)
    for s, t in pairs:
        aligned[0, t] = recorded[s]
        mask[0, t] = True
    return [replace_edit(target, lambda v: aligned.to(v.device, v.dtype), mask)]


def patch(
    subject: "Subject",
    site,
    source_text: str,
    target_text: str,
    positions: Sequence[int] | None = None,
    k: int = 10,
) -> Effect:
    """Activation patching: run ``source_text``, record ``site`` (a feature's values or
    a whole site's tensor), and write them into a run on ``target_text`` at
    ``positions`` (None: every position, which needs equal token counts; negative
    positions count back from each text's last token, so ``[-1]`` maps last onto
    last). The effect compares the target's clean run with the patched one."""
    edits = patch_edits(subject, site, source_text, target_text, positions)
    return effect(subject, [target_text], edits, k=k)
