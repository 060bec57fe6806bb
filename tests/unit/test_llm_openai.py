"""OpenAILLM against a real loopback HTTP server that speaks the chat-completions shape
and answers from a script: retries, failures, timeouts, concurrency, response_format
fallback and key hygiene."""

import asyncio
import json
import socket
import time

import pytest
from mechanic.agent.llm import LLMError, OpenAILLM
from mechanic.evals.lm import LLM, has_slots
from support import FakeServer, error_response, ok_response

MESSAGES = [{"role": "user", "content": "Say hi."}]


@pytest.fixture
def serve():
    servers = []

    def start(answer):
        servers.append(FakeServer(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _scripted(*replies):
    replies = list(replies)
    return lambda request: replies.pop(0) if replies else ok_response()


def _llm(server, **kwargs):
    kwargs.setdefault("backoff", 0.001)
    kwargs.setdefault("timeout", 5.0)
    return OpenAILLM("fake-model", base_url=server.url, **kwargs)


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def test_is_an_llm_without_slots():
    llm = OpenAILLM("m", base_url="http://127.0.0.1:9/v1")
    assert isinstance(llm, LLM) and not has_slots(llm) and not hasattr(llm, "score_slots")
    assert llm.name == "openai:m"


def test_retries_429_and_500_then_succeeds_with_usage(serve):
    server = serve(_scripted(error_response(429), error_response(500), ok_response("hi!", 11, 3)))
    llm = _llm(server)
    c = llm.complete(MESSAGES, max_tokens=20, seed=4)
    assert c.text == "hi!" and (c.prompt_tokens, c.completion_tokens) == (11, 3)
    assert c.finish_reason == "stop" and c.latency > 0
    assert len(server.requests) == 3
    sent = server.requests[-1]
    assert sent["model"] == "fake-model" and sent["messages"] == MESSAGES
    assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (20, 0.0, 4)
    assert (llm.usage.calls, llm.usage.prompt_tokens, llm.usage.completion_tokens) == (1, 11, 3)


def test_missing_usage_counts_zero(serve):
    status, body = ok_response()
    del body["usage"]
    llm = _llm(serve(lambda request: (status, body)))
    c = llm.complete(MESSAGES)
    assert (c.text, c.prompt_tokens, c.completion_tokens) == ("hello there", 0, 0)


def test_client_error_is_not_retried(serve):
    server = serve(_scripted(error_response(400, "bad request: messages malformed")))
    llm = _llm(server)
    with pytest.raises(LLMError, match=r"HTTP 400 .*127\.0\.0\.1.*/chat/completions.*fake-model.*malformed"):
        llm.complete(MESSAGES)
    assert len(server.requests) == 1


def test_retries_are_bounded_and_the_error_is_one_line(serve):
    server = serve(lambda request: error_response(503))
    llm = _llm(server, max_retries=2)
    with pytest.raises(LLMError) as info:
        llm.complete(MESSAGES)
    message = str(info.value)
    assert "\n" not in message
    assert "HTTP 503" in message and server.url in message and "fake-model" in message and "3 tries" in message
    assert len(server.requests) == 3


def test_timeout_fails_within_bounded_time(serve):
    def slow(request):
        time.sleep(3)
        return ok_response()

    llm = _llm(serve(slow), timeout=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(LLMError, match="timed out"):
        llm.complete(MESSAGES)
    assert time.perf_counter() - start < 2.5


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = OpenAILLM("m", base_url=f"http://127.0.0.1:{port}/v1", backoff=0.001, max_retries=1)
    with pytest.raises(LLMError, match="connection failed.*2 tries"):
        llm.complete(MESSAGES)


def test_concurrency_limit_is_respected(serve):
    def slow(request):
        time.sleep(0.2)
        return ok_response()

    server = serve(slow)
    llm = _llm(server, concurrency=3)

    async def many():
        return await asyncio.gather(*(llm.acomplete(MESSAGES) for _ in range(9)))

    assert len(asyncio.run(many())) == 9
    assert server.max_in_flight == 3
    assert llm.usage.calls == 9


def test_sync_complete_works_inside_a_running_loop(serve):
    llm = _llm(serve(lambda request: ok_response("inside")))

    async def caller():
        return llm.complete(MESSAGES)

    assert asyncio.run(caller()).text == "inside"


SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


def test_json_schema_is_sent_as_response_format(serve):
    server = serve(lambda request: ok_response('{"label": "x"}'))
    c = _llm(server).complete(MESSAGES, json_schema=SCHEMA)
    assert json.loads(c.text) == {"label": "x"}
    fmt = server.requests[0]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["name"]


def test_rejected_response_format_is_dropped_and_remembered(serve):
    def answer(request):
        if "response_format" in request:
            return error_response(400, "response_format is not supported")
        return ok_response('{"label": "plain"}')

    server = serve(answer)
    llm = _llm(server)
    assert llm.complete(MESSAGES, json_schema=SCHEMA).text == '{"label": "plain"}'
    assert ["response_format" in r for r in server.requests] == [True, False]
    llm.complete(MESSAGES, json_schema=SCHEMA)
    assert ["response_format" in r for r in server.requests] == [True, False, False]


def test_key_is_used_but_never_shown(serve, monkeypatch):
    server = serve(lambda request: ok_response())
    secret = "sk-test-very-secret-123"
    llm = _llm(server, api_key=secret)
    llm.complete(MESSAGES)
    assert server.auth[-1] == f"Bearer {secret}"
    for shown in (repr(llm), str(llm), repr(vars(llm)), str(vars(llm))):
        assert secret not in shown


def test_key_is_read_at_call_time_with_a_local_placeholder(serve, monkeypatch):
    server = serve(lambda request: ok_response())
    llm = _llm(server)
    llm.complete(MESSAGES)
    assert server.auth[-1] == "Bearer local"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    llm.complete(MESSAGES)
    assert server.auth[-1] == "Bearer sk-from-env"
    assert "sk-from-env" not in repr(llm)


def test_real_openai_without_a_key_says_what_to_set():
    llm = OpenAILLM("gpt-4o-mini")
    assert llm.base_url == "https://api.openai.com/v1"
    with pytest.raises(LLMError, match="set OPENAI_API_KEY"):
        llm.complete(MESSAGES)


def test_base_url_from_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8000/v1/")
    assert OpenAILLM("m").base_url == "http://localhost:8000/v1"


def test_backoff_grows_and_is_capped():
    llm = OpenAILLM("m", base_url="http://127.0.0.1:9/v1", backoff=1.0, max_backoff=8.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = [llm._delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert llm._delay(0, 5.0) == 5.0  # Retry-After wins when longer
