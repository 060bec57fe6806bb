"""Description search: explanations composed from a grammar of what features respond
to, measured against the feature and read back by the simulator, with no LLM.
:mod:`.grammar` (rules: a sentence and its predicate), :mod:`.propose` (candidates
from where a feature peaks), :mod:`.search` (measure and choose)."""

from .grammar import CATEGORIES, KINDS, Rule, WindowView
from .propose import Peaks, find_peaks, propose, score_categories
from .search import Candidate, SearchConfig, SearchResult, rank_by_fit, search_descriptions

__all__ = ["CATEGORIES", "KINDS", "Candidate", "Peaks", "Rule", "SearchConfig", "SearchResult", "WindowView",
           "find_peaks", "propose", "rank_by_fit", "score_categories", "search_descriptions"]
