"""The backfill fanned out over a real process work pool: two real `prefect worker start` processes with one
slot each share a 6-day backfill (the next night waits on the other worker, so they take turns), the nights
still run in date order; a night that fails stops the nights after it, and a retry of the parent
(`prefect flow-run retry`) runs only the nights that did not complete. A night over two stores runs a child per
store, both at once.

Prefect's `run_deployment` (https://docs.prefect.io/v3/deploy/index, "Run a deployment from another flow") starts
each child; the workers' labels (`prefect.worker.name`, set by the worker on the runs it submits) say which
worker ran which night. The `backfill-night` deployment is deployed from deployments/prefect.yaml.
"""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from flows.fan_out import backfill_fan_out, nightly_stores
from flows.fan_out_runs import parent_tag
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.settings import PREFECT_API_URL
from prefect.workers.process import ProcessWorker

from devtools.processes import start_logging_process, terminate
from devtools.stack.prefect_admin import prefect_environment
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store
from tracewatch.traces import write_demo_traces

REPO = Path(__file__).resolve().parents[2]
POOL = "tracewatch-local"
WORKERS = ("fan-out-a", "fan-out-b")
TRACES_PER_DAY = 40


@dataclass(frozen=True)
class Pool:
    """The work pool's two workers, the store their flow runs use, and the environment to run more Prefect
    commands against the test server."""

    store: Store
    env: dict[str, str]
    logs: list[Path]

    def log_tail(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in self.logs)


def _prefect(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """The `backfill-night` and `nightly-store` deployments on a process pool with two workers of one slot
    each, their runs on a store of their own (one for the module: the tests use dates far apart)."""
    home = tmp_path_factory.mktemp("fan-out")
    (home / "store").mkdir()
    store = open_store(Settings(store=(home / "store").as_uri()))
    api_url = PREFECT_API_URL.value()
    env = {
        **prefect_environment(home, api_url),
        "TRACEWATCH_STORE": store.url,
        "TRACEWATCH_NIGHTLY_EXPERIMENTS": "",
        "TRACEWATCH_TASK_RUNNER": "threads",
        "TRACEWATCH_DATA_DOCS": "false",  # a backfill's setting: no GX site per night (about 10 s each)
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    with get_client(sync_client=True) as client:
        template = ProcessWorker.get_default_base_job_template()  # what `prefect work-pool create` gives it
        client.create_work_pool(
            WorkPoolCreate(name=POOL, type="process", base_job_template=template), overwrite=True
        )
    logs = [home / f"{name}.log" for name in WORKERS]
    # The workers start while the deployment is deployed (each start is a Python process importing Prefect).
    workers = [
        start_logging_process(
            [
                sys.executable,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                POOL,
                "--name",
                name,
                "--limit",
                "1",
            ],
            log,
            False,
            env=env,
            cwd=REPO,
        )
        for name, log in zip(WORKERS, logs, strict=True)
    ]
    deploy = [
        "--no-prompt",
        "deploy",
        "--prefect-file",
        "deployments/prefect.yaml",
        "--name",
        "backfill-night",
        "--name",
        "nightly-store",
    ]
    done = _prefect(deploy, env)
    running = Pool(store, env, logs)
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        _wait_online(running)
        yield running
    finally:
        for worker in workers:
            terminate(worker, 20.0)


def _wait_online(pool: Pool, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            online = {w.name for w in client.read_workers_for_work_pool(POOL) if w.status == "ONLINE"}
            if online >= set(WORKERS):
                return
            time.sleep(0.5)
    pytest.fail(f"the workers did not come online in {timeout_s:.0f} s:\n{pool.log_tail()}")


def _children(parent_id: UUID) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[parent_tag(parent_id)]))
        )
    return sorted(runs, key=lambda run: (run.name, run.created or run.expected_start_time))


