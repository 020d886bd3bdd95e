"""An experiment's chunks on a real Dask cluster (a `distributed.LocalCluster` of two worker processes, through
prefect-dask's `DaskTaskRunner`) against the local test model server (its API key enforced) and the local S3
server: the rows equal the in-process run's with a budget that runs out mid-experiment, the cost cap and the
provider limits (one call at a time, requests per minute) hold across the two worker processes, and no API key
travels with a chunk."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import cloudpickle
import distributed
import polars as pl
import pytest
from flows.experiments import experiment
from flows.task_runners import portable, task_runner_for
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.asyncutils import run_coro_as_sync

from devtools.model_server import Latency, ModelServer, start_model_server, stop_model_server
from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET
from tests.support.dask_cluster import point_at_s3, two_worker_processes
from tests.support.dataset_items import item_frame, item_row
from tracewatch.datasets.append import append_version
from tracewatch.experiments import (
    BudgetLedger,
    ExperimentSummary,
    chunk_order,
    launch,
    prepare_run,
    read_experiment_items,
    read_record,
)
from tracewatch.experiments import RunnerSettings as Settings_
from tracewatch.settings import Settings
from tracewatch.store import Store

KEY_ENV = "TW_DASK_TEST_MODEL_KEY"
API_KEY = f"sk-canary-{uuid.uuid4().hex}"
DATASET = "dask-items"
ITEMS = 16
CAP_USD = 0.0021
"""About 45% of what the experiment's 32 answers cost (0.00468 USD): the budget runs out half way."""
RUN_COLUMNS = ("run_id", "experiment_id", "started_at", "finished_at", "latency_ms")
"""What describes the run that wrote a row (its id and clock), not the answer."""


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[ModelServer]:
    """A model server that refuses any other key than API_KEY; each call takes 20 ms."""
    server = start_model_server(latency=Latency.fixed(20), api_key=API_KEY)
    yield server
    stop_model_server(server)


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> dict[str, str]:
    """The S3 server's variables and the model's API key in the environment: the Dask workers inherit them."""
    return point_at_s3(monkeypatch, s3_server, TEST_BUCKET, **{KEY_ENV: API_KEY})


@pytest.fixture
def cluster(s3_env: dict[str, str]) -> Iterator[distributed.LocalCluster]:
    with two_worker_processes() as local:
        yield local


def fresh_store(monkeypatch: pytest.MonkeyPatch) -> Store:
    """A new prefix with one dataset version of ITEMS questions, the environment pointed at it."""
    monkeypatch.setenv("TRACEWATCH_STORE", f"s3://{TEST_BUCKET}/t-{uuid.uuid4().hex[:12]}")
    store = Store.from_settings(Settings())
    rows = [item_row(f"{i:03d}", text=f"question number {i} " + "word " * (i % 5)) for i in range(ITEMS)]
    append_version(store, DATASET, item_frame(*rows), kind="sample", run_id="seeded")
    return store


def echo_experiment(server: ModelServer, limits: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "echo",
        "defaults": {
            "model": "openai/tracewatch-echo",
            "api_base": server.base_url,
            "api_key_env": KEY_ENV,
            "prompt": "{input}",
            "timeout_s": 5,
            "cost_per_1k_input": 0.01,
            "cost_per_1k_output": 0.02,
        },
        "limits": {server.base_url: limits},
        "configs": [
            {"name": "cold", "params": {"temperature": 0.0, "seed": 1}},
            {"name": "warm", "params": {"temperature": 0.5}},
        ],
    }


def run(task_runner: Any, definition: dict[str, Any], **parameters: Any) -> ExperimentSummary:
    flow = experiment.with_options(task_runner=task_runner)
    summary: ExperimentSummary = run_coro_as_sync(
        flow(experiment=definition, dataset=DATASET, chunk_size=4, **parameters)
    )
    return summary


def answers(store: Store, experiment_id: str) -> pl.DataFrame:
    rows = read_experiment_items(store, experiment_id)
    return rows.drop(RUN_COLUMNS).sort("config_fingerprint", "item_id", "trial")


