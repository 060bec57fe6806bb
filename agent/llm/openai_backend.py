"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp,
``transformers serve``), through the ``openai`` package.

The client's own retries are off; ours are bounded and explicit: 429, 5xx, timeouts,
connection errors (refused, reset, a body cut short), a reply that is not JSON and a
reply without choices are retried with exponential backoff and jitter (``Retry-After``
honoured up to ``max_backoff``); any other 4xx, a reply that is not a chat completion
at all (a web page: the URL is not an endpoint) and a refusal fail at once; the last
failure becomes one :class:`LLMError` line naming the cause, the endpoint and the
model. :meth:`OpenAILLM.check` sends one small request before a long run. The API key is looked up when a call is made
(``api_key=`` or ``$OPENAI_API_KEY``) and never appears in a repr.

This backend has no log-probabilities, so it is not a ``SlotScorer``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import os
import random
import threading
import time
import weakref
from typing import Sequence
from urllib.parse import urlsplit, urlunsplit

from mechanic.evals.lm import Completion, LLMError, Usage

__all__ = ["OpenAILLM", "ToolsUnsupported"]

OPENAI_URL = "https://api.openai.com/v1"
LOCAL_KEY = "local"  # placeholder: local servers ignore the key, the client insists on one


class ToolsUnsupported(LLMError):
    """The endpoint rejected a request with ``tools`` (no native function calling)."""


