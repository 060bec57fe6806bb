"""Bad input, as docs/errors.md lists it: each is one clear line, a non-zero exit, no
traceback and nothing written; texts longer than the context window are cut with a
notice. Property-based tests for the feature-id parser and the LLM-output parsers."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mechanic.agent.cli import cli
from mechanic.agent.explainers import ParseError, parse_explanation
from mechanic.agent.investigation.drivers import parse_json_object
from mechanic.agent.investigation.toolschema import ToolError
from mechanic.evals.scorers.detection import parse_yes_no
from mechanic.evals.simulators import parse_levels
from mechanic.tools import FeatureIdError
from mechanic.tools.sites import KINDS, MAX_INDICES, parse_feature, parse_features


@pytest.fixture()
def inputs(tmp_path):
    """Files the table's rows point at."""
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "random.txt").write_bytes(random.Random(0).randbytes(20_000))
    from transformers import BertConfig, BertForMaskedLM

    BertForMaskedLM(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)).save_pretrained(tmp_path / "bert")
    return tmp_path


# (what the user gives, the arguments, the message) — the same rows as docs/errors.md
TABLE = [
    ("unknown model", ["--model", "no-such-org/no-such-model", "activations", "mlp:0:0", "hi"], "unknown model"),
    ("unsupported architecture", ["--model", "{tmp}/bert", "activations", "mlp:0:0", "hi"], "unsupported architecture 'bert'"),
    ("malformed feature id", ["label", "mlp:x:1"], "layer must be a non-negative integer"),
    ("malformed feature id", ["label", "mlp:1"], "malformed feature id 'mlp:1'"),
    ("malformed feature id", ["label", "neuron:1:2"], "unknown feature kind 'neuron'"),
    ("malformed feature id", ["label", "mlp:0:3-1"], "empty range '3-1'"),
    ("feature id out of range", ["label", "mlp:9:0"], "layer 9 out of range"),
    ("feature id out of range", ["label", "mlp:0:99999"], "neuron 99999 out of range"),
    ("feature id out of range", ["label", "mlp:0:0-99999999999"], "names more than 1,048,576 features"),
    ("empty corpus", ["label", "mlp:0:0", "--corpus", "{tmp}/empty.txt"], "contains no text"),
    ("binary corpus", ["label", "mlp:0:0", "--corpus", "{tmp}/random.txt"], "random.txt is not text"),
    ("binary corpus", ["cache", "--layers", "0", "--corpus", "{tmp}/random.txt"], "random.txt is not text"),
    ("missing corpus", ["cache", "--layers", "0", "--corpus", "{tmp}/nowhere.txt"], "unknown corpus source"),
    ("conflicting flags", ["intervene", "mlp:0:1", "hello", "--clamp", "5", "--ablate", "zero"],
     "give exactly one of --ablate, --steer, --clamp"),
    ("unknown method", ["label", "mlp:0:0", "--methods", "magic"], "unknown method magic"),
    ("unknown LLM", ["label", "mlp:0:0", "--simulator", "gpt4"], "--simulator: unknown LLM 'gpt4'"),
    ("unknown LLM", ["label", "mlp:0:0", "--explainer", "openai"], "--explainer: unknown LLM 'openai'"),
    ("missing database", ["show", "mlp:0:0"], "no database at"),
]


@pytest.mark.parametrize("what,args,message", TABLE, ids=[f"{i}-{row[0]}" for i, row in enumerate(TABLE)])
def test_bad_input_is_one_line_and_writes_nothing(inputs, what, args, message):
    args = [a.replace("{tmp}", str(inputs)) for a in args]
    model = [] if "--model" in args else ["--model", "tiny:llama"]
    before = sorted(p.name for p in inputs.iterdir())
    result = CliRunner().invoke(cli, ["--db", str(inputs / "m.db"), *model, "-q", *args])
    assert result.exit_code in (1, 2), result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (AssertionError, TypeError))
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert sorted(p.name for p in inputs.iterdir()) == before  # no database, no report


