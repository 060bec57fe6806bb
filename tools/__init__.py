"""Instruments over the subject model: loading, feature addressing, capture,
interventions, probing and the output-side view. No LLM and no database here."""

from .capture import (
    Capture,
    CaptureConfig,
    CapturedExemplar,
    FeatureCapture,
    TextActivations,
    activations,
    capture,
    context_token_id,
)
from .corpus import Window, corpus_spec, corpus_windows, iter_documents, window_split
from .errors import ArchitectureError, CorpusError, FeatureIdError, MechanicError, ModelLoadError
from .hooks import StopForward, forward_until, hooked
from .interventions import Effect, ablate, effect, intervened, parse_site, patch, steer
from .probing import (
    ProbeResult,
    add_probe_direction,
    collect_activations,
    collect_token_activations,
    fit_probe,
    probe_direction,
    probe_sweep,
    top_probe_features,
)
from .sae import SAE, load_sae, save_sae
from .sites import ARCHITECTURES, FeatureId, Hookpoint, Site, parse_feature, parse_features
from .subject import TINY_FAMILIES, Subject, embedded_model_dir, load_subject, mechanic_home, tiny_subject
from .vocab import input_tokens, logit_effect, output_direction, output_tokens

__all__ = [
    "ARCHITECTURES",
    "ArchitectureError",
    "Capture",
    "CaptureConfig",
    "CapturedExemplar",
    "CorpusError",
    "Effect",
    "FeatureCapture",
    "FeatureId",
    "FeatureIdError",
    "Hookpoint",
    "MechanicError",
    "ModelLoadError",
    "ProbeResult",
    "SAE",
    "Site",
    "StopForward",
    "Subject",
    "TINY_FAMILIES",
    "TextActivations",
    "Window",
    "ablate",
    "add_probe_direction",
    "intervened",
    "parse_site",
    "activations",
    "capture",
    "collect_activations",
    "collect_token_activations",
    "context_token_id",
    "corpus_spec",
    "corpus_windows",
    "effect",
    "embedded_model_dir",
    "fit_probe",
    "forward_until",
    "hooked",
    "input_tokens",
    "iter_documents",
    "load_sae",
    "load_subject",
    "logit_effect",
    "mechanic_home",
    "output_direction",
    "output_tokens",
    "parse_feature",
    "parse_features",
    "patch",
    "probe_direction",
    "probe_sweep",
    "save_sae",
    "steer",
    "tiny_subject",
    "top_probe_features",
    "window_split",
]
