"""The nightly and backfill flows under a real Prefect server, on the real local S3 server."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest
from flows.common import RETRIES, transient
from flows.datasets import build_version
from flows.experiments import finish, prepare_experiment
from flows.nightly import backfill, data_docs, ingest, monitoring_reports, nightly
from flows.task_runners import run_part
from prefect import flow, get_client, task
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort
from prefect.events.worker import EventsWorker

from tracewatch.errors import ConfigError, DataContractError, StoreError
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1, D2, D3 = dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)


def test_nightly_publishes_reports_for_the_date(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store_env.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 15))
    published = nightly(day=D1)
    assert {(p.table, p.date) for p in published} >= {("trace_metrics_daily", "2026-11-01")}
    daily = store_env.read_parquet(partition_key("trace_metrics_daily", D1))
    assert daily.get_column("trace_count").sum() == 15
    assert store_env.list_objects(f"warehouse/data_docs/date={D1}")  # Data Docs were published


def test_backfill_is_idempotent(store_env: Store, make_traces: Callable[..., pl.DataFrame]) -> None:
    for day in (D1, D2, D3):
        store_env.write_parquet(f"traces/date={day}/a.parquet", make_traces(day.isoformat(), 8))
    backfill(start=D1, end=D3)
    first = {day: store_env.read_parquet(partition_key("trace_metrics_hourly", day)) for day in (D1, D2, D3)}
    backfill(start=D1, end=D3, reprocess=True)
    for day in (D1, D2, D3):
        again = store_env.read_parquet(partition_key("trace_metrics_hourly", day))
        assert again.drop("run_id").equals(first[day].drop("run_id"))


def test_wrong_credentials_stop_the_run_naming_the_setting(
    store_env: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StoreError, match="AWS_SECRET_ACCESS_KEY"):
        nightly(day=D1)


def test_wrong_store_url_stops_the_run_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEWATCH_STORE", "ftp://example/traces")
    with pytest.raises(Exception, match="TRACEWATCH_STORE"):
        nightly(day=D1)


def test_a_rebaseline_after_the_night_stops_the_run_before_any_work(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store_env.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 5))
    with pytest.raises(ConfigError, match=f"rebaseline_from={D2} is after the night {D1}"):
        nightly(day=D1, rebaseline_from=D2)
    assert not store_env.list_objects("warehouse")  # nothing ingested, nothing published, no lease taken


@pytest.mark.parametrize(
    ("error", "attempts"),
    [(OSError("connection reset"), 3), (ConfigError("bad"), 1), (DataContractError("x"), 1)],
)
def test_only_what_may_heal_is_retried(error: Exception, attempts: int) -> None:
    calls: list[int] = []

    @task(retries=RETRIES, retry_delay_seconds=0, retry_condition_fn=transient)
    def failing() -> None:
        calls.append(1)
        raise error

    @flow
    def run() -> None:
        failing()

    with pytest.raises(type(error)):
        run()
    assert len(calls) == attempts


def test_the_stage_tasks_retry_transient_failures() -> None:
    for stage in (
        ingest,
        monitoring_reports,
        run_part,  # each file's part of a split stage (ingest checks, dataset shortlists, profiles)
        data_docs,
        build_version,
        prepare_experiment,
        finish,
    ):
        assert (stage.retries, stage.retry_condition_fn) == (RETRIES, transient), stage.name


def test_a_drifted_night_emits_one_event_per_alert_and_lists_them_in_artifacts(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], asserting_events_worker: EventsWorker
) -> None:
    for day in (D1, D2, D3):
        traces = make_traces(day.isoformat(), 40)
        if day == D3:  # a latency regression on the third night
            traces = traces.with_columns(pl.col("latency_ms") * 3)
        store_env.write_parquet(f"traces/date={day}/a.parquet", traces)
    # Two reference days of 40 traces are enough for this test; the defaults would still be warming up.
    backfill(start=D1, end=D3, drift={"min_reference_days": 2, "min_reference_rows": 50})
    asserting_events_worker.drain()
    events = [e for e in asserting_events_worker._client.events if e.event.startswith("tracewatch.")]
    drift = store_env.read_parquet(partition_key("drift", D3))
    alerted = drift.filter(pl.col("alert") & (pl.col("role") == "test"))["feature"].to_list()
    assert "latency_ms" in alerted
    emitted = {e.resource.id for e in events if e.event == "tracewatch.drift.detected"}
    assert emitted == {f"tracewatch.feature.{feature}" for feature in alerted}  # only what paged
    latency = next(e for e in events if e.resource.id == "tracewatch.feature.latency_ms")
    assert latency.payload["day"] == D3.isoformat() and latency.payload["method"]

    async def artifacts() -> dict[str, str]:
        keys = ["nightly-drift", "nightly-alerts"]
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys)),
                sort=ArtifactSort.CREATED_DESC,
            )
        newest: dict[str, str] = {}
        for artifact in found:  # newest first: other tests of the session published these keys too
            newest.setdefault(str(artifact.key), str(artifact.data))
        return newest

    latest = asyncio.run(artifacts())
    assert "latency_ms" in latest["nightly-drift"] and "latency_ms" in latest["nightly-alerts"]
    # The production traces were scored every night, with the shipped heuristics.
    assert set(store_env.read_parquet(partition_key("trace_quality", D3))["scorer"]) == {
        "refusal",
        "length",
        "latency",
        "cost",
    }