def test_a_text_longer_than_the_context_window_is_cut_with_a_notice(tmp_path):
    text = "word " * 300  # 1500 byte tokens; the tiny model reads 512
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "activations",
                                      "mlp:0:0", text, "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 1 texts are longer than the model's context window (1500 tokens; tiny:llama reads 511)" \
        in result.output
    start = result.output.index("[")
    assert len(json.loads(result.output[start:])[0]["tokens"]) == 511


def test_a_corpus_with_a_few_bad_bytes_is_kept_with_a_warning(tmp_path):
    data = bytearray(("The quick brown fox jumps over the lazy dog. " * 80).encode())
    for i in range(0, len(data), 500):
        data[i] = 0xFF
    (tmp_path / "c.txt").write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "cache",
                                      "--layers", "0", "--corpus", str(tmp_path / "c.txt"), "--tokens", "256",
                                      "--window", "16"])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning: ") == 1  # said once, though the file is read twice
    assert "c.txt: 0.22% of the characters are invalid UTF-8" in result.output  # 8 of 3600


# ------------------------------------------------------------ property-based

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.text(max_size=60))
def test_any_text_parses_or_is_a_feature_id_error(text):
    try:
        kind, layer, name, indices = parse_features(text)
    except FeatureIdError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert kind in KINDS
    assert indices is None or (0 < len(indices) <= MAX_INDICES and all(i >= 0 for i in indices))


ids = st.integers(min_value=0, max_value=10**12)


@SETTINGS
@given(st.sampled_from(["mlp", "attn"]), ids, ids)
def test_a_single_feature_id_round_trips(kind, layer, index):
    spec = f"{kind}:{layer}:{index}"
    feature = parse_feature(spec)
    assert (feature.kind, feature.layer, feature.index) == (kind, layer, index)
    assert str(feature) == spec


@SETTINGS
@given(ids, st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 50)), min_size=1, max_size=5))
def test_ranges_and_lists_expand_in_order(layer, parts):
    spec = f"mlp:{layer}:" + ",".join(f"{lo}-{lo + width}" if width else str(lo) for lo, width in parts)
    _, parsed_layer, _, indices = parse_features(spec)
    assert parsed_layer == layer
    assert indices == [i for lo, width in parts for i in range(lo, lo + width + 1)]


@SETTINGS
@given(st.text(max_size=400))
def test_parse_explanation_returns_a_short_line_or_says_why_not(reply):
    try:
        text = parse_explanation(reply)
    except ParseError as exc:
        assert str(exc)
        return
    assert text and "\n" not in text and len(text) <= 200 and any(c.isascii() and c.isalpha() for c in text)
    assert text == text.strip()


@SETTINGS
@given(st.text(max_size=300), st.integers(min_value=0, max_value=40))
def test_parse_levels_never_raises_and_stays_in_range(reply, n):
    levels = parse_levels(reply, n)
    if levels is not None:
        assert levels.shape == (n,) and np.all((levels >= 0) & (levels <= 10)) and not np.isnan(levels).any()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                       max_size=4), max_leaves=12)


@SETTINGS
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.text(max_size=30), st.text(max_size=30))
def test_parse_json_object_finds_an_object_wrapped_in_prose(obj, before, after):
    assume_no_braces = "{" not in before + after and "}" not in before + after
    text = f"{before}\n```json\n{json.dumps(obj)}\n```\n{after}"
    try:
        value = parse_json_object(text)
    except ToolError:
        assert not assume_no_braces  # prose with braces of its own may hide the object: an error, never a crash
        return
    if assume_no_braces:
        assert value == obj or any(isinstance(v, float) and math.isinf(v) for v in obj.values())


@SETTINGS
@given(st.text(max_size=200))
def test_parse_json_object_on_any_text_is_a_dict_or_a_tool_error(text):
    try:
        assert isinstance(parse_json_object(text), dict)
    except ToolError as exc:
        assert str(exc)


@SETTINGS
@given(st.text(max_size=200))
def test_parse_yes_no_is_a_bool_or_none(text):
    assert parse_yes_no(text) in (True, False, None)
