"""Intervention scorer: does the explanation predict what the feature *does*?

Activation-based scorers ask whether the explanation says when a feature fires. This
one asks the causal question from the output side: clamp the feature high on a fixed
set of neutral prompts, see which next tokens the model now favours, and check that
the explanation is closer in meaning to those tokens than to tokens the steering left
alone. It catches output-side features ("promotes words about time") that
activation-based explanations miss, and correlates only weakly with them (delphi).

Procedure:

1. Clamp the feature to a high value at every prompt token (not at the context token
   put before each prompt, as in capture): ``strength`` if given, else twice the
   feature's corpus max from ``stats``, else a rough default measured on the prompts
   (see :func:`clamp_value`). Neurons, residual directions and SAE latents are set
   through their site; a head is set by rescaling its output to that norm.
2. Compare the next-token distributions at each prompt's last token, clean and
   steered, and average the change over the prompts — as a log-probability ratio
   ``log q − log p`` (the change in logit, up to a per-prompt constant).
3. *Moved* tokens: among the 1,000 tokens most probable in the steered runs, the
   ``n_tokens`` whose mean log-probability rose most. *Control* tokens: among the
   1,000 most probable in the clean runs (the model already considered them here, so
   they are as plausible and as common as the moved ones), the ``n_tokens`` whose
   mean log-probability changed least (absolute value).

   Why ratios and not raw probability changes: ranked by absolute change, the top
   tokens on SmolLM2-135M were the same for every feature ("front", "data", "queue",
   "sun" — the prompts' own likely continuations, which gain or lose mass in
   proportion to their probability whenever anything is perturbed). Ranked by ratio
   over the whole vocabulary they were sub-word fragments ("coholic", "PAA") that no
   sentence embedder can judge. Ratio within the steered top 1,000 gave coherent,
   feature-specific sets (e.g. "said, saying, described, mentioned, explained,
   remarked" for one neuron, "others, him, someone, recipient, parents" for another).
   The raw mean probability change of each token is kept in ``details``.
4. Each token's decoded string is embedded (stripped; empty, whitespace-only,
   special, broken-UTF-8 and control-character tokens skipped; each string used
   once); the value is the AUROC of cos(explanation, token) separating moved from
   control (chance 0.5).

``details`` also reports the KL of the steering and the overlap of the moved tokens
with the feature's direct output-side promoted tokens (``output_tokens``), so a user
sees whether the feature acts on the outputs at all; when the steering moves nothing
(KL below :data:`KL_MIN`) the value is None with ``details["reason"]``.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import torch
from mechanic.tools import FeatureId, Subject, activations, context_token_id, forward_until, output_tokens
from mechanic.tools.errors import MechanicError
from mechanic.tools.interventions import steer_edits

from ..embedding import TextEmbedder
from ..lm import Usage
from ..metrics import auroc
from ..records import ScoreResult
from .embedding import cosine_to

__all__ = ["KL_MIN", "NEUTRAL_PROMPTS", "POOL", "clamp_value", "intervention_score", "steered_distributions"]

# Short, topic-free openings, half prose and half code, that end where many next
# tokens are plausible. Written for mechanic.
NEUTRAL_PROMPTS: tuple[str, ...] = (
    "The weather this morning was calm, and the",
    "She opened the letter, read it twice, and",
    "In the afternoon the committee met to discuss",
    "My favourite thing about the old house is",
    "def parse_config(path):\n    with open(path) as f:\n        ",
    "for i in range(len(items)):\n    total +=",
    "import os\nimport sys\n\n# Read the",
    "class Queue:\n    def __init__(self):\n        self.",
)

POOL = 1000  # moved / control tokens come from the steered / clean runs' most probable tokens
KL_MIN = 1e-4  # nats; below this the steering changed nothing worth scoring
# Without stats, the clamp is a multiple of the largest |value| on the prompts' own
# tokens. Measured on SmolLM2-135M: a neuron's corpus max is ~1-12x (median ~4x) its
# max on these prompts, a head norm's ~1.2-1.5x; the multiples aim at 2x corpus max.
_DEFAULT_MULTIPLE = {"attn": 2.5}
_DEFAULT_MULTIPLE_OTHER = 8.0


def clamp_value(subject: Subject, feature: FeatureId, prompts: Sequence[str], strength: float | None = None,
                stats: Mapping | None = None) -> tuple[float, str]:
    """``(value, source)``: ``strength`` if given; else ``2 × stats["max"]`` when that
    max is positive; else a default from the prompts (see :data:`_DEFAULT_MULTIPLE`)."""
    if strength is not None:
        return float(strength), "strength"
    top = (stats or {}).get("max")
    if top is not None and np.isfinite(top) and top > 0:
        return 2.0 * float(top), "stats"
    per = activations(subject, list(prompts), [feature])
    peak = max((abs(v) for ta in per for v in ta.activations[str(feature)]), default=0.0)
    if not peak > 0:
        raise MechanicError(f"{feature} is zero on every prompt token and no stats or strength was given; "
                            "pass strength= (the value to clamp it to)")
    return _DEFAULT_MULTIPLE.get(feature.kind, _DEFAULT_MULTIPLE_OTHER) * peak, "default"


def _skip_first(fn):
    """An edit function that leaves position 0 (the context token) as it was."""
    def edit(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :1], fn(x)[:, 1:]], dim=1)

    return edit


def steered_distributions(subject: Subject, feature: FeatureId, prompts: Sequence[str],
                          value: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token log-probabilities ``[n_prompts, V]`` at each prompt's last token,
    clean and with the feature clamped to ``value`` at every prompt token (each
    prompt is prefixed by the context token, which is left alone). One batched
    forward pass each; right padding is clamped too, which no real token can see."""
    enc = subject.tokenize(list(prompts))
    lengths = enc["attention_mask"].sum(dim=1)
    if (lengths == 0).any():
        raise MechanicError(f"prompt {prompts[int((lengths == 0).nonzero()[0])]!r} tokenizes to nothing")
    n = len(prompts)
    ctx = torch.full((n, 1), context_token_id(subject.tokenizer), device=subject.device)
    inputs = {"input_ids": torch.cat([ctx, enc["input_ids"]], dim=1),
              "attention_mask": torch.cat([torch.ones_like(ctx), enc["attention_mask"]], dim=1)}
    edits = [(hook, _skip_first(fn)) for hook, fn in steer_edits(subject, feature, clamp=value)]
    rows = torch.arange(n, device=subject.device)
    clean = forward_until(subject.model, [], None, **inputs)[rows, lengths]
    steered = forward_until(subject.model, edits, None, **inputs)[rows, lengths]
    return clean.float().log_softmax(-1).cpu(), steered.float().log_softmax(-1).cpu()


