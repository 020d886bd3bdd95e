"""Quarantine: rejected rows and files, kept with their reasons so nothing is ever lost silently.

One Parquet object per source file (`warehouse/quarantine/date=D/<file>-<hash>.parquet`), so reprocessing a
file replaces its record instead of adding a second one. Whole rejected files are also copied byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import PurePosixPath

import polars as pl

from tracewatch.store import Store
from tracewatch.traces import ROW_NR, TRACE_SCHEMA

QUARANTINE_PREFIX = "warehouse/quarantine"

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "quarantined_at": pl.Datetime("us", "UTC"),
    "date": pl.Date(),
    "source_key": pl.String(),
    "source_version": pl.String(),
    "scope": pl.String(),  # row | file
    "row_nr": pl.Int64(),  # null for a whole file
    "file_rows": pl.Int64(),  # rows in a rejected file; null when it could not be read
    "reasons": pl.List(pl.String()),
    **TRACE_SCHEMA,
}


def quarantine_key(day: dt.date, source_key: str) -> str:
    """Where the rejected rows of one source file of `day` are recorded."""
    return f"{QUARANTINE_PREFIX}/date={day.isoformat()}/{_object_name(source_key)}.parquet"


def raw_copy_key(day: dt.date, source_key: str) -> str:
    """Where the raw bytes of a source file rejected whole are kept, to look at later."""
    return f"{QUARANTINE_PREFIX}/date={day.isoformat()}/files/{_object_name(source_key)}"


def row_records(
    rejected: pl.DataFrame,
    *,
    day: dt.date,
    source_key: str,
    source_version: str,
    run_id: str,
    at: dt.datetime,
) -> pl.DataFrame:
    """Quarantine records for rejected rows: the rows as read plus `reasons` and where they came from."""
    meta = {
        "run_id": pl.lit(run_id),
        "quarantined_at": pl.lit(at, dtype=pl.Datetime("us", "UTC")),
        "date": pl.lit(day),
        "source_key": pl.lit(source_key),
        "source_version": pl.lit(source_version),
        "scope": pl.lit("row"),
        "row_nr": pl.col(ROW_NR),
        "file_rows": pl.lit(None, dtype=pl.Int64),
    }
    return rejected.select(
        *(expr.alias(name) for name, expr in meta.items()), pl.col("reasons"), *TRACE_SCHEMA
    ).cast(RECORD_SCHEMA)  # type: ignore[arg-type]


def file_record(
    *,
    day: dt.date,
    source_key: str,
    source_version: str,
    reason: str,
    rows: int | None,
    run_id: str,
    at: dt.datetime,
) -> pl.DataFrame:
    """The quarantine record of a whole rejected file."""
    row = {name: None for name in RECORD_SCHEMA} | {
        "run_id": run_id,
        "quarantined_at": at,
        "date": day,
        "source_key": source_key,
        "source_version": source_version,
        "scope": "file",
        "file_rows": rows,
        "reasons": [reason],
    }
    return pl.DataFrame([row], schema=RECORD_SCHEMA)


def write_records(store: Store, day: dt.date, source_key: str, records: pl.DataFrame) -> None:
    """Replace the quarantine object of `source_key`; a file with nothing rejected leaves no object."""
    key = quarantine_key(day, source_key)
    if records.height:
        store.write_parquet(key, records)
    else:
        store.delete(key)


def record_keys(store: Store, day: dt.date) -> set[str]:
    """The keys of a date's quarantine record objects (not the raw copies of rejected files)."""
    listed = store.list_objects(f"{QUARANTINE_PREFIX}/date={day.isoformat()}", suffix=".parquet")
    return {o.key for o in listed if "/files/" not in o.key}


def read_records(store: Store, day: dt.date, columns: list[str] | None = None) -> pl.DataFrame:
    """All quarantine records of a date (an empty frame when there are none)."""
    keys = sorted(record_keys(store, day))
    if not keys:
        frame = pl.DataFrame(schema=RECORD_SCHEMA)
        return frame.select(columns) if columns else frame
    scan = store.scan_parquet(keys)
    return (scan.select(columns) if columns else scan).collect()


def _object_name(source_key: str) -> str:
    digest = hashlib.sha256(source_key.encode()).hexdigest()[:10]
    return f"{PurePosixPath(source_key).stem}-{digest}"
