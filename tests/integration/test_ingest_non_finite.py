"""NaN, infinities and absurd numbers on real local S3: quarantined with a reason that names the column and
the problem, every row accounted for, and no report column ever NaN or infinite, even when the suite lets a
NaN through."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from tests.support.metric_tables import non_finite_cells
from tracewatch.ingest import ingest_new_traces
from tracewatch.ingest.quarantine import read_records
from tracewatch.monitoring import METRIC_REDUCER, MetricParts, build_monitoring_reports
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store
from tracewatch.validation.suite import load_suite, trace_suite_path

DAY = dt.date(2026, 11, 1)
ROWS = 12
NAN, INF = float("nan"), float("inf")
BAD: dict[int, tuple[str, str]] = {
    1: ("latency_ms", "NaN"),
    2: ("latency_ms", "inf"),
    3: ("cost_usd", "-inf"),
    4: ("feedback", "NaN"),
    5: ("input_tokens", "10,000,000"),
    6: ("output_tokens", "10,000,000"),
}
"""Row -> the column its reason must name and what it must say about it."""


def _set(values: list[object], row: int, value: object) -> list[object]:
    return [value if i == row else v for i, v in enumerate(values)]


@pytest.fixture
def day_file(s3_store: Store, make_traces: Callable[..., pl.DataFrame]) -> pl.DataFrame:
    """One trace file of `ROWS` rows on S3, with the `BAD` rows planted; returns what was written."""
    good = make_traces(DAY.isoformat(), ROWS, prefix="nf")
    feedback = good["feedback"].to_list()
    feedback[4] = [{"name": "thumbs", "value": 1.0, "source": "user"}, {"name": "rating", "value": NAN}]
    frame = good.with_columns(
        pl.Series("latency_ms", _set(_set(good["latency_ms"].to_list(), 1, NAN), 2, INF)),
        pl.Series("cost_usd", _set(good["cost_usd"].to_list(), 3, -INF)),
        pl.Series("feedback", feedback, dtype=good.schema["feedback"]),
        pl.Series("input_tokens", _set(good["input_tokens"].to_list(), 5, 20_000_000)),
        pl.Series("output_tokens", _set(good["output_tokens"].to_list(), 6, 20_000_000)),
    )
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    s3_store.write_bytes(f"traces/date={DAY.isoformat()}/non-finite.parquet", buffer.getvalue())
    return frame


def _reports(store: Store, parts: MetricParts | None) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Publish the date's monitoring tables (from `parts`, or read back from the store) and read them."""
    build_monitoring_reports(store, DAY, run_id="test", parts=parts)
    daily = store.read_parquet(partition_key("trace_metrics_daily", DAY))
    hourly = store.read_parquet(partition_key("trace_metrics_hourly", DAY))
    accounting = store.read_parquet(partition_key("ingest_daily", DAY)).row(0, named=True)
    return daily, hourly, accounting


def test_non_finite_and_absurd_numbers_are_quarantined_and_reports_stay_finite(
    s3_store: Store, day_file: pl.DataFrame
) -> None:
    result = ingest_new_traces(s3_store, up_to=DAY, reducer=METRIC_REDUCER)
    assert result.rows_read == ROWS
    assert result.rows_accepted + result.rows_quarantined == ROWS
    assert result.rows_quarantined == len(BAD)

    records = read_records(s3_store, DAY).filter(pl.col("scope") == "row")
    reasons = dict(zip(records["row_nr"].to_list(), records["reasons"].to_list(), strict=True))
    assert set(reasons) == set(BAD)
    for row, (column, problem) in BAD.items():
        assert any(column in r and problem in r for r in reasons[row]), (row, reasons[row])
    assert "latency_ms must be a finite number: got NaN [latency_ms_finite]" in reasons[1]
    assert any(
        r.startswith("feedback values must be finite numbers: got NaN in feedback[1].value")
        for r in reasons[4]
    )

    # the same tables from ingest's parts and from a re-report that reads the accepted rows back from S3
    for parts in (result.parts[DAY], None):
        daily, hourly, accounting = _reports(s3_store, parts)
        assert non_finite_cells(daily) == {} and non_finite_cells(hourly) == {}
        assert daily["trace_count"].sum() == result.rows_accepted == ROWS - len(BAD)
        assert daily["quarantined_count"].sum() == hourly["quarantined_count"].sum() == len(BAD)
        assert accounting["rows_read"] == accounting["rows_accepted"] + accounting["rows_quarantined"] == ROWS
        assert daily["latency_ms_mean"].is_not_null().all()


def test_reports_stay_finite_when_the_suite_lets_non_finite_numbers_through(
    s3_store: Store, day_file: pl.DataFrame
) -> None:
    """Defence in depth: without the row-only finiteness rules (GX's part of the suite), a NaN latency and a NaN
    feedback value are accepted; the reports count them as unknown instead of averaging them."""
    lenient = load_suite(trace_suite_path()).for_gx()
    result = ingest_new_traces(s3_store, up_to=DAY, suite=lenient, reducer=METRIC_REDUCER)
    assert result.rows_accepted + result.rows_quarantined == ROWS
    records = read_records(s3_store, DAY).filter(pl.col("scope") == "row")
    assert {1, 4}.isdisjoint(records["row_nr"].to_list())  # the NaN latency and NaN rating got in

    for parts in (result.parts[DAY], None):
        daily, hourly, _ = _reports(s3_store, parts)
        assert non_finite_cells(daily) == {} and non_finite_cells(hourly) == {}
        # each group's mean latency is the mean of its accepted rows' finite latencies: the NaN is left out
        expected = (
            day_file.with_row_index("row_nr")
            .filter(~pl.col("row_nr").is_in(records["row_nr"].cast(pl.UInt32).implode()))
            .group_by("model")
            .agg(pl.col("latency_ms").filter(pl.col("latency_ms").is_finite()).mean())
        )
        means = dict(zip(daily["model"].to_list(), daily["latency_ms_mean"].to_list(), strict=True))
        assert means == pytest.approx(dict(expected.iter_rows()))
        ratings = [f for fs in daily["feedback"].to_list() for f in fs if f["name"] == "rating"]
        assert ratings and all(f["mean"] is None and f["count"] == 0 for f in ratings)
