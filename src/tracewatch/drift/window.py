"""The reference window of a night: the previous N days, or a pinned baseline range, merged from profiles."""

from __future__ import annotations

import datetime as dt
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

    @property
    def rows(self) -> int:
        return self.profile.rows if self.profile is not None else 0

    def describe(self) -> str:
        span = f"{self.start}..{self.end}"
        if not self.found:
            return f"reference {span}: no profiled day"
        missing = f", {len(self.missing)} missing" if self.missing else ""
        return f"reference {span}: {len(self.found)} day(s), {self.rows} traces{missing}"


def reference_dates(day: dt.date, config: DriftConfig) -> list[dt.date]:
    """The pinned baseline's days, or the `reference_days` days before `day` (never `day` itself)."""
    if config.baseline is not None:
        start, end = config.baseline
        days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        if days == [day]:
            raise ConfigError(f"baseline {start}..{end} is the night's day itself; it needs another day")
        return [d for d in days if d != day]
    return [day - dt.timedelta(days=i) for i in range(config.reference_days, 0, -1)]


def load_reference(store: Store, day: dt.date, config: DriftConfig) -> ReferenceWindow:
    """Read and merge the reference profiles of `day`; missing days are tolerated and listed."""
    wanted = reference_dates(day, config)
    profiles = read_profiles(store, wanted)
    return reference_window(wanted, profiles)


def reference_window(wanted: list[dt.date], profiles: dict[dt.date, DayProfile]) -> ReferenceWindow:
    """The window over `wanted` given the profiles that exist (pure: no store)."""
    found = tuple(d for d in wanted if d in profiles)
    daily = tuple(profiles[d] for d in found)
    return ReferenceWindow(
        start=wanted[0],
        end=wanted[-1],
        found=found,
        missing=tuple(d for d in wanted if d not in profiles),
        profile=merge_profiles(daily) if daily else None,
        daily=daily,
    )
