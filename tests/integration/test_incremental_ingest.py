"""The ledger is a watermark: nothing is read twice, late files are picked up, reprocessing is explicit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from tracewatch.hashing import stable_hash64
from tracewatch.ingest import (
    duplicates,
    file_checks,
    ingest_new_traces,
    load_ledger,
    quarantine,
    scan_accepted,
)
from tracewatch.ingest.duplicates import HASHES_MAX_ROWS
from tracewatch.ingest.file_checks import ID_HASH, ids_of_rows
from tracewatch.ingest.quarantine import read_records
from tracewatch.store import Store
from tracewatch.traces import ROW_NR

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def write(store: Store, day: dt.date, name: str, frame: pl.DataFrame) -> None:
    store.write_parquet(f"traces/date={day.isoformat()}/{name}.parquet", frame)


def test_second_run_reads_nothing_new(store: Store, make_traces: Callable[..., pl.DataFrame]) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 10))
    first = ingest_new_traces(store, up_to=D1)
    second = ingest_new_traces(store, up_to=D1)
    assert first.rows_read == 10 and first.dates_touched == [D1]
    assert second.files == [] and second.dates_touched == []


def test_up_to_leaves_later_dates_for_later_nights(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 5))
    write(store, D2, "a", make_traces(D2.isoformat(), 7))
    assert ingest_new_traces(store, up_to=D1).dates_touched == [D1]
    assert ingest_new_traces(store, up_to=D2).dates_touched == [D2]


def test_late_file_in_an_old_partition_is_picked_up(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="a"))
    write(store, D2, "a", make_traces(D2.isoformat(), 5, prefix="a"))
    ingest_new_traces(store, up_to=D2)
    write(store, D1, "late", make_traces(D1.isoformat(), 3, prefix="late"))
    result = ingest_new_traces(store, up_to=D2)
    assert result.dates_touched == [D1] and result.rows_accepted == 3
    assert scan_accepted(store, D1, ("trace_id",)).height == 8


def test_reprocess_is_explicit_and_does_not_duplicate(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 6))
    ingest_new_traces(store, up_to=D1)
    again = ingest_new_traces(store, up_to=D1, reprocess=(D1,))
    assert again.rows_accepted == 6 and again.rows_quarantined == 0
    ledger = load_ledger(store).for_date(D1)
    assert ledger.height == 1
    assert scan_accepted(store, D1, ("trace_id",)).height == 6


def test_reprocessing_a_date_with_quarantined_rows_replaces_its_records(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    bad = make_traces(D1.isoformat(), 6).with_columns(
        latency_ms=pl.when(pl.int_range(pl.len()) == 2).then(-5.0).otherwise("latency_ms")
    )
    write(store, D1, "a", bad)
    ingest_new_traces(store, up_to=D1)
    assert read_records(store, D1).filter(pl.col("scope") == "row").height == 1

    write(store, D1, "a", make_traces(D1.isoformat(), 6))  # the source fixed the row
    again = ingest_new_traces(store, up_to=D1, reprocess=(D1,))
    assert again.rows_accepted == 6 and again.rows_quarantined == 0
    assert read_records(store, D1).height == 0  # the old record is gone with the old run
    assert scan_accepted(store, D1, ("trace_id",)).height == 6

    write(store, D1, "a", bad)  # and back: reprocessed again, one record, not two
    ingest_new_traces(store, up_to=D1, reprocess=(D1,))
    assert read_records(store, D1).filter(pl.col("scope") == "row").height == 1
    assert scan_accepted(store, D1, ("trace_id",)).height == 5


def test_a_date_that_quarantined_nothing_is_read_without_listing_the_quarantine(
    store: Store, make_traces: Callable[..., pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger counts each file's quarantined rows; only a date with some needs the records."""
    write(store, D1, "a", make_traces(D1.isoformat(), 4, prefix="a"))
    bad = make_traces(D2.isoformat(), 4, prefix="b").with_columns(
        latency_ms=pl.when(pl.int_range(pl.len()) == 1).then(-5.0).otherwise("latency_ms")
    )
    write(store, D2, "b", bad)
    ingest_new_traces(store, up_to=D2)
    read_dates: list[dt.date] = []

    def recording(store: Store, day: dt.date, columns: list[str] | None = None) -> pl.DataFrame:
        read_dates.append(day)
        return read_records(store, day, columns)

    monkeypatch.setattr(quarantine, "read_records", recording)
    assert scan_accepted(store, D1, ("trace_id",)).height == 4
    assert scan_accepted(store, D2, ("trace_id",)).height == 3
    assert read_dates == [D2]


def test_rewritten_file_is_ingested_again(store: Store, make_traces: Callable[..., pl.DataFrame]) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 4))
    ingest_new_traces(store, up_to=D1)
    write(store, D1, "a", make_traces(D1.isoformat(), 9, prefix="v2"))
    result = ingest_new_traces(store, up_to=D1)
    assert result.rows_read == 9
    assert scan_accepted(store, D1, ("trace_id",)).height == 9


def test_accepted_rows_read_in_one_scan_leave_out_the_quarantined_rows_of_each_file(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="a"))
    write(
        store, D1, "b", _with_id(make_traces(D1.isoformat(), 5, prefix="b"), 3, f"a-{D1.isoformat()}-1")
    )  # its row 3 repeats an id of file a: quarantined as a duplicate
    ingest_new_traces(store, up_to=D1)

    together = scan_accepted(store, D1, ("trace_id", "input_text"))
    file_by_file = scan_accepted(store, D1, ("trace_id", "input_text"), max_rows_per_file=10**9)
    assert together.height == 9 and together.equals(file_by_file)
    assert together.get_column("trace_id").n_unique() == 9
    assert f"b-{D1.isoformat()}-3" not in together.get_column("trace_id").to_list()


