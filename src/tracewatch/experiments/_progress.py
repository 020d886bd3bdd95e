"""Progress of a run: counts per status, reported to a callback at most every `interval_s` and at the end.

The default reporter draws a one-line bar on stderr when stderr is a terminal, and otherwise logs a plain line
each time another 10% is done (Prefect and CI logs want lines, not carriage returns). Counting an item is a
few integer updates, so it costs nothing next to a model call.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

log = logging.getLogger(__name__)

PROGRESS_LOGGER = log.name
"""The logger progress lines go to (INFO): a command line raises it to INFO to show them."""


@dataclass(frozen=True)
class ProgressSnapshot:
    """Where a run stands: `done` of `total` items, by status, and how many answers came from the cache."""

    label: str
    done: int
    total: int
    ok: int
    error: int
    skipped_budget: int
    cached: int
    elapsed_s: float
    finished: bool = False

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def rate_per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        return (
            f"{self.label}: {self.done}/{self.total} ({self.fraction:.0%}) ok={self.ok} error={self.error} "
            f"skipped_budget={self.skipped_budget} cached={self.cached} {self.rate_per_s:.1f}/s "
            f"{self.elapsed_s:.1f}s"
        )


ProgressCallback = Callable[[ProgressSnapshot], None]


class Progress:
    """Counts finished items; shared by the chunks of one run (one event loop)."""

    def __init__(
        self,
        total: int = 0,
        callback: ProgressCallback | None = None,
        *,
        label: str = "experiment",
        interval_s: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self._callback = callback
        self._interval_s = interval_s
        self._clock = clock
        self._started = clock()
        self._next_report = self._started
        self._counts = {"ok": 0, "error": 0, "skipped_budget": 0}
        self._cached = 0

    def add_total(self, n: int) -> None:
        self.total += n

    def record(self, status: str, cached: bool = False, count: int = 1) -> None:
        """`count` items ended with `status` (all from the cache, or none)."""
        self._counts[status] += count
        self._cached += cached * count
        if self._callback is not None:
            now = self._clock()
            if now >= self._next_report:
                self._next_report = now + self._interval_s
                self._callback(self.snapshot())

    def snapshot(self, finished: bool = False) -> ProgressSnapshot:
        c = self._counts
        return ProgressSnapshot(
            label=self.label,
            done=sum(c.values()),
            total=self.total,
            ok=c["ok"],
            error=c["error"],
            skipped_budget=c["skipped_budget"],
            cached=self._cached,
            elapsed_s=self._clock() - self._started,
            finished=finished,
        )

    def close(self) -> ProgressSnapshot:
        snapshot = self.snapshot(finished=True)
        if self._callback is not None:
            self._callback(snapshot)
        return snapshot


class LogProgress:
    """Logs a line each time another `step` of the run is done, and one at the end."""

    def __init__(self, step: float = 0.1) -> None:
        self.step = step
        self._next = step

    def __call__(self, snapshot: ProgressSnapshot) -> None:
        if snapshot.finished:
            log.info("%s (done)", snapshot.summary())
        elif snapshot.fraction >= self._next:
            log.info("%s", snapshot.summary())
            while self._next <= snapshot.fraction:
                self._next += self.step


class BarProgress:
    """A one-line bar redrawn in place on a terminal."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width

    def __call__(self, snapshot: ProgressSnapshot) -> None:
        filled = int(self.width * snapshot.fraction)
        bar = "#" * filled + "." * (self.width - filled)
        end = "\n" if snapshot.finished else ""
        self.stream.write(f"\r[{bar}] {snapshot.summary()}\x1b[K{end}")
        self.stream.flush()


def console_progress(stream: TextIO | None = None) -> ProgressCallback:
    """A bar when `stream` (default stderr) is a terminal, else log lines every 10%."""
    stream = stream or sys.stderr
    return BarProgress(stream) if stream.isatty() else LogProgress()
