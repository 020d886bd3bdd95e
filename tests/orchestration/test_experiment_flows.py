"""Experiments under a real Prefect server: the nightly flow's experiment step on the newest dataset version,
and the hand-started experiment flow (rerun, retry of failures, configuration errors), against the local test
model server over real HTTP and the real S3 store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from uuid import UUID

import polars as pl
import pytest
from flows.experiments import run_experiment_flow
from flows.nightly import nightly
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.client.schemas.objects import Artifact
from prefect.client.schemas.sorting import ArtifactSort

from devtools.model_server import (
    Faults,
    ModelServer,
    start_model_server,
    stop_model_server,
)
from tracewatch.datasets.versions import read_version
from tracewatch.errors import ConfigError
from tracewatch.experiments import read_experiment_items, read_record
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1 = dt.date(2026, 11, 1)
D2 = dt.date(2026, 11, 2)
DATASET = "production-samples"


def echo_experiment(server: ModelServer, *, prompt: str = "{input}") -> dict[str, Any]:
    """Two configs on the test server, as an experiment file would give them (the flow's UI form too)."""
    return {
        "name": "echo",
        "defaults": {
            "model": "openai/tracewatch-echo",
            "api_base": server.base_url,
            "prompt": prompt,
            "timeout_s": 5,
            "cost_per_1k_input": 0.001,
            "cost_per_1k_output": 0.002,
        },
        "configs": [
            {"name": "cold", "params": {"temperature": 0.0, "seed": 1}},
            {"name": "warm", "params": {"temperature": 0.5}},
        ],
    }


def night(store: Store, make_traces: Callable[..., pl.DataFrame], day: dt.date, tag: str) -> None:
    """`day`'s traces, with questions of their own (so that each night adds new dataset items)."""
    traces = make_traces(day.isoformat(), 30).with_columns(
        pl.format("{} {}", pl.lit(tag), pl.col("input_text"))
    )
    store.write_parquet(f"traces/date={day}/a.parquet", traces)


def test_the_nightly_flow_runs_the_experiment_on_the_newest_version_and_asks_only_new_items(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], server: ModelServer
) -> None:
    experiment = echo_experiment(server)
    night(store_env, make_traces, D1, "monday")
    nightly(day=D1, experiments=[experiment])

    first = read_version(store_env, DATASET, 1)
    record = read_record(store_env, f"echo-{DATASET}-v1")
    assert record is not None and record.finished_at is not None
    assert record.counts == {"ok": 2 * first.height, "error": 0, "skipped_budget": 0, "missing": 0}
    assert server.stats().requests == 2 * first.height

    night(store_env, make_traces, D2, "tuesday")
    server.reset()
    nightly(day=D2, experiments=[experiment])

    second = read_version(store_env, DATASET, 2)
    new_items = second.height - first.height
    assert new_items > 0
    rows = read_experiment_items(store_env, f"echo-{DATASET}-v2")
    assert rows.height == 2 * second.height and set(rows["status"]) == {"ok"}
    # Last night's items come from the response cache: only the new ones were asked.
    assert server.stats().requests == 2 * new_items
    assert rows.filter(pl.col("cached")).height == 2 * first.height
    assert set(rows["dataset_version"]) == {2}


def test_a_rerun_by_hand_skips_what_is_done_and_retry_failed_reruns_only_the_errors(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], server: ModelServer
) -> None:
    night(store_env, make_traces, D1, "monday")
    nightly(day=D1, experiments=[])
    items = read_version(store_env, DATASET).height
    experiment = echo_experiment(server)
    server.configure(faults=Faults(rates={"empty_content": 0.5}, keyed=True))

    failed = run_experiment_flow(
        experiment=experiment, dataset=DATASET, experiment_id="by-hand", chunk_size=4, max_attempts=1
    )

    errors = failed.counts["error"]
    assert 0 < errors < 2 * items and failed.counts["ok"] + errors == 2 * items
    rows = read_experiment_items(store_env, "by-hand")
    assert rows.filter(pl.col("status") == "error")["error"].str.contains("empty response").all()

    server.reset(config=True)
    retried = run_experiment_flow(
        experiment=experiment, dataset=DATASET, experiment_id="by-hand", mode="retry_failed"
    )
    assert retried.counts == {"ok": 2 * items, "error": 0, "skipped_budget": 0, "missing": 0}
    assert server.stats().requests == retried.calls == errors  # only the errors were asked again
    again = run_experiment_flow(experiment=experiment, dataset=DATASET, experiment_id="by-hand")
    assert again.calls == 0 and server.stats().requests == errors  # a rerun skips what is done


