"""Endpoint faults from a real fault-injecting chat-completions server on 127.0.0.1
(``support.FaultServer``): bounded retries with backoff, Retry-After honoured and
capped, every fault a one-line cause, the preflight, and a `label` run that survives
a faulty endpoint — each failure stored on its feature, the rest done, the summary
counting them."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from click.testing import CliRunner
from mechanic import store
from mechanic.agent.cli import cli
from mechanic.agent.llm import LLMError, OpenAILLM, preflight
from mechanic.agent.pipeline import LabelConfig, label
from support import CAPTURE, FaultServer

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture()
def fault_server():
    servers = []

    def start(plan):
        servers.append(FaultServer(plan))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _script(*faults, then=("ok", "capital letters")):
    """A plan that replies with ``faults`` in order, then ``then`` forever."""
    queue = list(faults)
    lock = threading.Lock()

    def plan(n, request):
        with lock:
            return queue.pop(0) if queue else then

    return plan


def _llm(server, **kw):
    kw = {"timeout": 1.0, "max_retries": 2, "backoff": 0.01, "max_backoff": 0.5, **kw}
    return OpenAILLM("m", base_url=server.url, **kw)


TRANSIENT = [("status", 500), ("status", 503), ("status", 429), ("reset",), ("truncated",), ("malformed",),
             ("empty",), ("slow", 3, "late")]


@pytest.mark.parametrize("fault", TRANSIENT, ids=lambda f: f[0] + "".join(str(x) for x in f[1:2]))
def test_a_transient_fault_is_retried_and_the_call_succeeds(fault_server, fault):
    server = fault_server(_script(fault))
    assert _llm(server, timeout=0.5).complete(MESSAGES).text == "capital letters"
    assert len(server.requests) == 2


CAUSES = [
    (("status", 503), "HTTP 503"),
    (("reset",), "connection failed"),
    (("truncated",), "connection failed"),
    (("malformed",), "a malformed reply"),
    (("empty",), "a reply with no choices"),
    (("slow", 3, "late"), "timed out after 0.5 s"),
]


@pytest.mark.parametrize("fault,cause", CAUSES, ids=[c[0][0] for c in CAUSES])
def test_a_persistent_fault_is_retried_a_bounded_number_of_times_then_named(fault_server, fault, cause):
    server = fault_server(lambda n, request: fault)
    with pytest.raises(LLMError) as info:
        _llm(server, timeout=0.5, max_retries=2).complete(MESSAGES)
    message = str(info.value)
    assert cause in message and "after 3 tries" in message and "\n" not in message
    assert len(server.requests) == 3


@pytest.mark.parametrize("fault,cause", [
    (("refusal", "I cannot help with that"), "the model refused (I cannot help with that)"),
    (("html",), "is not an OpenAI-compatible endpoint"),
    (("status", 400), "HTTP 400"),
    (("status", 404), "usually ending in /v1"),
    (("status", 401), "check OPENAI_API_KEY"),
])
def test_a_fault_that_a_retry_cannot_fix_fails_at_once(fault_server, fault, cause):
    server = fault_server(lambda n, request: fault)
    with pytest.raises(LLMError, match=cause.replace("(", r"\(").replace(")", r"\)")):
        _llm(server).complete(MESSAGES)
    assert len(server.requests) == 1


def test_retry_after_is_honoured(fault_server):
    server = fault_server(_script(("status", 429, 0.6)))
    assert _llm(server, backoff=0.01, max_backoff=5).complete(MESSAGES).text == "capital letters"
    assert server.times[1] - server.times[0] >= 0.55


def test_retry_after_is_capped_by_max_backoff(fault_server):
    server = fault_server(_script(("status", 429, 3600)))
    start = time.perf_counter()
    _llm(server, backoff=0.01, max_backoff=0.3).complete(MESSAGES)
    assert time.perf_counter() - start < 3
    assert 0.25 <= server.times[1] - server.times[0] < 3


def test_backoff_has_jitter(fault_server):
    llm = _llm(fault_server(_script()), backoff=1.0, max_backoff=30)
    delays = {round(llm._delay(2, None), 6) for _ in range(20)}
    assert len(delays) > 10 and all(2.0 <= d <= 4.0 for d in delays)


# ------------------------------------------------------------------ preflight


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens


def test_preflight_names_each_cause(fault_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="set OPENAI_API_KEY"):
        preflight(OpenAILLM("gpt-4o-mini", base_url="https://api.openai.com/v1"))
    with pytest.raises(LLMError, match="connection failed"):
        preflight(OpenAILLM("m", base_url=f"http://127.0.0.1:{_closed_port()}/v1", backoff=0.01))
    with pytest.raises(LLMError, match="not an OpenAI-compatible endpoint"):
        preflight(_llm(fault_server(lambda n, r: ("html",))))
    good = fault_server(_script())
    llm = _llm(good)
    preflight(llm)
    preflight(llm)  # checked once per LLM
    assert len(good.requests) == 1 and good.requests[0]["max_tokens"] == 4


# ------------------------------------------------------ label over the faults

FEATURES = "mlp:0:0-7"


def test_label_survives_a_faulty_endpoint(fault_server, subject, tmp_path):
    """Eight features, one explanation call each (concurrency 1, so the faults land in
    order): the preflight, then per feature a 429 with Retry-After, a reset, malformed
    JSON, a cut body, a slow reply past the timeout (each then answered), three 503s
    (retries spent: failed), a refusal (failed at once), and a clean answer."""
    faults = [
        ("ok", "pong"),  # the preflight
        ("status", 429, 0.3), ("ok", "first"),
        ("reset",), ("ok", "second"),
        ("malformed",), ("ok", "third"),
        ("truncated",), ("ok", "fourth"),
        ("slow", 2, "too late"), ("ok", "fifth"),
        ("status", 503), ("status", 503), ("status", 503),
        ("refusal", "not today"),
        ("ok", "eighth"),
    ]
    server = fault_server(_script(*faults, then=("status", 500)))
    config = LabelConfig(methods=("oneshot",), explainer="openai:m", scorers=(), n_tokens=1024, window=16,
                         style="chat")

    def make_llm(spec, subj):
        return _llm(server, timeout=0.5, max_retries=2, backoff=0.01)

    db = store.open_db(tmp_path / "m.db")
    feats = subject.features(FEATURES)
    summary = label(db, subject, feats, config, make_llm=make_llm, capture_config=CAPTURE)
    assert summary.explained == 8 and summary.failed == 2
    rows = {r["feature_id"]: r for r in db["explanations"].rows}
    by_name = {f["feature"]: rows[f["id"]] for f in db["features"].rows if f["id"] in rows}
    texts = [by_name[f"mlp:0:{i}"]["text"] for i in range(8)]
    assert texts == ["first", "second", "third", "fourth", "fifth", None, None, "eighth"]
    assert "HTTP 503" in by_name["mlp:0:5"]["error"] and "after 3 tries" in by_name["mlp:0:5"]["error"]
    assert "refused (not today)" in by_name["mlp:0:6"]["error"]
    assert by_name["mlp:0:5"]["status"] == by_name["mlp:0:6"]["status"] == "failed"
    assert len(server.requests) == len(faults)  # every retry accounted for, none past the script
    assert server.times[2] - server.times[1] >= 0.25  # the Retry-After wait
    assert sorted(summary.failures.values()) == [1, 1]
    assert any("HTTP 503" in cause for cause in summary.failures)
    assert store.get_run(db, summary.run_id)["status"] == "done"


def _preflight_or(fault):
    """Answer the preflight's request; ``fault`` for every other."""
    return lambda n, request: (("ok", "OK") if "Reply with the word OK" in str(request.get("messages")) else fault)


