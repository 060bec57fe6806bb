"""The ``planted`` suite: concept directions inside the real subject model.

For a concept labelled by a text rule (see :mod:`.rules`), a logistic-regression
probe is fitted on the residual stream at one layer to tell the tokens where the
rule fires from those where it does not. Its direction (the unit normal of the
decision boundary) is registered on the subject as ``resid:LAYER:planted_<rule>``,
so the feature's activations are the model's real projection on it, captured like
any other feature, and interventions along it are real. The ground truth is the
rule's description, with the rule's decoys.

Only windows of the ``train`` split (:func:`~mechanic.tools.window_split`) are used
to fit the probes, so the windows the scorers hold out never shaped a direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from mechanic.tools import Subject, context_token_id, forward_until, window_split
from mechanic.tools.errors import MechanicError
from mechanic.tools.probing import fit_probe, probe_direction

from .rules import Rule, get_rule

__all__ = ["PLANTED_CANDIDATES", "PlantedConcept", "feature_name", "plant_concepts", "resid_token_activations"]

# Rules that fire often on the default corpus (Python standard library prose and code),
# in order of preference; a run keeps the first ``n`` with enough positive tokens.
PLANTED_CANDIDATES = (
    "numbers", "python_keywords", "the_word", "self_word", "opening_brackets", "closing_brackets",
    "newlines", "indentation", "comment_markers", "inside_string_literal", "inside_docstring",
    "inside_parentheses", "after_the", "def_function_names", "plural_s_words", "ing_words",
    "assignment_equals", "line_start", "sentence_end_punctuation", "attribute_after_dot",
)


@dataclass
class PlantedConcept:
    """One planted feature: its rule, where it lives, and how well its probe separated
    the rule's tokens on held-out train-split tokens."""

    rule: Rule
    layer: int
    direction: np.ndarray  # [d_model] float32, unit norm
    probe: dict = field(default_factory=dict)  # train/test accuracy, sizes

    @property
    def name(self) -> str:
        return f"planted_{self.rule.name}"

    @property
    def feature(self) -> str:
        return feature_name(self.rule.name, self.layer)


def feature_name(rule: str, layer: int) -> str:
    return f"resid:{layer}:planted_{rule}"


def resid_token_activations(subject: Subject, token_ids: Sequence[Sequence[int]], layer: int,
                            batch_size: int = 16) -> np.ndarray:
    """The residual stream after block ``layer`` at every token of equally long
    token-id windows, each read behind the context token as capture reads them:
    ``[n_windows, T, d_model]`` float32."""
    if not 0 <= layer < subject.n_layers:
        raise MechanicError(f"layer {layer} out of range: {subject.name} has layers 0-{subject.n_layers - 1}")
    ctx = context_token_id(subject.tokenizer)
    point = subject.hookpoint("resid", layer)
    out = []
    for start in range(0, len(token_ids), batch_size):
        batch = token_ids[start : start + batch_size]
        ids = torch.tensor([(ctx, *map(int, t)) for t in batch], device=subject.device)
        got: list[torch.Tensor] = []

        def read(x: torch.Tensor) -> None:
            got.append(x[:, 1:, :].detach().float().cpu())

        forward_until(subject.model, [(point, read)], point, input_ids=ids)
        out.append(got[0].numpy())
    return np.concatenate(out) if out else np.zeros((0, 0, subject.d_model), dtype=np.float32)


def plant_concepts(subject: Subject, windows: Sequence, *, layer: int | None = None,
                   rules: Sequence[str] | None = None, n: int = 12, seed: int = 0, min_positive: int = 30,
                   max_per_class: int = 1500) -> list[PlantedConcept]:
    """Fit one probe per concept on the ``train`` windows and register its direction
    on ``subject``. ``windows`` are corpus windows (``.index``, ``.tokens``); ``layer``
    defaults to the middle layer; ``rules`` to :data:`PLANTED_CANDIDATES`, of which the
    first ``n`` with at least ``min_positive`` positive train tokens are kept (a rule
    named explicitly that fires too rarely is an error)."""
    layer = subject.n_layers // 2 if layer is None else int(layer)
    explicit = rules is not None
    names = list(rules) if explicit else list(PLANTED_CANDIDATES)
    train = [w for w in windows if window_split(w.index, seed) == "train"]
    if not train:
        raise MechanicError("no train-split windows to fit planted probes on")
    strings = [subject.token_strings(w.tokens) for w in train]
    resid = resid_token_activations(subject, [w.tokens for w in train], layer)
    flat = resid.reshape(-1, resid.shape[-1])
    rng = np.random.default_rng(seed)
    out: list[PlantedConcept] = []
    for name in names:
        if len(out) >= n:
            break
        rule = get_rule(name)
        labels = np.concatenate([rule.activations(s) > 0 for s in strings])
        pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
        if len(pos) < min_positive or len(neg) < min_positive:
            if explicit:
                raise MechanicError(f"rule {name!r} fires on {len(pos)} of {labels.size} train tokens; a planted "
                                    f"concept needs at least {min_positive} positive and negative tokens")
            continue
        pos = rng.choice(pos, size=min(len(pos), max_per_class), replace=False)
        neg = rng.choice(neg, size=min(len(neg), max_per_class), replace=False)
        idx = np.concatenate([pos, neg])
        y = np.r_[np.ones(len(pos), int), np.zeros(len(neg), int)]
        result = fit_probe(flat[idx], y, seed=seed)
        direction = probe_direction(result).astype(np.float32)
        concept = PlantedConcept(rule, layer, direction, {
            "train_accuracy": result.train_accuracy, "test_accuracy": result.test_accuracy,
            "n_train": result.n_train, "n_test": result.n_test, "positives": int(len(pos))})
        subject.add_direction(concept.name, torch.as_tensor(direction))
        out.append(concept)
    if len(out) < min(n, len(names)) and not out:
        raise MechanicError("no rule fired often enough on the train windows to plant a concept; "
                            "use more corpus tokens")
    return out
