"""The task-runner setting (flows/task_runners.py): each form gives the runner it names, a bad one is refused
naming the forms, and a store pickles as its URL alone (prefect-dask's DaskTaskRunner,
https://docs.prefect.io/integrations/prefect-dask, sends task arguments to the workers pickled)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import distributed
import polars as pl
import pytest
from flows.task_runners import PortableStore, local_cluster, portable, task_runner_for
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect_dask.task_runners import DaskTaskRunner
from pydantic import SecretStr

from tracewatch.errors import ConfigError
from tracewatch.frame_memory import owned
from tracewatch.settings import Settings
from tracewatch.store import Store


@pytest.mark.parametrize("spec", ["threads", "", "  "])
def test_threads_is_the_default_and_an_empty_setting_means_it(spec: str) -> None:
    runner = task_runner_for(spec)
    assert isinstance(runner, ThreadPoolTaskRunner)
    # bounded: a split stage's parts are a few files in flight, not every file of the day at once
    assert runner._max_workers == max(2, len(os.sched_getaffinity(0)))


def test_threads_take_a_count() -> None:
    runner = task_runner_for("threads:3")
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 3


def test_processes_take_a_worker_count() -> None:
    runner = task_runner_for("processes:3")
    assert isinstance(runner, ProcessPoolTaskRunner) and runner._max_workers == 3


def test_dask_address_connects_to_an_existing_cluster() -> None:
    runner = task_runner_for("dask:tcp://10.0.0.5:8786")
    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://10.0.0.5:8786"


def test_dask_local_starts_single_threaded_worker_processes() -> None:
    runner = task_runner_for("dask-local:3")
    assert isinstance(runner, DaskTaskRunner) and runner.address is None
    assert runner.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1, "processes": True}
    assert runner.cluster_class is local_cluster
    assert task_runner_for("dask-local").cluster_kwargs["n_workers"] == 2


def _api_url_here() -> str | None:
    return os.environ.get("PREFECT_API_URL")


def test_a_local_clusters_workers_report_to_the_flows_prefect_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """A night from a terminal runs on Prefect's temporary server, known only inside the flow's process: the
    workers get its address, or each would start a temporary server of its own."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    url = "http://127.0.0.1:4999/api"
    with temporary_settings({PREFECT_API_URL: url}):
        cluster = local_cluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    with cluster, distributed.Client(cluster) as client:
        assert client.submit(_api_url_here).result(timeout=60) == url


@pytest.mark.parametrize(
    "spec", ["dask", "dask:", "spark:x", "processes:many", "dask-local:0", "threads:many"]
)
def test_a_wrong_setting_is_refused_naming_the_forms(spec: str) -> None:
    with pytest.raises(ConfigError, match="TRACEWATCH_TASK_RUNNER"):
        task_runner_for(spec)


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEWATCH_TASK_RUNNER", "dask:tcp://scheduler:8786")
    assert Settings().task_runner == "dask:tcp://scheduler:8786"


def test_a_portable_store_pickles_as_its_url_alone(tmp_path: Path) -> None:
    secret = "s3cr3t-not-to-be-sent"
    store = Store(
        f"file://{tmp_path}", Settings(store=f"file://{tmp_path}", aws_secret_access_key=SecretStr(secret))
    )
    sent = pickle.dumps(portable(store))
    assert secret.encode() not in sent
    again = pickle.loads(sent)
    assert isinstance(again, PortableStore) and again.url == store.url
    assert portable(again) is again


def test_a_part_comes_back_holding_only_its_own_rows() -> None:
    """A few rows filtered from a file's frame share its string buffers; the part the flow keeps must not (a
    stage's 100 shortlists kept most of a 10,000,000-trace day's texts in the flow's process)."""
    day = pl.DataFrame({"text": [f"{'x' * 1000}{i}" for i in range(20_000)], "n": range(20_000)})
    part = {"rows": day.filter(pl.col("n") % 1_000 == 0), "count": 20}
    copy = owned(part)
    assert copy["count"] == 20 and copy["rows"].equals(part["rows"])
    assert _string_bytes(part["rows"]) > 20_000_000  # the filter still points into the whole column
    assert _string_bytes(copy["rows"]) < 100_000  # 20 texts of 1 kB


def _string_bytes(frame: pl.DataFrame) -> int:
    column = frame.to_arrow(compat_level=pl.CompatLevel.newest()).column("text").combine_chunks()
    return sum(buffer.size for buffer in column.buffers() if buffer is not None)
