"""An adaptive concurrency limit per provider (AIMD), which also honours the provider's Retry-After.

- A success, while the limit is in use (at least half the slots taken), grows the limit by
  `increase_per_success`, up to `max_concurrency`.
- A 429 cuts the limit by `decrease_factor` (down to `min_concurrency`) and, when the answer carried a
  Retry-After longer than a typical call takes (a moving average of successful calls' durations), starts no
  new call to this provider until then (in-flight calls go on). A shorter Retry-After would be over before
  the calls in flight return, so pausing everyone for it protects nothing: only the refused request waits it
  out (the retry policy delays its retry by the Retry-After), and the cut slows the rest.
- A 429 from a call that was already in flight when the last 429 was acted on carries no news (it was sent
  before we slowed down), so a burst of 429s from one window of calls cuts and pauses once, not once per call.
  That keeps sparse 429s from ratcheting the limit to the floor, while a provider that keeps refusing gets
  a cut and a pause every round trip.
- Other errors neither grow nor cut: a 500 or a timeout says nothing about our rate.

The limiter is thread-safe and serves any number of event loops (Prefect runs async tasks on several
threads, each with its own loop), so one limiter per provider can be shared process-wide. Waiting callers
are woken one per freed slot; a caller woken during a pause sleeps until the pause ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

Outcome = Literal["ok", "rate_limited", "error"]
_SMOOTHING = 0.1
"""Weight of the newest call in the moving average of call durations."""


@dataclass(frozen=True)
class LimiterStats:
    """A snapshot, for logs and tests."""

    limit: float
    in_flight: int
    paused_for_s: float
    cuts: int
    pauses: int


class AdaptiveLimiter:
    """At most `capacity` calls in flight; the capacity adapts to the provider's 429s."""

    def __init__(
        self,
        max_concurrency: int = 64,
        *,
        min_concurrency: int = 1,
        initial_concurrency: int | None = None,
        decrease_factor: float = 0.9,
        increase_per_success: float = 1.0,
        max_pause_s: float = 60.0,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        initial = max_concurrency if initial_concurrency is None else initial_concurrency
        if not (1 <= min_concurrency <= initial <= max_concurrency):
            raise ConfigError(
                f"limiter {name!r}: need 1 <= min_concurrency ({min_concurrency}) <= initial ({initial}) "
                f"<= max_concurrency ({max_concurrency})"
            )
        if not (0 < decrease_factor < 1) or increase_per_success < 0 or max_pause_s < 0:
            raise ConfigError(
                f"limiter {name!r}: decrease_factor must be in (0, 1), increase_per_success and max_pause_s >= 0"
            )
        self.name = name
        self.max_concurrency = max_concurrency
        self.min_concurrency = min_concurrency
        self._decrease = decrease_factor
        self._increase = increase_per_success
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = float(initial)
        self._in_flight = 0
        self._waking = 0
        self._sleeping = 0
        self._paused_until = -math.inf
        self._last_signal_at = -math.inf
        self._typical_call_s = 0.0
        """Moving average of successful calls' durations (0 until one succeeds: then any Retry-After pauses)."""
        self._cuts = 0
        self._pauses = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def capacity(self) -> int:
        return max(self.min_concurrency, int(self._limit))

    def stats(self) -> LimiterStats:
        with self._lock:
            paused = max(0.0, self._paused_until - self._clock())
            return LimiterStats(self._limit, self._in_flight, paused, self._cuts, self._pauses)

    async def acquire(self) -> float:
        """Wait for a free slot outside any pause; returns the start stamp to hand back to `release`."""
        woken = False
        while True:
            with self._lock:
                if woken:
                    self._waking -= 1
                    woken = False
                now = self._clock()
                pause = self._paused_until - now
                if pause <= 0 and self._in_flight < self.capacity:
                    self._in_flight += 1
                    return now
                waiter = None
                if pause <= 0:
                    waiter = asyncio.get_running_loop().create_future()
                    self._waiters.append(waiter)
            if waiter is None:
                with self._lock:
                    self._sleeping += 1
                try:
                    await asyncio.sleep(pause)
                finally:
                    with self._lock:
                        self._sleeping -= 1
                continue
            try:
                await waiter  # a waiter cancelled before its wake is skipped by the waker (or `_deliver`)
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # woken, then cancelled: pass the wake on
                    with self._lock:
                        self._waking -= 1
                        self._wake_locked(self.capacity - self._in_flight - self._waking)
                raise
            woken = True

    def release(self, started: float, outcome: Outcome, retry_after_s: float | None = None) -> None:
        """Give a slot back, telling the limiter how the call went."""
        with self._lock:
            # Calls waiting for a slot or for a pause to end are demand too: right after a pause few calls are
            # in flight, yet the limit is what holds the run back.
            in_use = self._in_flight + len(self._waiters) + self._sleeping >= self.capacity / 2
            self._in_flight -= 1
            if outcome == "ok":
                took = self._clock() - started
                self._typical_call_s += (
                    _SMOOTHING * (took - self._typical_call_s) if self._typical_call_s else took
                )
                if in_use and self._limit < self.max_concurrency:
                    self._limit = min(float(self.max_concurrency), self._limit + self._increase)
            elif outcome == "rate_limited" and started >= self._last_signal_at:
                self._on_rate_limited(retry_after_s)
            self._wake_locked(self.capacity - self._in_flight - self._waking)

    def _on_rate_limited(self, retry_after_s: float | None) -> None:
        now = self._clock()
        self._last_signal_at = now
        self._limit = max(float(self.min_concurrency), self._limit * self._decrease)
        self._cuts += 1
        if retry_after_s and retry_after_s > self._typical_call_s:
            pause = min(retry_after_s, self._max_pause_s)
            self._paused_until = max(self._paused_until, now + pause)
            self._pauses += 1
        log.debug(
            "limiter %s: 429, limit cut to %.1f, paused %.2f s",
            self.name,
            self._limit,
            max(0.0, self._paused_until - now),
        )

    def _wake_locked(self, count: int) -> None:
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            self._waking += 1
            count -= 1
            loop = waiter.get_loop()
            if loop is current:
                loop.call_soon(self._deliver, waiter)
            else:
                loop.call_soon_threadsafe(self._deliver, waiter)

    def _deliver(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)
            return
        with self._lock:  # the waiter was cancelled on its way: its slot goes to the next one
            self._waking -= 1
            self._wake_locked(self.capacity - self._in_flight - self._waking)
