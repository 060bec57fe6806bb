"""Golden tests: every prompt's full text is pinned, so a prompt change is a visible diff.

Run with ``UPDATE_GOLDEN=1`` to rewrite the golden files after an intended change,
then review the diff. Templates without an entry in ``INPUTS`` are rendered with each
placeholder filled by ``<name>``, so a new template only needs its golden file.
"""

import os
import re
from pathlib import Path
from string import Template

import numpy as np
import pytest
from mechanic import prompts
from mechanic.evals.records import Record
from mechanic.evals.simulators import all_at_once_text, json_prompt

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

EXPLANATION = "month names, strongest on the first letters of abbreviated months"
TOKENS = ["Report", " for", " Jan", ".", " 3", ",", " 2024", "\n", "\tPaid", " in", " Feb", "?"]

INPUTS = {
    "simulate_all_at_once": {"explanation": EXPLANATION, "max_level": 10},
    "simulate_json": {"explanation": EXPLANATION, "tokens": "0\tReport\n1\t for\n2\t Jan"},
    "detect": {"explanation": EXPLANATION, "text": "Report for Jan. 3, 2024\n\tPaid in Feb?"},
    "fuzz": {"explanation": EXPLANATION, "text": "Report for «Jan». 3, 2024\n\tPaid in «Feb»?"},
}


def _placeholders(text: str) -> list[str]:
    found = []
    for m in Template.pattern.finditer(text):
        name = m.group("named") or m.group("braced")
        if name and name not in found:
            found.append(name)
    return found


def _inputs(name: str) -> dict:
    if name in INPUTS:
        return INPUTS[name]
    return {v: f"<{v}>" for v in _placeholders(prompts.template_text(name))}


def check_golden(relpath: str, text: str) -> None:
    path = GOLDEN / relpath
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}; run with UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{relpath} changed; if intended, UPDATE_GOLDEN=1"


@pytest.mark.parametrize("name", prompts.names())
def test_template_matches_golden(name):
    check_golden(f"{name}.txt", prompts.render(name, **_inputs(name)))


def test_every_template_has_a_golden_file_and_no_orphans():
    templates = set(prompts.names())
    goldens = {p.stem for p in GOLDEN.glob("*.txt")}
    assert templates - goldens == set(), "templates without golden files"
    assert goldens - templates == set(), "golden files without templates"
    assert {"simulate_all_at_once", "simulate_json", "detect", "fuzz"} <= templates


def test_all_at_once_text_matches_golden():
    # the 0-9 scale is what a digit-splitting tokenizer (SmolLM2) gets
    check_golden("assembled/simulate_all_at_once.txt", all_at_once_text(EXPLANATION, TOKENS, max_level=9))


def test_json_prompt_matches_golden():
    check_golden("assembled/simulate_json.txt", json_prompt(EXPLANATION, TOKENS))


def test_fuzz_prompt_matches_golden():
    from mechanic.evals.scorers.fuzzing import marked_text

    text = prompts.render("fuzz", explanation=EXPLANATION, text=marked_text(TOKENS, [2, 10]))
    check_golden("assembled/fuzz.txt", text)


def test_detect_prompt_matches_golden():
    from mechanic.evals.scorers.detection import passage_text

    rec = Record(tuple(TOKENS), np.zeros(len(TOKENS), dtype=np.float32))
    check_golden("assembled/detect.txt", prompts.render("detect", explanation=EXPLANATION,
                                                        text=passage_text(rec.tokens)))


def test_render_requires_every_variable():
    with pytest.raises(KeyError):
        prompts.render("detect", explanation="x")


def test_render_leaves_dollars_in_values_alone():
    out = prompts.render("detect", explanation="costs $5 or $text", text="a $b")
    assert "costs $5 or $text" in out and "a $b" in out


def test_unknown_template_is_a_clear_error():
    with pytest.raises(KeyError, match="no prompt template"):
        prompts.render("no_such_prompt")


def test_prompt_hash_is_twelve_hex_and_stable():
    h = prompts.prompt_hash("detect")
    assert re.fullmatch(r"[0-9a-f]{12}", h)
    assert h == prompts.prompt_hash("detect") != prompts.prompt_hash("fuzz")


def test_render_around_splits_at_the_hole():
    before, after = prompts.render_around("detect", "text", explanation="x")
    assert before + "BODY" + after == prompts.render("detect", explanation="x", text="BODY")
    assert after.endswith("Answer:")
    with pytest.raises(ValueError):
        prompts.render_around("detect", "nonexistent", explanation="x", text="t")


def test_corpus_text_is_delimited_and_called_data():
    for name in ("simulate_all_at_once", "simulate_json", "detect", "fuzz"):
        text = prompts.template_text(name)
        assert "not instructions" in text, name
        assert ("<text>" in text) or ("<tokens>" in text), name