def test_label_exits_non_zero_when_most_explanations_fail(fault_server, tmp_path, monkeypatch):
    server = fault_server(_preflight_or(("status", 400)))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)

    def args(db):
        return ["--db", str(tmp_path / db), "--model", "tiny:llama", "-q", "label", "mlp:0:0-2", "--methods",
                "oneshot", "--explainer", "openai:m", "--scorers", "topic", "--tokens", "1024", "--style", "chat",
                "--report", str(tmp_path / "r.html")]

    result = CliRunner().invoke(cli, args("a.db"))
    assert result.exit_code == 1, result.output
    assert "3 explanations made (3 failed)" in result.output
    assert "  3 failed: LLM call rejected: HTTP 400" in result.output
    assert "Error: 3 of 3 explanations failed (more than --max-failed 0.5); most often: LLM call rejected" in result.output
    assert "Traceback" not in result.output
    assert (tmp_path / "r.html").exists()  # the table and the report come first
    rows = list(store.open_db(tmp_path / "a.db")["explanations"].rows)
    assert [r["status"] for r in rows if r["role"] == "explanation"] == ["failed"] * 3  # stored, with the cause
    accepted = CliRunner().invoke(cli, [*args("b.db"), "--max-failed", "1"])
    assert accepted.exit_code == 0, accepted.output  # a share the user accepts
    assert "3 explanations made (3 failed)" in accepted.output


def test_bench_exits_non_zero_when_most_explanations_fail(fault_server, tmp_path, monkeypatch):
    server = fault_server(_preflight_or(("status", 400)))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)

    def run(db, methods, *extra):
        return CliRunner().invoke(cli, [
            "--db", str(tmp_path / db), "--model", "tiny:llama", "-q", "bench", "--suite", "rules", "--limit", "2",
            "--methods", methods, "--explainer", "openai:m", "--judges", "embedding", "--scorers", "simulation",
            "--tokens", "2048", "--no-validity", *extra])

    failing = run("a.db", "oneshot")
    assert failing.exit_code == 1, failing.output
    assert "bench run" in failing.output  # the results are printed first
    assert "Error: 2 of 2 explanations failed (more than --max-failed 0.5); most often: LLM call rejected" \
        in failing.output
    assert "Traceback" not in failing.output
    half = run("b.db", "tokens,oneshot")  # tokens never calls the endpoint: half the explanations fail
    assert half.exit_code == 0, half.output
    strict = run("b.db", "tokens,oneshot", "--max-failed", "0.25")
    assert strict.exit_code == 1 and "Error: 2 of 4 explanations failed (more than --max-failed 0.25)" in strict.output


