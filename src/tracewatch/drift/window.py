"""The reference window of a night: the previous N usable days, or a pinned baseline range, merged from profiles.

A rolling window takes the `reference_days` most recent days before the night that are usable: not left out
for having alerted (`baseline.BaselineState.excluded`, when `exclude_alerted_days`), not before a re-baseline,
and no further back than `reference_lookback_days`. A pinned baseline is used as given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from tracewatch.drift.config import DriftConfig
from tracewatch.drift.profile import DayProfile, merge_profiles
from tracewatch.drift.profile_store import read_profiles
from tracewatch.errors import ConfigError
from tracewatch.store import Store


@dataclass(frozen=True)
class ReferenceWindow:
    """The days asked for, the days that had a profile (merged into `profile`) and the days missing."""

    start: dt.date
    end: dt.date
    found: tuple[dt.date, ...]
    missing: tuple[dt.date, ...]
    profile: DayProfile | None
    daily: tuple[DayProfile, ...]
    """The found days' own profiles, oldest first (quality trends need per-day values)."""
    skipped: tuple[dt.date, ...] = ()
    """Days inside the window left out because they alerted."""

    @property
    def rows(self) -> int:
        return self.profile.rows if self.profile is not None else 0

    def describe(self) -> str:
        span = f"{self.start}..{self.end}"
        if not self.found:
            return f"reference {span}: no profiled day"
        missing = f", {len(self.missing)} missing" if self.missing else ""
        skipped = f", {len(self.skipped)} that alerted left out" if self.skipped else ""
        return f"reference {span}: {len(self.found)} day(s), {self.rows} traces{missing}{skipped}"


def reference_dates(
    day: dt.date,
    config: DriftConfig,
    excluded: Collection[dt.date] = (),
    earliest: dt.date | None = None,
    *,
    count: int | None = None,
) -> list[dt.date]:
    """The pinned baseline's days, or the `reference_days` (or `count`) most recent usable days before `day`
    (never `day` itself; oldest first): not in `excluded`, not before `earliest`, within
    `reference_lookback_days`."""
    if config.baseline is not None:
        start, end = config.baseline
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        if days == [day]:
            raise ConfigError(f"baseline {start}..{end} is the night's day itself; it needs another day")
        return [d for d in days if d != day]
    back = [day - dt.timedelta(days=i) for i in range(1, config.reference_lookback_days + 1)]
    usable = [d for d in back if d not in excluded and (earliest is None or d >= earliest)]
    return sorted(usable[: config.reference_days if count is None else count])


def load_reference(
    store: Store,
    day: dt.date,
    config: DriftConfig,
    excluded: Collection[dt.date] = (),
    earliest: dt.date | None = None,
) -> ReferenceWindow:
    """Read and merge the reference profiles of `day`; missing days are tolerated and listed."""
    wanted = reference_dates(day, config, excluded, earliest)
    profiles = read_profiles(store, wanted)
    since = wanted[0] if wanted else day - dt.timedelta(days=config.reference_lookback_days)
    span = (since, wanted[-1] if wanted else day - dt.timedelta(days=1))
    return reference_window(wanted, profiles, sorted(d for d in excluded if since <= d < day), span)


def reference_window(
    wanted: list[dt.date],
    profiles: dict[dt.date, DayProfile],
    skipped: Collection[dt.date] = (),
    span: tuple[dt.date, dt.date] | None = None,
) -> ReferenceWindow:
    """The window over `wanted` given the profiles that exist (pure: no store); `skipped` lists the days left
    out for having alerted. With nothing usable (every day of the look-back alerted, or none is after a
    re-baseline yet) the window is empty, spans `span` (the look-back searched) and has no profile."""
    found = tuple(d for d in wanted if d in profiles)
    daily = tuple(profiles[d] for d in found)
    if wanted:
        start, end = wanted[0], wanted[-1]
    elif span is not None:
        start, end = span
    else:
        raise ValueError("an empty reference window needs the span it searched")
    return ReferenceWindow(
        start=start,
        end=end,
        found=found,
        missing=tuple(d for d in wanted if d not in profiles),
        profile=merge_profiles(daily) if daily else None,
        daily=daily,
        skipped=tuple(sorted(skipped)),
    )
