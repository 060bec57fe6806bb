"""The CLI on a tiny model and a real SQLite file: happy paths and one-line errors."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.fixture()
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args, model="tiny:llama"):
        return runner.invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", model, "-q", *args])

    return invoke


def test_every_command_has_help_and_is_in_the_readme():
    runner = CliRunner()
    for name, command in cli.commands.items():
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and len(command.help) > 20, f"{name} lacks help text"
        assert f"mechanic {name}" in README, f"README does not show `mechanic {name}`"


def test_cache_show_and_resume(run, tmp_path):
    first = run("cache", "--layers", "0,2", "--tokens", "1024", "--window", "16", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.output)
    assert summary["captured"] == 128 and summary["skipped"] == 0
    again = json.loads(run("cache", "--layers", "0-2", "--tokens", "1024", "--window", "16", "--json").output)
    assert again["captured"] == 64 and again["skipped"] == 128
    db = store.open_db(tmp_path / "m.db")
    assert db["features"].count == 192
    assert [r["status"] for r in db["runs"].rows] == ["done", "done"]

    shown = run("show", "mlp:2:7", "-n", "2")
    assert shown.exit_code == 0, shown.output
    assert "mlp:2:7" in shown.output and "top exemplars" in shown.output
    data = json.loads(run("show", "mlp:2:7", "--json").output)
    assert len(data["top"]) == 8 and data["stats"]["count"] == 64 * 15  # each window's first token is context only
    assert len(data["top"][0]["tokens"]) == 16 == len(data["top"][0]["activations"])


def test_activations_and_intervene_json(run):
    acts = json.loads(run("activations", "attn:1:2", "hello", "hi", "--json").output)
    assert [a["tokens"] for a in acts] == [list("hello"), list("hi")]
    assert len(acts[0]["activations"]["attn:1:2"]) == 5
    out = run("intervene", "mlp:1:3", "hello there", "--clamp", "5", "--json")
    assert out.exit_code == 0, out.output
    effect = json.loads(out.output)
    assert effect["kl"] > 0 and effect["n_texts"] == 1
    zero = json.loads(run("intervene", "mlp:1:3", "hello there", "--ablate", "zero", "--json").output)
    assert zero["kl"] > 0 and "top_increased" in zero  # zeroing the neuron changes the next-token distribution


@pytest.mark.parametrize(
    "args, message",
    [
        (("activations", "mlp:7:1", "hi"), "layer 7 out of range"),
        (("activations", "mlp:1:640", "hi"), "valid neurons are 0-63"),
        (("activations", "neuron:1:2", "hi"), "unknown feature kind"),
        (("activations", "resid:1:month", "hi"), "unknown direction 'month'"),
        (("intervene", "mlp:1:1", "hi"), "exactly one of --ablate, --steer, --clamp"),
        (("intervene", "mlp:1:1", "hi", "--ablate", "zero", "--steer", "2"), "exactly one"),
        (("cache", "--layers", "x"), "expected layers like 3,7"),
        (("cache", "--layers", "9"), "layer 9 out of range"),
        (("show", "mlp:1:1"), "no database at"),
    ],
)
def test_user_errors_are_one_clear_line(run, args, message):
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_model_and_bad_sae(run, tmp_path):
    result = run("activations", "mlp:1:1", "hi", model=str(tmp_path / "missing"))
    assert result.exit_code == 1 and "not a model directory" in result.output
    result = run("activations", "mlp:1:1", "hi", model="tiny:mamba")
    assert result.exit_code == 1 and "unknown tiny family" in result.output
    runner = CliRunner()
    result = runner.invoke(cli, ["--model", "tiny:llama", "--sae", "nodir", "-q", "activations", "mlp:1:1", "hi"])
    assert result.exit_code == 1 and "--sae takes NAME=DIR" in result.output
    result = runner.invoke(cli, ["--model", "tiny:llama", "--sae", f"x={tmp_path}", "-q", "activations", "sae:x:1", "hi"])
    assert result.exit_code == 1 and "is not an SAE directory" in result.output


def test_show_of_uncaptured_feature_says_how_to_capture(run):
    assert run("cache", "--layers", "0", "--tokens", "256", "--window", "16").exit_code == 0
    result = run("show", "mlp:1:4")
    assert result.exit_code == 1 and "mechanic cache --layers 1" in result.output
