"""Build and publish the monitoring tables of one date from the ingest ledger, accepted traces and quarantine."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from tracewatch.ingest import in_threads, load_ledger, read_quarantine_records
from tracewatch.monitoring.parts import DayMetrics, day_metrics, day_tables
from tracewatch.part_map import PartMap
from tracewatch.reports import (
    INGEST_DAILY,
    QUARANTINE_DAILY,
    TRACE_METRICS_DAILY,
    TRACE_METRICS_HOURLY,
    PublishedPartition,
    ReportTable,
    publish_partition,
)
from tracewatch.store import Store
from tracewatch.traces import GROUP_KEYS


def build_monitoring_reports(
    store: Store,
    day: dt.date,
    *,
    run_id: str,
    parts: DayMetrics | None = None,
    part_map: PartMap = in_threads,
) -> list[PublishedPartition]:
    """Publish `trace_metrics_daily`, `trace_metrics_hourly`, `ingest_daily` and `quarantine_daily` for `day`.

    `parts` are the monitoring of the date's accepted traces when the caller has it already, as ingest does
    for the files it just read; otherwise the files are read from the store one per step of `part_map`
    (`parts.day_metrics`), so no process holds the day. Either way the tables come out the same, to the bit. A
    date with no traces still gets its partitions: explicit empty ones.
    """
    # The reads overlap each other and the aggregation; nothing is published until every table is computed,
    # so a failure leaves the date's tables as they were, never out of step with each other.
    with ThreadPoolExecutor(max_workers=3) as pool:
        quarantined = pool.submit(
            read_quarantine_records, store, day, [*REASON_COLUMNS, "start_time", *GROUP_KEYS]
        )
        ledger = load_ledger(store)
        if parts is None:
            parts = day_metrics(store, day, ledger=ledger, part_map=part_map)
        records = quarantined.result()
        rejected = records.filter(pl.col("scope") == "row")
        daily, hourly = day_tables(parts, rejected)
        tables = (
            (TRACE_METRICS_DAILY, daily),
            (TRACE_METRICS_HOURLY, hourly),
            (INGEST_DAILY, _accounting(ledger.for_date(day))),
            (QUARANTINE_DAILY, quarantine_reasons(records)),
        )
        published = [pool.submit(_publish, store, table, day, frame, run_id) for table, frame in tables]
    return [future.result() for future in published]


def _publish(
    store: Store, table: ReportTable, day: dt.date, frame: pl.DataFrame, run_id: str
) -> PublishedPartition:
    return publish_partition(store, table, day, frame, run_id=run_id)


REASON_COLUMNS = ["scope", "reasons", "file_rows"]
"""The quarantine record columns `quarantine_reasons` needs."""
RULE_DETAIL = r"^(.*?): .* (\[[^\]]*\])$"
"""A failed rule's reason is `<description>: <this row's values> [<expectation id>]`
(`validation.rowchecks`); the row's values are dropped, so each rule is one reason, not one per value."""


def quarantine_reasons(records: pl.DataFrame) -> pl.DataFrame:
    """`quarantine_daily`'s rows: per scope (`row`, `file`) and reason (a failed rule without the row's values:
    `RULE_DETAIL`), the rows and source files it rejected,
    most rows first. A whole file counts its rows, unknown (null) when no file with that reason could be read."""
    per_reason = (
        records.select(REASON_COLUMNS)
        .explode("reasons")
        .with_columns(pl.col("reasons").str.replace(RULE_DETAIL, "${1} ${2}").alias("reason"))
    )
    counted = per_reason.group_by("scope", "reason").agg(
        pl.when(pl.col("scope").first() == "row")
        .then(pl.len())
        .otherwise(pl.when(pl.col("file_rows").is_not_null().any()).then(pl.col("file_rows").sum()))
        .cast(pl.Int64)
        .alias("rows"),
        pl.when(pl.col("scope").first() == "file").then(pl.len()).otherwise(0).cast(pl.Int64).alias("files"),
    )
    return counted.sort(["rows", "scope", "reason"], descending=[True, False, False], nulls_last=True)


def _accounting(entries: pl.DataFrame) -> pl.DataFrame:
    """`ingest_daily`'s row: files and rows of the date, from its ledger entries (no row when it has none)."""
    accounting = entries.select(
        pl.len().cast(pl.Int64).alias("files"),
        (pl.col("status") == "rejected").sum().cast(pl.Int64).alias("files_rejected"),
        pl.col("rows_read").sum().alias("rows_read"),
        pl.col("rows_accepted").sum().alias("rows_accepted"),
        pl.col("rows_quarantined").sum().alias("rows_quarantined"),
        pl.col("rows_read").is_null().sum().cast(pl.Int64).alias("files_unreadable"),
    )
    return accounting.clear() if entries.height == 0 else accounting
