"""The direct transport: one chat completion against an OpenAI-compatible endpoint (llama.cpp, vLLM, the
test server, OpenAI itself with an `api_base`) as one plain HTTP request.

Why not the OpenAI SDK: on a 2-core machine its request building and response models cost about 4 ms of CPU
per call, eight times an aiohttp POST, which caps a run at a few hundred calls a second against a fast
endpoint. The chat API is small and stable: a JSON body out, a JSON body (or an error status) back.

One `aiohttp.ClientSession` per event loop (a pooled session must not outlive its loop), with no connection
limit of its own: the provider's throttle (`_limits`) decides how many calls are in flight. Every failure is raised as a
`ModelError` that says whether a retry may help; the key is never part of a message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from tracewatch.llm._types import ModelError, ModelErrorKind

_DETAIL_LIMIT = 200


class OpenAICompatibleHTTP:
    """POST /chat/completions on any OpenAI-compatible base URL (ending in /v1)."""

    def __init__(self) -> None:
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )

    async def create(
        self, base_url: str, api_key: str, body: Mapping[str, Any], timeout_s: float | None
    ) -> dict[str, Any]:
        """The parsed JSON reply of one chat completion, or a `ModelError`."""
        url = f"{base_url.rstrip('/')}/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"}
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session().post(url, json=body, headers=headers, timeout=timeout) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise http_error(response.status, response.headers, raw)
        except TimeoutError:
            raise ModelError(f"timed out after {timeout_s} s", transient=True, kind="timeout") from None
        except aiohttp.ClientError as exc:  # refused, reset, or the body cut short
            raise ModelError(
                f"connection error: the connection failed or the body was cut short ({type(exc).__name__}: "
                f"{_short(str(exc))})",
                transient=True,
                kind="connection",
            ) from None
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            parsed = None
        if not isinstance(parsed, dict):
            raise ModelError(
                f"malformed response: the body is not valid JSON (status {response.status}, {len(raw)} bytes)",
                transient=True,
                kind="malformed",
            )
        return parsed

    async def aclose(self) -> None:
        """Close the session this event loop opened."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True)
            session = self._sessions[loop] = aiohttp.ClientSession(connector=connector, trust_env=True)
        return session


def http_error(status: int, headers: Mapping[str, str], body: bytes) -> ModelError:
    """The `ModelError` for an error status, with the server's own message and its Retry-After."""
    detail = _server_message(body)
    kind, summary, transient = classify_status(status)
    message = f"{summary}: {detail}" if detail else summary
    retry_after = retry_after_s({str(k): str(v) for k, v in headers.items()}) if transient else None
    return ModelError(message, transient=transient, status=status, retry_after_s=retry_after, kind=kind)


def classify_status(status: int) -> tuple[ModelErrorKind, str, bool]:
    """An HTTP error status as (kind, summary, transient), the same for both transports."""
    if status == 429:
        return "rate_limited", "rate limited", True
    if status == 408:
        return "timeout", "timed out", True
    if status >= 500 or status == 409:
        return "server_error", "server error", True
    if status in (401, 403):
        return "auth", "authentication failed", False
    if status == 404:
        return "not_found", "not found (check the model name and api_base)", False
    return "bad_request", "bad request", False


def _server_message(body: bytes) -> str:
    """`error.message` of an OpenAI-style error body, else the start of the body as text."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _short(body.decode("utf-8", "replace"))
    error = parsed.get("error") if isinstance(parsed, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    return _short(str(message if message is not None else parsed))


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."


def chat_body(model: str, messages: Sequence[Mapping[str, str]], params: Mapping[str, Any]) -> dict[str, Any]:
    """The request body: the model, the messages and every param as it is (vendor extras included)."""
    return {**params, "model": model, "messages": list(messages)}


def retry_after_s(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date; None if absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = _finite(lowered.get("retry-after-ms"))
    if millis is not None:
        return max(millis / 1000, 0.0)
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _finite(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None
