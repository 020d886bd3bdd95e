"""Read the report tables of a date window through the store: the dashboard's only input.

Everything comes from `reports/<table>/**/*.parquet` (docs/reports.md), never from traces, so the dashboard
shows exactly what a BI tool would. What cannot be read is not dropped in silence: each table says whether it
is missing, empty in the window or read, and which partitions were older or unreadable.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.reports import REPORT_TABLES, REPORTS_PREFIX
from tracewatch.store import Store

log = logging.getLogger(__name__)

_LEVEL = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^/]+)$")


@dataclass(frozen=True)
class TableRead:
    """One report table over the window: its rows (current schema; columns an older partition lacks are
    null), and what a reader should be told about it."""

    name: str
    frame: pl.DataFrame
    status: str  # missing | empty | data
    notes: tuple[str, ...] = ()

    @property
    def has_rows(self) -> bool:
        return self.frame.height > 0

    def why_empty(self) -> str:
        """The sentence a chart shows instead of an empty frame."""
        if self.status == "missing":
            return f"No `{self.name}` report in this store yet (the stage that writes it has not run here)."
        return f"`{self.name}` has no rows in this window."


@dataclass(frozen=True)
class ReportData:
    """The report tables of one window `start`..`end` (UTC days, inclusive)."""

    start: dt.date
    end: dt.date
    tables: Mapping[str, TableRead]
    notes: tuple[str, ...] = field(default=())

    def table(self, name: str) -> TableRead:
        return self.tables[name]

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def report_dates(store: Store) -> tuple[dt.date, dt.date] | None:
    """The oldest and newest dates any report table has a partition for (None: no reports yet)."""
    found = {
        day
        for name in REPORT_TABLES
        for value in store.partitions(f"{REPORTS_PREFIX}/{name}")
        if (day := _date(value)) is not None
    }
    return (min(found), max(found)) if found else None


def load_reports(
    store: Store,
    start: dt.date,
    end: dt.date,
    tables: Iterable[str] | None = None,
    *,
    columns: Mapping[str, list[str]] | None = None,
) -> ReportData:
    """Every partition of `tables` (default: all report tables) dated `start`..`end`, with `date` (and the
    second Hive level, e.g. `experiment_id`) taken from the path; `columns` narrows a table's read."""
    if end < start:
        raise ConfigError(f"dashboard window ends {end} before it starts {start}; expected start <= end")
    read = {
        name: _read_table(store, name, start, end, (columns or {}).get(name))
        for name in (tables or REPORT_TABLES)
    }
    return ReportData(start=start, end=end, tables=read)


def _read_table(store: Store, name: str, start: dt.date, end: dt.date, wanted: list[str] | None) -> TableRead:
    table = REPORT_TABLES[name]
    objects = store.list_objects(f"{REPORTS_PREFIX}/{name}/", ".parquet")
    schema = {c: t for c, t in table.schema.items() if wanted is None or c in wanted}
    extra = {table.subpartition: pl.String()} if table.subpartition else {}
    empty = pl.DataFrame(schema={"date": pl.Date(), **extra, **schema})
    if not objects:
        return TableRead(name, empty, "missing")
    keyed = {o.key: levels for o in objects if (levels := _levels(o.key, start, end)) is not None}
    frames, notes = [], []
    for key, data in store.read_many(sorted(keyed)).items():
        try:
            part = pl.read_parquet(io.BytesIO(data))
        except Exception as exc:  # a corrupt object must not hide the other days: named on the page
            notes.append(f"{key} could not be read ({type(exc).__name__}); its rows are not shown")
            log.warning("dashboard: %s could not be read: %s", key, exc)
            continue
        absent = [c for c in schema if c not in part.columns]
        if absent and part.height:
            notes.append(f"{key} was written with an older schema (no {', '.join(absent)}): shown as unknown")
        part = part.with_columns(pl.lit(None, dtype=schema[c]).alias(c) for c in absent)
        part = part.select(list(schema)).cast(schema, strict=False)  # type: ignore[arg-type]
        levels = keyed[key]
        frames.append(
            part.with_columns(
                pl.lit(levels["date"]).cast(pl.Date).alias("date"),
                *(pl.lit(levels.get(c)).cast(pl.String).alias(c) for c in extra),
            ).select(list(empty.columns))
        )
    frame = pl.concat([empty, *frames], how="vertical") if frames else empty
    return TableRead(name, frame.sort("date"), "data" if frame.height else "empty", tuple(notes))


def _levels(key: str, start: dt.date, end: dt.date) -> dict[str, object] | None:
    """The Hive levels of a key whose date is in the window (None: outside it, or no date level)."""
    found: dict[str, object] = {}
    for part in key.split("/")[2:-1]:
        match = _LEVEL.match(part)
        if match:
            found[match["name"]] = match["value"]
    day = _date(str(found.get("date", "")))
    if day is None or not start <= day <= end:
        return None
    found["date"] = day
    return found


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None