def _nightly_run(day: dt.date) -> FlowRun:
    """The nightly subflow a child ran for `day` (its name is nightly-<day>)."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"nightly-{day}"]))
        )
    completed = [run for run in runs if run.state_type == StateType.COMPLETED]
    assert len(completed) == 1, [(run.name, run.state_type) for run in runs]
    return completed[0]


def _days(start: dt.date, n: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def _write_days(store: Store, start: dt.date, n: int) -> None:
    write_demo_traces(
        store,
        start=start,
        days=n,
        traces_per_day=TRACES_PER_DAY,
        drift=None,
        plant_bad_input=False,
        plant_pii=False,
    )


def test_two_workers_share_a_six_day_backfill_in_date_order(pool: Pool) -> None:
    start = dt.date(2026, 3, 1)
    days = _days(start, 6)
    _write_days(pool.store, start, 6)

    state = backfill_fan_out(start=start, end=days[-1], return_state=True)

    assert state.is_completed(), f"{state.message}\n{pool.log_tail()}"
    children = _children(state.state_details.flow_run_id)
    assert [run.name for run in children] == [f"backfill-night-{day}" for day in days]
    assert all(run.state_type == StateType.COMPLETED for run in children)
    workers = [run.labels.get("prefect.worker.name") for run in children]
    assert set(workers) == set(WORKERS), workers  # shared between the two workers
    # Yet each night started only after the night before it completed (nights build on each other).
    nights = [_nightly_run(day) for day in days]
    for before, after in itertools.pairwise(nights):
        assert before.end_time is not None and after.start_time is not None
        assert after.start_time >= before.end_time, (before.name, after.name)
    # Dataset version N was built by night N, in order.
    manifests = sorted(
        info.key
        for info in pool.store.list_objects("warehouse/datasets")
        if info.key.endswith("manifest.json")
    )
    assert len(manifests) == len(days), manifests
    assert not pool.store.list_objects("warehouse/data_docs")  # TRACEWATCH_DATA_DOCS=false in the workers


def test_a_retry_of_the_parent_runs_only_the_nights_that_did_not_complete(pool: Pool, tmp_path: Path) -> None:
    first_day, second_day = _days(dt.date(2026, 6, 1), 2)
    _write_days(pool.store, first_day, 2)
    root = Path(pool.store.url.removeprefix("file://"))
    missing = root / "traces" / f"date={second_day}"
    shutil.move(missing, tmp_path / "held")  # the application wrote nothing on the second day (yet)

    state = backfill_fan_out(start=first_day, end=second_day, return_state=True)

    assert state.is_failed()
    parent_id = state.state_details.flow_run_id
    assert f"1 of 2 children did not complete - {second_day}: Failed" in str(state.message)
    assert f"prefect flow-run retry {parent_id}" in str(state.message)
    first = {run.name: run for run in _children(parent_id)}
    assert first[f"backfill-night-{first_day}"].state_type == StateType.COMPLETED
    assert first[f"backfill-night-{second_day}"].state_type == StateType.FAILED

    shutil.move(tmp_path / "held", missing)  # the day's traces arrived
    entrypoint = "flows/fan_out.py:backfill_fan_out"
    retry = _prefect(["flow-run", "retry", str(parent_id), "--entrypoint", entrypoint], pool.env)

    assert retry.returncode == 0, retry.stdout + retry.stderr + pool.log_tail()
    children = _children(parent_id)
    assert [run.name for run in children].count(f"backfill-night-{first_day}") == 1  # kept, not run again
    again = [run for run in children if run.name == f"backfill-night-{second_day}"]
    assert [run.state_type for run in again] == [StateType.FAILED, StateType.COMPLETED]  # oldest first
    with get_client(sync_client=True) as client:
        parent = client.read_flow_run(parent_id)
    assert parent.state_type == StateType.COMPLETED
    assert parent.run_count == 2


def test_a_night_over_two_stores_runs_one_child_per_store_at_once(
    pool: Pool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    day = dt.date(2026, 9, 1)
    stores = []
    for name in ("team-a", "team-b"):
        folder = tmp_path_factory.mktemp(name)
        store = open_store(Settings(store=folder.as_uri()))
        _write_days(store, day, 1)
        stores.append(store)

    state = nightly_stores(stores=[store.url for store in stores], day=day, return_state=True)

    assert state.is_completed(), f"{state.message}\n{pool.log_tail()}"
    children = _children(state.state_details.flow_run_id)
    assert len(children) == 2
    assert all(run.state_type == StateType.COMPLETED for run in children)
    # Both at once: one on each worker, and both submitted before either ended (the parent does not wait for one
    # store before the next). When a worker picks its run up is its poll's business: CI saw the second start two
    # seconds after the first, a short night, ended (the workers poll a SQLite server that was busy).
    assert {run.labels.get("prefect.worker.name") for run in children} == set(WORKERS)
    assert all(run.created is not None and run.end_time is not None for run in children)
    assert max(run.created for run in children) < min(run.end_time for run in children)
    for store in stores:  # each child ran on the store it was given (TRACEWATCH_STORE in its job)
        assert store.list_objects(f"reports/trace_metrics_daily/date={day}"), store.url
    assert not pool.store.list_objects(f"reports/trace_metrics_daily/date={day}")
