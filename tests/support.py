"""Plain helpers shared by test modules of both tiers (not a test module: pytest collects
nothing here). ``tests/`` is on ``sys.path`` because ``tests/conftest.py`` lives there
(pytest's default "prepend" import mode puts a conftest's folder first on the path), so
test modules import this as ``from support import ...`` whether pytest runs from the repo
root, on ``tests/unit`` or on a single file."""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mechanic.tools import CaptureConfig
from mechanic.tools.corpus import Window, _char_budget, _truncate, iter_documents

# The capture the scripted end-to-end tests (label, bench, the agent) cache features with:
# small enough for a tiny model and a 1-2k token corpus, big enough for every split.
CAPTURE = CaptureConfig(top_k=12, bottom_k=4, n_random=12, decile_pool=30, batch_size=16)


# ------------------------------------------------------------ token windows


def whitespace_windows(corpus: str, n_windows: int = 300, length: int = 64, per_doc: int = 2,
                       max_chars: int | None = None) -> list[list[str]]:
    """Token lists cut from ``corpus`` (the first ``max_chars`` of each document, ``per_doc``
    windows of each) by a whitespace split that keeps each word's leading whitespace, as
    BPE tokens do."""
    windows: list[list[str]] = []
    for _, text in iter_documents(corpus, seed=0):
        tokens = re.findall(r"\s*\S+", text[:max_chars])
        windows += [tokens[i:i + length] for i in range(0, len(tokens) - length + 1, length)][:per_doc]
        if len(windows) >= n_windows:
            break
    return windows[:n_windows]


def token_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def assert_windows_from_documents(tokenizer, windows, source, seed, length, cap=8):
    """Every window is the slice [start, start+length) of its own document's tokens."""
    needed = {w.doc for w in windows}
    texts = {}
    for doc, text in iter_documents(source, seed):  # windows come from a prefix of the documents
        if doc in needed:
            texts[doc] = text
            if len(texts) == len(needed):
                break
    budget = _char_budget(length, cap)
    per_doc = Counter()
    for i, w in enumerate(windows):
        assert isinstance(w, Window)
        assert w.index == i
        assert len(w.tokens) == length
        assert w.doc in texts
        assert w.start % length == 0
        ids = token_ids(tokenizer, _truncate(texts[w.doc], budget))
        assert list(w.tokens) == ids[w.start : w.start + length]
        per_doc[w.doc] += 1
    assert max(per_doc.values()) <= cap
    for doc in per_doc:  # no two windows of one document overlap
        starts = [w.start for w in windows if w.doc == doc]
        assert len(starts) == len(set(starts))


# ------------------------------------------------------- a scripted agent


def investigation_reply(messages, **kwargs):
    """A scripted investigator for ScriptedLLM: two hypotheses, one test_hypothesis
    experiment, then finish; a plain explanation request gets "letters"."""
    schema = json.dumps(kwargs.get("json_schema") or {})
    if '"hypotheses"' in schema:
        return json.dumps({"hypotheses": [{"text": "letters after a space", "prediction": "quiet on digits"},
                                          {"text": "digits", "prediction": "quiet on letters"}]})
    if '"tool"' in schema:
        content = messages[0]["content"]
        if "test_hypothesis:" in content:
            return json.dumps({"tool": "finish", "arguments": {}})
        return json.dumps({"tool": "test_hypothesis",
                           "arguments": {"hypothesis": 1, "activating": ["a b c", "x y"], "near_miss": ["1 2 3", "4 5"]}})
    return "letters"


# ------------------------------------------- a chat-completions endpoint


