"""The agent's instruments: typed tools over the subject model and the store."""

from .core import Instruments, Observation, ToolCall, fires_threshold, tool

__all__ = ["Instruments", "Observation", "ToolCall", "fires_threshold", "tool"]
