"""A split stage's parts run as tasks on the flow's task runner and come back in the items' order."""

from __future__ import annotations

import functools
import operator
import os

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
