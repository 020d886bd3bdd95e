"""The cost cap of an experiment: no call starts once money spent plus the projected cost of the calls in
flight would pass it.

A call's projected cost is the mean cost of the calls of the same config that already finished. Until the
first one has finished nothing is known, so one call per config probes the price while the others wait.
Once a call is refused the budget stays closed: every later call is refused too, so a run ends with a clean
tail of `skipped_budget` items instead of cheap calls squeezing in between expensive ones. Cache hits cost
nothing and never ask the budget.

Thread-safe: chunks running on several event loops of one process can share one budget.
"""

from __future__ import annotations

import asyncio
import logging
import threading
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


class CostBudget:
    """A cap in USD shared by every call of an experiment (or of one run of it)."""

    def __init__(self, cap_usd: float, *, spent_usd: float = 0.0) -> None:
        if cap_usd < 0 or spent_usd < 0:
            raise ConfigError(f"cost cap {cap_usd!r} and spent {spent_usd!r} must be >= 0 USD")
        self.cap_usd = float(cap_usd)
        self._spent = float(spent_usd)
        self._reserved = 0.0
        self._estimates: dict[str, _Estimate] = {}
        self._closed_reason: str | None = None
        self._lock = threading.Lock()

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
            if not called:
                return
            if cost_usd is None:
                estimate.unknown_cost_calls += 1
                if estimate.unknown_cost_calls == 1:
                    log.warning(
                        "config %s: the client reports no cost, so the cost cap counts its calls as free",
                        reservation.key,
                    )
            self._spent += cost_usd or 0.0
            estimate.total_usd += cost_usd or 0.0
            estimate.calls += 1