@pytest.mark.parametrize("where,message", [
    ("closed", "connection failed"),
    ("html", "is not an OpenAI-compatible endpoint"),
])
def test_label_with_a_dead_endpoint_fails_fast_and_writes_nothing(fault_server, tmp_path, monkeypatch, where, message):
    url = (f"http://127.0.0.1:{_closed_port()}/v1" if where == "closed"
           else fault_server(lambda n, r: ("html",)).url)
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "label",
                                      "mlp:0:0", "--methods", "oneshot", "--explainer", "openai:m", "--timeout", "5"])
    assert result.exit_code == 1
    assert message in result.output and "nothing was run" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_label_without_an_api_key_fails_fast(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "label",
                                      "mlp:0:0", "--methods", "oneshot", "--explainer", "openai:gpt-4o-mini"])
    assert result.exit_code == 1
    assert "set OPENAI_API_KEY" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_timeout_option_reaches_the_endpoint(fault_server, tmp_path, monkeypatch):
    server = fault_server(lambda n, request: ("slow", 3, "late"))
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    start = time.perf_counter()
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", "label",
                                      "mlp:0:0", "--methods", "oneshot", "--explainer", "openai:m", "--timeout", "1"])
    assert result.exit_code == 1
    assert "timed out after 1 s" in result.output
    assert time.perf_counter() - start < 15


def test_a_rerun_after_an_outage_tries_the_failed_calls_again_and_nothing_else(fault_server, subject, tmp_path):
    """First run: the endpoint fails for every call after the first feature's. Rerun with
    the endpoint back: only the failed features are asked again, each stored in place of
    its failure (same row, earlier error kept); the first feature is not recomputed."""
    config = LabelConfig(methods=("oneshot",), explainer="openai:m", scorers=(), n_tokens=1024, window=16,
                         style="chat")
    outage = fault_server(_script(("ok", "pong"), ("ok", "first"), then=("status", 503)))
    healthy = fault_server(_script(then=("ok", "later")))
    db = store.open_db(tmp_path / "m.db")
    feats = subject.features("mlp:0:0-2")

    def run(server):
        return label(db, subject, feats, config, capture_config=CAPTURE,
                     make_llm=lambda spec, subj: _llm(server, max_retries=1, backoff=0.01))

    first = run(outage)
    assert (first.explained, first.failed) == (3, 2)
    before = {r["id"]: r for r in db["explanations"].rows}
    second = run(healthy)
    assert (second.explained, second.skipped, second.failed) == (2, 1, 0)
    assert len(healthy.requests) == 1 + 2  # the preflight and the two failed features
    after = {r["id"]: r for r in db["explanations"].rows}
    assert sorted(after) == sorted(before)  # replaced in place: no new rows
    assert sorted(r["text"] for r in after.values()) == ["first", "later", "later"]
    for eid, row in after.items():
        if row["text"] == "later":
            assert "HTTP 503" in before[eid]["error"] and "HTTP 503" in json.loads(row["details"])["earlier_error"]
        else:
            assert row == before[eid]  # the paid-for explanation is untouched


@pytest.mark.parametrize("command", [
    ["label", "mlp:0:0", "--methods", "oneshot"],
    ["investigate", "mlp:0:0"],
    ["ask", "what does mlp:0:0 do?"],
    ["bench", "--limit", "1"],
], ids=lambda c: c[0])
def test_every_command_with_an_endpoint_checks_it_first(tmp_path, monkeypatch, command):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "--model", "tiny:llama", "-q", *command,
                                      "--explainer", "openai:m", "--timeout", "2"])
    assert result.exit_code == 1, result.output
    assert "openai:m did not answer a first small request, so nothing was run" in result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []


def test_a_refusal_was_paid_for_and_is_not_asked_again(fault_server, subject, tmp_path):
    config = LabelConfig(methods=("oneshot",), explainer="openai:m", scorers=(), n_tokens=1024, window=16,
                         style="chat")
    refusing = fault_server(_preflight_or(("refusal", "no")))
    healthy = fault_server(_script(then=("ok", "later")))
    db = store.open_db(tmp_path / "m.db")
    feats = subject.features("mlp:0:0-1")
    for server in (refusing, healthy):
        summary = label(db, subject, feats, config, capture_config=CAPTURE,
                        make_llm=lambda spec, subj, server=server: _llm(server, backoff=0.01))
    assert (summary.explained, summary.skipped) == (0, 2)
    assert len(healthy.requests) == 1  # the preflight only
    errors = [r["error"] for r in db["explanations"].rows]
    assert len(errors) == 2 and all(e.startswith("the model refused (no)") for e in errors)
