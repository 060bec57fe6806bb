"""``mechanic ask``: a question about the model, routed to a procedure by patterns and
an embedding vote (:mod:`.routing`), answered with claims that carry their numbers,
confidence intervals, experiment ids and what would refute them."""

from .asker import ASK_KINDS, Answer, ask, route

__all__ = ["ASK_KINDS", "Answer", "ask", "route"]
