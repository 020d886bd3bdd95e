"""The real model client, on litellm (imported lazily through `_providers.load_litellm`: it takes seconds).

`LiteLLMClient.complete` makes exactly one attempt: litellm's and the OpenAI SDK's own retries are switched
off, because `answer` owns the one retry layer and the throttle must see every 429. Every failure a
provider can cause becomes a `ModelError` that says whether a retry may help, with the status and the
server's Retry-After; empty answers are failures too. No message, log line or repr carries an API key.

Transport: litellm's per-call bookkeeping (cost, logging payloads, callbacks) costs more CPU than the HTTP call
itself, which halves throughput against a fast local server. So with `transport="auto"` a model served by an
OpenAI-compatible endpoint (`openai/<name>` with an `api_base`: llama.cpp, vLLM, the test server) is called
with one plain HTTP request (`_openai_http`, about an eighth of the OpenAI SDK's CPU per call); everything else
goes through `litellm.acompletion`. `transport="litellm"` sends every call through litellm.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Any, Literal

from tracewatch.errors import ConfigError
from tracewatch.llm._errors import model_error, scrubbed
from tracewatch.llm._openai_http import OpenAICompatibleHTTP, chat_body
from tracewatch.llm._params import CallParams
from tracewatch.llm._pricing import token_prices
from tracewatch.llm._providers import (
    KEYLESS_PROVIDERS,
    OPENAI_COMPATIBLE_PROVIDERS,
    PLACEHOLDER_API_KEY,
    load_litellm,
    provider_of,
)
from tracewatch.llm._types import Completion, Message, ModelError

log = logging.getLogger(__name__)

Transport = Literal["auto", "litellm"]


@dataclass(frozen=True)
class _Route:
    provider: str
    provider_model: str
    direct: bool


class LiteLLMClient:
    """A `ModelClient` for any litellm model string. Use one per process (or per run) and `aclose` it."""

    def __init__(self, *, transport: Transport = "auto") -> None:
        if transport not in ("auto", "litellm"):
            raise ConfigError(f"transport={transport!r} must be 'auto' or 'litellm'")
        self._transport: Transport = transport
        self._litellm = load_litellm()
        self._routes: dict[tuple[str, str | None], _Route] = {}
        self._direct = OpenAICompatibleHTTP()

    def __repr__(self) -> str:
        return f"LiteLLMClient(transport={self._transport!r})"

    async def __aenter__(self) -> LiteLLMClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared HTTP clients this event loop opened."""
        await self._direct.aclose()

    async def complete(self, messages: Sequence[Message], call: CallParams) -> Completion:
        """One attempt at one chat completion; every provider failure is raised as a `ModelError`."""
        route = self._route(call)
        api_key = _api_key(call, route)
        plain = [dict(m) for m in messages]
        started = time.perf_counter()
        error: ModelError | None = None
        response: Any = None
        try:
            if route.direct:
                response = await self._send_direct(plain, call, route, api_key)
            else:
                response = await self._send_litellm(plain, call, api_key)
        except ModelError as failed:  # the direct transport's own: its text may quote what the server said
            error = scrubbed(failed, _secrets(api_key))
        except Exception as exc:
            error = model_error(exc, _secrets(api_key))
            if error is None:
                raise
        # Raised outside the except block, so the provider's exception (whose request carries the key in its
        # headers) is not kept as the context of the ModelError.
        if error is not None:
            log.debug("%s: %s", call.model, error)
            raise error
        latency_ms = (time.perf_counter() - started) * 1000
        return self._completion(response, call, latency_ms)

    # ---- internals -------------------------------------------------------------------------------------

    def _route(self, call: CallParams) -> _Route:
        key = (call.model, call.api_base)
        route = self._routes.get(key)
        if route is None:
            provider, name = provider_of(call.model, call.api_base)
            direct = (
                self._transport == "auto"
                and call.api_base is not None
                and provider in OPENAI_COMPATIBLE_PROVIDERS
            )
            route = self._routes[key] = _Route(provider, name, direct)
        return route

    async def _send_direct(
        self, messages: list[dict[str, str]], call: CallParams, route: _Route, api_key: str | None
    ) -> Any:
        assert call.api_base is not None
        body = chat_body(route.provider_model, messages, call.params)
        reply = await self._direct.create(call.api_base, api_key or PLACEHOLDER_API_KEY, body, call.timeout_s)
        return _Reply.of(reply)

    async def _send_litellm(
        self, messages: list[dict[str, str]], call: CallParams, api_key: str | None
    ) -> Any:
        return await self._litellm.acompletion(
            model=call.model,
            messages=messages,
            api_base=call.api_base,
            api_key=api_key,
            timeout=call.timeout_s,
            num_retries=0,
            max_retries=0,
            **dict(call.params),
        )

    def _completion(self, response: Any, call: CallParams, latency_ms: float) -> Completion:
        choices = getattr(response, "choices", None) or []
        if not choices:
            raise ModelError("empty response: the reply has no choices", transient=True, kind="empty")
        choice = choices[0]
        finish = getattr(choice, "finish_reason", None)
        text = getattr(getattr(choice, "message", None), "content", None)
        if not isinstance(text, str) or not text:
            raise _empty_text(finish)
        usage = getattr(response, "usage", None)
        input_tokens = _int_or_none(getattr(usage, "prompt_tokens", None))
        output_tokens = _int_or_none(getattr(usage, "completion_tokens", None))
        hidden = getattr(response, "_hidden_params", None) or {}
        return Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cost_usd=self._cost(call, input_tokens, output_tokens, hidden.get("response_cost")),
            latency_ms=latency_ms,
            model=call.model,
            raw_finish_reason=str(finish) if finish is not None else None,
        )

    def _cost(
        self, call: CallParams, input_tokens: int | None, output_tokens: int | None, litellm_cost: Any
    ) -> float | None:
        """litellm's price for a model in its cost map, else the config's pricing, else unknown (None)."""
        if input_tokens is None or output_tokens is None:
            return None
        prices = token_prices(call.model)
        if prices is not None:
            # litellm.acompletion already ran litellm.completion_cost; the direct transport prices per token.
            if isinstance(litellm_cost, int | float) and math.isfinite(litellm_cost):
                return float(litellm_cost)
            return input_tokens * prices[0] + output_tokens * prices[1]
        if call.cost_per_1k_input is not None and call.cost_per_1k_output is not None:
            return (input_tokens * call.cost_per_1k_input + output_tokens * call.cost_per_1k_output) / 1000
        return None


