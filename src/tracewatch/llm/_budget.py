"""The cost cap of an experiment: no call starts once money spent plus the projected cost of the calls in
flight would pass it.

A call's projected cost is the mean cost of the calls of the same config that already finished. Until the
first one has finished nothing is known, so one call per config probes the price while the others wait.
Once a call is refused the budget stays closed: every later call is refused too, so a run ends with a clean
tail of `skipped_budget` items instead of cheap calls squeezing in between expensive ones. Cache hits cost
nothing and never ask the budget.

Thread-safe: chunks running on several event loops of one process can share one budget. Chunks in other
processes (a Dask cluster) each get a budget of their own, opened with what the run knows (`spent_usd`, the
`estimates` per config, a `closed_reason`), and hand back what they `booked`, so the run's ledger replays their
calls in the same order an in-process budget would have seen them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

PROBE_POLL_S = 0.01


@dataclass(frozen=True)
class Reservation:
    """Money set aside for one call in flight; hand it back with `CostBudget.settle`."""

    key: str
    projected_usd: float
    probe: bool


@dataclass
class _Estimate:
    total_usd: float = 0.0
    calls: int = 0
    unknown_cost_calls: int = 0
    probing: bool = False

    @property
    def known(self) -> bool:
        return self.calls > 0

    @property
    def mean_usd(self) -> float:
        return self.total_usd / self.calls if self.calls else 0.0


def cap_message(cap_usd: float, spent_usd: float, reserved_usd: float, next_usd: float) -> str:
    """Why the budget closed, as a plain sentence: what happened, spent against the cap, what to do."""
    in_flight = f", {reserved_usd:.4f} USD more is held for calls still running" if reserved_usd else ""
    return (
        f"the cost cap of {cap_usd:.4f} USD is reached: {spent_usd:.4f} USD is spent{in_flight}, and the next "
        f"call would cost about {next_usd:.4f} USD, so no further call is started. To answer the rest, run the "
        "same experiment id again with a higher budget_usd; answered items are not asked again"
    )


Estimate = tuple[float, int, int]
"""What a budget knows about one config's price: total USD of its finished calls, their number, and how many of
them reported no cost."""

Booking = tuple[str, float | None]
"""One finished call as a budget booked it: the config key and its cost (None: the client reported none)."""


class CostBudget:
    """A cap in USD shared by every call of an experiment (or of one run of it)."""

    def __init__(
        self,
        cap_usd: float,
        *,
        spent_usd: float = 0.0,
        estimates: Mapping[str, Estimate] | None = None,
        closed_reason: str | None = None,
        record: bool = False,
    ) -> None:
        if cap_usd < 0 or spent_usd < 0:
            raise ConfigError(f"cost cap {cap_usd!r} and spent {spent_usd!r} must be >= 0 USD")
        self.cap_usd = float(cap_usd)
        self._spent = float(spent_usd)
        self._reserved = 0.0
        self._estimates: dict[str, _Estimate] = {
            key: _Estimate(total, calls, unknown)
            for key, (total, calls, unknown) in (estimates or {}).items()
        }
        self._closed_reason: str | None = closed_reason
        self._booked: list[Booking] | None = [] if record else None
        self._lock = threading.Lock()

    def estimates(self) -> dict[str, Estimate]:
        """The price learned per config so far, to open another budget (another process's) with it."""
        with self._lock:
            return {k: (e.total_usd, e.calls, e.unknown_cost_calls) for k, e in self._estimates.items()}

    def booked(self) -> tuple[Booking, ...]:
        """Every finished call booked here, in booking order (only a budget opened with `record=True` keeps
        them: a chunk's budget in another process, a few hundred calls)."""
        with self._lock:
            return tuple(self._booked or ())

    def book(self, key: str, cost_usd: float | None) -> None:
        """Book a call made elsewhere (another process's, an earlier attempt of a chunk) as if settled here."""
        with self._lock:
            self._book_locked(self._estimates.setdefault(key, _Estimate()), key, cost_usd)

    def close(self, reason: str) -> None:
        """Refuse every later call with `reason` (the run's budget closed in another process)."""
        with self._lock:
            self._closed_reason = self._closed_reason or reason

    @property
    def spent_usd(self) -> float:
        return self._spent

    @property
    def reserved_usd(self) -> float:
        return self._reserved

    @property
    def closed_reason(self) -> str | None:
        """Why calls are refused (None while the budget is open)."""
        return self._closed_reason

    async def reserve(self, key: str) -> Reservation | None:
        """Set money aside for one call of config `key`, or None when the cap would be passed."""
        while True:
            wait, reservation = self._try_reserve(key)
            if not wait:
                return reservation
            await asyncio.sleep(PROBE_POLL_S)

    def _try_reserve(self, key: str) -> tuple[bool, Reservation | None]:
        """(True, None) while the price of `key` is being probed; else (False, the reservation or None)."""
        with self._lock:
            if self._closed_reason is not None:
                return False, None
            estimate = self._estimates.setdefault(key, _Estimate())
            if not estimate.known:
                if estimate.probing:
                    return True, None
                estimate.probing = True
                projected, probe = 0.0, True
            else:
                projected, probe = estimate.mean_usd, False
            if self._spent + self._reserved + projected > self.cap_usd or self._spent >= self.cap_usd:
                if probe:
                    estimate.probing = False
                self._closed_reason = cap_message(self.cap_usd, self._spent, self._reserved, projected)
                log.warning("budget closed: %s", self._closed_reason)
                return False, None
            self._reserved += projected
            return False, Reservation(key, projected, probe)

    def settle(self, reservation: Reservation, cost_usd: float | None, *, called: bool = True) -> None:
        """Book the real cost of a finished call (None: the provider reported none) and free its reservation.

        `called=False` (the call failed before any answer) frees the reservation and teaches nothing.
        """
        with self._lock:
            self._reserved = max(0.0, self._reserved - reservation.projected_usd)
            estimate = self._estimates[reservation.key]
            if reservation.probe:
                estimate.probing = False
            if called:
                self._book_locked(estimate, reservation.key, cost_usd)

    def _book_locked(self, estimate: _Estimate, key: str, cost_usd: float | None) -> None:
        if cost_usd is None:
            estimate.unknown_cost_calls += 1
            if estimate.unknown_cost_calls == 1:
                log.warning(
                    "config %s: the client reports no cost, so the cost cap counts its calls as free", key
                )
        self._spent += cost_usd or 0.0
        estimate.total_usd += cost_usd or 0.0
        estimate.calls += 1
        if self._booked is not None:
            self._booked.append((key, cost_usd))
