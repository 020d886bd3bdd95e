"""Stopping a config early: after a run of the same terminal error (a wrong key, an unknown model, a request
the provider refuses), every further call of that config would fail the same way, so none is started.

A run where every call answers 401 must not call the provider a thousand times and end green: the config stops
after `limit` consecutive terminal errors of one kind, its remaining items end as `error` rows saying they were
not attempted and why (every item is accounted for), and the reason travels up to the run's result, which
the command line and the flow turn into a failure.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracewatch.llm import NOT_ATTEMPTED, CallResult, ModelErrorKind

TERMINAL_KINDS: Mapping[ModelErrorKind, str] = {
    "auth": "authentication errors",
    "not_found": "not-found errors (unknown model or endpoint)",
    "bad_request": "bad requests",
}
"""The error kinds no retry and no later item can fix, and how a reason names a run of them."""


@dataclass
class _Streak:
    kind: ModelErrorKind | None = None
    count: int = 0
    first: str = ""
    status: int | None = None
    reason: str | None = None
    answered: bool = False
    probing: int = 0


@dataclass
class TerminalStops:
    """The run of terminal errors of every config of one run (keyed by config fingerprint), shared by the
    chunks of a config that run in one process. Thread-safe: chunks may run on several event loops."""

    _streaks: dict[str, _Streak] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reason(self, key: str) -> str | None:
        """Why config `key` starts no more calls, or None while it may."""
        with self._lock:
            streak = self._streaks.get(key)
            return streak.reason if streak is not None else None

    def admit(self, key: str, limit: int | None) -> bool | None:
        """May config `key` start a call now? Until its first answer, the calls out plus the current run of
        terminal errors stay within `limit` (the probes: True, and `release` after recording the result), so a
        run whose every call is refused makes `limit` calls whatever its concurrency; None: wait for a probe to
        end; False: no probing needed."""
        with self._lock:
            streak = self._streaks.setdefault(key, _Streak())
            if limit is None or streak.answered or streak.reason is not None:
                return False
            if streak.probing + streak.count < limit:
                streak.probing += 1
                return True
            return None

    def release(self, key: str) -> None:
        """A probe `admit` allowed has ended (after its result was recorded)."""
        with self._lock:
            self._streaks[key].probing -= 1

    def stop(self, key: str, reason: str) -> None:
        """Config `key` starts no more calls, for `reason` (it stopped in another process of the run)."""
        with self._lock:
            self._streaks.setdefault(key, _Streak()).reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        # A lock cannot be pickled; a copy sent to another process (a distributed task) starts its own count.
        return (TerminalStops, ())

    def record(self, key: str, result: CallResult, limit: int | None) -> str | None:
        """Count one finished (item, trial) of config `key`; the stop reason at the moment `limit` (None:
        never) consecutive results failed with the same terminal kind, else None.

        An answer, or a failure of another kind that reached the provider, ends the run of errors; a result
        that made no call (an item lacking a template field, a budget skip) neither counts nor ends it.
        """
        with self._lock:
            streak = self._streaks.setdefault(key, _Streak())
            streak.answered = streak.answered or result.status == "ok"
            if streak.reason is not None or limit is None:
                return None
            failure = result.failure
            if failure is not None and failure.kind in TERMINAL_KINDS:
                if failure.kind != streak.kind:
                    streak.kind, streak.count = failure.kind, 0
                    streak.first, streak.status = str(failure), failure.status
                streak.count += 1
                if streak.count >= limit:
                    streak.reason = _reason(streak)
                    return streak.reason
            elif result.status == "ok" or failure is not None:
                streak.kind, streak.count = None, 0
            return None


def not_attempted(reason: str) -> CallResult:
    """The result of an item a stopped config does not call (the same words as a call `answer` held back)."""
    return CallResult("error", None, f"{NOT_ATTEMPTED}: {reason}", attempts=0)


def _reason(streak: _Streak) -> str:
    assert streak.kind is not None
    status = f" (HTTP {streak.status})" if streak.status is not None else ""
    return f"stopped after {streak.count} consecutive {TERMINAL_KINDS[streak.kind]}{status}: {streak.first}"
