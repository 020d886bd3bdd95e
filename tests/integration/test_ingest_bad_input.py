"""Every kind of bad input is quarantined with a reason, the run completes, and the row counts add up."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.ingest.quarantine import read_records
from tracewatch.monitoring import build_monitoring_reports
from tracewatch.reports.writer import partition_key, read_manifest
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)
PART = f"traces/date={DAY.isoformat()}"


def parquet_bytes(table: pa.Table | pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table.to_arrow() if isinstance(table, pl.DataFrame) else table, buffer)
    return buffer.getvalue()


def invalid_utf8_table(good: pl.DataFrame) -> pa.Table:
    table = good.to_arrow()
    texts = [t.encode() for t in good.get_column("output_text").to_list()]
    texts[1] = b"caf\xc3 broken \xff"
    offsets = np.cumsum([0, *map(len, texts)]).astype("int64")
    column = pa.Array.from_buffers(
        pa.large_string(), len(texts), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(texts))]
    )
    index = table.schema.get_field_index("output_text")
    return table.set_column(index, pa.field("output_text", pa.large_string()), column)


@pytest.fixture
def planted(store: Store, make_traces: Callable[..., pl.DataFrame]) -> dict[str, int]:
    """Write one good file and one file per kind of bad input; return how many rows each file holds."""
    day = DAY.isoformat()
    good = make_traces(day, 20, prefix="good")
    store.write_bytes(f"{PART}/0-good.parquet", parquet_bytes(good))
    store.write_bytes(f"{PART}/truncated.parquet", parquet_bytes(good)[:300])
    store.write_bytes(f"{PART}/random.parquet", np.random.default_rng(1).bytes(5000))
    store.write_bytes(
        f"{PART}/no-latency.parquet", parquet_bytes(make_traces(day, 4, prefix="nolat").drop("latency_ms"))
    )
    wrong_types = make_traces(day, 5, prefix="types").with_columns(
        pl.Series("input_tokens", ["12", "abc", "7", "8", "9"]), pl.col("latency_ms").cast(pl.Int32)
    )
    store.write_bytes(f"{PART}/wrong-types.parquet", parquet_bytes(wrong_types))
    bad_rows = make_traces(day, 8, prefix="bad").with_columns(
        pl.Series("trace_id", [None, "good-2026-11-01-3", "dup", "dup", "bad-4", "bad-5", "bad-6", "bad-7"]),
        pl.Series("latency_ms", [1.0, 2.0, 3.0, 4.0, -5.0, 6.0, 7.0, 8.0]),
        pl.Series("output_tokens", [1, 2, 3, 4, 5, -6, 7, 8]),
        pl.Series(
            "start_time",
            [dt.datetime(2026, 11, 1, 5, tzinfo=dt.UTC)] * 6
            + [dt.datetime(2026, 10, 31, 23, tzinfo=dt.UTC)] * 2,
        ),
    )
    store.write_bytes(f"{PART}/bad-rows.parquet", parquet_bytes(bad_rows))
    store.write_bytes(
        f"{PART}/bad-utf8.parquet", parquet_bytes(invalid_utf8_table(make_traces(day, 3, prefix="utf")))
    )
    huge = make_traces(day, 2, prefix="huge").with_columns(
        pl.Series("output_text", ["x" * 10_000_000, "fine"])
    )
    store.write_bytes(f"{PART}/huge.parquet", parquet_bytes(huge))
    return {"good": 20, "no-latency": 4, "wrong-types": 5, "bad-rows": 8, "bad-utf8": 3, "huge": 2}


def reasons_by_trace(store: Store) -> dict[str | None, list[str]]:
    records = read_records(store, DAY).filter(pl.col("scope") == "row")
    return {r["trace_id"]: r["reasons"] for r in records.select("trace_id", "reasons").to_dicts()}


def test_every_bad_input_is_quarantined_with_a_reason(store: Store, planted: dict[str, int]) -> None:
    result = ingest_new_traces(store, up_to=DAY)
    by_file = {f.key.rsplit("/", 1)[-1]: f for f in result.files}

    assert by_file["truncated.parquet"].status == "rejected"
    assert "unreadable Parquet file" in (by_file["truncated.parquet"].reason or "")
    assert by_file["random.parquet"].status == "rejected"
    assert by_file["no-latency.parquet"].status == "rejected"
    assert "missing required column(s) latency_ms" in (by_file["no-latency.parquet"].reason or "")
    assert by_file["no-latency.parquet"].rows_read == 4
    assert by_file["0-good.parquet"].status == "accepted"

    reasons = reasons_by_trace(store)
    assert any("input_tokens='abc'" in r for r in reasons["types-2026-11-01-1"])
    assert "types-2026-11-01-0" not in reasons  # int32 latency and numeric strings convert cleanly
    assert any("not valid UTF-8" in r for r in reasons["utf-2026-11-01-1"])
    assert any("output_text" in r for r in reasons["huge-2026-11-01-0"])
    assert any("latency_ms" in r for r in reasons["bad-4"])
    assert any("output_tokens" in r for r in reasons["bad-5"])
    assert any("start_time" in r for r in reasons["bad-6"]) and any(
        "start_time" in r for r in reasons["bad-7"]
    )
    assert any("trace_id" in r for r in reasons[None])
    assert any(
        "duplicate" in r for r in reasons["good-2026-11-01-3"]
    )  # already accepted from 0-good.parquet, read first
    assert len([r for t, r in reasons.items() if t == "dup"]) == 1  # the second "dup" only
    assert all(r for r in reasons.values())


def test_row_counts_add_up_in_the_reports(store: Store, planted: dict[str, int]) -> None:
    result = ingest_new_traces(store, up_to=DAY)
    readable_rows = sum(planted.values())
    assert result.rows_read == readable_rows
    assert result.rows_accepted + result.rows_quarantined == readable_rows

    build_monitoring_reports(store, DAY, run_id="test-run")
    daily = store.read_parquet(partition_key("trace_metrics_daily", DAY))
    accounting = store.read_parquet(partition_key("ingest_daily", DAY)).row(0, named=True)
    accepted = scan_accepted(store, DAY, ("trace_id",))

    assert daily.get_column("trace_count").sum() == result.rows_accepted == accepted.height
    assert accepted.get_column("trace_id").n_unique() == accepted.height
    row_level = result.rows_quarantined - planted["no-latency"]
    assert daily.get_column("quarantined_count").sum() == row_level
    assert accounting["rows_read"] == readable_rows
    assert accounting["rows_accepted"] + accounting["rows_quarantined"] == readable_rows
    assert accounting["files_rejected"] == 3 and accounting["files_unreadable"] == 2
    manifest = read_manifest(store, "trace_metrics_daily", DAY)
    assert manifest is not None and manifest.row_count == daily.height and manifest.run_id == "test-run"


def test_unreadable_files_are_kept_byte_for_byte(store: Store, planted: dict[str, int]) -> None:
    ingest_new_traces(store, up_to=DAY)
    copies = [o.key for o in store.list_objects(f"warehouse/quarantine/date={DAY}/files")]
    assert len(copies) == 3
    original = store.read_bytes(f"{PART}/random.parquet")
    assert any(store.read_bytes(k) == original for k in copies)
