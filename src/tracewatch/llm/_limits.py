"""Which limits a call passes through: one throttle (adaptive concurrency + optional RPM/TPM buckets) per
provider, or per model where a model has limits of its own.

A call's provider is its `api_base` when it has one (two deployments behind different URLs are limited
apart), else the litellm prefix of its model (`anthropic/claude-...` -> `anthropic`), else the model name.
Settings are looked up by exact model string first, then by provider, then the default applies. A task
config (Python code instead of a model) is limited under the key `task:<module:function>`.

These limits hold within one process. Calls made in several processes (an experiment's chunks on a Dask cluster)
share a `SharedGate` as well: every call passes it around the request, and it holds the provider's
requests and tokens per minute and its concurrency across processes (the flows implement it with Prefect's
global concurrency and rate limits on the server); the per-process buckets are then off, the adaptive
concurrency limit stays, under the gate.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import PositiveFloat, PositiveInt
from pydantic.dataclasses import dataclass as pydantic_dataclass

from tracewatch.errors import ConfigError
from tracewatch.llm._buckets import TokenBucket
from tracewatch.llm._concurrency import AdaptiveLimiter, Outcome
from tracewatch.llm._params import CallParams
from tracewatch.llm._parsing import STRICT_CONFIG, parse_config
from tracewatch.llm._types import Message

CHARS_PER_TOKEN = 4
"""A rough prompt-size estimate, used only to pace a tokens-per-minute budget before the real count is in."""


@pydantic_dataclass(frozen=True, config=STRICT_CONFIG)
class LimitSettings:
    """Limits of one provider (or model). See `_concurrency.AdaptiveLimiter` for the adaptive part. Every value
    is positive; None leaves the limit off."""

    max_concurrency: PositiveInt = 64
    min_concurrency: PositiveInt = 1
    initial_concurrency: PositiveInt | None = None
    decrease_factor: PositiveFloat = 0.9
    increase_per_success: PositiveFloat = 1.0
    max_pause_s: PositiveFloat = 60.0
    requests_per_minute: PositiveFloat | None = None
    tokens_per_minute: PositiveFloat | None = None


def limit_settings_from_dict(data: object, where: str) -> LimitSettings:
    """`LimitSettings` from a config file's mapping, refusing unknown keys and values the limiter rejects."""
    settings = parse_config(LimitSettings, data, where)
    if settings.min_concurrency > settings.max_concurrency:
        raise ConfigError(f"{where}: min_concurrency is above max_concurrency")
    return settings


def provider_key(call: CallParams) -> str:
    """The provider a call goes to, for limiting purposes."""
    if call.api_base:
        return call.api_base.rstrip("/")
    prefix, slash, _ = call.model.partition("/")
    return prefix if slash else call.model


def estimate_tokens(messages: Sequence[Message], max_output_tokens: int | None, mean_output: float) -> int:
    """Prompt tokens from characters, plus the output cap or, without one, the output seen so far."""
    prompt = sum(len(m.get("content") or "") for m in messages) // CHARS_PER_TOKEN
    return prompt + int(max_output_tokens if max_output_tokens is not None else mean_output)


class SharedGate(Protocol):
    """Limits shared with other processes: `slot` waits until a call to provider `key` may start under
    `settings` (its requests and `tokens` per minute, its concurrency) and holds the call's concurrency slot
    until the block ends. It must be picklable and carry no secret: it travels to worker processes."""

    def slot(
        self, key: str, settings: LimitSettings, tokens: int
    ) -> AbstractAsyncContextManager[None]: ...  # pragma: no cover - a protocol


@dataclass(frozen=True)
class Ticket:
    """A call's claim on its throttle, handed back at release."""

    started: float
    estimated_tokens: int


