"""Report partitions: one atomic object each, replaced on rerun, manifest beside it, explicit when empty,
and readable by DuckDB straight from the S3 server the way a BI tool reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from devtools.s3server import S3Server
from tests.support.duckdb_s3 import duckdb_on
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports, report
from tracewatch.reports import publish_partition, read_manifest
from tracewatch.reports.tables import TRACE_METRICS_DAILY
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

DAY = dt.date(2026, 11, 3)


def test_rerun_replaces_the_partition(store: Store, make_traces: Callable[..., pl.DataFrame]) -> None:
    store.write_parquet(f"traces/date={DAY}/a.parquet", make_traces(DAY.isoformat(), 12))
    ingest_new_traces(store, up_to=DAY)
    build_monitoring_reports(store, DAY, run_id="first")
    first = store.read_parquet(partition_key("trace_metrics_daily", DAY))
    build_monitoring_reports(store, DAY, run_id="second")
    objects = store.list_objects(f"reports/trace_metrics_daily/date={DAY}")
    second = store.read_parquet(partition_key("trace_metrics_daily", DAY))
    assert [o.key for o in objects] == [partition_key("trace_metrics_daily", DAY)]
    assert first.drop("run_id").equals(second.drop("run_id"))
    assert second.get_column("run_id").unique().to_list() == ["second"]
    manifest = read_manifest(store, "trace_metrics_daily", DAY)
    assert manifest is not None and manifest.run_id == "second" and manifest.schema_version == 1


def test_a_failed_rebuild_leaves_all_three_tables_of_the_date_as_they_were(
    store: Store, make_traces: Callable[..., pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write_parquet(f"traces/date={DAY}/a.parquet", make_traces(DAY.isoformat(), 12))
    ingest_new_traces(store, up_to=DAY)
    build_monitoring_reports(store, DAY, run_id="first")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("aggregation failed")

    monkeypatch.setattr(report, "day_tables", broken)
    with pytest.raises(RuntimeError, match="aggregation failed"):
        build_monitoring_reports(store, DAY, run_id="second")
    for table in ("trace_metrics_daily", "trace_metrics_hourly", "ingest_daily"):
        manifest = read_manifest(store, table, DAY)
        assert manifest is not None and manifest.run_id == "first", table


def test_empty_window_writes_an_explicit_empty_partition(store: Store) -> None:
    published = build_monitoring_reports(store, DAY, run_id="empty-night")
    assert {p.status for p in published} == {"empty"}
    frame = store.read_parquet(partition_key("trace_metrics_daily", DAY))
    assert frame.height == 0 and "latency_ms_p99" in frame.columns
    manifest = read_manifest(store, "ingest_daily", DAY)
    assert manifest is not None and manifest.status == "empty" and manifest.row_count == 0


def test_a_frame_missing_columns_is_refused(store: Store) -> None:
    from tracewatch.errors import DataContractError

    with pytest.raises(DataContractError, match="missing column"):
        publish_partition(store, TRACE_METRICS_DAILY, DAY, pl.DataFrame({"project": ["p"]}), run_id="r")


def test_duckdb_reads_the_report_tables_from_s3(
    s3_server: S3Server, s3_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    for offset in range(2):
        day = DAY + dt.timedelta(days=offset)
        s3_store.write_parquet(f"traces/date={day}/a.parquet", make_traces(day.isoformat(), 10 + offset))
        ingest_new_traces(s3_store, up_to=day)
        build_monitoring_reports(s3_store, day, run_id="r")
    con = duckdb_on(s3_server)
    url = s3_store.uri("reports/trace_metrics_daily/*/*.parquet")
    rows = con.sql(
        f"SELECT date, sum(trace_count) AS traces, max(latency_ms_p99) AS p99 "
        f"FROM read_parquet('{url}', hive_partitioning = true) GROUP BY date ORDER BY date"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(DAY, 10), (DAY + dt.timedelta(days=1), 11)]
    feedback = con.sql(
        f"SELECT f.name, sum(f.count) FROM read_parquet('{url}', hive_partitioning = true), "
        "UNNEST(feedback) AS t(f) GROUP BY f.name"
    ).fetchall()
    assert feedback == [("thumbs", 21)]


def test_read_many_returns_the_objects_that_exist_on_either_store(store: Store) -> None:
    store.write_bytes("many/a.json", b"1")
    store.write_bytes("many/b/c.json", b"2", durable=False)
    found = store.read_many(["many/a.json", "many/missing.json", "many/b/c.json"])
    assert found == {"many/a.json": b"1", "many/b/c.json": b"2"}
    assert store.read_many([]) == {}


def test_reports_from_ingest_parts_are_the_bits_a_re_report_from_the_store_publishes(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """Ingest hands monitoring the parts it made per file while reading; a later re-report reads the day back.
    Both must publish the same tables, including after rows were dropped as duplicates of another file's."""
    costs = pl.Series([0.1, 0.2, 0.7, 1e-9, 3.3, 9e3, 0.15] * 20)  # wide magnitudes, within the bounds
    for name in ("a", "b", "c"):
        traces = make_traces(DAY.isoformat(), 140, prefix=name).with_columns(
            cost_usd=costs.shuffle(seed=ord(name)), latency_ms=(costs * 1e3 + 0.1).shuffle(seed=ord(name) + 1)
        )
        if name == "b":  # row 3 repeats an id of file a (a duplicate), row 5 fails a row check
            traces = traces.with_columns(
                trace_id=pl.when(pl.int_range(pl.len()) == 3)
                .then(pl.lit(f"a-{DAY.isoformat()}-3"))
                .otherwise("trace_id"),
                latency_ms=pl.when(pl.int_range(pl.len()) == 5).then(-1.0).otherwise("latency_ms"),
            )
        store.write_parquet(f"traces/date={DAY}/{name}.parquet", traces)
    result = ingest_new_traces(store, up_to=DAY, reducer=METRIC_REDUCER)
    assert result.rows_quarantined == 2 and result.parts[DAY].rows == 418
    tables = ("trace_metrics_daily", "trace_metrics_hourly")

    def published() -> dict[str, pl.DataFrame]:
        return {t: store.read_parquet(partition_key(t, DAY)).drop("run_id") for t in tables}

    build_monitoring_reports(store, DAY, run_id="night", parts=result.parts[DAY])
    from_parts = published()
    build_monitoring_reports(store, DAY, run_id="re-report")
    from_store = published()
    for table in tables:
        assert from_parts[table].equals(from_store[table]), table
    assert from_parts["trace_metrics_daily"].get_column("trace_count").sum() == 418
    assert from_parts["trace_metrics_daily"].get_column("quarantined_count").sum() == 2
