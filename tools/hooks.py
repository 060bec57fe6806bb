"""The one hook primitive every instrument is built on.

``hooked(model, [(hookpoint, fn), ...])`` installs a hook per entry and always removes
them, even when the forward pass raises. ``fn`` receives the tensor at the hook point
(a module's first input, or its output; for modules returning tuples, the first
element) and returns either ``None`` (observe only) or the tensor to use instead.

``fn`` may raise :class:`StopForward` to end the forward pass early once everything
needed has been read; :func:`forward_until` catches it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch

from .sites import Hookpoint

__all__ = ["StopForward", "hooked", "forward_until", "HookFn"]

HookFn = Callable[[torch.Tensor], "torch.Tensor | None"]


class StopForward(Exception):
    """Raised inside a hook to stop the forward pass: the rest is not needed."""


def _input_hook(fn: HookFn):
    def hook(module, args, kwargs):
        if args:
            new = fn(args[0])
            if new is not None:
                return (new, *args[1:]), kwargs
        elif "hidden_states" in kwargs:
            new = fn(kwargs["hidden_states"])
            if new is not None:
                return args, {**kwargs, "hidden_states": new}
        else:  # pragma: no cover - no architecture we support does this
            raise RuntimeError(f"cannot find the input tensor of {type(module).__name__}")
        return None

    return hook


def _output_hook(fn: HookFn):
    def hook(module, args, output):
        first = output[0] if isinstance(output, tuple) else output
        new = fn(first)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook


@contextmanager
def hooked(model: torch.nn.Module, hooks: Sequence[tuple[Hookpoint, HookFn]]) -> Iterator[None]:
    """Install ``hooks`` for the duration of the ``with`` block; always remove them."""
    handles = []
    try:
        for point, fn in hooks:
            module = model.get_submodule(point.module)
            if point.io == "input":
                handles.append(module.register_forward_pre_hook(_input_hook(fn), with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(_output_hook(fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def forward_until(
    model: torch.nn.Module,
    hooks: Sequence[tuple[Hookpoint, HookFn]],
    stop_after: Hookpoint | None,
    **inputs: torch.Tensor,
) -> torch.Tensor | None:
    """Run ``model(**inputs)`` with ``hooks``; if ``stop_after`` is given, end the
    forward pass right after that hook point has run. Returns the logits when the
    pass ran to the end, else None."""
    hooks = list(hooks)
    if stop_after is not None:
        def stop(_: torch.Tensor) -> None:
            raise StopForward

        hooks.append((stop_after, stop))
    with torch.no_grad(), hooked(model, hooks):
        try:
            return model(**inputs, use_cache=False).logits
        except StopForward:
            return None
