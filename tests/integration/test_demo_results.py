"""The demo's results stay openable after its S3 server stops: the store is copied to a local folder with the
night summaries, and `python -m devtools.demo_results` (the command the demo prints) opens that folder."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from devtools.demo_results import (
    OPEN_COMMAND,
    RESULTS_DIR,
    ResultsCopy,
    describe_copy,
    main,
    results_text,
    save_results,
)
from tracewatch.errors import ConfigError
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import build_monitoring_reports
from tracewatch.store import Store

DAYS = (dt.date(2026, 11, 1), dt.date(2026, 11, 2))
REPO = Path(__file__).resolve().parents[2]


def night_summary(store: Store, day: dt.date) -> str:
    link = store.uri(f"reports/trace_metrics_daily/date={day}")
    return f"# tracewatch night {day}\n\n[trace_metrics_daily]({link})\n"


@pytest.fixture
def demo_store(s3_store: Store, make_traces: Callable[..., pl.DataFrame]) -> Store:
    """Two nights' traces and monitoring reports on the local S3 server, as the demo's nights leave them."""
    for day in DAYS:
        s3_store.write_parquet(f"traces/date={day}/a.parquet", make_traces(day.isoformat(), 15))
        ingest_new_traces(s3_store, up_to=day)
        build_monitoring_reports(s3_store, day, run_id="r1")
    return s3_store


def summaries(store: Store) -> dict[str, str]:
    return {f"nightly-{day}": night_summary(store, day) for day in DAYS}


def test_the_copy_holds_every_object_and_the_summaries_point_at_it(demo_store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    (folder / "reports").mkdir(parents=True)
    (folder / "reports" / "stale.parquet").write_bytes(b"from the last demo")
    copy = save_results(demo_store, folder, summaries(demo_store))
    objects = demo_store.list_objects("")
    assert copy.objects == len(objects) and copy.size == sum(o.size for o in objects)
    for info in objects:
        assert (folder / info.key).read_bytes() == demo_store.read_bytes(info.key), info.key
    assert not (folder / "reports" / "stale.parquet").exists()  # replaced, not merged
    assert sorted(p.name for p in copy.summaries) == [f"nightly-{day}.md" for day in DAYS]
    text = copy.summaries[-1].read_text()
    assert f"file://{folder}/reports/trace_metrics_daily/date={DAYS[-1]}" in text and "s3://" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no staging folder left behind


def test_a_failed_copy_leaves_the_last_one(
    demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "demo"
    save_results(demo_store, folder, summaries(demo_store))
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))

    def vanished(keys: object) -> dict[str, bytes]:
        return {}

    monkeypatch.setattr(demo_store, "read_many", vanished)
    with pytest.raises(ConfigError, match=r"vanished from s3://.* while copying"):
        save_results(demo_store, folder, {})
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_a_folder_store_is_not_copied_into_itself(file_store: Store, tmp_path: Path) -> None:
    root = Path(file_store.path(""))
    for inside in (root / "demo", root.parent):
        with pytest.raises(ConfigError, match="overlaps the demo's results folder"):
            save_results(file_store, inside, {})
    file_store.write_bytes("reports/x/date=2026-11-01/part-0.parquet", b"data")
    copy = save_results(file_store, root, {"nightly-2026-11-01": "# night"})
    assert copy.objects == 0 and (root / "reports/x/date=2026-11-01/part-0.parquet").read_bytes() == b"data"
    assert (root / "summaries" / "nightly-2026-11-01.md").read_text() == "# night"
    assert "the store itself" in describe_copy(copy)


def test_the_opened_results_show_the_nights_and_the_last_summary(demo_store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    save_results(demo_store, folder, summaries(demo_store))
    text = results_text(folder)
    assert str(DAYS[0]) in text and str(DAYS[1]) in text  # the overview's daily rows
    assert f"# tracewatch night {DAYS[-1]}" in text and f"# tracewatch night {DAYS[0]}" not in text
    assert "reports/<table>/**/*.parquet" in text
    assert f"# tracewatch night {DAYS[0]}" in results_text(folder, str(DAYS[0]))
    with pytest.raises(
        ConfigError, match=rf"no summary of night '2026-10-01'.*nightly-{DAYS[0]}, nightly-{DAYS[1]}"
    ):
        results_text(folder, "2026-10-01")
    with pytest.raises(ConfigError, match=r"no demo results .* run `make demo` first"):
        results_text(tmp_path / "nothing")


def test_the_printed_command_opens_the_results_and_runs_a_query(
    demo_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "demo"
    copy = save_results(demo_store, folder, summaries(demo_store))
    assert describe_copy(copy).splitlines()[-1] == f"Open the results: {OPEN_COMMAND} --dir {folder}"
    default = ResultsCopy(RESULTS_DIR, 1, 1, ())
    assert describe_copy(default).splitlines()[-1] == f"Open the results: {OPEN_COMMAND}"
    assert RESULTS_DIR == REPO / ".tracewatch" / "demo"
    glob = folder / "reports/trace_metrics_daily/**/*.parquet"
    sql = f"SELECT count(DISTINCT date) AS nights FROM read_parquet('{glob}', hive_partitioning = true)"
    assert main(["--dir", str(folder), "--sql", sql]) == 0
    assert "nights" in capsys.readouterr().out
    assert main(["--sql", "SELECT * FROM read_parquet('/nonexistent/*.parquet')"]) == 2
    assert "DuckDB could not run the query" in capsys.readouterr().err


def test_the_command_runs_as_printed_from_the_repository(demo_store: Store, tmp_path: Path) -> None:
    """The module as the user runs it (a fresh interpreter, from the repository's folder)."""
    folder = tmp_path / "demo"
    save_results(demo_store, folder, summaries(demo_store))
    module = OPEN_COMMAND.split("python ", 1)[1].split()
    done = subprocess.run(
        [sys.executable, *module, "--dir", str(folder)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"# tracewatch night {DAYS[-1]}" in done.stdout


def test_a_results_copy_describes_where_it_is(tmp_path: Path) -> None:
    copy = ResultsCopy(tmp_path / "demo", 12, 3_400_000, ())
    assert (
        describe_copy(copy)
        .splitlines()[0]
        .startswith(f"The demo's results are kept in {tmp_path}/demo/ (12 objects, 3.4 MB")
    )
