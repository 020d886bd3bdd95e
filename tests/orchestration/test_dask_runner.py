"""The nightly flow on a real Dask cluster (a `distributed.LocalCluster` of two worker processes, through
prefect-dask's `DaskTaskRunner`, https://docs.prefect.io/integrations/prefect-dask) against the local S3 server:
every report partition and dataset version equals the single-process run's; a worker killed in the middle of a
night leaves a run that finished or failed cleanly, and a rerun gives the same reports with nothing counted twice.

The days here are past the monitoring's values budget (`BOUNDED_MONITORING`), so their monitoring takes the way of
a day too large to hold (bounded parts, the percentiles' further passes over the files, each a task on the
cluster); the way of a small day runs in worker processes in tests/integration/test_split_stages.py.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import cloudpickle
import distributed
import polars as pl
import pytest
from flows.nightly import nightly
from flows.task_runners import portable, task_runner_for
from prefect.task_runners import ThreadPoolTaskRunner

from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET
from tests.support.dask_cluster import point_at_s3, two_worker_processes
from tracewatch.settings import Settings
from tracewatch.store import Store
from tracewatch.traces import DriftSpec, write_demo_traces

START = dt.date(2026, 9, 1)
DAYS = 2
TRACES_PER_DAY = 800
FILES_PER_DAY = 3
BOUNDED_MONITORING = {"TRACEWATCH_MONITORING_VALUES_MAX_ROWS": str(TRACES_PER_DAY // 2)}
"""Every night's monitoring in bounded parts (`tracewatch.monitoring.bounded`), here and in the reference."""
RUN_COLUMNS = ("run_id", "created", "created_at", "written_at", "write_id")
"""What describes the run that wrote a report partition or a dataset version (its id, whether this run made the
night's version or found it, when it wrote, the random id of the write), not the data: two runs on two stores
differ in these alone."""


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> dict[str, str]:
    """The S3 server's variables in the environment (the Dask workers inherit them: their credentials)."""
    for name, value in BOUNDED_MONITORING.items():
        monkeypatch.setenv(name, value)
    return point_at_s3(monkeypatch, s3_server, TEST_BUCKET)


@pytest.fixture
def cluster(s3_env: dict[str, str]) -> Iterator[distributed.LocalCluster]:
    """Two single-threaded worker processes, started after the environment points at the S3 server."""
    with two_worker_processes() as local:
        yield local


def fresh_store(monkeypatch: pytest.MonkeyPatch, s3_env: dict[str, str]) -> Store:
    """A new prefix on the S3 server with the demo's days written, and the environment pointed at it."""
    url = f"s3://{TEST_BUCKET}/t-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TRACEWATCH_STORE", url)
    store = Store.from_settings(Settings())
    write_demo_traces(
        store,
        start=START,
        days=DAYS,
        traces_per_day=TRACES_PER_DAY,
        seed=11,
        drift=DriftSpec(from_day=1),
        files_per_day=FILES_PER_DAY,
    )
    return store


@pytest.fixture(scope="module")
def reference(s3_server: S3Server) -> Iterator[Store]:
    """The nights on the thread pool in the flow's process, which the Dask runs must equal: the same days on
    a store of their own, run once for the module (both tests compare with the same single-process nights)."""
    env = s3_server.environment(TEST_BUCKET, f"t-{uuid.uuid4().hex[:12]}")
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in {**env, **BOUNDED_MONITORING}.items():
            monkeypatch.setenv(name, value)
        store = fresh_store(monkeypatch, env)
        run_nights(ThreadPoolTaskRunner())
        yield store


def run_nights(task_runner: Any) -> None:
    for offset in range(DAYS):
        nightly.with_options(task_runner=task_runner)(day=START + dt.timedelta(days=offset))


def snapshot(store: Store, prefix: str) -> dict[str, Any]:
    """Every Parquet and JSON object under `prefix` (report partitions and manifests, dataset versions), without
    the run columns and fields."""
    found: dict[str, Any] = {}
    for info in store.list_objects(prefix):
        if info.key.endswith(".parquet"):
            frame = store.read_parquet(info.key)
            found[info.key] = frame.drop([c for c in RUN_COLUMNS if c in frame.columns])
        elif info.key.endswith(".json"):
            found[info.key] = _without_run_fields(store.read_json(info.key))
    assert found, f"nothing under {prefix}/"
    return found