def test_a_sample_drawn_file_by_file_holds_only_its_own_texts(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """Data Docs' sample of a 100-file day keeps ~100 rows per file: those rows must not keep their whole
    files' texts alive (at 10,000,000 traces that held ~500 MB in the flow's process)."""
    long_texts = make_traces(D1.isoformat(), 2_000).with_columns(
        input_text=pl.lit("x" * 2_000) + pl.col("trace_id")
    )
    write(store, D1, "a", long_texts)
    ingest_new_traces(store, up_to=D1)

    sample = scan_accepted(store, D1, ("trace_id", "input_text"), max_rows_per_file=10)
    assert sample.height == 10 and sample.get_column("trace_id").is_in(long_texts["trace_id"].to_list()).all()
    texts = sample.to_arrow(compat_level=pl.CompatLevel.newest()).column("input_text").combine_chunks()
    assert sum(b.size for b in texts.buffers() if b is not None) < 100_000  # 10 texts of 2 kB, not 2,000


@pytest.mark.parametrize("hashes_max_rows", [HASHES_MAX_ROWS, 4], ids=["in-memory", "through-the-store"])
def test_ids_whose_hashes_collide_are_compared_exactly(
    store: Store,
    make_traces: Callable[..., pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    hashes_max_rows: int,
) -> None:
    """The duplicate check across files compares hashes, then the ids of the rows whose hash repeats: with a hash
    under which every id of one length collides, only the one true duplicate is quarantined, whether the hashes
    are held in memory or go through the store; a later file repeating an earlier ingest's id likewise."""

    def by_length(values: pl.Series, *, key: int = 0) -> np.ndarray:
        return values.str.len_bytes().cast(pl.UInt64).to_numpy()

    monkeypatch.setattr(duplicates, "stable_hash64", by_length)
    monkeypatch.setattr(file_checks, "stable_hash64", by_length)
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="a"))
    repeated = make_traces(D1.isoformat(), 5, prefix="b").with_columns(
        trace_id=pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.lit(f"a-{D1.isoformat()}-1"))
        .otherwise("trace_id")
    )
    write(store, D1, "b", repeated)
    result = ingest_new_traces(store, up_to=D1, hashes_max_rows=hashes_max_rows)
    assert result.rows_read == 10 and result.rows_quarantined == 1
    assert scan_accepted(store, D1, ("trace_id",)).height == 9
    write(store, D1, "c", _with_id(make_traces(D1.isoformat(), 3, prefix="c"), 2, f"b-{D1.isoformat()}-0"))
    result = ingest_new_traces(store, up_to=D1, hashes_max_rows=hashes_max_rows)
    assert result.rows_read == 3 and result.rows_quarantined == 1
    assert scan_accepted(store, D1, ("trace_id",)).height == 11


def _with_id(traces: pl.DataFrame, row: int, trace_id: str) -> pl.DataFrame:
    """`traces` with the trace id of one row replaced (a duplicate of another file's)."""
    return traces.with_columns(
        trace_id=pl.when(pl.int_range(pl.len()) == row).then(pl.lit(trace_id)).otherwise("trace_id")
    )


def test_a_file_that_changed_since_its_check_stops_the_exact_comparison(
    store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="a"))
    (obj,) = store.list_objects(f"traces/date={D1.isoformat()}/", ".parquet")
    checked = make_traces(D1.isoformat(), 5, prefix="a").with_row_index(ROW_NR).cast({ROW_NR: pl.Int64})
    rows = checked.select(ROW_NR, pl.Series(ID_HASH, stable_hash64(checked["trace_id"]), pl.UInt64))
    assert ids_of_rows(store, obj, rows)["trace_id"].to_list() == checked["trace_id"].to_list()
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="other"))  # rewritten during the ingest
    with pytest.raises(RuntimeError, match="changed during the ingest"):
        ids_of_rows(store, obj, rows)


def test_only_files_in_date_partitions_are_ingested(
    store: Store, make_traces: Callable[..., pl.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    """The dates come from the keys of one listing of traces/: anything outside a date=YYYY-MM-DD partition,
    or after `up_to`, is left alone; files in sub-folders of a date are that date's."""
    write(store, D1, "a", make_traces(D1.isoformat(), 5, prefix="a"))
    write(store, D1, "sub/b", make_traces(D1.isoformat(), 4, prefix="b"))
    write(store, D2, "a", make_traces(D2.isoformat(), 3, prefix="later"))
    for key in ("traces/loose.parquet", "traces/region=eu/c.parquet", "traces/date=yesterday/d.parquet"):
        store.write_parquet(key, make_traces(D1.isoformat(), 2, prefix="odd"))
    with caplog.at_level("WARNING", logger="tracewatch.ingest.run"):
        result = ingest_new_traces(store, up_to=D1)
    assert sorted(f.key for f in result.files) == [
        f"traces/date={D1}/a.parquet",
        f"traces/date={D1}/sub/b.parquet",
    ]
    assert result.rows_accepted == 9
    assert "traces/date=yesterday: not a YYYY-MM-DD date" in caplog.text
    assert [f.key for f in ingest_new_traces(store, up_to=D2).files] == [f"traces/date={D2}/a.parquet"]
