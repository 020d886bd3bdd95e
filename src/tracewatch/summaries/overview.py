"""A plain-text overview of published monitoring reports, for the command line and the demo."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.datasets import DATASETS_PREFIX, list_datasets, list_versions
from tracewatch.experiments import EXPERIMENTS_PREFIX, list_records
from tracewatch.reports import REPORT_TABLES, REPORTS_PREFIX, partition_key
from tracewatch.store import Store


def daily_overview(store: Store, start: dt.date, end: dt.date) -> pl.DataFrame:
    """One row per date: traffic, errors, quarantine, latency p90 (mean over groups) and output tokens."""
    rows = []
    day = start
    while day <= end:
        key = partition_key("trace_metrics_daily", day)
        if store.exists(key):
            frame = store.read_parquet(key)
            rows.append(
                {
                    "date": day,
                    "traces": int(frame.get_column("trace_count").sum()),
                    "errors": int(frame.get_column("error_count").sum()),
                    "quarantined": int(frame.get_column("quarantined_count").sum()),
                    "latency_p90_ms": _weighted(frame, "latency_ms_p90"),
                    "output_tokens_mean": _weighted(frame, "output_tokens_mean"),
                    "models": frame.get_column("model").drop_nulls().n_unique(),
                }
            )
        day += dt.timedelta(days=1)
    return pl.DataFrame(rows)


def overview_text(store: Store, start: dt.date, end: dt.date) -> str:
    """The overview a terminal prints: the daily table, the datasets, the latest experiment, where things are."""
    frame = daily_overview(store, start, end)
    with pl.Config(tbl_rows=100, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        table = str(frame)
    return (
        f"{table}\n"
        f"{_datasets_line(store)}\n"
        f"{_experiments_line(store)}\n"
        f"Reports: {store.uri(REPORTS_PREFIX)}/<table>/**/*.parquet (Hive-partitioned by date, and by "
        f"experiment_id for experiment_items, quality, comparisons, output_checks; "
        f"tables: {', '.join(REPORT_TABLES)})\n"
        f"Quarantine: {store.uri('warehouse/quarantine')}   Data Docs: {store.uri('warehouse/data_docs')}   "
        f"Datasets: {store.uri(DATASETS_PREFIX)}   Experiments: {store.uri(EXPERIMENTS_PREFIX)}\n"
    )


def _datasets_line(store: Store) -> str:
    parts = []
    for name in list_datasets(store):
        versions = list_versions(store, name)
        parts.append(f"{name}: {len(versions)} version(s), {versions[-1].item_count} items in the latest")
    return "Datasets: " + ("; ".join(parts) if parts else "none yet")


def _experiments_line(store: Store) -> str:
    records = list_records(store)
    if not records:
        return "Experiments: none yet"
    latest = records[-1]
    per_config = ", ".join(
        f"{row['config']} {row.get('ok', 0)} ok/{row.get('error', 0)} error" for row in latest.config_rows()
    )
    return (
        f"Experiments: {len(records)}; latest {latest.experiment_id} ({latest.dataset} v{latest.dataset_version}, "
        f"{latest.item_count} items x {len(latest.configs)} configs): {per_config}"
    )


def _weighted(frame: pl.DataFrame, column: str) -> float | None:
    data = frame.drop_nulls(column).filter(pl.col("trace_count") > 0)
    if data.height == 0:
        return None
    weights = data.get_column("trace_count").cast(pl.Float64)
    value = data.select((pl.col(column) * weights).sum() / weights.sum()).item()
    return round(float(value), 1)
