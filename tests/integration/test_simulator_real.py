"""The all-at-once simulator on the real embedded model (through LocalLLM's slots)."""

import time

import numpy as np
from mechanic.evals.records import Record
from mechanic.evals.simulators import AllAtOnceSimulator

TEXTS = [
    "The meeting moved from March to April, then to May.",
    "def add(a, b):\n    return a + b\n",
    "Snow fell in January; by July the lake was warm.",
]
MONTHS = {" March", " April", " May", " January", " July"}


def test_all_at_once_on_the_embedded_model(embedded):
    from mechanic.agent.llm import LocalLLM

    llm = LocalLLM(embedded)
    records = []
    for text in TEXTS:
        ids = embedded.tokenizer.encode(text, add_special_tokens=False)
        tokens = embedded.token_strings(ids)
        acts = np.array([1.0 if t in MONTHS else 0.0 for t in tokens], dtype=np.float32)
        records.append(Record(tuple(tokens), acts))
    sim = AllAtOnceSimulator(llm)
    assert sim.max_level == 9  # SmolLM2 splits "10" into two digits: the 0-9 scale, rescaled

    start = time.perf_counter()
    preds = sim.simulate("names of months", records)
    per_record = (time.perf_counter() - start) / len(records)
    print(f"all-at-once on {llm.name}: {per_record:.3f} s per record "
          f"({sum(len(r.tokens) for r in records)} tokens, {sim.usage.prompt_tokens} prompt tokens)")

    assert [p.shape for p in preds] == [(len(r.tokens),) for r in records]
    for p in preds:
        assert np.isfinite(p).all() and (p >= 0).all() and (p <= 10).all()
    assert sim.usage.calls == 1  # three records fit one batch
