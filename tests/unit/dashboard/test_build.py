"""The build on both stores: the page and its script under reports/_site/, nothing on the page that would
load from the network, the script written once and reused, the page weight, and the `tracewatch dashboard`
command's local copy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from dashboard_reports import DAY, day, drift_test, metric_row, publish

from tracewatch.cli import main
from tracewatch.dashboard import INDEX_KEY, SITE_PREFIX, build_dashboard
from tracewatch.errors import ConfigError
from tracewatch.store import Store


def four_weeks(store: Store) -> None:
    for offset in range(-27, 1):
        publish(
            store,
            "trace_metrics_daily",
            day(offset),
            [metric_row(f"model-{m}", f"route-{r}") for m in range(12) for r in range(4)],
        )
        publish(store, "drift", day(offset), [drift_test(f"feature-{f}") for f in range(25)])


def test_the_page_and_its_script_are_written_to_the_store_and_load_nothing_from_outside(store: Store) -> None:
    four_weeks(store)
    built = build_dashboard(store)

    assert (built.start, built.end, built.key) == (day(-27), DAY, INDEX_KEY)
    assert built.uri == store.uri(INDEX_KEY)
    page = store.read_bytes(INDEX_KEY).decode()
    assets = [o for o in store.list_objects(SITE_PREFIX) if o.key != INDEX_KEY]
    assert [re.sub(r"vega-.*\.js$", "vega-*.js", o.key) for o in assets] == [
        f"{SITE_PREFIX}/assets/vega-*.js"
    ]
    script = assets[0].key.removeprefix(f"{SITE_PREFIX}/")
    assert f'<script src="{script}"></script>' in page
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page loads something from the network"
    assert len(page.encode()) + assets[0].size < 3_000_000  # the page weight for 28 days


def test_the_script_is_bundled_once_per_version(file_store: Store) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("m", "r")])
    build_dashboard(file_store)
    script = next(o for o in file_store.list_objects(SITE_PREFIX) if o.key.endswith(".js"))
    Path(file_store.path(script.key)).write_text("/* kept */")
    build_dashboard(file_store)
    assert file_store.read_bytes(script.key) == b"/* kept */"


def test_a_window_of_no_days_is_refused(file_store: Store) -> None:
    with pytest.raises(ConfigError, match="days=0: expected a whole number of days, 1 or more"):
        build_dashboard(file_store, days=0)


def test_the_command_builds_and_copies_the_page_to_a_local_folder(
    file_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("m", "r")])
    monkeypatch.setenv("TRACEWATCH_STORE", file_store.url)
    out = tmp_path / "site"

    assert main(["dashboard", "--days", "7", "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    assert f"dashboard of {DAY}..{DAY} (UTC): {file_store.uri(INDEX_KEY)}" in printed  # from the first report
    assert f"local copy: {out / 'index.html'}" in printed
    assert (out / "index.html").read_bytes() == file_store.read_bytes(INDEX_KEY)
    assert len(list((out / "assets").glob("vega-*.js"))) == 1
