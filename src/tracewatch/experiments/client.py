"""The real model client: the only module that imports litellm (lazily, since the import takes seconds).

`LiteLLMClient.complete` makes exactly one attempt: litellm's and the OpenAI SDK's own retries are switched
off, because the runner owns the one retry layer and its rate limiter must see every 429. Every failure a
provider can cause becomes a `ModelError` that says whether a retry may help, with the status and the
server's Retry-After; empty answers are failures too. No message, log line or repr carries an API key.

Transport: litellm's per-call bookkeeping (cost, logging payloads, callbacks) costs more CPU than the HTTP call
itself, which halves throughput against a fast local server. So with `transport="auto"` a model served by an
OpenAI-compatible endpoint (`openai/<name>` with an `api_base`: llama.cpp, vLLM, the test server) is called
with one plain HTTP request (`openai_http`, about an eighth of the OpenAI SDK's CPU per call); everything else
goes through `litellm.acompletion`. `transport="litellm"` sends every call through litellm.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace, TracebackType
from typing import Any, Literal

from tracewatch.errors import ConfigError
from tracewatch.experiments.openai_http import (
    OpenAICompatibleHTTP,
    chat_body,
    classify_status,
    retry_after_s,
)
from tracewatch.experiments.types import CallParams, Completion, Message, ModelError, ModelErrorKind

log = logging.getLogger(__name__)

Transport = Literal["auto", "litellm"]

PLACEHOLDER_API_KEY = "unused"
"""Sent to OpenAI-compatible endpoints that need no key (OpenAI clients refuse an empty one). A real provider
key is never sent to a custom `api_base` unless the config names its variable with `api_key_env`."""

OPENAI_COMPATIBLE_PROVIDERS = frozenset({"openai"})
"""litellm providers whose `api_base` is an OpenAI chat API that the direct transport can call as is."""

KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile"})
"""Self-hosted providers that work without an API key."""

_DETAIL_LIMIT = 300
_LITELLM_PREFIX = re.compile(
    r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception - )?(?:Error code: \d+ - )?"
)
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+[A-Za-z0-9._\-]{6,})")


def load_litellm() -> Any:
    """Import litellm with the local price map (never fetched from the internet) and without its banners.

    The first import also freezes the garbage collector's view of everything alive then (`gc.freeze`): litellm
    and the SDKs it pulls in leave some 400,000 objects that live as long as the process, and without the
    freeze every full collection during a run walks them all again; a warm-cache rerun of 2,000 items spent
    half its time there.
    """
    first = "litellm" not in sys.modules
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    if first:
        gc.freeze()
    return litellm


# ---- checks before any call ----------------------------------------------------------------------------


def provider_of(model: str, api_base: str | None = None) -> tuple[str, str]:
    """(provider, the model name the provider knows) for a litellm model string, or ConfigError."""
    try:
        name, provider, _, _ = load_litellm().get_llm_provider(model=model, api_base=api_base)
    except Exception:  # litellm raises its BadRequestError, ValueError or KeyError depending on the string
        raise ConfigError(
            f"model {model!r}: litellm cannot tell its provider; write it as <provider>/<model>, e.g. "
            "openai/gpt-4o-mini, anthropic/claude-haiku-4-5, ollama_chat/llama3.2, hosted_vllm/<name>"
        ) from None
    return str(provider), str(name)


def check_provider(model: str, *, api_base: str | None = None, api_key_env: str | None = None) -> None:
    """ConfigError naming the model string (unknown provider) or the environment variable of a missing key."""
    provider, _ = provider_of(model, api_base)
    if api_key_env is not None:
        if not os.environ.get(api_key_env):
            raise ConfigError(
                f"model {model!r} reads its API key from the environment variable {api_key_env} "
                "(api_key_env), which is not set"
            )
        return
    if provider in KEYLESS_PROVIDERS or (api_base and provider in OPENAI_COMPATIBLE_PROVIDERS):
        return
    missing = load_litellm().validate_environment(model=model).get("missing_keys") or []
    if missing:
        raise ConfigError(
            f"model {model!r} (provider {provider}) needs {', '.join(missing)} in the environment, which is "
            "not set; export it, or name another variable with api_key_env"
        )


def register_model_prices(model: str, *, input_per_1k: float, output_per_1k: float) -> None:
    """Add a model's price to litellm's (local) cost map, e.g. for a self-hosted model you want costed."""
    provider, _ = provider_of(model)
    entry = {
        "input_cost_per_token": input_per_1k / 1000,
        "output_cost_per_token": output_per_1k / 1000,
        "cache_creation_input_token_cost": 0.0,
        "cache_read_input_token_cost": 0.0,
        "litellm_provider": provider,
        "mode": "chat",
    }
    load_litellm().register_model({model: entry})


# ---- the client ----------------------------------------------------------------------------------------


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
        self._unpriced: set[tuple[str, int]] = set()
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
            error = _scrubbed(failed, _secrets(api_key))
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
        prices = self._prices(call.model)
        if prices is not None:
            # litellm.acompletion already ran litellm.completion_cost; the direct transport prices per token.
            if isinstance(litellm_cost, int | float) and math.isfinite(litellm_cost):
                return float(litellm_cost)
            return input_tokens * prices[0] + output_tokens * prices[1]
        if call.cost_per_1k_input is not None and call.cost_per_1k_output is not None:
            return (input_tokens * call.cost_per_1k_input + output_tokens * call.cost_per_1k_output) / 1000
        return None

    def _prices(self, model: str) -> tuple[float, float] | None:
        # A failed lookup costs ~0.4 ms, so misses are remembered until the cost map grows (register_model).
        miss = (model, len(self._litellm.model_cost))
        if miss in self._unpriced:
            return None
        try:
            info = self._litellm.get_model_info(model)
            prices = (float(info["input_cost_per_token"]), float(info["output_cost_per_token"]))
        except Exception:  # litellm raises its own "not mapped" error, or the entry lacks prices
            self._unpriced.add(miss)
            return None
        return prices


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


def _scrubbed(error: ModelError, secrets: Sequence[str]) -> ModelError:
    return ModelError(
        scrub(str(error), secrets),
        transient=error.transient,
        status=error.status,
        retry_after_s=error.retry_after_s,
        kind=error.kind,
    )


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


# ---- exceptions -> ModelError --------------------------------------------------------------------------


def model_error(exc: BaseException, secrets: Sequence[str] = ()) -> ModelError | None:
    """The `ModelError` for a provider failure raised by litellm or the OpenAI SDK, or None for anything else
    (a bug should propagate, not become thousands of failed items).

    litellm re-raises a body that is not JSON, or a connection cut mid-body, as a 500; the cause chain tells
    them apart from a real server error.
    """
    import openai

    chain = list(_chain(exc))
    if isinstance(exc, openai.APITimeoutError):
        return _error("timeout", "timed out", exc, secrets, transient=True)
    if isinstance(exc, openai.APIResponseValidationError) or any(
        isinstance(e, json.JSONDecodeError) for e in chain
    ):
        return _error(
            "malformed", "malformed response: the body is not valid JSON", exc, secrets, transient=True
        )
    if any(isinstance(e, openai.APIConnectionError) for e in chain):
        return _error(
            "connection",
            "connection error: the connection failed or the body was cut short",
            exc,
            secrets,
            transient=True,
        )
    status = getattr(exc, "status_code", None)
    if not isinstance(exc, openai.OpenAIError) or not isinstance(status, int):
        return None
    kind, summary, transient = classify_status(status)
    if kind == "bad_request" and "ContentPolicyViolation" in type(exc).__name__:
        return _error("content_filter", "refused by the content filter", exc, secrets, False, status)
    retry_after = retry_after_s(_headers(exc)) if transient else None
    return _error(kind, summary, exc, secrets, transient, status, retry_after)


def _error(
    kind: ModelErrorKind,
    summary: str,
    exc: BaseException,
    secrets: Sequence[str],
    transient: bool,
    status: int | None = None,
    retry_after: float | None = None,
) -> ModelError:
    detail = _detail(exc)
    if kind in ("connection", "malformed"):
        root = list(_chain(exc))[-1]
        if root is not exc and str(root) and str(root) not in detail:
            detail = f"{detail} (cause: {type(root).__name__}: {root})"
    message = scrub(" ".join(f"{summary}: {detail}".split()) if detail else summary, secrets)
    if len(message) > _DETAIL_LIMIT:  # cut after scrubbing, so no secret is cut in half and left readable
        message = message[: _DETAIL_LIMIT - 3] + "..."
    return ModelError(message, transient=transient, status=status, retry_after_s=retry_after, kind=kind)


def _detail(exc: BaseException) -> str:
    return _LITELLM_PREFIX.sub("", str(exc).strip())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with the given secrets and anything shaped like an API key or bearer token masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_SHAPES.sub("***", text)


def _headers(exc: BaseException) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    for candidate in (
        getattr(response, "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if candidate:
            return {str(k).lower(): str(v) for k, v in dict(candidate).items()}
    return {}
