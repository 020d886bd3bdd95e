"""Attach late feedback events to their traces by id, whatever the dates, keeping one value per key.

A feedback event names only its trace's id, not the trace's date, so a small index of the accepted trace ids of
every date (`warehouse/state/trace_index/`, one object per trace file) answers "which date holds this trace". It
is rebuilt for a date only when that date's ledger entries change (a late file, a reprocessed date), so a night
reads the ids of the dates that changed, not of every date, one file at a time (a date of any size). Events
whose trace is not in the index wait (`pending`) until it arrives or their wait runs out.

Per trace date, `warehouse/feedback/attached/date=D/` keeps the winning event per (trace, name, source):
duplicates (same trace, name, source and `created_at`) count once, the first seen kept; a later `created_at`
replaces an earlier value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from tracewatch.ingest.accepted import AcceptedFile, accepted_files, read_accepted_file
from tracewatch.ingest.feedback_files import FEEDBACK_EVENT_SCHEMA
from tracewatch.ingest.feedback_overlay import attached_key
from tracewatch.ingest.ledger import Ledger
from tracewatch.store import Store

INDEX_PREFIX = "warehouse/state/trace_index"
INDEX_STAMPS = f"{INDEX_PREFIX}/stamps.json"
INDEX_LAYOUT = "per-file"
"""Part of every date's stamp: a date indexed in an earlier layout (one object per date) is indexed again."""
INDEXERS = 4
"""Trace files of a changed date indexed at once (each read holds one file's ids)."""
WRITERS = 4
"""Trace dates whose attached feedback is merged and written at once."""

EVENT_KEY: tuple[str, ...] = ("trace_id", "name", "source", "created_at")
"""Two events with these equal are one event."""
VALUE_KEY: tuple[str, ...] = ("trace_id", "name", "source")
"""One value per these: the event with the latest `created_at`."""
_SEQ, _KEY = "_seq", "_key"

ATTACHED_SCHEMA: dict[str, pl.DataType] = {
    **FEEDBACK_EVENT_SCHEMA,
    "feedback_date": pl.Date(),
    "source_key": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    "run_id": pl.String(),
}
"""An accepted event with where it came from: its `feedback/date=` partition, file, first ingest and run."""


def trace_index(store: Store, ledger: Ledger, wanted: pl.Series) -> pl.DataFrame:
    """`trace_id`, `date` of the accepted traces among the `wanted` ids, the index brought up to date with the
    ledger first. Only the wanted ids are kept from the stored index: a night holds the feedback's traces, not
    every trace of the history."""
    try:
        stamps: dict[str, str] = store.read_json(INDEX_STAMPS)
    except FileNotFoundError:
        stamps = {}
    dates = sorted(set(ledger.frame.get_column("date").to_list()))
    current = {day.isoformat(): _stamp(ledger, day) for day in dates}
    for value, stamp in current.items():
        if stamps.get(value) != stamp:
            _index_date(store, ledger, dt.date.fromisoformat(value))
    for value in set(stamps) - set(current):
        _drop_date(store, dt.date.fromisoformat(value))
    if current != stamps:
        store.write_json(INDEX_STAMPS, current)
    keys = [key for value in sorted(current) for key in _index_keys(ledger, dt.date.fromisoformat(value))]
    if not keys:
        return pl.DataFrame(schema={"trace_id": pl.String(), "date": pl.Date()})
    return store.scan_parquet(keys).filter(pl.col("trace_id").is_in(wanted.unique().implode())).collect()


def _index_date(store: Store, ledger: Ledger, day: dt.date) -> None:
    """The date's index again: one object per accepted trace file, a few files read at a time."""
    _drop_date(store, day)

    def index_file(key: str, file: AcceptedFile) -> None:
        ids = read_accepted_file(store, file, ("trace_id",)).with_columns(date=pl.lit(day, pl.Date))
        store.write_parquet(key, ids)

    with ThreadPoolExecutor(max_workers=INDEXERS) as pool:
        list(pool.map(index_file, _index_keys(ledger, day), accepted_files(store, day, ledger)))


def _index_keys(ledger: Ledger, day: dt.date) -> list[str]:
    """The date's index objects: one per trace file the ledger has accepted rows of (as `accepted_files`)."""
    files = ledger.for_date(day).filter(pl.col("status") != "rejected").height
    return [f"{INDEX_PREFIX}/date={day.isoformat()}/{number:05d}.parquet" for number in range(files)]


