"""Errors raised by the instruments.

`MechanicError` and its subclasses describe a *user* mistake or an unusable input
(a malformed feature id, a layer out of range, a model that cannot be loaded). The
CLI turns them into one clear line; anything else is a bug and should raise.
"""

from __future__ import annotations


class MechanicError(Exception):
    """A problem the user can fix; its message says what and how."""


class FeatureIdError(MechanicError, ValueError):
    """A feature id that does not parse or does not exist in the subject model."""


class ArchitectureError(MechanicError):
    """A model whose architecture has no site adapter."""


class ModelLoadError(MechanicError):
    """A model that could not be found or loaded."""


class CorpusError(MechanicError):
    """A text source that could not be read or yields no text."""


class MechanicWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints
    it as one ``warning:`` line)."""


class CorpusWarning(MechanicWarning):
    """A text source with a few characters that are not text (kept, replaced by U+FFFD)."""


class TruncationWarning(MechanicWarning):
    """A text longer than the model's context window, cut to fit."""
