"""A second backfill over the demo's days leaves the same report partitions: the same tables and dates, the
same rows, byte for byte once the columns that describe the run rather than the data are set aside.

The test covers a few demo days (with a planted bad file and malformed rows, PII, drift from the second day,
and an experiment on the local test model server); `backfill_twice` is what was run by hand over all 14.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
from flows.nightly import backfill
from flows.params import ExperimentChoice

from devtools.model_server import ModelServer
from tracewatch.store import Store
from tracewatch.traces import DriftSpec, write_demo_traces

START = dt.date(2026, 10, 1)
RUN_COLUMNS = ("run_id", "created")
"""What describes the run that wrote a partition, not the data: its id, and whether this run made the night's
dataset version (a rerun finds the version the first run made: `created` is false)."""
RUN_FIELDS = ("run_id", "written_at")
"""The same, in a partition's manifest."""


def report_snapshot(store: Store) -> dict[str, Any]:
    """Every report partition's rows without the run columns, and every manifest without the run fields (the
    dashboard under reports/_site/ is a page built from them, with its build time: not a report)."""
    snapshot: dict[str, Any] = {}
    for info in store.list_objects("reports"):
        if info.key.startswith("reports/_site/"):
            continue
        if info.key.endswith(".parquet"):
            frame = store.read_parquet(info.key)
            snapshot[info.key] = (frame.schema, frame.drop([c for c in RUN_COLUMNS if c in frame.columns]))
        else:
            manifest = store.read_json(info.key)
            snapshot[info.key] = {k: v for k, v in manifest.items() if k not in RUN_FIELDS}
    return snapshot


def assert_same_reports(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert sorted(second) == sorted(first)
    for key, value in first.items():
        if isinstance(value, tuple):
            (schema, frame), (schema_again, frame_again) = value, second[key]
            assert schema_again == schema, key
            assert frame_again.equals(frame, null_equal=True), key
        else:
            assert second[key] == value, key


def backfill_twice(
    store: Store,
    days: int,
    traces_per_day: int,
    experiments: list[dict[str, Any]],
    between: Callable[[], None],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write `days` demo days from START, backfill them twice (calling `between` in between); the report
    snapshots after each."""
    write_demo_traces(
        store, start=START, days=days, traces_per_day=traces_per_day, seed=7, drift=DriftSpec(from_day=2)
    )
    end = START + dt.timedelta(days=days - 1)
    choices = [ExperimentChoice.model_validate(e) for e in experiments]
    backfill(start=START, end=end, experiments=choices)
    first = report_snapshot(store)
    between()
    backfill(start=START, end=end, experiments=choices)
    return first, report_snapshot(store)


def test_a_second_backfill_leaves_the_same_report_partitions(
    file_store_env: Store, server: ModelServer
) -> None:
    store = file_store_env
    echo = {
        "name": "echo",
        "defaults": {"model": "openai/tracewatch-echo", "api_base": server.base_url, "prompt": "{input}"},
        "configs": [{"name": "cold", "params": {"temperature": 0.0}}],
    }
    asked: list[int] = []

    first, second = backfill_twice(
        store,
        days=3,
        traces_per_day=150,
        experiments=[echo],
        between=lambda: asked.append(server.stats().requests),
    )

    tables = {key.split("/")[1] for key in first if key.endswith(".parquet")}
    assert {"trace_metrics_daily", "trace_metrics_hourly", "ingest_daily", "dataset_versions"} <= tables
    assert_same_reports(first, second)
    ingest = pl.concat(frame for key, (_, frame) in _frames(first) if "/ingest_daily/" in key)
    assert ingest.height == 3 and ingest["rows_quarantined"].sum() > 0  # the planted bad rows took part
    # The rerun resumed each night's experiment (on that night's version): no item was asked again.
    assert asked[0] > 0 and server.stats().requests == asked[0]


def _frames(snapshot: dict[str, Any]) -> list[tuple[str, tuple[pl.Schema, pl.DataFrame]]]:
    return [(k, v) for k, v in snapshot.items() if isinstance(v, tuple)]
