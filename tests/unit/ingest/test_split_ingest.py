"""Ingest mapped over files: the per-file steps may run anywhere and be retried, and the night comes out the
same as ingested in one pass: the same outcomes, the same accepted rows, quarantine and monitoring tables.

A step retried after its writes (a task retried, or rescheduled when its Dask worker died) writes the same
quarantine objects again, and the ledger (written only by the caller, once per date) counts each row once.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import polars as pl
import pytest

from tracewatch.hash_spill import SCRATCH_PREFIX, HashRows
from tracewatch.ingest import in_threads, ingest_new_traces, load_ledger, scan_accepted
from tracewatch.ingest.file_checks import FileCheck
from tracewatch.ingest.quarantine import read_records
from tracewatch.monitoring import METRIC_REDUCER, day_metric_parts, day_metrics
from tracewatch.monitoring.bounded import BoundedDay, bounded_day_in_memory, bounded_metrics
from tracewatch.monitoring.metrics import (
    METRIC_INPUT_COLUMNS,
    MetricReducer,
    metric_parts,
    metrics_from_parts,
)
from tracewatch.part_map import PartMap, in_process
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)
PART = f"traces/date={DAY.isoformat()}"
T = TypeVar("T")
R = TypeVar("R")


def twice(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
    """Each step run twice, the second result kept: a retry after the first attempt's writes."""
    for item in items:
        step(item)
    return [step(item) for item in items]


def _plant(store: Store, make_traces: Callable[..., pl.DataFrame], seed: int) -> None:
    rng = np.random.default_rng(seed)
    day = DAY.isoformat()
    for i in range(5):
        rows = int(rng.integers(20, 60))
        traces = make_traces(day, rows, prefix=f"f{i}").with_columns(
            pl.Series("latency_ms", rng.lognormal(5, 1, rows)), pl.Series("cost_usd", rng.random(rows))
        )
        if i == 1:  # rows outside the night: quarantined
            traces = traces.with_columns(
                pl.when(pl.int_range(pl.len()) % 7 == 0)
                .then(pl.col("start_time") - dt.timedelta(days=2))
                .otherwise(pl.col("start_time"))
                .alias("start_time")
            )
        if i == 3:  # a few trace ids of file 0 again: duplicates across files
            traces = pl.concat([traces, make_traces(day, 3, prefix="f0")])
        buffer = io.BytesIO()
        traces.write_parquet(buffer)
        store.write_bytes(f"{PART}/{i}.parquet", buffer.getvalue())
    store.write_bytes(f"{PART}/9-broken.parquet", b"not a parquet file")


def _night(store: Store, part_map: PartMap) -> dict[str, pl.DataFrame]:
    """What a night leaves, without what differs between two stores and runs (a local file's version is its
    modification time; run ids and times)."""
    result = ingest_new_traces(store, up_to=DAY, reducer=METRIC_REDUCER, part_map=part_map)
    quarantined = read_records(store, DAY).filter(pl.col("scope") == "row")
    daily, hourly = metrics_from_parts(result.parts[DAY], quarantined)
    return {"daily": daily, "hourly": hourly, **_night_tables(store)}


@pytest.mark.parametrize("part_map", [in_threads, twice], ids=["threads", "retried"])
def test_a_split_ingest_is_the_one_pass_ingest(
    tmp_path_factory: pytest.TempPathFactory, make_traces: Callable[..., pl.DataFrame], part_map: PartMap
) -> None:
    stores = []
    for name in ("one", "split"):
        folder = tmp_path_factory.mktemp(name)
        stores.append(Store(f"file://{folder}"))
        _plant(stores[-1], make_traces, seed=7)
    one, split = _night(stores[0], in_process), _night(stores[1], part_map)

    for table, frame in one.items():
        assert split[table].equals(frame), table
    ledger = one["ledger"]
    assert ledger.get_column("status").to_list() == [
        "accepted",
        "partial",
        "accepted",
        "partial",
        "accepted",
        "rejected",
    ]
    assert int(ledger.get_column("rows_quarantined").sum()) > 3  # the duplicates and the rows of another day


