""""Which components cause behaviour B on prompt P?": every layer's MLP and attention
output zeroed in turn on the user's prompt, each against norm-matched random
perturbations of the same site.

Zeroing a site's output ``v`` moves it by ``|v|``; the control moves it by the same
length in a random direction (``v - |v| r``, ``r`` a random unit vector at each
position), ``n_random`` times. A site causes the behaviour when zeroing it lowers
the log-probability of the watched token by more than every control did, and by at
least :data:`MIN_EFFECT` nats. The watched token is the likeliest next token that
starts with the watched text (a line break may come as one token with the next
line's indentation); without a watched text, the model's own top next token. When
the model gives the watched token less than :data:`MIN_PROBABILITY`, it does not
show the behaviour, and the confidence stays low.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from mechanic.tools import MechanicError, Subject, ablation_edits, intervened_logits, parse_site, replace_edit

from .stats import mean_ci

__all__ = ["MIN_EFFECT", "behaviour_answer", "site_effects"]

MIN_EFFECT = 0.5  # nats of log p(watched token)
MIN_PROBABILITY = 0.05  # below this the model does not show the behaviour: confidence stays low
Record = Callable[[str, dict, object, str, float], int]


def _random_push(seed: int):
    gen = torch.Generator().manual_seed(seed)

    def fn(v: torch.Tensor) -> torch.Tensor:
        r = torch.randn(v.shape, generator=gen).to(v.device, torch.float32)
        r = r / r.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return (v.float() - v.float().norm(dim=-1, keepdim=True) * r).to(v.dtype)

    return fn


def site_effects(subject: Subject, prompt: str, watch_id: int, n_random: int = 4, seed: int = 0) -> dict:
    """For every ``mlp:L`` and ``attn:L``: the change of log p(watched) and the KL
    when it is zeroed, and the same under ``n_random`` norm-matched random pushes."""
    inputs = subject.tokenize([prompt])
    with torch.no_grad():
        clean = subject.model(**inputs).logits[0, -1].float().log_softmax(-1)

    def measure(edits) -> tuple[float, float]:
        edited = intervened_logits(subject, inputs, edits)[0, -1].float().log_softmax(-1)
        kl = float((clean.exp() * (clean - edited)).sum().clamp_min(0))
        return float(edited[watch_id] - clean[watch_id]), kl

    rows = []
    for layer in range(subject.n_layers):
        for site in ("mlp", "attn"):
            spec = f"{site}:{layer}"
            delta, kl = measure(ablation_edits(subject, spec, [prompt], "zero"))
            target = parse_site(subject, spec)
            controls = [measure([replace_edit(target, _random_push(seed + 1000 * layer + j))])
                        for j in range(n_random)]
            rows.append({"site": spec, "delta_logp": delta, "kl": kl, "control_delta_logp": [c[0] for c in controls],
                         "control_kl": [c[1] for c in controls]})
    top = clean.exp().topk(5)
    return {"prompt": prompt, "watch_id": watch_id, "p_watch": float(clean[watch_id].exp()), "rows": rows,
            "top_next": [(subject.tokenizer.decode([int(i)]), round(float(p), 4)) for p, i in zip(*top)]}


def behaviour_answer(subject: Subject, prompt: str, watch: str, record: Record, *, n_random: int = 4,
                     seed: int = 0) -> tuple[list[dict], str]:
    """Claims and a confidence for "which components make ``prompt`` predict ``watch``"
    (an empty ``watch``: the model's own top next token)."""
    if not subject.tokenize([prompt])["attention_mask"].sum():
        raise MechanicError("the prompt tokenizes to nothing")
    t0 = time.perf_counter()
    with torch.no_grad():
        probs = subject.model(**subject.tokenize([prompt])).logits[0, -1].float().softmax(-1)
    if watch:
        ids = subject.tokenizer(watch, add_special_tokens=False)["input_ids"]
        if not ids:
            raise MechanicError(f"the watched text {watch!r} tokenizes to nothing")
        # the likeliest next token that starts with the watched text ("\n" is watched as "\n    " when the
        # model writes a line break with its indentation as one token), else the text's first token
        top = probs.topk(min(50, len(probs))).indices.tolist()
        starts = [i for i in top if subject.tokenizer.decode([i]).startswith(watch)]
        watch_id, chosen = (int(starts[0]), "the likeliest token starting with the given text") if starts \
            else (int(ids[0]), "given")
    else:
        watch_id, chosen = int(probs.argmax()), "the model's top next token"
    shown = subject.tokenizer.decode([watch_id])
    result = site_effects(subject, prompt, watch_id, n_random=n_random, seed=seed)
    rows = sorted(result["rows"], key=lambda r: r["delta_logp"])
    eid = record("ablation_sweep", {"prompt": prompt, "watch": shown, "watch_from": chosen, "n_random": n_random,
                                    "ablation": "zero, against norm-matched random pushes"}, result,
                 f"{len(rows)} sites zeroed on {prompt!r}; p({shown!r}) = {result['p_watch']:.3g}; most needed "
                 f"{rows[0]['site']} ({rows[0]['delta_logp']:+.2f} nats)", time.perf_counter() - t0)
    claims = []
    for r in rows[:3]:
        ctrl, lo, hi = mean_ci(r["control_delta_logp"])
        worst = min(r["control_delta_logp"])
        causes = r["delta_logp"] < worst and -r["delta_logp"] >= MIN_EFFECT
        claims.append({
            "text": (f"zeroing {r['site']} {'lowers' if r['delta_logp'] < 0 else 'raises'} log p({shown!r}) by "
                     f"{abs(r['delta_logp']):.2f} nats (KL {r['kl']:.3g}); norm-matched random pushes of the same "
                     f"site: {ctrl:+.2f} [{lo:+.2f}, {hi:+.2f}] (n={len(r['control_delta_logp'])}): "
                     + ("it is needed for the prediction" if causes else "not shown to matter more than a random push")),
            "value": r["delta_logp"], "ci": [lo, hi], "experiments": [eid],
            "refuted_by": f"a random push of {r['site']} of the same size lowering log p({shown!r}) as much",
            "supported": causes})
    needed = [c for c in claims if c["supported"]]
    if not needed:
        confidence = "low"
    else:
        top = rows[0]
        confidence = "high" if -top["delta_logp"] >= 3 * max(abs(min(top["control_delta_logp"])), MIN_EFFECT / 3) \
            else "medium"
    rare = result["p_watch"] < MIN_PROBABILITY
    if rare:  # effects on a token the model does not predict say little about the behaviour asked about
        confidence = "low"
    note = " — it does not predict it, so the effects below are on an unlikely token" if rare else ""
    top = ", ".join(f"{t!r} {p:.2f}" for t, p in result["top_next"][:3])
    claims.insert(0, {"text": f"on {prompt!r} the model gives {shown!r} ({chosen}) probability "
                              f"{result['p_watch']:.3g}{note}; its top next tokens: {top}",
                      "value": result["p_watch"], "ci": None, "experiments": [eid],
                      "refuted_by": "a rerun of the prompt giving another distribution"})
    return claims, confidence

