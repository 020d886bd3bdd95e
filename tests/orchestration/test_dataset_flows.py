"""The dataset step of the nightly flow and the hand-started build-dataset flow, under a real Prefect server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
from flows.datasets import build_dataset
from flows.nightly import nightly

from tracewatch.datasets.versions import list_versions
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1 = dt.date(2026, 11, 1)


def test_nightly_samples_the_night_into_a_dataset_version(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store_env.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 30))
    nightly(day=D1)

    versions = list_versions(store_env, "production-samples")
    assert [v.version for v in versions] == [1]
    report = store_env.read_parquet(partition_key("dataset_versions", D1))
    assert report.select("dataset", "version", "created").rows() == [("production-samples", 1, True)]
    items = store_env.read_parquet(partition_key("dataset_items", D1))
    assert items.height == versions[0].added_count > 0

    nightly(day=D1)  # a rerun of the night: same version, nothing added
    assert [v.version for v in list_versions(store_env, "production-samples")] == [1]
    again = store_env.read_parquet(partition_key("dataset_versions", D1))
    assert again.select("version", "created").rows() == [(1, False)]


def test_build_dataset_by_hand_with_filters(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    traces = make_traces(D1.isoformat(), 40)
    store_env.write_parquet(f"traces/date={D1}/a.parquet", traces)
    nightly(day=D1)
    route = traces["route"][0]

    result = build_dataset(name="by-hand", start=D1, end=D1, budget=5, filters={"route": [route]})

    assert result["created"] and result["version"] == 1 and 0 < result["items"] <= 5
    again = build_dataset(name="by-hand", start=D1, end=D1, budget=5, filters={"route": [route]})
    assert not again["created"] and again["version"] == 1
