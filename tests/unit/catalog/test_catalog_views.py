"""The DuckDB views over a local store: one per report table the store has, in the writer's column order with
the Hive partition columns last; a missing table gets no view and a note; a partition written before a column
existed reads NULL there; a numeric-looking experiment id stays text (time in UTC:
tests/integration/test_sql_catalog.py, in a process whose own time zone is not UTC).

Hive partitioning and union_by_name: https://duckdb.org/docs/data/partitioning/hive_partitioning,
https://duckdb.org/docs/data/multiple_files/combining_schemas
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tests.integration.test_documented_queries import value_row
from tracewatch.catalog import SqlError, open_catalog, table_columns
from tracewatch.reports import (
    INGEST_DAILY,
    QUALITY,
    REPORT_TABLES,
    ReportTable,
    partition_key,
    publish_partition,
)
from tracewatch.settings import Settings
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)


def _rows(table: ReportTable, n: int = 2) -> pl.DataFrame:
    return pl.DataFrame([value_row(table.schema, i) for i in range(n)], schema=table.schema)


def _open(store: Store):  # type: ignore[no-untyped-def]
    return open_catalog(store, Settings(store=store.url))


def test_a_view_per_table_present_and_one_note_naming_the_missing(file_store: Store) -> None:
    publish_partition(file_store, INGEST_DAILY, DAY, _rows(INGEST_DAILY), run_id="r1")
    with _open(file_store) as catalog:
        assert catalog.views == ["ingest_daily"]
        (note,) = catalog.notes
        missing = [name for name in REPORT_TABLES if name != "ingest_daily"]
        assert f"{len(missing)} report table(s) are not in this store yet" in note
        assert note.endswith(", ".join(missing))
        with pytest.raises(SqlError, match="trace_metrics_daily does not exist"):
            catalog.query("SELECT * FROM trace_metrics_daily")


def test_columns_in_the_writers_order_then_the_partitions(file_store: Store) -> None:
    publish_partition(file_store, QUALITY, DAY, _rows(QUALITY), run_id="r1", subpartition="2026")
    with _open(file_store) as catalog:
        (columns,) = catalog.view_columns().values()
        assert [name for name, _ in columns] == [c.name for c in table_columns(QUALITY)]
        kinds = dict(columns)
        assert (kinds["date"], kinds["experiment_id"]) == ("DATE", "VARCHAR")
        rows = catalog.query("SELECT DISTINCT experiment_id, date FROM quality").rows
        assert rows == [("2026", DAY)]  # text, not the number 2026


def test_a_partition_older_than_a_column_reads_null_there(file_store: Store) -> None:
    old = _rows(INGEST_DAILY).drop("files_unreadable")
    file_store.write_parquet(partition_key(INGEST_DAILY.name, DAY), old)
    with _open(file_store) as catalog:
        assert any("no part has column(s) files_unreadable" in note for note in catalog.notes)
        result = catalog.query("SELECT files, files_unreadable FROM ingest_daily ORDER BY files")
        assert result.rows == [(1, None), (2, None)]
        assert result.types == ["BIGINT", "BIGINT"]
    publish_partition(file_store, INGEST_DAILY, DAY + dt.timedelta(days=1), _rows(INGEST_DAILY), run_id="r2")
    with _open(file_store) as catalog:
        assert not [note for note in catalog.notes if "no part has" in note]
        rows = catalog.query("SELECT date, files_unreadable FROM ingest_daily ORDER BY date, files").rows
        assert rows == [
            (DAY, None),
            (DAY, None),
            (DAY + dt.timedelta(days=1), 1),
            (DAY + dt.timedelta(days=1), 2),
        ]


def test_a_column_no_schema_declares_is_kept_last_with_a_note(file_store: Store) -> None:
    newer = _rows(INGEST_DAILY).with_columns(pl.lit("x").alias("future_column"))
    file_store.write_parquet(partition_key(INGEST_DAILY.name, DAY), newer)
    with _open(file_store) as catalog:
        assert any("future_column are not in this version's schema" in note for note in catalog.notes)
        (columns,) = catalog.view_columns().values()
        assert columns[-1] == ("future_column", "VARCHAR")


def test_an_empty_partition_is_a_view_with_no_rows(file_store: Store) -> None:
    publish_partition(file_store, INGEST_DAILY, DAY, _rows(INGEST_DAILY, 0), run_id="r1")
    with _open(file_store) as catalog:
        assert catalog.query("SELECT count(*) FROM ingest_daily").rows == [(0,)]


def test_a_store_with_no_reports_has_no_views_and_says_so(file_store: Store) -> None:
    with _open(file_store) as catalog:
        assert catalog.views == []
        assert f"{len(REPORT_TABLES)} report table(s) are not in this store yet" in catalog.notes[0]
