"""The nightly flow's "Dashboard" section: a link to the rebuilt page, or, when the build fails, a warning in
the summary (and the log) instead of a failed night."""

from __future__ import annotations

import logging

import flows.dashboard
import pytest
from dashboard_reports import DAY, metric_row, publish

from tracewatch.dashboard import INDEX_KEY
from tracewatch.store import Store


def test_the_section_links_the_rebuilt_page(file_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("m", "r")])
    monkeypatch.setattr(flows.dashboard, "rebuild_dashboard", flows.dashboard.rebuild_dashboard.fn)

    text = flows.dashboard.dashboard_markdown(file_store)

    assert text.startswith(f"[Dashboard of {DAY}..{DAY} (UTC)]({file_store.uri(INDEX_KEY)})")
    assert "open it in a browser (it needs no network)" in text
    assert file_store.exists(INDEX_KEY)


def test_a_failed_build_is_a_warning_not_a_failed_night(
    file_store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(store: Store) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(flows.dashboard, "rebuild_dashboard", broken)
    with caplog.at_level(logging.WARNING, logger="flows.dashboard"):
        text = flows.dashboard.dashboard_markdown(file_store)

    assert text == (
        "**Warning:** the dashboard was not rebuilt: OSError: disk full. The night's reports are published; "
        "`tracewatch dashboard` rebuilds it from them."
    )
    assert "the dashboard was not rebuilt" in caplog.text
