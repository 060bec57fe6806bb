"""The instruments the agent's LLM may call, as typed methods with docstrings.

Each method marked ``@tool`` is one tool: its signature and docstring become the
schema the LLM sees (:mod:`..toolschema`). A tool returns an :class:`~.base.Observation`:
the full result (stored in the ``experiments`` table) and a compact summary (what
the LLM reads; small local models have short contexts). Bad arguments raise
:class:`~..toolschema.ToolError`; the caller hands the message back to the model.
"""

from __future__ import annotations

from .causal import CausalTools
from .corpus_tests import CorpusTestTools
from .hypotheses import HypothesisTools
from .reading import ReadingTools
from .search import SearchTools

__all__ = ["Instruments"]


class Instruments(ReadingTools, CausalTools, SearchTools, HypothesisTools, CorpusTestTools):
    """Every tool over one subject model (and, when investigating, one stored feature).

    ``feature_row`` is the stored feature under investigation (``store.get_feature``);
    tools default to it when no feature is named. ``embedder`` is built on first use
    (semantic search)."""

    # The order the LLM is shown the tools in (the JSON-step prompts list them so).
    TOOLS = ("activations", "exemplars", "token_rate", "minimal_pair", "feature_stats", "output_tokens", "ablate",
             "ablate_site", "steer", "probe", "compare", "search_explanations", "search_by_activation",
             "test_hypothesis", "test_intervention", "test_on_corpus", "counterfactual")
