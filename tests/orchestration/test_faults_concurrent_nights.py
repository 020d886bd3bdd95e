"""Two runs of one night at once (issue 22, item 2), under a real Prefect server, on the real local S3 server
and on a local folder: the second run stops naming the first (or, told to wait, runs after it), the night's
dataset has one version, and every report partition is whole and equal to a lone run's.

The first run is held inside its lease (at the dataset step, a function both runs call) until the second has
had its turn, so the overlap is certain rather than a matter of timing.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator

import polars as pl
import pytest
from flows import nightly as nightly_module
from flows.nightly import nightly

from tracewatch.datasets import DatasetSpec
from tracewatch.datasets.versions import list_datasets, list_versions
from tracewatch.lease import LeaseHeldError, current_lease
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1 = dt.date(2026, 11, 1)
DATASET = "production-samples"  # data/datasets/nightly.yaml
TABLES = ("trace_metrics_daily", "trace_metrics_hourly")


class Gate:
    """Holds the first caller of the nightly's dataset step until `open()`; later callers pass."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()
        original = nightly_module.dataset_spec

        def gated(dataset: DatasetSpec | None) -> DatasetSpec:
            if not self.reached.is_set():
                self.reached.set()
                assert self.opened.wait(120), "the test never opened the gate"
            return original(dataset)

        monkeypatch.setattr(nightly_module, "dataset_spec", gated)

    def open(self) -> None:
        self.opened.set()


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.fixture(autouse=True)
def no_trace_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production scoring is not what these nights are about (and costs a third of their time)."""
    monkeypatch.setenv("TRACEWATCH_TRACE_SCORING", "")


@pytest.fixture(params=["s3", "file"])
def night_store(request: pytest.FixtureRequest, make_traces: Callable[..., pl.DataFrame]) -> Iterator[Store]:
    store: Store = request.getfixturevalue("store_env" if request.param == "s3" else "file_store_env")
    store.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 40))
    yield store


def reports(store: Store) -> dict[str, pl.DataFrame]:
    return {t: store.read_parquet(partition_key(t, D1)).drop("run_id") for t in TABLES}


def test_a_second_run_of_the_night_stops_naming_the_first(
    night_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEWATCH_LEASE_WAIT_S", "0")
    gate = Gate(monkeypatch)
    first, first_outcome = in_thread(lambda: nightly(day=D1))
    assert gate.reached.wait(120), first_outcome
    with pytest.raises(
        LeaseHeldError, match=rf"nightly-{D1} is already running: held by flow run 'nightly-{D1}'"
    ):
        nightly(day=D1)
    gate.open()
    first.join(180)
    assert "error" not in first_outcome, first_outcome
    assert list_datasets(night_store) == [DATASET]
    versions = list_versions(night_store, DATASET)
    assert [m.version for m in versions] == [1]
    lone = reports(night_store)
    assert lone["trace_metrics_daily"].get_column("trace_count").sum() == 40
    lease = current_lease(night_store, f"nightly-{D1}")
    assert lease is not None and lease.released


def test_a_second_run_told_to_wait_runs_after_the_first(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    night_store = store_env  # S3 only: the wait is the lease's, the same on both stores
    night_store.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 40))
    monkeypatch.setenv("TRACEWATCH_LEASE_WAIT_S", "120")
    gate = Gate(monkeypatch)
    first, first_outcome = in_thread(lambda: nightly(day=D1))
    assert gate.reached.wait(120), first_outcome
    second, second_outcome = in_thread(lambda: nightly(day=D1))
    time.sleep(3)  # the second run is waiting on the lease, not in the night
    assert second.is_alive() and not second_outcome
    gate.open()
    first.join(180)
    second.join(180)
    assert "error" not in first_outcome and "error" not in second_outcome, (first_outcome, second_outcome)
    assert [m.version for m in list_versions(night_store, DATASET)] == [1]  # the rerun found the version
    after_both = reports(night_store)
    assert after_both["trace_metrics_daily"].get_column("trace_count").sum() == 40
    assert not night_store.list_objects("reports", suffix=".tmp")
    lease = current_lease(night_store, f"nightly-{D1}")
    assert lease is not None and lease.released and lease.generation == 2
