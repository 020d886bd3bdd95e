"""The fake OpenAI server process: its deterministic replies, injected faults and stats, and the aiohttp app.

Its settings live in `model_server_config`, shared with the client side (`model_server`), so the server
never imports the test-facing helpers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import random
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devtools.model_server_config import FAULT_KINDS, FaultKind, Faults, Latency, ServerConfig, request_key
from tracewatch.errors import ConfigError

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "invalid request"),
    401: ("invalid_request_error", "Incorrect API key provided."),
    429: ("rate_limit_error", "Rate limit reached (injected by the test model server)."),
    500: ("server_error", "The server had an error (injected by the test model server)."),
    502: ("server_error", "Bad gateway (injected by the test model server)."),
    503: ("server_error", "The engine is overloaded (injected by the test model server)."),
    504: ("server_error", "Gateway timeout (injected by the test model server)."),
}
_VOCABULARY = (
    *("the", "answer", "is", "likely", "about", "forty", "two", "because", "evidence", "suggests"),
    *("several", "sources", "agree", "although", "one", "report", "differs", "slightly", "so", "check"),
)


def count_tokens(text: str) -> int:
    """Whitespace tokens: crude, but deterministic and the same on both sides of a test."""
    return len(text.split())


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a message, whether `content` is a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def reply_for(body: Mapping[str, Any], key: str, config: ServerConfig) -> str:
    """The canned answer whose substring the last user message contains (first match wins), else the
    echo of that message, or (reply="hash") a sentence chosen by the request key."""
    users = [m for m in body["messages"] if m.get("role") == "user"]
    last_user = message_text(users[-1]) if users else ""
    for needle, answer in config.answers.items():
        if needle in last_user:
            return answer
    if config.reply == "echo":
        return last_user
    rng = random.Random(key)
    return " ".join(rng.choices(_VOCABULARY, k=rng.randint(6, 24))).capitalize() + "."


def _uniform(*parts: object) -> float:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class Stats:
    """Counters of the API requests (admin calls are not counted)."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_fault: Counter[str] = field(default_factory=Counter)
    by_request: Counter[str] = field(default_factory=Counter)
    answered: Counter[str] = field(default_factory=Counter)
    """Per request key, the whole answers sent (no fault): an item answered twice is a paid call repeated."""

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_fault": dict(self.by_fault),
            "by_request": dict(self.by_request),
            "answered": dict(self.answered),
        }


class ServerState:
    """The mutable half of the server: config, random streams, per-request attempt counts and stats."""

    def __init__(self, config: ServerConfig, api_key: str | None) -> None:
        self.initial_config = self.config = config
        self.api_key = api_key
        self.reset()

    def reset(self, *, restore_config: bool = False) -> None:
        """Forget every request seen and restart the random streams, so a test starts from a clean slate;
        with `restore_config`, also go back to the config the server was started with."""
        if restore_config:
            self.config = self.initial_config
        self.stats = Stats()
        self._latency_rng = random.Random(self.config.latency.seed)
        self._fault_rng = random.Random(self.config.faults.seed)

    def configure(self, changes: Mapping[str, Any]) -> None:
        new = self.config.updated(changes)
        if new.latency.seed != self.config.latency.seed:
            self._latency_rng = random.Random(new.latency.seed)
        if new.faults.seed != self.config.faults.seed:
            self._fault_rng = random.Random(new.faults.seed)
        self.config = new

    @contextmanager
    def tracking(self) -> Iterator[None]:
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
        try:
            yield
        finally:
            stats.in_flight -= 1

    def choose_fault(self, faults: Faults, key: str, attempt: int) -> FaultKind | None:
        if attempt <= faults.fail_first:
            fault: FaultKind | None = faults.fail_first_with
        else:
            draw = _uniform(faults.seed, key, attempt) if faults.keyed else self._fault_rng.random()
            fault, cumulative = None, 0.0
            for kind in FAULT_KINDS:
                cumulative += faults.rates.get(kind, 0.0)
                if draw < cumulative:
                    fault = kind
                    break
        if fault is not None:
            self.stats.by_fault[fault] += 1
        return fault

    def delay_s(self, latency: Latency) -> float:
        if latency.sigma == 0:
            return latency.median_ms / 1000
        return latency.median_ms * math.exp(latency.sigma * self._latency_rng.gauss()) / 1000


