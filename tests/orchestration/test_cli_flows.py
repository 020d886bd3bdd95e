"""The flow commands of the installed `tracewatch` (issue 20, item 13): `nightly`, `build-dataset`,
`import-traces` and `backfill` run the flows with the Makefile's environment, tracewatch's own log lines
included, and a failed run ends the command with its one-line reason and a non-zero status.

The subprocesses talk to this session's Prefect server (PREFECT_API_URL) instead of each starting a temporary
one; everything else in their environment is the command's own defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL

from tests.support.entry_point import Run, tracewatch
from tracewatch.datasets import read_version
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    folder = tmp_path / "store"
    folder.mkdir()
    return Store(f"file://{folder}")


def flow_command(*args: str, cwd: Path, store: Store, **settings: str) -> Run:
    api = PREFECT_API_URL.value()
    assert api, "the session's Prefect server (tests/orchestration/conftest.py)"
    return tracewatch(
        *args, cwd=cwd, timeout=600, TRACEWATCH_STORE=store.url, PREFECT_API_URL=api, **settings
    )


def test_nightly_then_build_dataset_from_the_terminal(
    tmp_path: Path, store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store.write_parquet(f"traces/date={DAY}/a.parquet", make_traces(DAY.isoformat(), 12))
    night = flow_command("nightly", "--day", DAY.isoformat(), cwd=tmp_path, store=store)
    assert night.status == 0, night.err[-5:]
    assert night.err[0] == f"store: {store.url}"
    # The library's own INFO lines, in the run's log (Prefect alone would show tracewatch's warnings only).
    assert any(f"| tracewatch.ingest.run - ingested 1 new file(s) for {DAY}" in line for line in night.err)
    assert (tmp_path / ".tracewatch" / "prefect").is_dir()  # Prefect's home under the working directory
    published = night.out[-1]
    assert published.startswith(f"night {DAY}: ") and published.endswith(
        f"published under {store.uri('reports')}"
    )
    assert int(published.split()[2]) > 0

    built = flow_command(
        "build-dataset",
        "picked",
        "--start",
        DAY.isoformat(),
        "--end",
        DAY.isoformat(),
        "--budget",
        "3",
        "--strategy",
        "{kind: uniform, rate: 1.0}",
        "--filter",
        "route=qa/single-fact",
        cwd=tmp_path,
        store=store,
    )
    assert built.status == 0, built.err[-5:]
    assert "picked" in built.out[-1]
    items = read_version(store, "picked", 1)
    assert items.height == 3 and set(items.get_column("route")) == {"qa/single-fact"}


def test_a_failed_run_is_its_one_line_reason_and_status_2(tmp_path: Path, store: Store) -> None:
    run = flow_command("import-traces", cwd=tmp_path, store=store)
    assert run.status == 2 and run.out == []
    assert "Traceback (most recent call last):" not in run.err
    reason = [line for line in run.err if line.startswith("tracewatch: ")]
    assert reason == [
        "tracewatch: the import-traces flow run failed: no trace sources are configured: set TRACEWATCH_SOURCES "
        "to a sources YAML file (docs/importing.md) or a shipped name such as `demo`, or pass the `sources` "
        "parameter"
    ]


def test_a_backfill_that_ends_before_it_starts_fails_in_one_line(tmp_path: Path, store: Store) -> None:
    run = flow_command("backfill", "--start", "2026-11-03", "--end", "2026-11-01", cwd=tmp_path, store=store)
    assert run.status == 2
    assert [line for line in run.err if line.startswith("tracewatch: ")] == [
        "tracewatch: the backfill flow run failed: backfill end=2026-11-01 is before start=2026-11-03; "
        "expected start <= end"
    ]


def test_a_bad_date_is_refused_before_any_flow_starts(tmp_path: Path, store: Store) -> None:
    run = flow_command("nightly", "--day", "2026-13-01", cwd=tmp_path, store=store)
    assert run.status == 2
    assert run.err[-1].endswith("argument --day: '2026-13-01' is not a date; expected YYYY-MM-DD")


def test_a_night_without_traces_fails_unless_allowed(tmp_path: Path, store: Store) -> None:
    refused = flow_command("nightly", "--day", DAY.isoformat(), cwd=tmp_path, store=store)
    assert refused.status == 2
    (reason,) = [line for line in refused.err if line.startswith("tracewatch: ")]
    assert reason.startswith(f"tracewatch: the nightly flow run failed: no traces for the night {DAY}")
    allowed = flow_command(
        "nightly", "--day", DAY.isoformat(), "--allow-no-traces", cwd=tmp_path, store=store
    )
    assert allowed.status == 0, allowed.err
    assert any(f"no traces for the night {DAY}" in line for line in allowed.err)  # the warning still shows
