"""Explainers: from a feature's evidence to a short description.

``tokens`` needs no LLM and is the floor; ``search`` composes descriptions from a
grammar and lets the simulator choose, with no LLM; ``oneshot`` makes one LLM call;
``bestofk`` samples k candidates and lets a simulator choose on the selection split."""

from .base import Explainer, ExplainResult, ParseError, parse_explanation
from .bestofk import BestOfKExplainer, Selector
from .oneshot import STYLES, OneShotExplainer
from .render import mark_token, marked_excerpt, render_chat_evidence, top_words
from .search import SearchExplainer, train_records
from .tokens import TokensExplainer

__all__ = [
    "BestOfKExplainer",
    "ExplainResult",
    "Explainer",
    "OneShotExplainer",
    "ParseError",
    "STYLES",
    "SearchExplainer",
    "Selector",
    "TokensExplainer",
    "mark_token",
    "marked_excerpt",
    "parse_explanation",
    "render_chat_evidence",
    "top_words",
    "train_records",
]
