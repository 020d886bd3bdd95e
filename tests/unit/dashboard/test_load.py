"""The loader reads report partitions only, through the store: the date (and experiment) from the path,
only the window's dates, and what it could not read named instead of dropped."""

from __future__ import annotations

import polars as pl
import pytest
from dashboard_reports import DAY, day, metric_row, publish

from tracewatch.dashboard import load_reports, report_dates
from tracewatch.errors import ConfigError
from tracewatch.store import Store


def test_dates_and_experiments_come_from_the_path_and_the_window_is_kept(file_store: Store) -> None:
    for offset in (-1, 0, 1):
        publish(
            file_store, "trace_metrics_daily", day(offset), [metric_row("m", "r", trace_count=offset + 5)]
        )
    publish(
        file_store, "quality", DAY, [{"config_name": "a", "scorer": "s", "mean": 0.5}], experiment="exp-1"
    )

    data = load_reports(file_store, DAY, day(1), ["trace_metrics_daily", "quality"])

    metrics = data.table("trace_metrics_daily").frame
    assert metrics.select("date", "trace_count").rows() == [(DAY, 5), (day(1), 6)]
    quality = data.table("quality").frame
    assert quality.select("date", "experiment_id", "config_name").rows() == [(DAY, "exp-1", "a")]
    assert report_dates(file_store) == (day(-1), day(1))


def test_a_missing_table_an_empty_partition_and_an_empty_store_say_so(file_store: Store) -> None:
    assert report_dates(file_store) is None
    publish(file_store, "ingest_daily", DAY, [])

    data = load_reports(file_store, DAY, DAY, ["ingest_daily", "drift"])

    assert data.table("ingest_daily").status == "empty"
    assert "no rows in this window" in data.table("ingest_daily").why_empty()
    assert data.table("drift").status == "missing"
    assert "No `drift` report in this store yet" in data.table("drift").why_empty()
    assert data.table("drift").frame.columns[:1] == ["date"]  # the full schema, zero rows


def test_an_older_schema_reads_as_unknown_and_is_named(file_store: Store) -> None:
    publish(file_store, "drift", DAY, [{"feature": "latency_ms", "role": "test", "statistic": 1.0}])
    key = f"reports/drift/date={day(1)}/part-0.parquet"
    file_store.write_parquet(key, pl.DataFrame({"feature": ["model"], "role": ["test"], "statistic": [2.0]}))

    read = load_reports(file_store, DAY, day(1), ["drift"]).table("drift")

    assert read.frame.select("feature", "statistic").rows() == [("latency_ms", 1.0), ("model", 2.0)]
    assert read.frame.filter(pl.col("feature") == "model").get_column("alert").to_list() == [None]
    assert any(key in note and "older schema" in note for note in read.notes)


def test_an_unreadable_partition_is_named_and_the_other_days_are_shown(file_store: Store) -> None:
    publish(file_store, "ingest_daily", DAY, [{"rows_read": 3}])
    broken = f"reports/ingest_daily/date={day(1)}/part-0.parquet"
    file_store.write_bytes(broken, b"not parquet")

    read = load_reports(file_store, DAY, day(1), ["ingest_daily"]).table("ingest_daily")

    assert read.frame.get_column("rows_read").to_list() == [3]
    assert read.notes == (f"{broken} could not be read (ComputeError); its rows are not shown",)


def test_a_window_that_ends_before_it_starts_is_refused(file_store: Store) -> None:
    with pytest.raises(ConfigError, match="ends 2026-11-09 before it starts 2026-11-10"):
        load_reports(file_store, DAY, day(-1))