@dataclass(frozen=True)
class _Reply:
    """A direct-transport JSON reply in the attribute shape of litellm's and the SDK's response objects, so
    one reader (`_completion`) serves both transports."""

    choices: list[Any]
    usage: Any

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Reply:
        choices = body.get("choices")
        return cls(
            choices=[_attrs(c) for c in choices if isinstance(c, Mapping)]
            if isinstance(choices, list)
            else [],
            usage=_attrs(body.get("usage")),
        )


def _attrs(value: object) -> Any:
    """Nested mappings as attribute objects (missing attributes read as None through getattr's default)."""
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): _attrs(v) for k, v in value.items()})
    return value


def _api_key(call: CallParams, route: _Route) -> str | None:
    """The key for this call: from `api_key_env`, a placeholder for keyless endpoints, or None (litellm reads
    the provider's usual variable)."""
    if call.api_key_env is not None:
        value = os.environ.get(call.api_key_env)
        if not value:
            raise ConfigError(f"model {call.model!r}: environment variable {call.api_key_env} is not set")
        return value
    if call.api_base is not None and (
        route.provider in OPENAI_COMPATIBLE_PROVIDERS or route.provider in KEYLESS_PROVIDERS
    ):
        return PLACEHOLDER_API_KEY
    return None


def _secrets(api_key: str | None) -> tuple[str, ...]:
    """What must never appear in an error: the key sent, and any key-like variable litellm may have read."""
    names = ("_API_KEY", "_KEY", "_TOKEN", "_SECRET")
    found = [v for k, v in os.environ.items() if k.upper().endswith(names) and len(v) >= 8]
    if api_key and api_key != PLACEHOLDER_API_KEY:
        found.append(api_key)
    return tuple(sorted(set(found), key=len, reverse=True))


def _empty_text(finish: object) -> ModelError:
    if finish == "content_filter":
        return ModelError(
            "empty response: the provider's content filter withheld the answer",
            transient=False,
            kind="content_filter",
        )
    if finish == "length":
        return ModelError(
            "empty response: the token limit was reached before any text (raise max_tokens)",
            transient=False,
            kind="empty",
        )
    return ModelError(
        f"empty response: the reply has no text (finish_reason={finish})", transient=True, kind="empty"
    )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
