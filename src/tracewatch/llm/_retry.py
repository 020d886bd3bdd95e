"""The one retry layer of model calls: exponential backoff with full jitter, on transient errors only.

Full jitter (a uniform draw between 0 and the exponential cap) spreads the retries of many calls that failed
together, so they do not come back as one burst. The random
source and the sleep are injected, so a test can replay exact delays without waiting. When the server says how
long to wait (Retry-After), that replaces the exponential schedule.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tracewatch.errors import ConfigError
from tracewatch.llm._types import ModelError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again.

    `max_attempts` counts every attempt, the first included (1 = never retry). The n-th retry waits a uniform
    draw in [0, min(max_delay_s, base_delay_s * 2**(n-1))], or, when the server sent a Retry-After, that long
    plus a uniform draw in [0, base_delay_s].
    """

    max_attempts: int = 8
    base_delay_s: float = 0.25
    max_delay_s: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
            raise ConfigError(
                f"RetryPolicy{(self.max_attempts, self.base_delay_s, self.max_delay_s)} is invalid: "
                "max_attempts >= 1 and 0 <= base_delay_s <= max_delay_s are required"
            )

    def should_retry(self, error: ModelError, attempt: int) -> bool:
        """Only transient errors are retried, and only while attempts are left."""
        return error.transient and attempt < self.max_attempts

    def delay_s(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """The wait after failed attempt number `attempt` (1-based).

        Without a Retry-After: full jitter under the exponential cap. With one, the server has said when to come
        back, so the wait is that, plus a jitter of up to `base_delay_s` so the calls it refused together do not
        return together; it does not grow with the attempts (the provider's pause and the concurrency cut are
        what slow the whole run down).
        """
        if retry_after_s is not None:
            return min(retry_after_s, self.max_delay_s) + rng.uniform(0.0, self.base_delay_s)
        cap = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return rng.uniform(0.0, cap)


@dataclass(frozen=True)
class Attempted(Generic[T]):
    """The end of a retried call: the value, or the last error, and how many attempts it took."""

    value: T | None
    error: ModelError | None
    attempts: int


async def with_retries(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random,
    sleep: Sleep = asyncio.sleep,
) -> Attempted[T]:
    """Call `attempt(n)` for n = 1, 2, ... until it returns, fails for good, or attempts run out.

    Only `ModelError` is caught: anything else is a bug or a deliberate stop (e.g. the budget) and propagates.
    """
    number = 1
    while True:
        try:
            return Attempted(await attempt(number), None, number)
        except ModelError as error:
            if not policy.should_retry(error, number):
                return Attempted(None, error, number)
            await sleep(policy.delay_s(number, rng, error.retry_after_s))
            number += 1
