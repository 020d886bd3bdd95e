"""The object store restarts mid-night (issue 22, item 1): the local S3 server (SeaweedFS) is killed with
SIGKILL at a chosen write of the night (during ingest, report publishing, the dataset version write,
the experiment's cache writes) and
brought back on the same address and data folder a moment later. The night completes (the store's retries
bridged the gap) or fails with an error naming the store; a rerun completes; no Parquet object is torn, no
dataset version lacks its manifest or has a manifest whose items are missing; and the reports equal those of
an uninterrupted night (run ids and timestamps aside).

The kill is placed by counting the store's writes (every write goes through `Store.write_bytes`), so each
case lands where it says whatever the machine's speed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from devtools.model_server import Latency, ModelServer, start_model_server, stop_model_server
from devtools.s3server import S3Server, start_s3_server, stop_s3_server
from tests.conftest import TEST_BUCKET, s3_settings
from tests.reliability.night_child import night
from tests.reliability.nights import answers, report_tables, unreadable_parquet
from tracewatch.datasets.versions import DATASETS_PREFIX, MANIFEST_NAME, list_versions
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)
ALL_POINTS = [
    ("ingest", "warehouse/", 1),
    ("report publishing", "reports/", 2),
    ("dataset version write", "warehouse/datasets/", 1),
    ("experiment cache writes", "warehouse/cache/", 6),
]
POINTS = ALL_POINTS if os.environ.get("TRACEWATCH_RELIABILITY_FULL") == "1" else ALL_POINTS[1::2]
"""`make test` restarts the store during report publishing and the cache writes (a restart costs seconds);
`make reliability` at all four points."""
DOWN_S = 1.5
"""How long the server stays dead before its restart begins (the restart itself takes seconds more)."""


class Restartable:
    """One SeaweedFS server of this module's own, killed and restarted on the same ports and data."""

    def __init__(self, data_dir: Path) -> None:
        self.server = start_s3_server(data_dir, buckets=(TEST_BUCKET,))
        self.restarted = threading.Event()

    def kill_and_restart_later(self) -> None:
        os.killpg(self.server.pid, signal.SIGKILL)
        os.waitpid(self.server.pid, 0)
        self.restarted.clear()

        def restart() -> None:
            time.sleep(DOWN_S)
            old = self.server
            self.server = start_s3_server(
                old.data_dir,
                buckets=(TEST_BUCKET,),
                access_key_id=old.access_key_id,
                secret_access_key=old.secret_access_key,
                ports=old.ports,
                log_path=old.data_dir / "weed-restarted.log",
            )
            self.restarted.set()

        threading.Thread(target=restart, daemon=True).start()


@pytest.fixture(scope="module")
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    owned = Restartable(tmp_path_factory.mktemp("seaweedfs-restarts"))
    yield owned
    owned.restarted.wait(60)
    stop_s3_server(owned.server)


def fresh_store(server: S3Server) -> Store:
    return Store.from_settings(s3_settings(server, f"r-{uuid.uuid4().hex[:12]}"))


@pytest.fixture(scope="module")
def echo() -> Iterator[ModelServer]:
    server = start_model_server(latency=Latency.fixed(5))
    yield server
    stop_model_server(server)


def kill_at(monkeypatch: pytest.MonkeyPatch, owned: Restartable, prefix: str, nth: int) -> list[str]:
    """Kill the server just before the `nth` write under `prefix`; returns the keys written, for the message."""
    seen: list[str] = []
    original = Store.write_bytes

    def write_bytes(self: Store, key: str, data: bytes, *, durable: bool = True) -> None:
        seen.append(key)
        if key.startswith(prefix) and sum(k.startswith(prefix) for k in seen) == nth:
            owned.kill_and_restart_later()
        original(self, key, data, durable=durable)

    monkeypatch.setattr(Store, "write_bytes", write_bytes)
    return seen


def versions_whole(store: Store) -> list[str]:
    """Dataset version folders whose manifest is missing while items exist are fine (an interrupted write,
    ignored by readers); a manifest whose items are missing is not."""
    problems = []
    for obj in store.list_objects(DATASETS_PREFIX, suffix=f"/{MANIFEST_NAME}"):
        name = obj.key.split("/")[2]
        for manifest in list_versions(store, name):
            if not store.exists(manifest.items_key):
                problems.append(f"{name} v{manifest.version}: manifest without {manifest.items_key}")
    return problems


@pytest.fixture(scope="module")
def uninterrupted(
    restartable: Restartable, echo: ModelServer, make_traces_module: pl.DataFrame
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    store = fresh_store(restartable.server)
    store.write_parquet(f"traces/date={DAY}/a.parquet", make_traces_module)
    night(store, DAY, echo.base_url)
    return report_tables(store, DAY), answers(store)


@pytest.fixture(scope="module")
def make_traces_module() -> pl.DataFrame:
    from tests.conftest import canonical_traces

    return canonical_traces(DAY.isoformat(), 120)


@pytest.mark.parametrize(("point", "prefix", "nth"), POINTS, ids=[p[0] for p in POINTS])
def test_a_night_survives_a_store_restart(
    restartable: Restartable,
    echo: ModelServer,
    uninterrupted: tuple[dict[str, pl.DataFrame], pl.DataFrame],
    make_traces_module: pl.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
    prefix: str,
    nth: int,
) -> None:
    store = fresh_store(restartable.server)
    store.write_parquet(f"traces/date={DAY}/a.parquet", make_traces_module)
    written = kill_at(monkeypatch, restartable, prefix, nth)
    try:
        night(store, DAY, echo.base_url)
        outcome = "completed"
    except Exception as exc:  # the night may fail: then clearly, naming the store
        outcome = f"failed: {exc}"
        assert restartable.server.endpoint_url.split("//")[1] in str(exc) or "connect" in str(exc).lower(), (
            point,
            repr(exc),
        )
    print(f"store restart during {point}: the night {outcome[:400]}")  # shown with -s / on failure
    assert any(k.startswith(prefix) for k in written), f"the kill at {point} never happened"
    assert restartable.restarted.wait(90), "the server did not come back"
    monkeypatch.undo()
    store = fresh_store_like(store)
    night(store, DAY, echo.base_url)  # the rerun completes
    assert unreadable_parquet(store) == [] and versions_whole(store) == [], point
    reports, expected_answers = uninterrupted
    got = report_tables(store, DAY)
    for table, frame in reports.items():
        assert got[table].equals(frame), (point, outcome, table)
    assert answers(store).equals(expected_answers), (point, outcome)


def fresh_store_like(store: Store) -> Store:
    """The same prefix through a new client (the old one's connections died with the server)."""
    return Store(store.url, store._settings)