def _pick(subject: Subject, ranked: np.ndarray, k: int, skip: set[str], special: set[int],
          size: int) -> list[tuple[int, str]]:
    """The first ``k`` usable tokens of ``ranked`` as ``(id, stripped string)``,
    one per string, none in ``skip``."""
    out: list[tuple[int, str]] = []
    seen = set(skip)
    for tid in ranked:
        tid = int(tid)
        if tid in special or tid >= size:
            continue
        text = subject.tokenizer.decode([tid]).strip()
        if not text or not text.isprintable() or "\ufffd" in text or text in seen:
            continue
        seen.add(text)
        out.append((tid, text))
        if len(out) == k:
            break
    return out


def _overlap(moved: list[str], promoted: list[str]) -> dict:
    """How far the steering's moved tokens agree with the direct logit effect:
    Jaccard of the two string sets, and the share of moved tokens that are promoted."""
    a, b = set(moved), {s for s in promoted if s}
    both = a & b
    return {"jaccard": len(both) / len(a | b) if a | b else None,
            "precision": len(both) / len(a) if a else None,
            "shared": sorted(both), "promoted": sorted(b)}


_STEERED: dict = {}  # a few recent steering results: every explanation of a feature reuses them


def _steered_cached(subject: Subject, feature: FeatureId, prompts: tuple[str, ...], value: float):
    """Steering does not depend on the explanation: scoring a feature's several
    explanations (and its floors) steers it once."""
    key = (id(subject.model), str(feature), prompts, float(value))
    if key not in _STEERED:
        if len(_STEERED) >= 4:
            _STEERED.pop(next(iter(_STEERED)))
        _STEERED[key] = steered_distributions(subject, feature, list(prompts), value)
    return _STEERED[key]