STATE = web.AppKey("state", ServerState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int, message: str | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    """An error in OpenAI's shape, so clients map it to the same exception classes as the real API."""
    kind, default = _ERRORS[status]
    error = {"message": message or default, "type": kind, "param": None, "code": None}
    return web.json_response({"error": error}, status=status, headers=headers)


def completion(body: Mapping[str, Any], key: str, attempt: int, config: ServerConfig) -> dict[str, Any]:
    """A chat.completion object; `max_tokens` cuts the reply and sets finish_reason to "length"."""
    words = reply_for(body, key, config).split()
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    finish = "stop"
    if isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "length"
    prompt_tokens = sum(count_tokens(message_text(m)) for m in body["messages"])
    return {
        "id": f"chatcmpl-{key[:20]}-{attempt}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "system_fingerprint": "fp_tracewatch",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(words), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        },
    }


async def _faulty_response(
    request: web.Request, fault: FaultKind, payload: dict[str, Any], config: ServerConfig
) -> web.StreamResponse:
    if fault == "429":
        retry_after = config.faults.retry_after_s
        value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        return error_response(429, headers={"Retry-After": value})
    if fault == "429_no_retry_after":
        return error_response(429)
    if fault == "reset":  # the connection dropped before any byte of a response (a peer reset)
        if request.transport is not None:
            request.transport.abort()
        raise ConnectionResetError("the test model server reset the connection on purpose")
    if fault in ("500", "502", "503"):
        return error_response(int(fault))
    if fault == "empty_choices":
        return web.json_response({**payload, "choices": []})
    if fault == "empty_content":
        payload["choices"][0]["message"]["content"] = ""
        payload["usage"]["total_tokens"] -= payload["usage"]["completion_tokens"]
        payload["usage"]["completion_tokens"] = 0
        return web.json_response(payload)
    data = json.dumps(payload).encode()
    if fault == "malformed":  # a complete HTTP message whose JSON stops halfway
        return web.Response(body=data[: len(data) // 2], content_type="application/json")
    # truncated: promise the whole body, send half, drop the connection
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(data)
    response.force_close()
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    if request.transport is not None:
        request.transport.close()
    return response


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "the request body is not valid JSON")
    if not (
        isinstance(body, dict)
        and isinstance(body.get("model"), str)
        and isinstance(body.get("messages"), list)
        and body["messages"]
        and all(isinstance(m, dict) for m in body["messages"])
    ):
        return error_response(400, "a chat request needs a `model` string and a non-empty `messages` list")
    if body.get("stream"):
        return error_response(400, "streaming is not supported by the test model server")
    config = state.config  # one snapshot, so a concurrent /admin/config cannot mix two configs in one answer
    key = request_key(body["messages"], body["model"], body.get("temperature"), body.get("seed"))
    state.stats.by_request[key] += 1
    attempt = state.stats.by_request[key]
    fault = state.choose_fault(config.faults, key, attempt)
    if fault == "timeout":
        await asyncio.sleep(config.faults.hang_s)
        return error_response(504)
    delay = state.delay_s(config.latency)
    if delay > 0:
        await asyncio.sleep(delay)
    payload = completion(body, key, attempt, config)
    if fault is None:
        state.stats.answered[key] += 1
        return web.json_response(payload)
    return await _faulty_response(request, fault, payload, config)


async def list_models(request: web.Request) -> web.Response:
    models = request.app[STATE].config.models
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "tracewatch"} for m in models]
    return web.json_response({"object": "list", "data": data})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "pid": os.getpid()})


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.to_json())


async def post_config(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ConfigError("the body must be a JSON object of config sections")
        state.configure(changes)
    except (ValueError, ConfigError) as exc:
        return error_response(400, str(exc))
    return web.json_response(state.config.to_json())


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats.to_json())


async def post_reset(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        options = await request.json() if request.can_read_body else {}
    except ValueError:
        return error_response(400, "the request body is not valid JSON")
    state.reset(restore_config=bool(isinstance(options, dict) and options.get("config")))
    return web.json_response(state.stats.to_json())


@web.middleware
async def auth_and_stats(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request but the health check needs the key (when set); only API requests are counted."""
    state = request.app[STATE]
    authorized = state.api_key is None or secrets.compare_digest(
        request.headers.get("Authorization", "").encode(), f"Bearer {state.api_key}".encode()
    )
    if request.path.startswith("/admin/"):
        if not authorized and request.path != "/admin/health":
            return error_response(401)
        return await handler(request)
    with state.tracking():
        try:
            response = error_response(401) if not authorized else await handler(request)
        except web.HTTPException as exc:  # the router's 404 and 405
            state.stats.by_status[exc.status] += 1
            raise
        state.stats.by_status[response.status] += 1
        return response


def build_app(config: ServerConfig, api_key: str | None = None) -> web.Application:
    """The aiohttp application; `serve` runs it, and a test could mount it in-process."""
    app = web.Application(middlewares=[auth_and_stats])
    app[STATE] = ServerState(config, api_key)
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", chat_completions)
        app.router.add_get(f"{prefix}/models", list_models)
    app.router.add_get("/admin/health", health)
    app.router.add_get("/admin/config", get_config)
    app.router.add_post("/admin/config", post_config)
    app.router.add_get("/admin/stats", get_stats)
    app.router.add_post("/admin/reset", post_reset)
    return app


async def _exit_with_parent(parent_pid: int) -> None:
    # A test run that dies without stopping the server (kill -9, a crash) must not leave it running.
    while os.getppid() == parent_pid:
        await asyncio.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def serve(
    host: str, port: int, config: ServerConfig, api_key: str | None, parent_pid: int | None = None
) -> None:
    """Run until SIGTERM/SIGINT, or until `parent_pid` is no longer the parent. No access log (it costs
    more than a request), and handlers are cancelled when their client hangs up, so an injected hang ends
    with the client that gave up on it."""
    app = build_app(config, api_key)
    if parent_pid is not None:

        async def watch_parent(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(_exit_with_parent(parent_pid))
            yield
            task.cancel()

        app.cleanup_ctx.append(watch_parent)
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=None,
        print=None,
        handler_cancellation=True,
        shutdown_timeout=1.0,
        backlog=1024,
    )
