"""Data health's top quarantine reasons: `quarantine_daily` as the monitoring step computes it from the
quarantine records, and the chart drawing exactly the per-day reason rows of the table under it."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from dashboard_reports import DAY, day, publish

from tracewatch.dashboard import load_reports
from tracewatch.dashboard._charts import MAX_COLOURS, OTHER
from tracewatch.dashboard._health import reasons_chart, top_reasons
from tracewatch.monitoring.report import quarantine_reasons
from tracewatch.store import Store


def _records(rows: list[tuple[str, list[str], int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"scope": pl.String, "reasons": pl.List(pl.String), "file_rows": pl.Int64},
        orient="row",
    )


def test_each_reason_counts_its_rows_and_whole_files_their_rows_or_unknown() -> None:
    records = _records(
        [
            ("row", ["latency_ms must be >= 0: latency_ms=-1.0 [lat]", "trace_id null"], None),
            ("row", ["latency_ms must be >= 0: latency_ms=-7.5 [lat]"], None),
            ("file", ["missing column model"], 40),
            ("file", ["missing column model"], 2),
            ("file", ["not a Parquet file"], None),
        ]
    )
    assert quarantine_reasons(records).rows() == [
        ("file", "missing column model", 42, 2),
        ("row", "latency_ms must be >= 0 [lat]", 2, 0),  # one reason per rule, whatever the values
        ("row", "trace_id null", 1, 0),
        ("file", "not a Parquet file", None, 1),  # unreadable: its rows are unknown, not 0
    ]
    assert quarantine_reasons(records.clear()).height == 0


def test_the_chart_draws_the_top_reasons_per_day_and_sums_the_rest_as_other(file_store: Store) -> None:
    many = [{"reason": f"rule {i:02d}", "scope": "row", "rows": 100 - i, "files": 0} for i in range(9)]
    publish(file_store, "quarantine_daily", DAY, many)
    publish(
        file_store,
        "quarantine_daily",
        day(1),
        [
            {"reason": "rule 00", "scope": "row", "rows": 5, "files": 0},
            {"reason": "no columns", "scope": "file", "rows": None, "files": 1},
        ],
    )
    read = load_reports(file_store, DAY, day(1), ["quarantine_daily"]).table("quarantine_daily")
    found = reasons_chart(read.frame, read.why_empty(), (DAY, day(1)))

    per_day, names = top_reasons(read.frame)
    assert names == [*(f"rule {i:02d}" for i in range(MAX_COLOURS)), OTHER]
    assert found.table is not None
    assert found.table.equals(per_day)
    assert found.table.filter(pl.col("reason") == OTHER).select("date", "rows").rows() == [(DAY, 93 + 92)]
    assert found.table.filter(pl.col("date") == day(1)).select("reason", "rows").rows() == [("rule 00", 5)]
    assert found.spec is not None
    spec: dict[str, Any] = json.loads(json.dumps(found.spec))
    drawn = spec["datasets"][spec["data"]["name"]]
    assert drawn == [
        {**row, "date": row["date"].isoformat()} for row in found.table.to_dicts()
    ]  # the chart draws the table's rows
    assert found.marks == MAX_COLOURS + 1 + 1
    assert found.note is not None and "1 file reason(s) had no countable rows" in found.note


def test_a_store_without_the_table_says_so(file_store: Store) -> None:
    read = load_reports(file_store, DAY, DAY, ["quarantine_daily"]).table("quarantine_daily")
    found = reasons_chart(read.frame, read.why_empty(), (DAY, DAY))
    assert found.spec is None and found.empty is not None
    assert "No `quarantine_daily` report" in found.empty