def _drop_date(store: Store, day: dt.date) -> None:
    """A date's index objects, in this layout and the earlier one."""
    store.delete(f"{INDEX_PREFIX}/date={day.isoformat()}")
    store.delete(f"{INDEX_PREFIX}/date={day.isoformat()}.parquet")


def _stamp(ledger: Ledger, day: dt.date) -> str:
    """What the date's accepted traces depend on: its files, their versions and what was quarantined (and the
    index's layout)."""
    rows = ledger.for_date(day).select("source_key", "source_version", "status", "rows_quarantined")
    text = "\n".join([INDEX_LAYOUT, *(str(row) for row in sorted(rows.iter_rows(), key=str))])
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

    Only the dates the events belong to are read and written, each once; the merge is one pass over all of
    them (the date is part of the key), and each date's partition is a slice of the sorted winners."""
    days = sorted(resolved.get_column("date").unique().to_list())
    columns = [*ATTACHED_SCHEMA, "date"]
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:  # reads and writes of the dates overlap
        existing = list(pool.map(lambda day: _read_partition(store, day), days))
        combined = pl.concat([*existing, resolved.select(columns)])
        winners, duplicates, replaced = merge_events(combined, by=("date",))
        changed: dict[dt.date, pl.DataFrame] = {}
        writes = []
        offset = 0
        for day, rows in winners.group_by("date", maintain_order=True).len().iter_rows():
            partition = winners.slice(offset, rows)
            offset += rows
            new = partition.filter(pl.col("run_id") == run_id)
            if new.height:
                changed[day] = new
                writes.append(pool.submit(_write, store, attached_key(day), partition.drop("date")))
        for write in writes:
            write.result()
    return Attached(changed, duplicates, replaced)


def merge_events(events: pl.DataFrame, by: tuple[str, ...] = ()) -> tuple[pl.DataFrame, int, int]:
    """The winning event per (trace, name, source) (and `by`) of `events`, earlier winners first then new
    events in the order seen, with the number of duplicates and of values replaced (earlier winners are
    distinct, so both counts are about the new events). The winners come sorted by `by` and their key.

    The winner is the latest `created_at`; among equal events the first seen (the ordering below puts it last).
    Keys are compared by a 64-bit hash of their values (a few times faster than by the strings; two distinct
    keys of a million share one with a chance of about 3e-8)."""
    keys = events.select(*by, "created_at", pl.struct([*by, *VALUE_KEY]).hash(25).alias(_KEY)).with_row_index(
        _SEQ
    )
    distinct = keys.select(pl.struct(_KEY, "created_at").hash(25).n_unique()).item()
    # only the narrow key columns are sorted; the rows themselves are gathered once, in the winners' order
    # (a multi-column sort of a million rows costs several single-column stable sorts, so: one per column)
    chosen = (
        keys.sort(["created_at", _SEQ], descending=[False, True])
        .group_by(_KEY)
        .agg(pl.col(_SEQ).last(), *(pl.col(c).first() for c in by))
        .sort(_KEY)
    )
    for column in reversed(by):
        chosen = chosen.sort(column, maintain_order=True)
    winners = events[chosen.get_column(_SEQ)]
    return winners, events.height - distinct, distinct - winners.height


def distinct_events(events: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """`events` with repeated events (same trace, name, source, `created_at`) kept once, first seen first."""
    distinct = events.unique(list(EVENT_KEY), keep="first", maintain_order=True)
    return distinct, events.height - distinct.height


def _write(store: Store, key: str, frame: pl.DataFrame) -> None:
    """One partition written by polars' own Parquet writer (several times faster here than through Arrow)."""
    buffer = io.BytesIO()
    frame.write_parquet(
        buffer, compression="zstd", compression_level=1
    )  # state read once a night: speed first
    store.write_bytes(key, buffer.getvalue())


def _read_partition(store: Store, day: dt.date) -> pl.DataFrame:
    """The date's attached events with their `date` (none yet: an empty frame)."""
    try:
        found = store.read_parquet(attached_key(day)).select(list(ATTACHED_SCHEMA)).cast(ATTACHED_SCHEMA)  # type: ignore[arg-type]
    except FileNotFoundError:
        found = pl.DataFrame(schema=ATTACHED_SCHEMA)
    return found.with_columns(date=pl.lit(day, pl.Date))
