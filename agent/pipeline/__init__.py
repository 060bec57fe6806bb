"""The labeling pipeline: capture to the store, then the explain, controls and score
phases that ``mechanic label``, ``mechanic investigate`` and ``mechanic bench`` share.

Modules, in the order data flows through them: :mod:`.capture` (features into the
store), :mod:`.config` (what a run is configured by), :mod:`.models` (the LLMs,
simulator and embedder of a run), :mod:`.phases` (explain, controls, score, over
:class:`Target` features), :mod:`.scorers` (the scorer registry and held-out
windows), :mod:`.agent_methods` (the agent and tiered methods), :mod:`.label` and
:mod:`.investigate` (the commands' library functions), :mod:`.summary` (the table) and
:mod:`.validity` (how far to trust each of its columns).
"""

from .agent_methods import agent_config, explain_with_agent
from .capture import CacheSummary, cache_features, register_model, register_stored_directions
from .config import (
    AGENT_METHODS,
    CONTROLS,
    DEFAULT_METHODS,
    DEFAULT_SCORERS,
    DEFAULT_SIMULATOR,
    METHODS,
    SCORER_ALIASES,
    SCORERS,
    LabelConfig,
    canonical_scorers,
    method_rank,
)
from .investigate import investigate_feature, investigation_report
from .label import LabelSummary, label, stored_target
from .models import Models
from .phases import (
    RANDOM_DESCRIPTIONS,
    PhaseCounts,
    Target,
    Tiered,
    ensure_controls,
    explain_phase,
    has_site,
    make_explainer,
    score_phase,
    store_explanation,
)
from .scorers import SCORER_FUNCTIONS, HeldOut, detection_sets, score_explanation, score_records, score_rows
from .summary import PRIMARY, LabelTable, format_table, label_table

__all__ = [
    "AGENT_METHODS", "CONTROLS", "DEFAULT_METHODS", "DEFAULT_SCORERS", "DEFAULT_SIMULATOR", "SCORER_ALIASES",
    "canonical_scorers", "METHODS", "PRIMARY", "RANDOM_DESCRIPTIONS", "SCORERS",
    "SCORER_FUNCTIONS", "CacheSummary", "HeldOut", "LabelConfig", "LabelSummary", "LabelTable", "Models",
    "PhaseCounts", "Target", "Tiered", "agent_config", "cache_features", "detection_sets", "ensure_controls",
    "explain_phase", "explain_with_agent", "format_table", "has_site", "investigate_feature", "investigation_report", "label",
    "label_table", "make_explainer", "method_rank", "register_model", "register_stored_directions",
    "score_explanation", "score_phase", "score_records", "score_rows", "store_explanation", "stored_target",
]
