"""What the store holds for the night an ingest runs up to, so that a night without traces is loud.

A store URL with a typo, a prefix the application never writes to, an importer that found nothing and a day
the traffic stopped all look the same from here: no trace files for the night. Each would otherwise run green
and publish empty reports, so the night says so (a warning for the log and the night's summary) and, when
asked to (`ingest_new_traces(require_traces=True)`), fails with that warning as its one-line message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from tracewatch.errors import DataContractError

TRACES_PREFIX = "traces"


class NoTracesError(DataContractError):
    """The night has no traces: no trace file for its date, or only files without a readable row."""


@dataclass(frozen=True)
class NightTraces:
    """The trace files of the night in the store (ingested by this run or an earlier one) and their rows,
    with the other dates that have trace files, to tell a quiet night from a store without traces."""

    day: dt.date
    store: str
    """the store's URL"""
    files: int
    """trace files under `traces/date=<day>/`"""
    rows: int
    """rows read from them (as the ledger records them; 0 when none could be read)"""
    other_dates: int
    """other dates with trace files"""
    latest: dt.date | None
    """the latest date with trace files, the night included (None: the store has no trace file at all)"""

    @property
    def empty(self) -> bool:
        return self.rows == 0

    @property
    def warning(self) -> str | None:
        """One line on why the night has no traces, or None when it has some."""
        if not self.empty:
            return None
        where = f"{self.store}/{TRACES_PREFIX}/date={self.day.isoformat()}/"
        if self.files:
            return (
                f"no traces for the night {self.day}: its {self.files} trace file(s) in {where} hold no readable "
                "row (see the rejected files)"
            )
        if self.latest is None:
            return (
                f"no traces for the night {self.day}: the store {self.store} has no trace files at all (none under "
                f"{TRACES_PREFIX}/date=YYYY-MM-DD/); check TRACEWATCH_STORE, and that the application (or the import "
                "of TRACEWATCH_SOURCES) writes its traces there"
            )
        return (
            f"no traces for the night {self.day}: no trace file in {where} (the store has trace files for "
            f"{self.other_dates} other date(s), the latest {self.latest})"
        )

    def require(self) -> None:
        """Raise `NoTracesError` with the warning when the night has no traces."""
        if self.warning is not None:
            raise NoTracesError(
                f"{self.warning}; a night without traces fails (nightly flow: fail_on_no_traces=false lets it pass)"
            )


def night_traces(
    store_url: str, day: dt.date, files_per_date: Mapping[dt.date, int], rows: int
) -> NightTraces:
    """The night's `NightTraces` from the count of trace files per date (every date listed) and its rows."""
    dates = [d for d, n in files_per_date.items() if n]
    return NightTraces(
        day=day,
        store=store_url,
        files=files_per_date.get(day, 0),
        rows=rows,
        other_dates=sum(d != day for d in dates),
        latest=max(dates, default=None),
    )
