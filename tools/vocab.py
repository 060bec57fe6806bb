"""The vocabulary side of a feature: which tokens it promotes, which tokens drive it.

Output side: a feature that writes a fixed direction into the residual stream (an MLP
neuron's down-projection column, a residual direction, an SAE latent's decoder row)
has a *direct* effect on the logits: that direction pushed through the unembedding
(the "logit lens" of the direction). It ignores everything later layers do with it.

Input side: :func:`input_tokens` ranks the tokens at which a feature is on average
most active, over windows already captured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from .errors import MechanicError
from .sites import FeatureId, parse_feature

if TYPE_CHECKING:  # pragma: no cover
    from .subject import Subject

__all__ = ["HEAD_REASON", "input_tokens", "logit_effect", "output_direction", "output_tokens"]

HEAD_REASON = (
    "an attention head has no single output direction: it writes into a subspace (its "
    "slice of the output projection) with content that depends on what it attends to"
)


def _to_residual(subject: "Subject", layer: int, rel: str) -> torch.Tensor:
    """``[d_model, d_in]``: the weight mapping a projection's input into the residual
    stream (GPT-2's Conv1D stores it transposed, ``[d_in, d_model]``)."""
    weight = subject.blocks[layer].get_submodule(rel).weight.detach()
    return weight.T if subject.arch.conv1d else weight


def output_direction(subject: "Subject", feature: str | FeatureId) -> torch.Tensor | None:
    """The residual-stream vector ``[d_model]`` (float32, CPU) a unit of the feature adds.

    * ``mlp:L:I``: column I of the down projection (row I of GPT-2's Conv1D weight);
    * ``resid:L:NAME``: the direction itself, as registered (a basis vector for digits);
    * ``sae:NAME:I``: decoder row I; for an SAE on the neuron vector (``mlp.hook_post``)
      or the head outputs (``attn.hook_z``) it is mapped through that layer's output
      projection into the residual stream;
    * ``attn:L:H``: None (see :data:`HEAD_REASON`).
    """
    feature = parse_feature(feature) if isinstance(feature, str) else feature
    subject.site(str(feature))  # validates layer, index, name
    if feature.kind == "attn":
        return None
    if feature.kind == "mlp":
        vec = _to_residual(subject, feature.layer, subject.arch.mlp_out)[:, feature.index]
    elif feature.kind == "resid":
        if feature.name.isdigit():
            vec = torch.zeros(subject.d_model)
            vec[int(feature.name)] = 1.0
        else:
            vec = subject.directions[feature.name]
    else:  # sae
        sae = subject.saes[feature.name]
        vec = sae.W_dec[feature.index].detach()
        hook = subject.sae_hookpoint(sae)
        if hook.io == "input":
            for rel in (subject.arch.mlp_out, subject.arch.attn_out):
                if hook.module == f"{subject.arch.blocks}.{hook.layer}.{rel}":
                    vec = _to_residual(subject, hook.layer, rel).float() @ vec.float().to(subject.device)
    return vec.detach().float().cpu().clone()


def _through_final_norm(subject: "Subject", v: torch.Tensor) -> torch.Tensor:
    """Apply the final norm's *linear* part to a direction: LayerNorm's centring and
    the per-dimension gain (Gemma stores the gain as ``1 + weight``). The division by
    the residual's norm is a positive scalar that depends on the whole residual, not
    on ``v``: it rescales every logit alike and leaves the ranking unchanged, so it is
    left out, and so is any bias (the same for every direction)."""
    norm = subject.module(subject.arch.final_norm)
    if isinstance(norm, torch.nn.LayerNorm):
        v = v - v.mean()
    weight = getattr(norm, "weight", None)
    if weight is not None:
        gain = weight.detach().float().to(v.device)
        v = v * (1.0 + gain if subject.arch.family == "gemma" else gain)
    return v


def logit_effect(
    subject: "Subject", vector: torch.Tensor | np.ndarray, k: int = 10, through_norm: bool = True
) -> dict[str, list[tuple[str, float]]]:
    """Project a residual-stream vector through the unembedding: the k tokens whose
    logits it raises most (``promoted``) and lowers most (``suppressed``), with the
    logit change per unit of the vector. ``through_norm`` first applies the final
    norm's gain (and centring, for LayerNorm), see :func:`_through_final_norm`."""
    v = torch.as_tensor(vector, dtype=torch.float32).flatten().to(subject.device)
    if v.numel() != subject.d_model:
        raise MechanicError(f"vector has {v.numel()} dims; {subject.name} has d_model={subject.d_model}")
    if through_norm:
        v = _through_final_norm(subject, v)
    logits = subject.model.get_output_embeddings().weight.detach().float() @ v
    k = min(k, logits.numel())
    top, bottom = logits.topk(k), logits.topk(k, largest=False)
    return {
        "promoted": list(zip(subject.token_strings(top.indices.tolist()), top.values.tolist())),
        "suppressed": list(zip(subject.token_strings(bottom.indices.tolist()), bottom.values.tolist())),
    }


def output_tokens(subject: "Subject", feature: str | FeatureId, k: int = 10, through_norm: bool = True) -> dict:
    """The direct logit effect of a feature's output direction:
    ``{"feature", "promoted", "suppressed", "reason"}``; ``reason`` is None unless the
    feature has no output direction (attention heads), when the lists are empty."""
    direction = output_direction(subject, feature)
    if direction is None:
        return {"feature": str(feature), "promoted": [], "suppressed": [], "reason": HEAD_REASON}
    return {"feature": str(feature), **logit_effect(subject, direction, k, through_norm), "reason": None}


def input_tokens(
    tokens: np.ndarray | Sequence[Sequence[int]],
    activations: np.ndarray | Sequence[Sequence[float]],
    tokenizer,
    k: int = 10,
    min_count: int = 2,
) -> list[tuple[str, float, int]]:
    """The k tokens with the highest mean activation over the given windows, among
    tokens seen at least ``min_count`` times: ``[(token, mean_activation, count)]``.

    ``tokens [N, T]`` and ``activations [N, T]`` line up position by position;
    padding is marked by a negative token id or a NaN activation. Ties in the mean
    go to the more frequent token."""
    tokens = np.asarray(tokens)
    acts = np.asarray(activations, dtype=np.float64)
    if tokens.shape != acts.shape:
        raise MechanicError(f"tokens {tokens.shape} and activations {acts.shape} must have the same shape")
    valid = (tokens >= 0) & np.isfinite(acts)
    ids, values = tokens[valid].astype(np.int64), acts[valid]
    if ids.size == 0:
        return []
    unique, inverse = np.unique(ids, return_inverse=True)
    counts = np.bincount(inverse)
    means = np.bincount(inverse, weights=values) / counts
    keep = np.flatnonzero(counts >= min_count)
    order = keep[np.lexsort((-counts[keep], -means[keep]))][:k]
    return [(tokenizer.decode([int(unique[i])]), float(means[i]), int(counts[i])) for i in order]
