"""A clock and a sleep that tests move by hand: time passes only when a test (or the code under test, through
`sleep`) says so, and every sleep is recorded."""

from __future__ import annotations


class FakeClock:
    """Call it for the time now; `await clock.sleep(s)` records `s` and moves the time on by it at once."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the sleep and let the time pass without waiting."""
        self.slept.append(seconds)
        self.now += seconds