@dataclass
class Throttle:
    """What one provider's calls pass through: buckets first (pacing), then a concurrency slot."""

    key: str
    limiter: AdaptiveLimiter
    requests: TokenBucket | None = None
    tokens: TokenBucket | None = None
    settings: LimitSettings | None = None
    gate: SharedGate | None = None
    _output_tokens: float = field(default=0.0, repr=False)
    _outputs: int = field(default=0, repr=False)

    @property
    def mean_output_tokens(self) -> float:
        return self._output_tokens / self._outputs if self._outputs else 0.0

    async def acquire(self, messages: Sequence[Message], call: CallParams | None) -> Ticket:
        estimated = 0
        if self.requests is not None:
            await self.requests.take(1)
        paced = self.gate is not None and self.settings is not None and self.settings.tokens_per_minute
        if self.tokens is not None or paced:
            params = call.params if call is not None else {}
            cap = params.get("max_tokens") or params.get("max_completion_tokens")
            estimated = estimate_tokens(messages, cap, self.mean_output_tokens)
        if self.tokens is not None:
            await self.tokens.take(estimated)
        return Ticket(await self.limiter.acquire(), estimated)

    def shared(self, ticket: Ticket) -> AbstractAsyncContextManager[None]:
        """The gate shared with other processes around one attempt (nothing without a gate)."""
        if self.gate is None or self.settings is None:
            return nullcontext()
        return self.gate.slot(self.key, self.settings, ticket.estimated_tokens)

    def release(
        self,
        ticket: Ticket,
        outcome: Outcome,
        *,
        retry_after_s: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        self.limiter.release(ticket.started, outcome, retry_after_s)
        if output_tokens is not None:
            self._output_tokens += output_tokens
            self._outputs += 1
        if self.tokens is not None and outcome == "ok":
            used = (input_tokens or 0) + (output_tokens or 0)
            self.tokens.charge(used - ticket.estimated_tokens)


class ProviderLimits:
    """The throttles of a process (or of one run): created on first use, shared by every call to the same
    provider. Pass one instance to every chunk that should share limits."""

    def __init__(
        self,
        default: LimitSettings | None = None,
        overrides: Mapping[str, LimitSettings] | None = None,
        *,
        gate: SharedGate | None = None,
    ) -> None:
        self.default = default or LimitSettings()
        self.overrides = dict(overrides or {})
        self.gate = gate
        self._throttles: dict[str, Throttle] = {}
        self._lock = threading.Lock()

    def for_call(self, call: CallParams) -> Throttle:
        return self.for_key(self.key_for(call))

    def for_key(self, key: str) -> Throttle:
        """The throttle named `key` (a provider, a model, or `task:<ref>` for a task config)."""
        with self._lock:
            throttle = self._throttles.get(key)
            if throttle is None:
                throttle = self._throttles[key] = self._build(key, self.settings_for(key), self.gate)
            return throttle

    def settings_for(self, key: str) -> LimitSettings:
        """The limits of throttle `key`: its own, else the default."""
        return self.overrides.get(key, self.default)

    def key_for(self, call: CallParams) -> str:
        """The throttle key a call goes through (`for_call`'s)."""
        return call.model if call.model in self.overrides else provider_key(call)

    def throttles(self) -> dict[str, Throttle]:
        with self._lock:
            return dict(self._throttles)

    @staticmethod
    def _build(key: str, settings: LimitSettings, gate: SharedGate | None) -> Throttle:
        limiter = AdaptiveLimiter(
            settings.max_concurrency,
            min_concurrency=settings.min_concurrency,
            initial_concurrency=settings.initial_concurrency,
            decrease_factor=settings.decrease_factor,
            increase_per_success=settings.increase_per_success,
            max_pause_s=settings.max_pause_s,
            name=key,
        )
        # With a gate, the per-minute budgets are the gate's (shared by every process), not this process's.
        rpm = settings.requests_per_minute if gate is None else None
        tpm = settings.tokens_per_minute if gate is None else None
        return Throttle(
            key=key,
            limiter=limiter,
            requests=TokenBucket(rpm) if rpm else None,
            tokens=TokenBucket(tpm) if tpm else None,
            settings=settings,
            gate=gate,
        )
