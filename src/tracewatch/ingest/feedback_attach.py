"""Attach late feedback events to their traces by id, whatever the dates, keeping one value per key.

A feedback event names only its trace's id, not the trace's date, so a small index of the accepted trace ids
of every date (`warehouse/state/trace_index/`) answers "which date holds this trace". It is rebuilt for a date
only when that date's ledger entries change (a late file, a reprocessed date), so a night reads the ids of the
dates that changed, not of every date. Events whose trace is not in the index wait (`pending`) until it
arrives or their wait runs out.

Per trace date, `warehouse/feedback/attached/date=D/` keeps the winning event per (trace, name, source):
duplicates (same trace, name, source and `created_at`) count once, the first seen kept; a later `created_at`
replaces an earlier value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import polars as pl

from tracewatch.ingest.accepted import scan_accepted
from tracewatch.ingest.feedback_files import FEEDBACK_EVENT_SCHEMA
from tracewatch.ingest.feedback_overlay import attached_key
from tracewatch.ingest.ledger import Ledger
from tracewatch.store import Store

INDEX_PREFIX = "warehouse/state/trace_index"
INDEX_STAMPS = f"{INDEX_PREFIX}/stamps.json"

EVENT_KEY: tuple[str, ...] = ("trace_id", "name", "source", "created_at")
"""Two events with these equal are one event."""
VALUE_KEY: tuple[str, ...] = ("trace_id", "name", "source")
"""One value per these: the event with the latest `created_at`."""

ATTACHED_SCHEMA: dict[str, pl.DataType] = {
    **FEEDBACK_EVENT_SCHEMA,
    "feedback_date": pl.Date(),
    "source_key": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}
"""An accepted event with where it came from: its `feedback/date=` partition, file, first ingest and run."""


def trace_index(store: Store, ledger: Ledger) -> pl.DataFrame:
    """`trace_id`, `date` of every accepted trace, the index brought up to date with the ledger first."""
    try:
        stamps: dict[str, str] = store.read_json(INDEX_STAMPS)
    except FileNotFoundError:
        stamps = {}
    dates = sorted(set(ledger.frame.get_column("date").to_list()))
    current = {day.isoformat(): _stamp(ledger, day) for day in dates}
    for value, stamp in current.items():
        if stamps.get(value) != stamp:
            day = dt.date.fromisoformat(value)
            ids = scan_accepted(store, day, ("trace_id",), ledger).with_columns(date=pl.lit(day, pl.Date))
            store.write_parquet(_index_key(day), ids)
    for value in set(stamps) - set(current):
        store.delete(_index_key(dt.date.fromisoformat(value)))
    if current != stamps:
        store.write_json(INDEX_STAMPS, current)
    if not current:
        return pl.DataFrame(schema={"trace_id": pl.String(), "date": pl.Date()})
    keys = [_index_key(dt.date.fromisoformat(value)) for value in sorted(current)]
    return store.scan_parquet(keys).collect()


def _index_key(day: dt.date) -> str:
    return f"{INDEX_PREFIX}/date={day.isoformat()}.parquet"


def _stamp(ledger: Ledger, day: dt.date) -> str:
    """What the date's accepted traces depend on: its files, their versions and what was quarantined."""
    rows = ledger.for_date(day).select("source_key", "source_version", "status", "rows_quarantined")
    text = "\n".join(str(row) for row in sorted(rows.iter_rows(), key=str))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Attached:
    """What one attachment run changed: per trace date, the new winning events and the counts."""

    changed: dict[dt.date, pl.DataFrame]
    """per trace date, the events of this run that are now the trace's value (why the date is rebuilt)"""
    duplicates: int
    """events seen before (same trace, name, source and `created_at`): counted once"""
    replaced: int
    """earlier values that a later `created_at` replaced"""


def attach(store: Store, resolved: pl.DataFrame, run_id: str) -> Attached:
    """Merge `resolved` events (`ATTACHED_SCHEMA` plus the trace's `date`) into their dates' attached partitions.

    Only the dates the events belong to are read and written, each once."""
    changed: dict[dt.date, pl.DataFrame] = {}
    duplicates = replaced = 0
    for (day,), events in resolved.partition_by("date", as_dict=True, include_key=False).items():
        assert isinstance(day, dt.date)
        existing = _read_partition(store, day)
        winners, dups, superseded = merge_events(existing, events.select(list(ATTACHED_SCHEMA)))
        duplicates, replaced = duplicates + dups, replaced + superseded
        new = winners.filter(pl.col("run_id") == run_id)
        if new.height:
            store.write_parquet(attached_key(day), winners.sort(VALUE_KEY))
            changed[day] = new
    return Attached(changed, duplicates, replaced)


def merge_events(existing: pl.DataFrame, new: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """The winning event per (trace, name, source) of `existing` then `new`, with the number of duplicates
    and of values replaced. `existing` holds winners only, so both counts are about `new`."""
    combined = pl.concat([existing, new]).with_row_index("_seq")
    distinct = combined.unique(list(EVENT_KEY), keep="first", maintain_order=True)
    winners = distinct.sort("created_at", "_seq").unique(list(VALUE_KEY), keep="last")
    return (
        winners.drop("_seq"),
        combined.height - distinct.height,
        distinct.height - winners.height,
    )


def distinct_events(events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`events` with repeated events (same trace, name, source, `created_at`) kept once, first seen first."""
    distinct = events.unique(list(EVENT_KEY), keep="first", maintain_order=True)
    return distinct, events.height - distinct.height


def _read_partition(store: Store, day: dt.date) -> pl.DataFrame:
    try:
        return store.read_parquet(attached_key(day)).select(list(ATTACHED_SCHEMA)).cast(ATTACHED_SCHEMA)  # type: ignore[arg-type]
    except FileNotFoundError:
        return pl.DataFrame(schema=ATTACHED_SCHEMA)