def test_a_template_field_the_items_lack_stops_the_flow_before_any_call(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], server: ModelServer
) -> None:
    night(store_env, make_traces, D1, "monday")
    nightly(day=D1, experiments=[])
    experiment = echo_experiment(server, prompt="{input} ({metadata.customer_tier})")

    with pytest.raises(ConfigError, match=r"metadata.customer_tier.*available fields: \{input\}"):
        run_experiment_flow(experiment=experiment, dataset=DATASET)
    with pytest.raises(
        ConfigError, match=r"there is no dataset 'nope' in .*; the datasets there: production-samples"
    ):
        run_experiment_flow(experiment=echo_experiment(server), dataset="nope")
    assert server.stats().requests == 0


def latest_artifact(key: str, flow_run_id: UUID | None = None) -> Artifact:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]) if flow_run_id else None,
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    assert found, key
    return found[0]


def test_the_night_leaves_a_summary_with_links_and_a_leaderboard_per_experiment(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], server: ModelServer
) -> None:
    night(store_env, make_traces, D1, "monday")
    state = nightly(day=D1, experiments=[echo_experiment(server)], return_state=True)
    assert state.is_completed()

    summary = str(latest_artifact("nightly-summary", state.state_details.flow_run_id).data)
    items = read_version(store_env, DATASET, 1).height
    assert "**30 traces ingested**, **0 quarantined**" in summary
    assert f"## New dataset items\n\ndataset '{DATASET}' version 1: {items} new item(s)" in summary
    assert f"experiment echo-{DATASET}-v1: 2 configs x {items} items" in summary
    daily = partition_key("trace_metrics_daily", D1)
    assert f"| [trace_metrics_daily]({store_env.uri(daily)}) | {D1} |" in summary
    docs = store_env.uri(f"warehouse/data_docs/date={D1}/")
    assert f"- {D1}: [Great Expectations Data Docs]({docs}" in summary

    board = latest_artifact(f"leaderboard-echo-{DATASET}-v1")
    rows = json.loads(str(board.data))
    assert [(r["config"], r["baseline"], r["ok"], r["error"]) for r in rows] == [
        ("cold", True, items, 0),  # the first config is the baseline unless one is named
        ("warm", False, items, 0),
    ]
    answers = read_experiment_items(store_env, f"echo-{DATASET}-v1")
    cold = answers.filter(pl.col("config_name") == "cold")
    assert rows[0]["cost_usd"] == pytest.approx(cold["cost_usd"].sum()) and rows[0]["cost_usd"] > 0
    assert rows[0]["mean_latency_ms"] == pytest.approx(cold["latency_ms"].mean(), abs=0.1)


def test_a_night_whose_experiment_is_refused_fails_with_the_reason_after_the_rest_of_the_night(
    store_env: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    locked = start_model_server(api_key="sk-test-" + "k" * 24)  # the client sends a placeholder key: 401
    try:
        experiment = echo_experiment(locked)
        night(store_env, make_traces, D1, "monday")
        with pytest.raises(
            ConfigError, match=r"stopped after 5 consecutive authentication errors \(HTTP 401\)"
        ):
            nightly(day=D1, experiments=[experiment])
        assert locked.stats().requests == 2 * 5  # each config stopped calling after its fifth refusal
    finally:
        stop_model_server(locked)
    record = read_record(store_env, f"echo-{DATASET}-v1")
    assert (
        record is not None and record.counts["ok"] == 0 and record.counts["missing"] == 0
    )  # all accounted for
    assert store_env.exists(partition_key("drift", D1))  # the rest of the night ran and published