def intervention_score(
    subject: Subject,
    feature: str | FeatureId,
    explanation: str,
    embedder: TextEmbedder,
    *,
    prompts: Sequence[str] = NEUTRAL_PROMPTS,
    strength: float | None = None,
    n_tokens: int = 20,
    seed: int = 0,
    stats: Mapping | None = None,
) -> ScoreResult:
    """AUROC of cos(explanation, token) for the tokens the steered feature promotes
    most vs control tokens it leaves alone (see the module docstring). ``seed``
    breaks ties in the token rankings."""
    if not isinstance(explanation, str) or not explanation.strip():
        raise MechanicError("the explanation to score is empty")
    if n_tokens < 2:
        raise MechanicError("n_tokens must be at least 2")
    prompts = list(prompts)
    if not prompts:
        raise MechanicError("no prompts given")
    t0 = time.perf_counter()
    site = subject.site(feature)  # validates
    fid = site.feature
    value, source = clamp_value(subject, fid, prompts, strength, stats)

    logp, logq = _steered_cached(subject, fid, tuple(prompts), value)
    p, q = logp.exp().double(), logq.exp().double()
    kl_per = (p * (logp.double() - logq.double())).sum(-1).clamp_min(0.0)
    kl = float(kl_per.mean())
    delta = (q - p).mean(0).numpy()
    rise = (logq.double() - logp.double()).mean(0).numpy()

    usable = min(len(subject.tokenizer), delta.size)  # ids past the tokenizer are padding rows
    special = set(getattr(subject.tokenizer, "all_special_ids", []) or [])
    tiebreak = np.random.default_rng(seed).permutation(delta.size)
    pool = np.lexsort((tiebreak, -q.mean(0).numpy()))[:POOL]
    pool = pool[np.lexsort((tiebreak[pool], -rise[pool]))]
    moved = [(t, s) for t, s in _pick(subject, pool, n_tokens, set(), special, usable) if rise[t] > 0]
    pool = np.lexsort((tiebreak, -p.mean(0).numpy()))[:POOL]
    pool = pool[np.lexsort((tiebreak[pool], np.abs(rise[pool])))]
    control = _pick(subject, pool, n_tokens, {s for _, s in moved}, special, usable)

    promoted = output_tokens(subject, fid, k=n_tokens)
    details: dict = {
        "feature": str(fid), "clamp": value, "clamp_source": source, "n_prompts": len(prompts),
        "kl": kl, "kl_per_prompt": [float(v) for v in kl_per],
        # (token, mean log-probability change, mean probability change)
        "moved": [(s, float(rise[t]), float(delta[t])) for t, s in moved],
        "control": [(s, float(rise[t]), float(delta[t])) for t, s in control],
        "mean_sim_moved": None, "mean_sim_control": None,
        "output_overlap": (_overlap([s for _, s in moved], [t.strip() for t, _ in promoted["promoted"]])
                           if promoted["reason"] is None else {"reason": promoted["reason"]}),
    }
    usage = Usage()
    value_out, n = None, 0
    if kl < KL_MIN:
        details["reason"] = f"steering to {value:.3g} moved nothing (KL {kl:.2e} < {KL_MIN:g} nats)"
    elif len(moved) < 2 or len(control) < 2:
        details["reason"] = f"too few usable tokens ({len(moved)} moved, {len(control)} control)"
    else:
        texts = [s for _, s in moved] + [s for _, s in control]
        vectors = embedder.encode([explanation.strip(), *texts])
        usage.calls += 1
        sims = cosine_to(vectors[0], vectors[1:])
        labels = np.r_[np.ones(len(moved), bool), np.zeros(len(control), bool)]
        details["mean_sim_moved"] = float(sims[: len(moved)].mean())
        details["mean_sim_control"] = float(sims[len(moved):].mean())
        value_out, n = auroc(labels, sims), len(texts)
    usage.seconds = time.perf_counter() - t0
    return ScoreResult("intervention", "auroc", "prompts", value_out, n,
                       scorer_model=embedder.name, usage=usage, details={"chance": 0.5, **details})
