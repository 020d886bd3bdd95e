"""Which days a rolling reference may use: the nights that alerted are left out until a person accepts them.

Without this, a drift that lasts becomes its own reference within a week and the alerts stop while the
problem goes on. So every night records whether it alerted, and the rolling reference skips those days
(reaching further back for days that did not), until a person says "this is the new normal from date D"
(`rebaseline`, the nightly flow's `rebaseline_from` parameter): from then on the reference uses only days from
D, the alerted days since D included; days that alert after that are left out again.

The record is one small JSON object (`STATE_KEY`); a rerun of a night replaces that night's entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.store import Store

log = logging.getLogger(__name__)

STATE_KEY = "warehouse/state/drift/baseline.json"


@dataclass(frozen=True)
class Rebaseline:
    """A person accepted the traffic from `start` as normal, on the night `accepted_on`."""

    start: dt.date
    accepted_on: dt.date


@dataclass(frozen=True)
class BaselineState:
    """The nights that alerted (date -> what alerted) and the latest re-baseline, if any."""

    alerted: dict[dt.date, tuple[str, ...]] = field(default_factory=dict)
    rebaseline: Rebaseline | None = None

    def excluded(self) -> frozenset[dt.date]:
        """The days a rolling reference leaves out: those that alerted and were not accepted since."""
        accepted = self.rebaseline
        return frozenset(
            d for d in self.alerted if accepted is None or not (accepted.start <= d < accepted.accepted_on)
        )

    def earliest(self, night: dt.date) -> dt.date | None:
        """The first day a reference of `night` may use (the re-baseline's start, once it applies)."""
        if self.rebaseline is None or night <= self.rebaseline.start:
            return None
        return self.rebaseline.start

    def with_night(self, night: dt.date, alerts: tuple[str, ...]) -> BaselineState:
        """The state after `night` ran and alerted on `alerts` (none: the night is a usable reference day)."""
        alerted = {d: f for d, f in self.alerted.items() if d != night}
        if alerts:
            alerted[night] = alerts
        return BaselineState(dict(sorted(alerted.items())), self.rebaseline)

    def rebaselined(self, start: dt.date, night: dt.date) -> BaselineState:
        """The state after a person accepted the traffic from `start` on `night`."""
        check_rebaseline(start, night)
        return BaselineState(self.alerted, Rebaseline(start, night))


def check_rebaseline(start: dt.date, night: dt.date) -> None:
    """Refuse a re-baseline from a date after the night it is given on (the flow checks before any work)."""
    if start > night:
        raise ConfigError(f"rebaseline_from={start} is after the night {night}; pick a day up to it")


def read_state(store: Store) -> BaselineState:
    """The recorded state (empty before the first night)."""
    if not store.exists(STATE_KEY):
        return BaselineState()
    raw: dict[str, Any] = store.read_json(STATE_KEY)
    again = raw.get("rebaseline")
    return BaselineState(
        alerted={dt.date.fromisoformat(d): tuple(f) for d, f in raw.get("alerted", {}).items()},
        rebaseline=(
            Rebaseline(dt.date.fromisoformat(again["start"]), dt.date.fromisoformat(again["accepted_on"]))
            if again
            else None
        ),
    )


def write_state(store: Store, state: BaselineState) -> None:
    """Record the state after a night (read back by the next one)."""
    again = state.rebaseline
    store.write_json(
        STATE_KEY,
        {
            "alerted": {d.isoformat(): list(f) for d, f in state.alerted.items()},
            "rebaseline": (
                {"start": again.start.isoformat(), "accepted_on": again.accepted_on.isoformat()}
                if again
                else None
            ),
        },
    )
    log.debug("baseline state: %d alerted night(s), rebaseline %s", len(state.alerted), again)
