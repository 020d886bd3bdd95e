"""Crash recovery under the real worker: a nightly run killed mid-way through its experiment is marked
Crashed by the worker, and a rerun of the same date resumes the experiment from the store without asking
the model again for an item that had finished.

The stack is `make up`'s (Prefect server, process work pool, worker, deployments, local S3 server, demo
traces); the model is the local OpenAI-compatible test server, slowed down so that the kill lands part way.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from devtools.model_server import Latency, ModelServer
from devtools.processes import descendants
from devtools.stack import Stack
from tracewatch.datasets.versions import read_version
from tracewatch.experiments import ExperimentRecord, list_records, read_experiment_items, read_record
from tracewatch.store import Store

if TYPE_CHECKING:
    from tests.browser.conftest import Runs

pytestmark = pytest.mark.flows

NAME = "crash-echo"
MODEL = "tracewatch-echo"
TEMPERATURE, SEED = 0.0, 1


def slow_echo(server: ModelServer) -> dict[str, Any]:
    """One config on the test server, two calls in flight at most: the night's items take seconds."""
    return {
        "inline": {
            "name": NAME,
            "defaults": {
                "model": f"openai/{MODEL}",
                "api_base": server.base_url,
                "prompt": "{input}",
                "timeout_s": 30,
                "cost_per_1k_input": 0.0,
                "cost_per_1k_output": 0.0,
            },
            "limits": {f"openai/{MODEL}": {"max_concurrency": 2}},
            "configs": [{"name": "slow", "params": {"temperature": TEMPERATURE, "seed": SEED}}],
        }
    }


def wait_for_rows(store: Store, runs: Runs, run_id: str, timeout_s: float = 240.0) -> ExperimentRecord:
    """The night's experiment record, once some (not all) of its items are stored."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert runs.get(run_id)["state_type"] in {"SCHEDULED", "PENDING", "RUNNING"}, runs.worker_log()
        record = next((r for r in list_records(store) if r.experiment_id.startswith(NAME)), None)
        if record is not None and read_experiment_items(store, record.experiment_id).height > 0:
            return record
        time.sleep(0.2)
    pytest.fail(f"no experiment row was stored within {timeout_s:.0f} s:\n{runs.worker_log()}")


def calls_per_item(server: ModelServer, items: pl.DataFrame) -> dict[str, int]:
    """How often the test server saw each item's request, by item id."""
    stats = server.stats()
    return {
        row["item_id"]: stats.calls_for(
            [{"role": "user", "content": row["input_text"]}], MODEL, TEMPERATURE, SEED
        )
        for row in items.iter_rows(named=True)
    }


def test_a_run_killed_mid_way_is_marked_crashed_and_its_rerun_asks_no_finished_item_again(
    stack: Stack, runs: Runs, server: ModelServer
) -> None:
    server.configure(latency=Latency.fixed(1000))
    store = stack.store()
    parameters = {"day": stack.demo_window[0].isoformat(), "experiments": [slow_echo(server)]}

    first = runs.start("nightly/nightly", parameters)
    record = wait_for_rows(store, runs, first)
    pid = int(runs.get(first)["infrastructure_pid"])
    assert pid in descendants(stack.processes["worker"])  # the flow-run process the worker started
    os.kill(pid, signal.SIGKILL)

    crashed = runs.wait(first, timeout_s=120)
    assert crashed["state_type"] == "CRASHED", f"{crashed['state_name']}:\n{runs.worker_log()}"
    items = read_version(store, record.dataset, record.dataset_version)
    done_before = set(read_experiment_items(store, record.experiment_id)["item_id"])
    asked_before = {item for item, calls in calls_per_item(server, items).items() if calls}
    assert 0 < len(done_before) < items.height, "the kill did not land mid-way"

    second = runs.start("nightly/nightly", parameters)
    finished = runs.wait(second)
    assert finished["state_type"] == "COMPLETED", f"{finished['state_name']}:\n{runs.worker_log()}"

    calls = calls_per_item(server, items)
    assert all(calls[item] == 1 for item in done_before)  # finished before the kill: never asked again
    assert set(calls.values()) <= {1, 2} and all(calls.values())  # every item asked, at most twice
    asked_twice = {item for item, count in calls.items() if count == 2}
    assert asked_twice <= asked_before - done_before  # only work lost in the kill was redone
    resumed = read_record(store, record.experiment_id)
    assert resumed is not None and resumed.finished_at is not None
    assert resumed.counts == {"ok": items.height, "error": 0, "skipped_budget": 0, "missing": 0}
    assert len(resumed.run_ids) == 2  # the same experiment, resumed: not a new one
    rows = read_experiment_items(store, record.experiment_id)
    assert rows.height == items.height == rows["item_id"].n_unique()
