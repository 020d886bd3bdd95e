"""The fake OpenAI server's settings, shared by the client side (`model_server`: tests, benchmarks) and the
server process (`_model_server_app`): latency, injected faults, canned answers, and what identifies a request.

Every setting round-trips through JSON (the server gets its config on the command line and changes it over
`/admin/config`), and unknown keys are refused, so a typo fails loudly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self, get_args

from tracewatch.errors import ConfigError

FaultKind = Literal[
    "429",
    "429_no_retry_after",
    "500",
    "502",
    "503",
    "timeout",
    "malformed",
    "truncated",
    "reset",
    "empty_choices",
    "empty_content",
]
"""`429` carries `Retry-After: retry_after_s`, `429_no_retry_after` none; `timeout` hangs for `hang_s`;
`malformed` is a whole 200 whose JSON stops halfway, `truncated` promises a body and sends half of it, `reset`
drops the connection before any byte of a response."""
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
ReplyMode = Literal["echo", "hash"]
API_KEY_ENV = "TRACEWATCH_MODEL_SERVER_API_KEY"


@dataclass(frozen=True)
class _Settings:
    """JSON round trip shared by the settings dataclasses: unknown keys are refused, so a typo fails loudly."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown field(s) {unknown}; allowed: {sorted(known)}")
        return cls(**data)


@dataclass(frozen=True)
class Latency(_Settings):
    """Delay before each answer: fixed at `median_ms` when `sigma` is 0, else lognormal(median, sigma).

    Draws come from one stream seeded with `seed`, so a sequential run sees the same delays every time.
    """

    median_ms: float = 0.0
    sigma: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.median_ms < 0 or self.sigma < 0:
            raise ConfigError(f"Latency: median_ms and sigma must be >= 0, got {self}")

    @classmethod
    def fixed(cls, ms: float) -> Latency:
        return cls(median_ms=ms)

    @classmethod
    def lognormal(cls, median_ms: float, sigma: float, seed: int = 0) -> Latency:
        return cls(median_ms=median_ms, sigma=sigma, seed=seed)


@dataclass(frozen=True)
class Faults(_Settings):
    """Which failures to inject, and how to choose them.

    `rates` maps a fault kind to its probability (their sum must be <= 1). With `keyed`, the draw is a hash
    of (seed, request, attempt number) instead of a seeded stream, so the same request fails the same way
    on its n-th attempt whatever the concurrency. `fail_first` makes the first k attempts of every distinct
    request fail with `fail_first_with`, after which the rates apply: the shape of a retry test.
    """

    rates: Mapping[FaultKind, float] = field(default_factory=dict)
    retry_after_s: float = 1.0
    hang_s: float = 3600.0
    keyed: bool = False
    seed: int = 0
    fail_first: int = 0
    fail_first_with: FaultKind = "503"

    def __post_init__(self) -> None:
        bad_kinds = sorted(set(self.rates) - set(FAULT_KINDS)) + (
            [self.fail_first_with] if self.fail_first_with not in FAULT_KINDS else []
        )
        if bad_kinds:
            raise ConfigError(f"Faults: unknown fault kind(s) {bad_kinds}; allowed: {list(FAULT_KINDS)}")
        if any(not 0 <= rate <= 1 for rate in self.rates.values()) or sum(self.rates.values()) > 1 + 1e-9:
            raise ConfigError(f"Faults: each rate must be in [0, 1] and their sum <= 1, got {self.rates}")
        if self.retry_after_s < 0 or self.hang_s <= 0 or self.fail_first < 0:
            raise ConfigError("Faults: retry_after_s must be >= 0, hang_s > 0 and fail_first >= 0")

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "rates": dict(self.rates)}


@dataclass(frozen=True)
class ServerConfig:
    """Everything the admin endpoint can change while the server runs."""

    latency: Latency = field(default_factory=Latency)
    faults: Faults = field(default_factory=Faults)
    answers: Mapping[str, str] = field(default_factory=dict)
    reply: ReplyMode = "echo"
    models: tuple[str, ...] = ("tracewatch-echo",)

    def __post_init__(self) -> None:
        if self.reply not in get_args(ReplyMode):
            raise ConfigError(f"reply must be one of {get_args(ReplyMode)}, got {self.reply!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "latency": self.latency.to_json(),
            "faults": self.faults.to_json(),
            "answers": dict(self.answers),
            "reply": self.reply,
            "models": list(self.models),
        }

    def updated(self, changes: Mapping[str, Any]) -> ServerConfig:
        """A copy with the given sections replaced whole (a section left out keeps its current value)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown}")
        merged = {**self.to_json(), **changes}
        try:
            return ServerConfig(
                latency=Latency.from_json(merged["latency"]),
                faults=Faults.from_json(merged["faults"]),
                answers=dict(merged["answers"]),
                reply=merged["reply"],
                models=tuple(merged["models"]),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad model server config: {exc}") from exc


def request_key(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    temperature: float | None = None,
    seed: int | None = None,
) -> str:
    """The identity of a chat request: what its reply depends on, and what stats and fail-first count by."""
    plain = [dict(m) for m in messages]
    canonical = json.dumps([model, plain, temperature, seed], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