def ok_response(text="hello there", prompt_tokens=5, completion_tokens=2, model="fake-model"):
    """A successful chat-completions reply as ``(status, body)``."""
    return 200, {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error_response(status, message="scripted failure"):
    """An error reply as ``(status, body)``."""
    return status, {"error": {"message": message, "type": "scripted", "code": status}}


class _Loopback:
    """An HTTP server on a free port of 127.0.0.1, served from a daemon thread."""

    def _serve(self, handler) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeServer(_Loopback):
    """A chat-completions endpoint on 127.0.0.1. ``answer(request) -> (status, body)``
    decides each reply (it may sleep); requests, headers and concurrency are recorded."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[dict] = []
        self.auth: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization", ""))
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    status, payload = server.answer(body)
                finally:
                    with server.lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, *args):
                pass

        self._serve(Handler)


# ------------------------------------------- a fault-injecting endpoint


class FaultServer(_Loopback):
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1 that misbehaves on
    purpose. ``plan(n, request) -> fault`` picks the reply to the ``n``-th request (from
    0); a fault is a tuple:

    * ``("ok", text)`` — a normal reply; ``("slow", seconds, text)`` — the same after a wait
    * ``("status", code)`` or ``("status", code, retry_after)`` — an error reply (with a
      ``Retry-After`` header when given)
    * ``("reset",)`` — the connection is closed with a TCP reset, no reply
    * ``("truncated",)`` — headers promise more body than is sent, then the socket closes
    * ``("malformed",)`` — status 200 with a body that is not JSON
    * ``("html",)`` — status 200 with a web page (a URL that is not an endpoint)
    * ``("empty",)`` — status 200 with ``"choices": []``
    * ``("refusal", text)`` — a reply whose content is null and whose ``refusal`` says why

    Every request body is kept in ``requests`` (with its arrival time in ``times``)."""

    def __init__(self, plan):
        import socket
        import struct
        import time

        self.plan = plan
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # a page, as a web server that is not an endpoint would send
                self._send(200, b"<html><body>It works!</body></html>", "text/html")

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"raw": raw.decode(errors="replace")}
                with server.lock:
                    n = len(server.requests)
                    server.requests.append(body)
                    server.times.append(time.monotonic())
                fault = server.plan(n, body)
                kind = fault[0]
                try:
                    if kind == "ok":
                        self._json(*ok_response(fault[1]))
                    elif kind == "slow":
                        time.sleep(fault[1])
                        self._json(*ok_response(fault[2]))
                    elif kind == "status":
                        headers = {"Retry-After": str(fault[2])} if len(fault) > 2 else {}
                        self._json(*error_response(fault[1], f"injected HTTP {fault[1]}"), headers=headers)
                    elif kind == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.close_connection = True
                        self.connection.close()
                    elif kind == "truncated":
                        data = json.dumps(ok_response("cut short")[1]).encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[: len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                    elif kind == "malformed":
                        self._send(200, b'{"id": "x", "choices": [{"message": {"content": "unterminated', "application/json")
                    elif kind == "html":
                        self._send(200, b"<html><body>It works!</body></html>", "text/html")
                    elif kind == "empty":
                        status, payload = ok_response("")
                        self._json(status, {**payload, "choices": []})
                    elif kind == "refusal":
                        status, payload = ok_response("")
                        payload["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": fault[1]}
                        self._json(status, payload)
                    else:  # pragma: no cover - a test's typo
                        raise ValueError(f"unknown fault {fault!r}")
                except (BrokenPipeError, ConnectionResetError, OSError):  # the client gave up first
                    self.close_connection = True

            def _json(self, status, payload, headers=None):
                self._send(status, json.dumps(payload).encode(), "application/json", headers)

            def _send(self, status, data, content_type, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._serve(Handler)


# ------------------------------------------------------------ a model with a known answer


def stored_feature(subject, path, feature: str):
    """A store at ``path`` holding ``feature`` captured on 1,024 tokens, and an
    ``investigate`` run: ``(db, row, run_id)``, what the agent's tests start from."""
    from mechanic import store
    from mechanic.agent.pipeline import cache_features

    db = store.open_db(path)
    cache_features(db, subject, subject.features(feature), source="default", n_tokens=1024, length=16,
                   config=CAPTURE, progress=False)
    row = store.get_feature(db, subject.name, feature)
    return db, row, store.start_run(db, "investigate", {"feature": feature})


def serving(server):
    """Serve ``server`` (an ``http.server`` server) from a thread; yields its base URL
    and stops it on exit (for generator fixtures)."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wired_digit_subject(neuron: int = 5, layer: int = 1, marker: str = "#"):
    """A tiny llama whose ``mlp:LAYER:NEURON`` is wired to detect digits and, once it
    fires, to make the model predict ``marker``: the embedding marks digit bytes on
    residual dimension 0, the neuron reads dimension 0 and writes dimension 1, and the
    unembedding reads dimension 1 only into ``marker``; nothing else writes those two
    dimensions. Everything else is random.
    Returns ``(subject, feature id)``."""
    import torch
    from mechanic.tools import tiny_subject

    subject = tiny_subject("llama", seed=0, n_layers=3)
    model, tok = subject.model, subject.tokenizer
    digits = tok.convert_tokens_to_ids(list("0123456789"))
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, :2] = 0.0
        emb[digits, 0] = 1.0
        mlp = subject.blocks[layer].mlp
        for proj in (mlp.gate_proj, mlp.up_proj):
            proj.weight[neuron] = 0.0
            proj.weight[neuron, 0] = 1.0
        mlp.down_proj.weight[:, neuron] = 0.0
        mlp.down_proj.weight[1, neuron] = 1.0
        for i, block in enumerate(subject.blocks):  # nothing else writes dimensions 0 and 1
            keep = block.mlp.down_proj.weight[1, neuron].clone()
            block.mlp.down_proj.weight[:2, :] = 0.0
            block.self_attn.o_proj.weight[:2, :] = 0.0
            if i == layer:
                block.mlp.down_proj.weight[1, neuron] = keep
        head = model.get_output_embeddings().weight
        head[:, 1] = 0.0
        head[tok.convert_tokens_to_ids(marker), 1] = 3.0
    return subject, f"mlp:{layer}:{neuron}"
