"""kill -9 at points of a night (issue 22, item 3): a child process runs the night's stages (ingest, monitoring
reports, the dataset version, an experiment with the response cache) and dies by SIGKILL just before a chosen
store write; the rerun then converges to the reports, dataset version and experiment answers of an
uninterrupted night, and the test model server answers no item twice whose answer was stored before the kill.

Each child takes most of a minute on a shared 2-core machine, so `make test` runs three points, one per kind
of state (the ingest ledger, a dataset manifest, the experiment's cache and parts); `make reliability` runs all
twelve (TRACEWATCH_RELIABILITY_FULL=1). The browser suite's test_crash_recovery.py kills the real worker's
flow-run process mid-experiment under Prefect.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from devtools.model_server import Latency, ModelServer, request_key, start_model_server, stop_model_server
from tests.reliability.night_child import DATASET, EXPERIMENT, night
from tests.reliability.nights import answers, report_tables, unreadable_parquet
from tracewatch.datasets.versions import list_versions
from tracewatch.experiments import read_experiment_items
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)
REPO = Path(__file__).resolve().parents[2]
ALL_POINTS = [
    ("ingest ledger", "warehouse/state/", 1),
    ("first monitoring report", "reports/trace_metrics_daily/", 1),
    ("a report manifest", "reports/_manifest/", 2),
    ("dataset items", "warehouse/datasets/", 1),
    ("dataset manifest", "warehouse/datasets/", 3),
    ("dataset reports", "reports/dataset_items/", 1),
    ("experiment record", "warehouse/experiments/", 1),
    ("first experiment part", "warehouse/experiments/", 2),
    ("first cache entry", "warehouse/cache/", 1),
    ("cache writes mid-run", "warehouse/cache/", 12),
    ("later experiment part", "warehouse/experiments/", 5),
    ("cache pack", "warehouse/cache/packs/", 1),
]
CI_POINTS = [ALL_POINTS[0], ALL_POINTS[4], ALL_POINTS[9]]
POINTS = ALL_POINTS if os.environ.get("TRACEWATCH_RELIABILITY_FULL") == "1" else CI_POINTS


@pytest.fixture(scope="module")
def echo() -> Iterator[ModelServer]:
    server = start_model_server(latency=Latency.fixed(5))
    yield server
    stop_model_server(server)


def night_store(tmp_path: Path, traces: pl.DataFrame) -> Store:
    folder = tmp_path / f"store-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    store = Store(f"file://{folder}")
    store.write_parquet(f"traces/date={DAY}/a.parquet", traces)
    return store


def answer_key(input_text: str) -> str:
    """The server's key of an item's request (the config's prompt is the input; night_child.config)."""
    return request_key([{"role": "user", "content": input_text}], "tracewatch-echo", 0.0, 1)


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory, echo: ModelServer
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    from tests.conftest import canonical_traces

    store = night_store(tmp_path_factory.mktemp("whole"), canonical_traces(DAY.isoformat(), 40))
    echo.reset()
    night(store, DAY, echo.base_url)
    whole = answers(store)
    inputs = read_experiment_items(store, EXPERIMENT).get_column("input").to_list()
    # the test's key of an item's request is the server's (else the no-repeat check below would prove nothing)
    assert sorted(answer_key(text) for text in inputs) == sorted(echo.stats().answered)
    return report_tables(store, DAY), whole


@pytest.mark.parametrize(("point", "prefix", "nth"), POINTS, ids=[p[0] for p in POINTS])
def test_a_night_killed_at_a_point_converges_on_rerun(
    tmp_path: Path,
    echo: ModelServer,
    uninterrupted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
    make_traces: Callable[..., pl.DataFrame],
    point: str,
    prefix: str,
    nth: int,
) -> None:
    reports, expected_answers = uninterrupted
    store = night_store(tmp_path, make_traces(DAY.isoformat(), 40))
    echo.reset()
    command = [
        sys.executable,
        "-m",
        "tests.reliability.night_child",
        store.url,
        DAY.isoformat(),
        echo.base_url,
    ]
    child = subprocess.run(
        [*command, "--kill-prefix", prefix, "--kill-nth", str(nth)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, (
        f"no kill at {point}: {child.returncode} {child.stderr[-1500:]}"
    )
    stored = (
        read_experiment_items(store, EXPERIMENT).filter(pl.col("status") == "ok")
        if store.list_objects(f"warehouse/experiments/{EXPERIMENT}/items")
        else pl.DataFrame()
    )
    stored_keys = [answer_key(text) for text in stored.get_column("input").to_list()] if stored.height else []
    night(store, DAY, echo.base_url)  # the rerun
    answered = echo.stats().answered
    assert all(answered.get(key) == 1 for key in stored_keys), (point, [answered.get(k) for k in stored_keys])
    assert unreadable_parquet(store) == [], point
    assert [m.version for m in list_versions(store, DATASET)] == [1], point
    got = report_tables(store, DAY)
    for table, frame in reports.items():
        assert got[table].equals(frame), (point, table)
    assert answers(store).equals(expected_answers), point
