"""Where a feature lives in the subject model, and how to read and write it.

A *feature* is a scalar read off one site of the model at every token:

====================  =====================================================
``mlp:L:I``           MLP neuron I of layer L: the input of the down projection
``attn:L:H``          attention head H of layer L: the L2 norm of its output
                      before the output projection
``resid:L:NAME``      the residual stream after block L projected on a named
                      direction (``NAME`` made of digits is basis dimension NAME)
``sae:NAME:I``        latent I of the sparse autoencoder registered as NAME
====================  =====================================================

Each feature resolves to a :class:`Site`: a hook point (a module's input or output)
plus a pure ``read`` (hooked tensor -> per-token scalar) and ``write`` (set the scalar
to new values, leaving everything the feature does not span unchanged). Capture,
ablation, patching and steering are all built on those two functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import torch

from .errors import ArchitectureError, FeatureIdError

if TYPE_CHECKING:  # pragma: no cover
    from .sae import SAE

__all__ = [
    "Architecture",
    "ARCHITECTURES",
    "FeatureId",
    "Hookpoint",
    "Site",
    "architecture_for",
    "parse_feature",
    "parse_features",
]

KINDS = ("mlp", "attn", "resid", "sae")


@dataclass(frozen=True)
class Architecture:
    """Module paths of one model family (relative to the model / to a block)."""

    family: str
    blocks: str  # the ModuleList of transformer blocks
    mlp_out: str  # in a block: the module whose *input* is the neuron vector
    attn_out: str  # in a block: the module whose *input* is the concatenated heads
    final_norm: str
    unembed: str
    conv1d: bool = False  # GPT-2 style Conv1D: weight is [in, out]


_LLAMA_LIKE = dict(
    blocks="model.layers",
    mlp_out="mlp.down_proj",
    attn_out="self_attn.o_proj",
    final_norm="model.norm",
    unembed="lm_head",
)

ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture("llama", **_LLAMA_LIKE),
    "mistral": Architecture("llama", **_LLAMA_LIKE),
    "qwen2": Architecture("qwen2", **_LLAMA_LIKE),
    "qwen3": Architecture("qwen2", **_LLAMA_LIKE),
    "gemma": Architecture("gemma", **_LLAMA_LIKE),
    "gemma2": Architecture("gemma", **_LLAMA_LIKE),
    "gemma3_text": Architecture("gemma", **_LLAMA_LIKE),
    "gpt2": Architecture(
        "gpt2",
        blocks="transformer.h",
        mlp_out="mlp.c_proj",
        attn_out="attn.c_proj",
        final_norm="transformer.ln_f",
        unembed="lm_head",
        conv1d=True,
    ),
    "gpt_neox": Architecture(
        "gpt-neox",
        blocks="gpt_neox.layers",
        mlp_out="mlp.dense_4h_to_h",
        attn_out="attention.dense",
        final_norm="gpt_neox.final_layer_norm",
        unembed="embed_out",
    ),
}


def architecture_for(model_type: str) -> Architecture:
    """The site adapter for a transformers ``config.model_type``."""
    try:
        return ARCHITECTURES[model_type]
    except KeyError:
        families = sorted({a.family for a in ARCHITECTURES.values()})
        raise ArchitectureError(
            f"unsupported architecture {model_type!r}; supported families: "
            f"{', '.join(families)} (model types: {', '.join(sorted(ARCHITECTURES))})"
        ) from None


# --------------------------------------------------------------------------- ids


@dataclass(frozen=True, order=True)
class FeatureId:
    """A parsed feature id. ``index`` is the neuron / head / latent; ``name`` the
    direction (resid) or SAE name (sae). Layer is None for SAE latents (their layer
    comes from the SAE's hook point)."""

    kind: str
    layer: int | None = None
    index: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.kind == "sae":
            return f"sae:{self.name}:{self.index}"
        if self.kind == "resid":
            return f"resid:{self.layer}:{self.name}"
        return f"{self.kind}:{self.layer}:{self.index}"


_INDEX_RE = re.compile(r"^[0-9]{1,18}$")  # ASCII digits, short enough for int()
_RANGE_RE = re.compile(r"^([0-9]{1,18})-([0-9]{1,18})$")


# The most indices one id may name: more than any model's layer has neurons, and a
# typo such as 0-9999999999 fails with a line instead of filling memory.
MAX_INDICES = 1 << 20


def _parse_indices(text: str, spec: str) -> list[int] | None:
    """'7' -> [7]; '0-3' -> [0,1,2,3]; '1,5,9' -> [1,5,9]; '*' -> None (all)."""
    if text == "*":
        return None
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if _INDEX_RE.match(part):
            out.append(int(part))
        elif m := _RANGE_RE.match(part):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise FeatureIdError(f"empty range {part!r} in {spec!r}")
            if len(out) + hi - lo + 1 > MAX_INDICES:
                raise FeatureIdError(f"{spec!r} names more than {MAX_INDICES:,} features; use a smaller range or *")
            out.extend(range(lo, hi + 1))
        else:
            raise FeatureIdError(
                f"bad index {part!r} in {spec!r}: use N, LO-HI, a comma list, or *"
            )
    return out


def parse_features(spec: str) -> tuple[str, int | None, str | None, list[int] | None]:
    """Split a feature spec into (kind, layer, name, indices) without a model.

    ``mlp:5:0-49`` -> ("mlp", 5, None, [0..49]); ``mlp:5:*`` -> ("mlp", 5, None, None);
    ``resid:3:month`` -> ("resid", 3, "month", None); ``sae:res3:10`` ->
    ("sae", None, "res3", [10]). Indices are validated against a model by
    :meth:`mechanic.tools.Subject.features`.
    """
    parts = spec.strip().split(":")
    kind = parts[0]
    usage = "use mlp:LAYER:INDEX, attn:LAYER:HEAD, resid:LAYER:NAME or sae:NAME:INDEX"
    if kind not in KINDS:
        raise FeatureIdError(f"unknown feature kind {kind!r} in {spec!r}; {usage}")
    if len(parts) != 3 or not all(parts):
        raise FeatureIdError(f"malformed feature id {spec!r}; {usage}")
    if kind == "sae":
        return kind, None, parts[1], _parse_indices(parts[2], spec)
    if not _INDEX_RE.match(parts[1]):
        raise FeatureIdError(f"layer must be a non-negative integer in {spec!r}")
    layer = int(parts[1])
    if kind == "resid":
        if parts[2] == "*" or _INDEX_RE.match(parts[2]) or _RANGE_RE.match(parts[2]) or "," in parts[2]:
            return kind, layer, None, _parse_indices(parts[2], spec)
        if not re.match(r"^[A-Za-z_][\w.-]*$", parts[2]):
            raise FeatureIdError(f"bad direction name {parts[2]!r} in {spec!r}")
        return kind, layer, parts[2], None
    return kind, layer, None, _parse_indices(parts[2], spec)


def parse_feature(spec: str) -> FeatureId:
    """Parse exactly one feature id (no ranges, no ``*``)."""
    kind, layer, name, indices = parse_features(spec)
    if kind == "resid" and name is not None:
        return FeatureId(kind, layer, None, name)
    if indices is None or len(indices) != 1:
        raise FeatureIdError(f"{spec!r} names several features; give exactly one")
    if kind == "resid":
        return FeatureId(kind, layer, None, str(indices[0]))
    if kind == "sae":
        return FeatureId(kind, None, indices[0], name)
    return FeatureId(kind, layer, indices[0], None)


# ------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class Hookpoint:
    """A module's input (the first positional argument) or output, in a layer."""

    module: str  # dotted path from the model root
    io: Literal["input", "output"]
    layer: int  # the block index, used to stop the forward pass early

    def __str__(self) -> str:
        return f"{self.module}.{self.io}"


Reader = Callable[[torch.Tensor], torch.Tensor]  # [B, T, D] -> [B, T, F]


@dataclass(frozen=True)
class Site:
    """One feature bound to a model: where to hook and how to read / write it.

    ``read(x)`` maps the hooked tensor ``x: [batch, pos, d]`` to the feature's
    activation ``[batch, pos]``. ``write(x, values)`` returns a copy of ``x`` in which
    the feature reads ``values`` and every direction the feature does not span is
    unchanged. ``weights`` (optional) holds what ``read`` needs in batched form, so
    many features at one hook point are read with one matmul or gather.
    """

    feature: FeatureId
    hook: Hookpoint
    read: Callable[[torch.Tensor], torch.Tensor]
    write: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    group: tuple = field(default=())  # (how, key) for batched reading, see read_group

    def __str__(self) -> str:
        return str(self.feature)


def neuron_site(feature: FeatureId, hook: Hookpoint, i: int) -> Site:
    def read(x: torch.Tensor) -> torch.Tensor:
        return x[..., i]

    def write(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., i] = values.to(x.dtype)
        return x

    return Site(feature, hook, read, write, ("index", i))


def head_site(feature: FeatureId, hook: Hookpoint, h: int, head_dim: int) -> Site:
    sl = slice(h * head_dim, (h + 1) * head_dim)

    def read(x: torch.Tensor) -> torch.Tensor:
        return x[..., sl].float().norm(dim=-1).to(x.dtype)

    def write(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        # Rescale the head's output vector to the requested norm; a norm of 0 zeroes it.
        x = x.clone()
        head = x[..., sl]
        norm = head.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
        x[..., sl] = (head.float() * (values.float().unsqueeze(-1) / norm)).to(x.dtype)
        return x

    return Site(feature, hook, read, write, ("head", (h, head_dim)))


def direction_site(feature: FeatureId, hook: Hookpoint, d: torch.Tensor) -> Site:
    d = d.detach().float()
    sq = float(d @ d)

    def read(x: torch.Tensor) -> torch.Tensor:
        return (x.float() @ d.to(x.device)).to(x.dtype)

    def write(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        dd = d.to(x.device)
        delta = (values.float() - x.float() @ dd) / sq
        return (x.float() + delta.unsqueeze(-1) * dd).to(x.dtype)

    return Site(feature, hook, read, write, ("direction", d))


def sae_site(feature: FeatureId, hook: Hookpoint, sae: "SAE", i: int) -> Site:
    def read(x: torch.Tensor) -> torch.Tensor:
        return sae.encode(x, indices=[i])[..., 0]

    def write(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        # Error-preserving edit: move x along the latent's decoder row by the change.
        current = read(x)
        row = sae.W_dec[i].to(x.device, torch.float32)
        return (x.float() + (values.float() - current.float()).unsqueeze(-1) * row).to(x.dtype)

    return Site(feature, hook, read, write, ("sae", (sae, i)))


def read_group(sites: Sequence[Site], x: torch.Tensor) -> torch.Tensor:
    """Read many features that share one hook point: ``[B, T, D] -> [B, T, F]``.

    Neurons become one gather, directions one matmul, SAE latents one encode; any
    other site falls back to its own ``read``.
    """
    if not sites:
        raise ValueError("no sites")
    how = sites[0].group[0] if sites[0].group else None
    same = all(s.group and s.group[0] == how for s in sites)
    if same and how == "index":
        indices = [s.group[1] for s in sites]
        if indices == list(range(x.shape[-1])):  # every neuron in order: no copy
            return x
        return x.index_select(-1, torch.tensor(indices, device=x.device))
    if same and how == "direction":
        mat = torch.stack([s.group[1] for s in sites], dim=1).to(x.device, torch.float32)
        return (x.float() @ mat).to(x.dtype)
    if same and how == "head":
        head_dim = sites[0].group[1][1]
        heads = [s.group[1][0] for s in sites]
        b, t, d = x.shape
        norms = x.float().reshape(b, t, d // head_dim, head_dim).norm(dim=-1)
        return norms[..., heads].to(x.dtype)
    if same and how == "sae" and len({id(s.group[1][0]) for s in sites}) == 1:
        return sites[0].group[1][0].encode(x, indices=[s.group[1][1] for s in sites])
    return torch.stack([s.read(x) for s in sites], dim=-1)
