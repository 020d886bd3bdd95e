"""Report table definitions: name, schema version and column types. Documented in docs/reports.md."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

FEEDBACK_STATS = pl.List(pl.Struct({"name": pl.String, "mean": pl.Float64, "count": pl.Int64}))


@dataclass(frozen=True)
class ReportTable:
    """A BI table published as `reports/<name>/date=YYYY-MM-DD/part-0.parquet`.

    `schema` excludes the `date` partition column, which readers take from the path (Hive style).
    Bump `version` whenever a column changes meaning or type; the manifest records it per partition.
    """

    name: str
    version: int
    schema: dict[str, pl.DataType]
    description: str


_METRICS: dict[str, pl.DataType] = {
    "project": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "trace_count": pl.Int64(),
    "error_count": pl.Int64(),
    "error_rate": pl.Float64(),
    "input_tokens_sum": pl.Int64(),
    "input_tokens_mean": pl.Float64(),
    "output_tokens_sum": pl.Int64(),
    "output_tokens_mean": pl.Float64(),
    "cost_usd_sum": pl.Float64(),
    "latency_ms_mean": pl.Float64(),
    "latency_ms_p50": pl.Float64(),
    "latency_ms_p90": pl.Float64(),
    "latency_ms_p99": pl.Float64(),
    "feedback": FEEDBACK_STATS,
    "quarantined_count": pl.Int64(),
    "run_id": pl.String(),
}

TRACE_METRICS_DAILY = ReportTable(
    name="trace_metrics_daily",
    version=1,
    schema=_METRICS,
    description="Production traffic per day, project, route and model.",
)

TRACE_METRICS_HOURLY = ReportTable(
    name="trace_metrics_hourly",
    version=1,
    schema={"hour": pl.Datetime("us", "UTC"), **_METRICS},
    description="Production traffic per UTC hour, project, route and model.",
)

INGEST_DAILY = ReportTable(
    name="ingest_daily",
    version=1,
    schema={
        "files": pl.Int64(),
        "files_rejected": pl.Int64(),
        "rows_read": pl.Int64(),
        "rows_accepted": pl.Int64(),
        "rows_quarantined": pl.Int64(),
        "files_unreadable": pl.Int64(),
        "run_id": pl.String(),
    },
    description="Row accounting per day: every row read is accepted or quarantined; unreadable files counted.",
)

DATASET_VERSIONS = ReportTable(
    name="dataset_versions",
    version=1,
    schema={
        "dataset": pl.String(),
        "version": pl.Int64(),
        "parent_version": pl.Int64(),
        "kind": pl.String(),
        "created": pl.Boolean(),
        "item_count": pl.Int64(),
        "added_count": pl.Int64(),
        "window_start": pl.Date(),
        "window_end": pl.Date(),
        "spec_fingerprint": pl.String(),
        "seed": pl.Int64(),
        "candidates": pl.Int64(),
        "no_usable_input": pl.Int64(),
        "duplicates_exact": pl.Int64(),
        "duplicates_near": pl.Int64(),
        "redactions": pl.Int64(),
        "created_at": pl.Datetime("us", "UTC"),
        "run_id": pl.String(),
    },
    description="One row per dataset version a night made (or found, on a rerun), with its candidate accounting.",
)

DATASET_ITEMS = ReportTable(
    name="dataset_items",
    version=1,
    schema={
        "dataset": pl.String(),
        "version": pl.Int64(),
        "item_id": pl.String(),
        "source_trace_id": pl.String(),
        "source_date": pl.Date(),
        "strategy": pl.String(),
        "stratum": pl.String(),
        "project": pl.String(),
        "route": pl.String(),
        "model": pl.String(),
        "expected_source": pl.String(),
        "redactions": pl.Int64(),
        "run_id": pl.String(),
    },
    description="The items a night sampled into a dataset, with the strategy and stratum that picked each.",
)

REPORT_TABLES: dict[str, ReportTable] = {
    t.name: t
    for t in (TRACE_METRICS_DAILY, TRACE_METRICS_HOURLY, INGEST_DAILY, DATASET_VERSIONS, DATASET_ITEMS)
}
