"""The one Parquet report writer.

Each (table, date) partition is exactly one zstd Parquet object written in a single atomic PUT, so a rerun
replaces it and a BI reader never sees half a partition. A manifest beside it records row count, schema
version and run id; an empty partition is written explicitly (zero rows, full schema, status "empty").
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass

import polars as pl

from tracewatch.errors import DataContractError
from tracewatch.reports.tables import ReportTable
from tracewatch.runs import utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)

REPORTS_PREFIX = "reports"
PART_NAME = "part-0.parquet"


@dataclass(frozen=True)
class PublishedPartition:
    """What the manifest says about one published partition."""

    table: str
    date: str
    key: str
    row_count: int
    status: str  # data | empty
    schema_version: int
    run_id: str
    written_at: str


def _partition_path(table: str, day: dt.date, within: tuple[str, str] | None) -> str:
    path = f"{table}/date={day.isoformat()}"
    if within is not None:
        column, value = within
        if not value or "/" in value or "=" in value:
            raise DataContractError(f"report {table}: {column}={value!r} cannot name a partition")
        path += f"/{column}={value}"
    return path


def partition_key(table: str, day: dt.date, within: tuple[str, str] | None = None) -> str:
    """The object key of a report partition (`within`: an extra (name, value) level, e.g. an experiment)."""
    return f"{REPORTS_PREFIX}/{_partition_path(table, day, within)}/{PART_NAME}"


def manifest_key(table: str, day: dt.date, within: tuple[str, str] | None = None) -> str:
    """The key of a partition's manifest, written after its data: a partition without one is not published."""
    return f"{REPORTS_PREFIX}/_manifest/{_partition_path(table, day, within)}.json"


def publish_partition(
    store: Store,
    table: ReportTable,
    day: dt.date,
    frame: pl.DataFrame,
    *,
    run_id: str,
    subpartition: str | None = None,
) -> PublishedPartition:
    """Replace the partition `day` of `table` with `frame` (conformed to the table schema), then its manifest.

    A table with a `subpartition` column is published per value of it (`subpartition`, required)."""
    if (table.subpartition is None) != (subpartition is None):
        raise DataContractError(
            f"report {table.name}: "
            + (f"publish it per {table.subpartition}" if table.subpartition else "it has no subpartition")
        )
    within = (table.subpartition, subpartition) if table.subpartition and subpartition else None
    conformed = _conform(table, frame.with_columns(pl.lit(run_id).alias("run_id")))
    key = partition_key(table.name, day, within)
    store.write_parquet(key, conformed)
    published = PublishedPartition(
        table=table.name,
        date=day.isoformat(),
        key=key,
        row_count=conformed.height,
        status="data" if conformed.height else "empty",
        schema_version=table.version,
        run_id=run_id,
        written_at=utc_now().isoformat(),
    )
    store.write_json(manifest_key(table.name, day, within), asdict(published))
    log.info("published %s date=%s: %d rows", table.name, day, conformed.height)
    return published


def read_manifest(store: Store, table: str, day: dt.date) -> PublishedPartition | None:
    """What was published for a table and date (None: nothing yet)."""
    key = manifest_key(table, day)
    return PublishedPartition(**store.read_json(key)) if store.exists(key) else None


def _conform(table: ReportTable, frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in table.schema if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"report {table.name} is missing column(s) {missing}; it needs {list(table.schema)}"
        )
    return frame.select(list(table.schema)).cast(table.schema)  # type: ignore[arg-type]