def _without_run_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_run_fields(v) for k, v in value.items() if k not in RUN_COLUMNS}
    return value


def assert_same(first: dict[str, Any], second: dict[str, Any]) -> None:
    """The same objects, each frame equal bit for bit (schema and values), each JSON document equal."""
    assert sorted(second) == sorted(first)
    differ = {key: _difference(value, second[key]) for key, value in first.items()}
    assert not {key: what for key, what in differ.items() if what}


def _difference(first: Any, second: Any) -> str:
    """'' when equal; else which columns (or fields) differ, with their first values on each side."""
    if isinstance(first, dict):
        keys = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
        return "; ".join(f"{k}: {first.get(k)!r} != {second.get(k)!r}" for k in keys)
    if not isinstance(first, pl.DataFrame):
        return "" if first == second else f"{first!r} != {second!r}"
    if first.schema != second.schema:
        return f"schema {first.schema} != {second.schema}"
    columns = [c for c in first.columns if not first[c].equals(second[c], null_equal=True)]
    return "; ".join(f"{c}: {first[c].head(5).to_list()} != {second[c].head(5).to_list()}" for c in columns)


def assert_same_night(reference: Store, other: Store) -> None:
    """Every report partition and every dataset version of `other` equal to `reference`'s."""
    reports = snapshot(reference, "reports")
    assert {k.split("/")[1] for k in reports} >= {"trace_metrics_daily", "ingest_daily", "dataset_versions"}
    assert_same(reports, snapshot(other, "reports"))
    assert_same(snapshot(reference, "warehouse/datasets"), snapshot(other, "warehouse/datasets"))


def test_the_store_travels_to_a_worker_without_its_credentials(s3_env: dict[str, str]) -> None:
    store = portable(Store.from_settings(Settings()))
    sent = cloudpickle.dumps(store)
    assert s3_env["AWS_SECRET_ACCESS_KEY"].encode() not in sent
    assert s3_env["AWS_ACCESS_KEY_ID"].encode() not in sent
    again = cloudpickle.loads(sent)
    assert again.url == store.url and again.exists("nothing-here") is False  # opened with the env's keys


def test_a_night_on_a_dask_cluster_equals_the_single_process_night(
    monkeypatch: pytest.MonkeyPatch,
    s3_env: dict[str, str],
    cluster: distributed.LocalCluster,
    reference: Store,
) -> None:
    on_dask = fresh_store(monkeypatch, s3_env)
    run_nights(task_runner_for(f"dask:{cluster.scheduler_address}"))

    with distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]  # the workers ran tasks
        ran = client.run(lambda dask_worker: len(dask_worker.data) + dask_worker.state.executed_count)
    assert sum(ran.values()) > 0
    assert_same_night(reference, on_dask)


def test_a_worker_killed_mid_night_leaves_a_clean_run_and_a_rerun_the_same_reports(
    monkeypatch: pytest.MonkeyPatch,
    s3_env: dict[str, str],
    cluster: distributed.LocalCluster,
    reference: Store,
) -> None:
    store = fresh_store(monkeypatch, s3_env)
    killed: list[int] = []
    with distributed.Client(cluster) as client:  # type: ignore[no-untyped-call]
        pids = client.run(os.getpid)
        watcher = threading.Thread(target=_kill_first_busy_worker, args=(client, pids, killed), daemon=True)
        watcher.start()
        try:
            run_nights(task_runner_for(f"dask:{cluster.scheduler_address}"))
            outcome = "finished"
        except Exception as exc:  # a clean failure is allowed: it names what failed
            outcome = f"failed: {exc}"
        watcher.join(timeout=60)
    assert killed, "no worker was busy long enough to be killed"
    assert outcome == "finished" or "worker" in outcome.lower() or "killed" in outcome.lower(), outcome
    run_nights(ThreadPoolTaskRunner())  # the rerun: the same nights again, in the flow's process
    assert_same_night(reference, store)


def _kill_first_busy_worker(client: distributed.Client, pids: dict[str, int], killed: list[int]) -> None:
    """SIGKILL the first worker seen running a task (its nanny starts a new one, as on a lost machine)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        processing = client.processing()  # type: ignore[no-untyped-call]
        busy = [worker for worker, keys in processing.items() if keys]
        if busy and busy[0] in pids:
            time.sleep(0.3)  # into the task, not at its first line
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])
            return
        time.sleep(0.02)
