"""Fixtures shared by the test modules.

This file also puts ``tests/`` on ``sys.path`` (pytest's default "prepend" import mode
does that for a conftest's folder), so any test module can ``from support import ...``:
shared plain helpers live in ``tests/support.py``, never in another test module.
"""

import pytest


@pytest.fixture(scope="module")
def subject():
    """A tiny randomly initialised llama (seed 0, 3 layers, byte-level tokenizer). Module
    scope: built once per module, and a module that adds directions or edits weights
    does not leak them into another."""
    from mechanic.tools import tiny_subject

    return tiny_subject("llama")
