"""Import quarantine: what could not become part of a trace, with its reason, so nothing is lost silently.

One Parquet object per source object (`warehouse/quarantine/imports/<source>/date=<upload day>/<hash>.parquet`),
so re-importing an object replaces its record instead of adding a second one. A rejected span keeps its own
encoding (`raw`); a whole object rejected is named by key and version (sources are never modified, so the bytes
stay where they are). Traces quarantined by policy (root never arrived) are recorded as scope `trace`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.hashing import key64
from tracewatch.store import Store

IMPORT_QUARANTINE_PREFIX = "warehouse/quarantine/imports"

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quarantined_at": pl.Datetime("us", "UTC"),
    "source": pl.String(),
    "object_key": pl.String(),
    "object_version": pl.String(),
    "scope": pl.String(),  # object | request | span | log_record | record | trace
    "location": pl.String(),  # where in the object (e.g. `resourceSpans[0].scopeSpans[1].spans[4]`)
    "trace_id": pl.String(),
    "span_id": pl.String(),
    "reason": pl.String(),
    "raw": pl.Binary(),
}


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    """Something that did not become part of an imported trace, and why."""

    scope: str
    reason: str
    location: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    raw: bytes | None = None


def quarantine_key(source: str, upload_day: dt.date, object_key: str) -> str:
    """Where the records of one source object are kept (stable, so a re-import replaces them)."""
    digest = f"{key64(object_key):016x}"
    return f"{IMPORT_QUARANTINE_PREFIX}/{source}/date={upload_day.isoformat()}/{digest}.parquet"


def existing_keys(store: Store, source: str) -> set[str]:
    """The source's quarantine objects, in one listing: an import asks, per object it reads, whether an old record
    must be removed, and asking the store each time is a request (on S3 two: HEAD, then a LIST when absent)."""
    return {info.key for info in store.list_objects(f"{IMPORT_QUARANTINE_PREFIX}/{source}/")}


def write_records(
    store: Store,
    *,
    source: str,
    upload_day: dt.date,
    object_key: str,
    object_version: str,
    records: Sequence[QuarantineRecord],
    run_id: str,
    at: dt.datetime,
    merge: bool = False,
    existing: set[str] | None = None,
) -> str | None:
    """Write (or replace) the quarantine record of one object; with nothing to record, remove an old one.

    `merge` keeps what an earlier run recorded under the same key (trace-level records of one object can come
    over several runs), replacing only records of the same trace and span. `existing` (from `existing_keys`,
    kept up to date by this function) answers whether an old record is there without asking the store."""
    key = quarantine_key(source, upload_day, object_key)
    if not records:
        there = key in existing if existing is not None else store.exists(key)
        if there and not merge:
            store.delete(key)
            if existing is not None:
                existing.discard(key)
        return None
    frame = pl.DataFrame(
        {
            "run_id": [run_id] * len(records),
            "quarantined_at": [at] * len(records),
            "source": [source] * len(records),
            "object_key": [object_key] * len(records),
            "object_version": [object_version] * len(records),
            "scope": [r.scope for r in records],
            "location": [r.location for r in records],
            "trace_id": [r.trace_id for r in records],
            "span_id": [r.span_id for r in records],
            "reason": [r.reason for r in records],
            "raw": [r.raw for r in records],
        },
        schema=RECORD_SCHEMA,
    )
    if merge and store.exists(key):
        earlier = store.read_parquet(key).cast(pl.Schema(RECORD_SCHEMA))
        frame = pl.concat(
            [earlier.join(frame, on=["trace_id", "span_id"], how="anti", nulls_equal=True), frame]
        )
    store.write_parquet(key, frame)
    if existing is not None:
        existing.add(key)
    return key