def test_a_budget_that_runs_out_gives_the_in_process_rows_on_two_worker_processes(
    monkeypatch: pytest.MonkeyPatch, cluster: distributed.LocalCluster, keyed_server: ModelServer
) -> None:
    definition = echo_experiment(keyed_server, {"max_concurrency": 1, "requests_per_minute": 1200})
    here = fresh_store(monkeypatch)
    in_process = run(
        ThreadPoolTaskRunner(), definition, experiment_id="capped", budget_usd=CAP_USD, parallel_chunks=1
    )
    there = fresh_store(monkeypatch)
    keyed_server.reset()
    on_dask = run(
        task_runner_for(f"dask:{cluster.scheduler_address}"),
        definition,
        experiment_id="capped",
        budget_usd=CAP_USD,
        parallel_chunks=1,
    )

    assert 0 < on_dask.counts["ok"] < 2 * ITEMS and on_dask.counts["missing"] == 0
    assert on_dask.counts == in_process.counts
    assert on_dask.spent_usd == in_process.spent_usd <= CAP_USD
    expected = answers(here, "capped")
    got = answers(there, "capped")
    assert got.schema == expected.schema
    assert got.equals(expected, null_equal=True)  # outputs, tokens, costs, statuses and reasons, bit for bit
    assert (
        got.filter(pl.col("status") == "skipped_budget")["error"]
        .str.starts_with("skipped: the cost cap")
        .all()
    )
    assert keyed_server.stats().requests == on_dask.calls  # every call went through the workers' own key
    with distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]
        ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(ran.values()) >= 8  # the chunks ran on the cluster's worker processes


def test_limits_and_the_cap_hold_across_worker_processes_and_no_key_travels(
    monkeypatch: pytest.MonkeyPatch,
    s3_env: dict[str, str],
    cluster: distributed.LocalCluster,
    keyed_server: ModelServer,
) -> None:
    per_minute = 600  # 10 a second, one second's worth of burst
    definition = echo_experiment(keyed_server, {"max_concurrency": 1, "requests_per_minute": per_minute})
    store = fresh_store(monkeypatch)
    cap = 0.004
    keyed_server.reset()
    started = time.monotonic()
    summary = run(
        task_runner_for(f"dask:{cluster.scheduler_address}"),
        definition,
        experiment_id="shared",
        budget_usd=cap,
        parallel_chunks=4,
    )
    elapsed = time.monotonic() - started

    stats = keyed_server.stats()
    assert stats.max_in_flight == 1  # two worker processes, four chunks at once, one call at a time
    assert 0 < stats.requests <= 10 + per_minute / 60 * elapsed
    record = read_record(store, "shared")
    # No call starts once the cap is spent; the one call in flight then (max_in_flight 1) may end past it by at
    # most its own cost, as in one process (an allowance is spent at the config's price so far).
    costliest = read_experiment_items(store, "shared").get_column("cost_usd").max()
    assert record is not None and record.spent_usd <= cap + costliest
    assert summary.counts["missing"] == 0
    assert summary.counts["ok"] + summary.counts["skipped_budget"] == 2 * ITEMS
    assert summary.counts["skipped_budget"] > 0
    with distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]
        ran = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert all(count > 0 for count in ran.values()), ran  # both processes answered chunks

    # What a chunk carries to a worker: no API key, no store credential.
    ready = launch(store, definition, DATASET)
    prepared = prepare_run(store, ready.spec, ready.experiment.configs, ready.source.items, chunk_size=4)
    ledger = BudgetLedger(cap, spent_usd=0.0, slots=2)
    order = chunk_order(
        prepared,
        prepared.plans[0],
        store=portable(store),
        settings=Settings_(),
        limits=ready.experiment.limits,
        allowance=ledger.grant(prepared.plans[0].label),
        stopped={},
        gate=None,
    )
    sent = cloudpickle.dumps(order)
    for secret in (API_KEY, s3_env["AWS_SECRET_ACCESS_KEY"], s3_env["AWS_ACCESS_KEY_ID"]):
        assert secret.encode() not in sent
