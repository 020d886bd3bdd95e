"""The nightly flow under a real Prefect server rebuilds the days whose late feedback arrived, and its summary
says which days and why."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import polars as pl
from flows.nightly import nightly
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from tracewatch.ingest import FEEDBACK_EVENT_SCHEMA
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def newest_summary() -> str:
    async def read() -> str:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["nightly-summary"])),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
        return str(found[0].data)

    return asyncio.run(read())


def test_the_next_night_rebuilds_the_day_whose_feedback_arrived_late(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store_env.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 6))
    nightly(day=D1)
    before = store_env.read_parquet(partition_key("trace_metrics_daily", D1))
    assert "rating" not in before.explode("feedback").unnest("feedback")["name"].to_list()

    store_env.write_parquet(f"traces/date={D2}/a.parquet", make_traces(D2.isoformat(), 6))
    late = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    events = [(f"t-{D1}-{i}", "rating", 5.0, "annotator", late) for i in range(3)]
    store_env.write_parquet(
        f"feedback/date={D2}/reviews.parquet",
        pl.DataFrame(events, schema=FEEDBACK_EVENT_SCHEMA, orient="row"),
    )
    published = nightly(day=D2)

    assert {("trace_metrics_daily", D1.isoformat()), ("drift", D1.isoformat())} <= {
        (p.table, p.date) for p in published
    }
    after = (
        store_env.read_parquet(partition_key("trace_metrics_daily", D1))
        .explode("feedback")
        .unnest("feedback")
    )
    assert after.filter(pl.col("name") == "rating")["count"].sum() == 3
    summary = newest_summary()
    assert "Late feedback" in summary
    assert "2026-11-01: rebuilt: 3 late feedback event(s) attached (rating 3)" in summary