def test_monitoring_parts_from_the_store_file_by_file_are_the_whole_days(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    _plant(file_store, make_traces, seed=11)
    ingested = ingest_new_traces(file_store, up_to=DAY, reducer=METRIC_REDUCER).parts[DAY]
    whole = metric_parts(scan_accepted(file_store, DAY, METRIC_INPUT_COLUMNS))
    quarantined = read_records(file_store, DAY).filter(pl.col("scope") == "row")
    expected = metrics_from_parts(whole, quarantined)

    for parts in (
        ingested,
        day_metric_parts(file_store, DAY),
        day_metric_parts(file_store, DAY, part_map=twice),
    ):
        got = metrics_from_parts(parts, quarantined)
        assert got[0].equals(expected[0]) and got[1].equals(expected[1])
    assert (
        expected[0].get_column("trace_count").sum()
        == load_ledger(file_store).frame.get_column("rows_accepted").sum()
    )


def test_a_date_past_the_values_budget_gets_no_part_and_is_read_back_in_bounded_parts(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """A date of more accepted rows than the reducer's budget: ingest makes no file's part past its share (so
    the date's values never gather in one process), and the date is read back file by file in bounded parts,
    whose tables are the whole day's bounded tables to the bit, however the steps ran."""
    _plant(file_store, make_traces, seed=5)
    budget = 100  # five files of 20-60 rows: past it
    result = ingest_new_traces(file_store, up_to=DAY, reducer=MetricReducer(max_rows=budget))
    assert DAY not in result.parts and result.rows_accepted > budget
    quarantined = read_records(file_store, DAY).filter(pl.col("scope") == "row")
    whole = bounded_metrics(
        bounded_day_in_memory(scan_accepted(file_store, DAY, METRIC_INPUT_COLUMNS)), quarantined
    )
    for part_map in (in_process, in_threads, twice):
        day = day_metrics(file_store, DAY, part_map=part_map, values_max_rows=budget)
        assert isinstance(day, BoundedDay)
        got = bounded_metrics(day, quarantined)
        assert got[0].equals(whole[0]) and got[1].equals(whole[1])
    small = day_metrics(file_store, DAY, values_max_rows=result.rows_accepted)  # at the budget: its values
    assert not isinstance(small, BoundedDay)
    assert metrics_from_parts(small, quarantined)[0].get_column("trace_count").sum() == result.rows_accepted


def test_a_date_within_the_budget_keeps_its_part_only_while_every_file_is_within_its_share(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """Within the budget the date's part comes back; a budget whose share one file exceeds gives none (never a
    part missing a file), and the date read back takes the same way as a kept part would have."""
    _plant(file_store, make_traces, seed=5)
    rows = ingest_new_traces(file_store, up_to=DAY, reprocess=(DAY,), reducer=MetricReducer(max_rows=10_000))
    assert DAY in rows.parts and rows.parts[DAY].rows == rows.rows_accepted
    tight = ingest_new_traces(
        file_store, up_to=DAY, reprocess=(DAY,), reducer=MetricReducer(max_rows=rows.rows_accepted)
    )  # 6 files share it: the largest file is over its sixth
    assert DAY not in tight.parts
    read_back = day_metrics(file_store, DAY, values_max_rows=rows.rows_accepted)
    assert not isinstance(read_back, BoundedDay)
    quarantined = read_records(file_store, DAY).filter(pl.col("scope") == "row")
    assert metrics_from_parts(read_back, quarantined)[0].equals(
        metrics_from_parts(rows.parts[DAY], quarantined)[0]
    )


def test_a_date_past_the_hash_budget_finds_the_same_duplicates_through_the_store(
    tmp_path_factory: pytest.TempPathFactory, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """Hashes past the budget are written sorted to scratch objects and the repeats found a range of the hash
    space at a time: the same quarantine and ledger as the in-memory check, what a check step returns to the
    caller stays within its share, and the scratch is gone afterwards."""
    stores = []
    for name in ("memory", "store"):
        stores.append(Store(f"file://{tmp_path_factory.mktemp(name)}"))
        _plant(stores[-1], make_traces, seed=7)
    returned: list[HashRows] = []

    def watched(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        results = in_process(step, items)
        returned.extend(r.passed_hashes for r in results if isinstance(r, FileCheck))
        return results

    budget = 30  # about 200 rows in 6 files: shares of 5 rows, 7 ranges of the hash space
    in_memory = ingest_new_traces(stores[0], up_to=DAY)
    through_store = ingest_new_traces(stores[1], up_to=DAY, hashes_max_rows=budget, part_map=watched)
    assert len(returned) == 5 and all(h.frame is None or h.frame.height <= budget // 6 for h in returned)
    assert all(h.spilled for h in returned)  # every readable file is over its share here
    for table in ("quarantine", "ledger"):
        assert _night_tables(stores[1])[table].equals(_night_tables(stores[0])[table]), table
    assert through_store.rows_quarantined == in_memory.rows_quarantined
    assert not list(stores[1].list_objects(SCRATCH_PREFIX))


def test_late_files_are_checked_against_the_earlier_ones_through_the_store(
    tmp_path_factory: pytest.TempPathFactory, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """A late file whose ids repeat rows accepted by an earlier ingest (and one of its own): past the budget
    the earlier files' hashes are written by a step per file, and the late file's duplicates are the ones the
    in-memory check finds."""
    stores = []
    for name in ("memory", "store"):
        stores.append(Store(f"file://{tmp_path_factory.mktemp(name)}"))
        _plant(stores[-1], make_traces, seed=9)
        ingest_new_traces(stores[-1], up_to=DAY)
        again = make_traces(DAY.isoformat(), 4, prefix="f2")  # the ids of four rows of file 2
        late = pl.concat([again, make_traces(DAY.isoformat(), 6, prefix="late"), again.head(1)])
        buffer = io.BytesIO()
        late.write_parquet(buffer)
        stores[-1].write_bytes(f"{PART}/7-late.parquet", buffer.getvalue())
    ingest_new_traces(stores[0], up_to=DAY)
    ingest_new_traces(stores[1], up_to=DAY, hashes_max_rows=20)
    flagged = [
        read_records(s, DAY).filter(pl.col("source_key").str.ends_with("7-late.parquet")).sort("row_nr")
        for s in stores
    ]
    assert flagged[0].height == 5  # the four of file 2, and its own first row again
    assert flagged[1].select("row_nr", "reasons").equals(flagged[0].select("row_nr", "reasons"))
    assert not list(stores[1].list_objects(SCRATCH_PREFIX))


def _night_tables(store: Store) -> dict[str, pl.DataFrame]:
    """The quarantine and ledger of a store's night, without what differs between two stores and runs."""
    records = (
        read_records(store, DAY)
        .drop("run_id", "quarantined_at", "source_version")
        .sort("source_key", "row_nr")
    )
    ledger = load_ledger(store).frame.drop("run_id", "ingested_at", "source_version")
    return {"quarantine": records, "ledger": ledger}


def test_a_check_retried_after_its_writes_leaves_one_record_per_file(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    _plant(file_store, make_traces, seed=3)
    ingest_new_traces(file_store, up_to=DAY, part_map=twice)
    keys = [
        o.key
        for o in file_store.list_objects(f"warehouse/quarantine/date={DAY}/")
        if o.key.endswith(".parquet")
    ]
    assert len(keys) == 3  # the partial files 1 and 3 and the broken file: one record each, retries included
