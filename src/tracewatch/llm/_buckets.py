"""Token buckets for the requests-per-minute and tokens-per-minute budgets a provider grants.

A bucket refills continuously at `per_minute / 60` per second and holds at most `burst` (default: one second's
worth), so calls are paced evenly instead of spending a minute's allowance in the first second. Token counts
are known only after a call, so a call takes an estimate up front and `charge` books the difference later;
the bucket may go into debt, which delays the calls that follow. Thread-safe, like the limiter.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from tracewatch.errors import ConfigError
from tracewatch.llm._retry import Sleep


class TokenBucket:
    """`per_minute` units per minute, paced, with bursts of up to `burst` units."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if per_minute <= 0 or (burst is not None and burst <= 0):
            raise ConfigError(f"a per-minute budget must be > 0 (got {per_minute!r}, burst {burst!r})")
        self.rate_per_s = per_minute / 60.0
        self.capacity = float(burst) if burst is not None else max(1.0, self.rate_per_s)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    @property
    def available(self) -> float:
        with self._lock:
            self._refill_locked()
            return self._tokens

    async def take(self, amount: float) -> None:
        """Wait until `amount` units (at most a full bucket's worth) are there, then take all of `amount`."""
        while True:
            with self._lock:
                self._refill_locked()
                need = min(amount, self.capacity)
                if self._tokens >= need:
                    self._tokens -= amount
                    return
                wait_s = (need - self._tokens) / self.rate_per_s
            await self._sleep(wait_s)

    def charge(self, amount: float) -> None:
        """Book units found out after the fact (negative: give back an over-estimate)."""
        with self._lock:
            self._refill_locked()
            self._tokens = min(self.capacity, self._tokens - amount)

    def _refill_locked(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now
