"""The agent's instruments: typed tools over the subject model and the store, one
module per kind (:mod:`.reading`, :mod:`.causal`, :mod:`.search`, :mod:`.hypotheses`)
on shared plumbing (:mod:`.base`), put together as :class:`Instruments` (:mod:`.toolset`)."""

from .base import Observation, ToolCall, fires_threshold, hide_name, shown_name, tool
from .toolset import Instruments

__all__ = ["Instruments", "Observation", "ToolCall", "fires_threshold", "hide_name", "shown_name", "tool"]
