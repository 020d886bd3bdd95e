"""A split stage's parts run as tasks on the flow's task runner and come back in the items' order."""

from __future__ import annotations

import functools
import json
import operator
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flows.task_runners import flow_api_url, on_task_runner, task_runner_for
from prefect import flow

from tracewatch.part_map import in_process


def _pid_and_square(offset: int, item: int) -> tuple[int, int]:
    return os.getpid(), item * item + offset


@pytest.mark.parametrize("runner", ["threads", "processes:2"])
def test_parts_run_on_the_flows_runner_in_order(runner: str) -> None:
    @flow(task_runner=task_runner_for(runner))
    def squares(items: list[int]) -> list[tuple[int, int]]:
        return on_task_runner(functools.partial(_pid_and_square, 1), items)

    items = [5, 3, 9, 0, 7, 2]
    results = squares(items)

    assert [value for _, value in results] == [i * i + 1 for i in items]
    pids = {pid for pid, _ in results}
    if runner.startswith("processes"):
        assert os.getpid() not in pids  # the parts ran in worker processes, not the flow's
    else:
        assert pids == {os.getpid()}


def test_in_process_keeps_the_order() -> None:
    assert in_process(functools.partial(operator.mul, 3), [4, 1, 2]) == [12, 3, 6]


def _api_url_here(_: int) -> str | None:
    return os.environ.get("PREFECT_API_URL")


def test_a_local_dask_clusters_parts_report_to_the_flows_server() -> None:
    """`dask-local`'s workers are told the flow run's Prefect API, so their task runs land in the flow's
    server instead of a temporary server each worker would start."""

    @flow(task_runner=task_runner_for("dask-local:1"))
    def urls() -> tuple[str | None, list[str | None]]:
        return flow_api_url(), on_task_runner(_api_url_here, [0, 1])

    flows_url, workers_urls = urls()
    assert flows_url and workers_urls == [flows_url, flows_url]


_TERMINAL_NIGHT = """
import json, os, sys
from prefect import flow
from flows.task_runners import flow_api_url, on_task_runner, task_runner_for

def api_url_here(_):
    return os.environ.get("PREFECT_API_URL")

def urls():
    return flow_api_url(), on_task_runner(api_url_here, [0, 1, 2])

if __name__ == "__main__":
    for runner in sys.argv[1:]:
        print("URLS " + json.dumps(flow(urls, task_runner=task_runner_for(runner))()))
"""
RUNNERS = ("processes:2", "dask-local:2")


def test_a_run_on_the_temporary_server_sends_its_address_to_the_workers(tmp_path: Path) -> None:
    """A night from a terminal runs on Prefect's temporary server, whose address no setting names: the worker
    processes (of a process pool, of a local Dask cluster) get it, so their task runs land in the flow's server
    and none starts a server of its own."""
    script = tmp_path / "night.py"
    script.write_text(_TERMINAL_NIGHT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(Path.cwd())}
    done = subprocess.run(
        [sys.executable, str(script), *RUNNERS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [
        json.loads(line.removeprefix("URLS "))
        for line in done.stdout.splitlines()
        if line.startswith("URLS ")
    ]
    assert len(runs) == len(RUNNERS)
    for flows_url, workers_urls in runs:
        assert flows_url and workers_urls == [flows_url] * 3, (flows_url, workers_urls)
    assert done.stderr.count("Starting temporary server") == 1
