"""Ingest and validation, monitoring parts and drift profiles mapped over files (issue 23) publish what the
single-process night publishes, to the bit, on the local S3 server: every report partition, the stored profiles, the
ledger and the quarantine. The split path's duplicate check runs past its hash budget (the larger files' hashes
through scratch objects on the S3 server), the one-part path's in memory. The split path runs its per-file steps in
worker processes (spawned, so each step and its store must pickle: the store travels as its URL,
`flows.task_runners.PortableStore`, and the worker reopens it with its own environment's credentials) and in
threads; the one-part path is today's: ingest without parts, monitoring from one read of the day, the profile of the
whole day (`build_day_profile`).
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import numpy as np
import polars as pl
import pytest
from flows.task_runners import portable

from devtools.s3server import S3Server
from tests.conftest import canonical_traces, s3_settings
from tracewatch.drift import detect_drift
from tracewatch.drift.features import TEXT_SAMPLE
from tracewatch.drift.profile_parts import profile_from_files
from tracewatch.drift.profile_store import profile_key
from tracewatch.ingest import in_threads, ingest_new_traces, load_ledger
from tracewatch.ingest.quarantine import read_records
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports, day_metric_parts
from tracewatch.part_map import PartMap
from tracewatch.store import Store

DAYS = (dt.date(2026, 11, 1), dt.date(2026, 11, 2))
RUN = "split-test"
T = TypeVar("T")
R = TypeVar("R")


@pytest.fixture(scope="module")
def spawned() -> Iterator[ProcessPoolExecutor]:
    """Two spawned worker processes for the module: nothing reaches them but what pickles. One pool for every
    step (each spawn imports the library, seconds on a busy 2-core machine), as a runner's workers serve many."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(params=["processes", "threads"])
def part_map(request: pytest.FixtureRequest) -> PartMap:
    """Each part in one of the two spawned processes, or in threads (`in_threads`, the flow's own)."""
    if request.param == "threads":
        return in_threads
    pool: ProcessPoolExecutor = request.getfixturevalue("spawned")

    def in_processes(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        return list(pool.map(step, items))

    return in_processes


def _plant(store: Store) -> None:
    """Each night: several files of different sizes (the second night's 6,000+ rows are more than the text
    sample, so the sample spans files), rows of another day, trace ids repeated across files, a broken file."""
    rng = np.random.default_rng(5)
    for d, day in enumerate(DAYS):
        sizes = [40, 900, 30, 2500, 700] if d == 0 else [3100, 1, 1800, 1500]
        for i, rows in enumerate(sizes):
            traces = canonical_traces(day.isoformat(), rows, prefix=f"f{i}").with_columns(
                pl.Series("start_time", rng.integers(0, 86_400_000_000, rows)).cast(pl.Duration("us"))
                + dt.datetime.combine(day, dt.time(), dt.UTC),
                pl.Series("latency_ms", rng.lognormal(5, 1 + d, rows)),
                pl.Series("cost_usd", rng.random(rows) / 100),
                pl.Series(
                    "input_text",
                    [f"{w} item {k % 97}?" for k, w in enumerate(rng.choice(["how", "what", "is"], rows))],
                ),
            )
            if i == 1:
                late = pl.int_range(pl.len()) % 11 == 0
                traces = traces.with_columns(
                    pl.when(late)
                    .then(pl.col("start_time") - dt.timedelta(days=3))
                    .otherwise(pl.col("start_time"))
                )
            if i == 2:
                traces = pl.concat([traces, canonical_traces(day.isoformat(), 5, prefix="f0")])
            buffer = io.BytesIO()
            traces.write_parquet(buffer)
            store.write_bytes(f"traces/date={day}/{i}.parquet", buffer.getvalue())
        store.write_bytes(f"traces/date={day}/9-broken.parquet", b"PAR1 not parquet")


def _one_part_night(store: Store, day: dt.date) -> None:
    ingest_new_traces(store, up_to=day, run_id=RUN)
    build_monitoring_reports(store, day, run_id=RUN)
    detect_drift(store, day, run_id=RUN)


def _split_night(store: Store, day: dt.date, part_map: PartMap) -> None:
    # a hash budget the larger files are over their share of: their hashes go through the store (`duplicates`)
    result = ingest_new_traces(
        store, up_to=day, run_id=RUN, reducer=METRIC_REDUCER, part_map=part_map, hashes_max_rows=1_000
    )
    # the first night's monitoring from ingest's parts, the second's read back from the store file by file
    parts = result.parts.pop(day) if day == DAYS[0] else day_metric_parts(store, day, part_map=part_map)
    build_monitoring_reports(store, day, run_id=RUN, parts=parts)
    detect_drift(store, day, run_id=RUN, profile=profile_from_files(store, day, part_map=part_map))


def _left(store: Store) -> dict[str, pl.DataFrame]:
    """Every report partition and profile (by key), the ledger and the quarantine, without write times."""
    keys = [o.key for o in store.list_objects("reports/", suffix=".parquet")]
    out = {key: store.read_parquet(key) for key in keys}
    out |= {profile_key(day): store.read_parquet(profile_key(day)) for day in DAYS}
    out["ledger"] = load_ledger(store).frame.drop("ingested_at")
    out |= {
        f"quarantine {day}": read_records(store, day).drop("quarantined_at").sort("source_key", "row_nr")
        for day in DAYS
    }
    return out


def test_the_split_stages_publish_what_the_one_part_night_publishes(
    s3_server: S3Server, store_env: Store, part_map: PartMap
) -> None:
    one = Store.from_settings(s3_settings(s3_server, f"t-{uuid.uuid4().hex[:12]}"))
    split = portable(store_env)  # the environment holds the credentials the worker processes reopen it with
    for store in (one, split):
        _plant(store)
    for day in DAYS:
        _one_part_night(one, day)
        _split_night(split, day, part_map)

    expected, got = _left(one), _left(split)
    assert sorted(got) == sorted(expected)
    assert len([k for k in expected if k.startswith("reports/")]) >= 12
    for key, frame in expected.items():
        assert got[key].equals(frame), key
    ledger = expected["ledger"]
    assert ledger.get_column("status").to_list().count("partial") == 4
    second = ledger.filter(pl.col("date") == DAYS[1]).get_column("rows_accepted").sum()
    assert second > TEXT_SAMPLE  # the second night's text sample is drawn across its files
