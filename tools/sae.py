"""Sparse-autoencoder latents as features, from SAELens's on-disk format.

A directory holds ``cfg.json`` (``d_in``, ``d_sae``, ``hook_name``, ``architecture``,
``apply_b_dec_to_input``; newer SAELens versions nest ``hook_name`` under
``metadata``) and ``sae_weights.safetensors`` (``W_enc [d_in, d_sae]``, ``b_enc``,
``W_dec [d_sae, d_in]``, ``b_dec``, and ``threshold`` for JumpReLU). SAELens itself is
not needed to read it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .errors import FeatureIdError, ModelLoadError

__all__ = ["SAE", "load_sae", "save_sae"]

ENCODERS = ("standard", "relu", "jumprelu", "topk")


@dataclass
class SAE:
    name: str
    hook_name: str  # TransformerLens-style, e.g. "blocks.3.hook_resid_post"
    W_enc: torch.Tensor  # [d_in, d_sae]
    b_enc: torch.Tensor  # [d_sae]
    W_dec: torch.Tensor  # [d_sae, d_in]
    b_dec: torch.Tensor  # [d_in]
    architecture: str = "standard"
    threshold: torch.Tensor | None = None  # [d_sae], JumpReLU
    k: int | None = None  # TopK
    apply_b_dec_to_input: bool = True

    @property
    def d_in(self) -> int:
        return self.W_enc.shape[0]

    @property
    def d_sae(self) -> int:
        return self.W_enc.shape[1]

    @property
    def layer(self) -> int:
        m = re.match(r"^blocks\.(\d+)\.", self.hook_name)
        if not m:
            raise FeatureIdError(f"SAE {self.name!r}: cannot read a layer from hook {self.hook_name!r}")
        return int(m.group(1))

    def encode(self, x: torch.Tensor, indices: Sequence[int] | None = None) -> torch.Tensor:
        """Latent activations ``[..., len(indices)]`` (all latents when None)."""
        xf = x.float()
        if self.apply_b_dec_to_input:
            xf = xf - self.b_dec.to(xf.device)
        if self.architecture == "topk":
            pre = xf @ self.W_enc.to(xf.device) + self.b_enc.to(xf.device)
            top = pre.topk(self.k, dim=-1)
            acts = torch.zeros_like(pre).scatter_(-1, top.indices, top.values.relu())
            return acts if indices is None else acts[..., list(indices)]
        idx = slice(None) if indices is None else list(indices)
        pre = xf @ self.W_enc[:, idx].to(xf.device) + self.b_enc[idx].to(xf.device)
        if self.architecture == "jumprelu":
            return pre * (pre > self.threshold[idx].to(xf.device))
        return pre.relu()


def load_sae(path: str | Path, name: str | None = None) -> SAE:
    """Load an SAE directory written by SAELens (or by :func:`save_sae`)."""
    path = Path(path)
    cfg_path, weights_path = path / "cfg.json", path / "sae_weights.safetensors"
    if not cfg_path.is_file() or not weights_path.is_file():
        raise ModelLoadError(
            f"{path} is not an SAE directory: expected cfg.json and sae_weights.safetensors"
        )
    from safetensors.torch import load_file

    cfg = json.loads(cfg_path.read_text())
    hook_name = cfg.get("hook_name") or cfg.get("metadata", {}).get("hook_name")
    if not hook_name:
        raise ModelLoadError(f"{cfg_path} names no hook_name")
    arch = cfg.get("architecture", "standard")
    if arch not in ENCODERS:
        raise ModelLoadError(f"{cfg_path}: unsupported SAE architecture {arch!r}; supported: {', '.join(ENCODERS)}")
    w = {k: v.float() for k, v in load_file(str(weights_path)).items()}
    missing = {"W_enc", "b_enc", "W_dec", "b_dec"} - set(w)
    if arch == "jumprelu" and "threshold" not in w:
        missing.add("threshold")
    if missing:
        raise ModelLoadError(f"{weights_path} lacks {', '.join(sorted(missing))}")
    return SAE(
        name=name or path.name,
        hook_name=hook_name,
        W_enc=w["W_enc"],
        b_enc=w["b_enc"],
        W_dec=w["W_dec"],
        b_dec=w["b_dec"],
        architecture=arch,
        threshold=w.get("threshold"),
        k=cfg.get("k"),
        apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
    )


def save_sae(sae: SAE, path: str | Path) -> Path:
    """Write ``sae`` in SAELens's on-disk format."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = {
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        "hook_name": sae.hook_name,
        "architecture": sae.architecture,
        "apply_b_dec_to_input": sae.apply_b_dec_to_input,
    }
    if sae.k is not None:
        cfg["k"] = sae.k
    tensors = {"W_enc": sae.W_enc, "b_enc": sae.b_enc, "W_dec": sae.W_dec, "b_dec": sae.b_dec}
    if sae.threshold is not None:
        tensors["threshold"] = sae.threshold
    (path / "cfg.json").write_text(json.dumps(cfg, indent=2))
    save_file({k: v.contiguous().float() for k, v in tensors.items()}, str(path / "sae_weights.safetensors"))
    return path