class _Secret:
    """Holds a key so that no repr, str or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class _LoopState:
    """What must belong to one event loop: the concurrency gate and the HTTP clients."""

    def __init__(self, concurrency: int):
        self.semaphore = asyncio.Semaphore(concurrency)
        self.clients: dict[str, object] = {}


class OpenAILLM:
    """Chat completion against an OpenAI-compatible endpoint.

    ``base_url`` defaults to ``$OPENAI_BASE_URL``, else the OpenAI API. At most
    ``concurrency`` requests are in flight per event loop (synchronous calls share one
    private loop). A call is tried up to ``1 + max_retries`` times; before retry ``k``
    (from 0) it waits ``min(backoff * 2**k, max_backoff)`` seconds scaled by a random
    factor in [0.5, 1], or longer when the server sends ``Retry-After``.
    """

    parallel = True  # calls may be in flight at once (bounded by `concurrency`)

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 4, concurrency: int = 8,
                 backoff: float = 1.0, max_backoff: float = 30.0):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.usage = Usage()
        self._api_key = _Secret(api_key) if api_key else None
        self._response_format_ok = True  # cleared once the server rejects response_format
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._loops_lock = threading.Lock()
        self._background: asyncio.AbstractEventLoop | None = None
        self._checked = False  # whether check() has seen an answer

    def __repr__(self) -> str:
        return f"OpenAILLM(model={self.model!r}, base_url={_redact(self.base_url)!r})"

    __str__ = __repr__

    @property
    def endpoint(self) -> str:
        return f"{_redact(self.base_url)}/chat/completions"

    # ---------------------------------------------------------------- calling
    def complete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None) -> Completion:
        """Blocking call; safe inside a running event loop (it runs on a private one)."""
        return self._run(self.acomplete(messages, max_tokens=max_tokens, temperature=temperature,
                                        json_schema=json_schema, seed=seed))

    def complete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                      temperature: float = 1.0, json_schema: dict | None = None,
                      seed: int | None = None) -> list[Completion]:
        """``n`` independent samples, sent concurrently (seeds ``seed + i`` when seeded)."""
        return self._run(self.acomplete_many(messages, n, max_tokens=max_tokens, temperature=temperature,
                                             json_schema=json_schema, seed=seed))

    async def acomplete_many(self, messages: Sequence[dict], n: int, *, max_tokens: int = 256,
                             temperature: float = 1.0, json_schema: dict | None = None,
                             seed: int | None = None) -> list[Completion]:
        return list(await asyncio.gather(*(
            self.acomplete(messages, max_tokens=max_tokens, temperature=temperature, json_schema=json_schema,
                           seed=None if seed is None else seed + i)
            for i in range(n))))

    def complete_tools(self, messages: Sequence[dict], tools: Sequence[dict], *, max_tokens: int = 256,
                       temperature: float = 0.0, seed: int | None = None) -> Completion:
        """Native function calling: ``tools`` in the OpenAI format; the calls the model
        made are in ``completion.raw["tool_calls"]`` as ``[{"name", "arguments"}]``
        (arguments as the JSON text the server sent). Raises :class:`ToolsUnsupported`
        when the endpoint rejects ``tools``."""
        return self._run(self.acomplete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                        tools=list(tools)))

    async def acomplete(self, messages: Sequence[dict], *, max_tokens: int = 256, temperature: float = 0.0,
                        json_schema: dict | None = None, seed: int | None = None,
                        tools: Sequence[dict] | None = None) -> Completion:
        import openai

        state = self._state()
        client = self._client(state)
        params: dict = {"model": self.model, "messages": list(messages), "max_tokens": max_tokens,
                        "temperature": temperature}
        if seed is not None:
            params["seed"] = seed
        if tools:
            params["tools"] = list(tools)
        with_format = json_schema is not None and self._response_format_ok
        async with state.semaphore:
            start = time.perf_counter()
            attempt = 0
            while True:
                request = dict(params)
                if with_format:
                    request["response_format"] = _response_format(json_schema)
                retry_after = None
                try:
                    response = await client.chat.completions.create(**request)
                    if not hasattr(response, "choices"):  # parsed as text: not a chat-completions endpoint
                        raise LLMError(self._not_an_endpoint(response)) from None
                    if response.choices:
                        break
                    failure = "a reply with no choices"
                except openai.APIStatusError as exc:
                    status = exc.status_code
                    if with_format and status in (400, 422):
                        with_format = False  # the server cannot constrain: ask plainly, the caller validates
                        continue
                    if tools and status in (400, 404, 422, 501):
                        raise ToolsUnsupported(self._rejected(status, exc)) from None
                    if status != 429 and status < 500:
                        raise LLMError(self._rejected(status, exc)) from None
                    failure = f"HTTP {status}"
                    retry_after = _retry_after(exc.response)
                except openai.APITimeoutError:
                    failure = f"timed out after {self.timeout:g} s"
                except openai.APIConnectionError as exc:
                    failure = f"connection failed ({_cause(exc)})"
                except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:
                    failure = f"a malformed reply ({' '.join(str(exc).split())[:80]})"
                if attempt >= self.max_retries:
                    raise LLMError(f"LLM call failed: {failure} from {self.endpoint} (model {self.model}) "
                                   f"after {attempt + 1} tries") from None
                await asyncio.sleep(self._delay(attempt, retry_after))
                attempt += 1
            latency = time.perf_counter() - start
        if json_schema is not None and not with_format:
            self._response_format_ok = False
        return self._completion(response, latency, schema_sent=json_schema is not None and with_format)

    # ---------------------------------------------------------------- helpers
    def _completion(self, response, latency: float, *, schema_sent: bool) -> Completion:
        choice = response.choices[0]
        refusal = getattr(choice.message, "refusal", None) if choice.message is not None else None
        if refusal and not (choice.message.content or "").strip():
            raise LLMError(f"the model refused ({' '.join(str(refusal).split())[:120]}) at {self.endpoint} "
                           f"(model {self.model})")
        usage = getattr(response, "usage", None)
        completion = Completion(
            text=(choice.message.content if choice.message is not None else None) or "",
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency=latency,
            model=getattr(response, "model", None) or self.model,
            finish_reason=choice.finish_reason,
            raw={"id": getattr(response, "id", None), "response_format_sent": schema_sent,
                 "tool_calls": _tool_calls(choice.message)},
        )
        self.usage.add(completion)
        return completion

    def check(self) -> None:
        """One small request, tried twice at most, before a long run: raises
        :class:`LLMError` with the cause (no key, nothing listening, not an
        OpenAI-compatible endpoint, the model unknown there) instead of failing every
        call of the run one by one. Once it has answered, later checks send nothing."""
        if self._checked:
            return
        probe = OpenAILLM(self.model, base_url=self.base_url, api_key=self._api_key.reveal() if self._api_key else None,
                          timeout=self.timeout, max_retries=1, concurrency=1, backoff=0.5, max_backoff=2.0)
        try:
            probe.complete([{"role": "user", "content": "Reply with the word OK."}], max_tokens=4)
        except LLMError as exc:
            raise LLMError(f"{self.name} did not answer a first small request, so nothing was run: {exc}") from None
        finally:
            probe.close()
        self._checked = True

    def close(self) -> None:
        """Stop the private event loop of synchronous calls (a later call starts a new one)."""
        with self._loops_lock:
            loop, self._background = self._background, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def _not_an_endpoint(self, response) -> str:
        seen = " ".join(str(response).split())[:60]
        return (f"{self.endpoint} is not an OpenAI-compatible endpoint (model {self.model}): it answered "
                f"{seen!r} instead of a chat completion; check OPENAI_BASE_URL (it usually ends in /v1)")

    def _rejected(self, status: int, exc) -> str:
        detail = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
        hint = " (check OPENAI_API_KEY)" if status in (401, 403) else ""
        if status in (404, 405):
            hint = " (is OPENAI_BASE_URL an OpenAI-compatible endpoint, usually ending in /v1, serving this model?)"
        return f"LLM call rejected: HTTP {status} from {self.endpoint} (model {self.model}){hint}: {detail}"

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff * 2 ** attempt, self.max_backoff) * (0.5 + random.random() / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff))
        return delay

    def _api_key_now(self) -> str:
        key = self._api_key.reveal() if self._api_key else os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if _is_local(self.base_url):
            return LOCAL_KEY
        raise LLMError(f"set OPENAI_API_KEY (or pass api_key) to call {self.endpoint}")

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        with self._loops_lock:
            state = self._loops.get(loop)
            if state is None:
                state = self._loops[loop] = _LoopState(self.concurrency)
            return state

    def _client(self, state: _LoopState):
        from openai import AsyncOpenAI

        key = self._api_key_now()
        slot = hashlib.sha256(key.encode()).hexdigest()  # a key change gets a fresh client
        if slot not in state.clients:
            state.clients[slot] = AsyncOpenAI(api_key=key, base_url=self.base_url, timeout=self.timeout,
                                              max_retries=0)
        return state.clients[slot]

    def _run(self, coro):
        with self._loops_lock:
            if self._background is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=f"mechanic-{self.name}", daemon=True).start()
                self._background = loop
        return asyncio.run_coroutine_threadsafe(coro, self._background).result()


def _tool_calls(message) -> list[dict]:
    calls = getattr(message, "tool_calls", None) or []
    return [{"name": c.function.name, "arguments": c.function.arguments} for c in calls
            if getattr(c, "function", None) is not None]


def _response_format(schema: dict) -> dict:
    name = str(schema.get("title") or "response")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _retry_after(response) -> float | None:
    value = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _cause(exc: BaseException) -> str:
    root = exc.__cause__ or exc.__context__ or exc
    return " ".join(str(root).split())[:120] or type(root).__name__


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_unspecified


def _redact(url: str) -> str:
    """Drop any ``user:password@`` from a URL before it is shown."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
