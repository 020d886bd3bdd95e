"""The project filter: with two projects in the window the build writes the all-projects page and one page per
project, each chart of a project's page drawing only that project's rows, each page with a selector naming
both; one project keeps a single page without a selector; a non-ASCII name gets a safe folder; `--project`
builds one page and refuses a name the window does not hold."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from dashboard_reports import DAY, day, drift_test, metric_row, publish

from tracewatch.cli import main
from tracewatch.dashboard import INDEX_KEY, SITE_PREFIX, build_dashboard, load_reports, project_page
from tracewatch.dashboard._drift import drift_section
from tracewatch.dashboard._overview import overview_section
from tracewatch.dashboard._projects import draw_sections, project_data, project_slug
from tracewatch.errors import ConfigError
from tracewatch.store import Store


def two_projects(store: Store, second: str = "billing") -> None:
    for offset in (-1, 0):
        publish(
            store,
            "trace_metrics_daily",
            day(offset),
            [
                metric_row("m", "r", project="search", trace_count=7),
                metric_row("m", "r", project=second, trace_count=30),
            ],
        )
        publish(store, "drift", day(offset), [drift_test("latency")])


def page(store: Store, key: str) -> str:
    return store.read_bytes(key).decode()


def drawn(html_page: str, chart_id: str) -> list[dict[str, Any]]:
    """The rows a chart of the page draws, from the specs the page carries."""
    found = re.search(r'<script type="application/json" id="tracewatch-specs">(.*?)</script>', html_page)
    assert found is not None
    spec = json.loads(found[1].replace("<\\/", "</"))[chart_id]
    rows: list[dict[str, Any]] = [r for values in spec["datasets"].values() for r in values]
    return rows


def selector_links(html_page: str) -> list[str]:
    found = re.search(r'<p class="projects".*?</p>', html_page)
    assert found is not None, "no project selector on the page"
    return re.findall(r">([^<]+)</a>", found[0])


def traces(html_page: str) -> set[float]:
    return {r["traces"] for r in drawn(html_page, "overview-traces") if "traces" in r}


def test_two_projects_get_a_page_each_filtered_with_a_selector(store: Store) -> None:
    two_projects(store)

    built = build_dashboard(store)

    search_key = f"{SITE_PREFIX}/{project_page('search')}"
    billing_key = f"{SITE_PREFIX}/{project_page('billing')}"
    assert built.projects == ("billing", "search")
    assert built.pages == (INDEX_KEY, billing_key, search_key)
    every, search, billing = page(store, INDEX_KEY), page(store, search_key), page(store, billing_key)
    assert (traces(every), traces(search), traces(billing)) == ({37}, {7}, {30})
    for shown, html_page in (("all projects", every), ("search", search), ("billing", billing)):
        assert selector_links(html_page) == ["All projects", "billing", "search"]
        assert f"Project: <strong>{shown}</strong>" in html_page
    # A project's page is two folders down: its script and links climb back to the site's root.
    script = re.search(r'<script src="([^"]+)"></script>', every)
    assert script is not None
    assert f'<script src="../../{script[1]}"></script>' in search
    assert f'href="../../{project_page("billing")}"' in search
    assert 'href="../../index.html"' in search
    assert "Not per project (no project column), shown whole on every project&#x27;s page: drift." in search
    assert "Not per project" not in every
    assert len(store.list_objects(f"{SITE_PREFIX}/assets")) == 1  # one script for every page


def test_one_project_keeps_one_page_without_a_selector(file_store: Store) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("m", "r", project="only")])

    built = build_dashboard(file_store)

    assert (built.projects, built.pages) == (("only",), (INDEX_KEY,))
    assert 'class="projects"' not in page(file_store, INDEX_KEY)
    assert not file_store.list_objects(f"{SITE_PREFIX}/project")


def test_a_non_ascii_project_name_gets_a_safe_folder_and_is_shown_as_written(file_store: Store) -> None:
    name = "café/報告 <b>"
    two_projects(file_store, second=name)

    built = build_dashboard(file_store)

    slug = project_slug(name)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", slug), slug
    assert slug != project_slug("café/報告 <c>")  # names that slug alike keep their own pages
    key = f"{SITE_PREFIX}/project/{slug}/index.html"
    assert key in built.pages
    written = page(file_store, key)
    assert traces(written) == {30}
    assert "Project: <strong>café/報告 &lt;b&gt;</strong>" in written
    assert "café/報告 &lt;b&gt;" in selector_links(written)


def test_the_command_builds_one_projects_page_and_refuses_an_unknown_one(
    file_store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_projects(file_store)
    monkeypatch.setenv("TRACEWATCH_STORE", file_store.url)
    out = tmp_path / "site"

    assert main(["dashboard", "--project", "search", "--out", str(out)]) == 0

    key = f"{SITE_PREFIX}/{project_page('search')}"
    assert f"(UTC): {file_store.uri(key)}" in capsys.readouterr().out
    assert not file_store.exists(INDEX_KEY)  # that project's page only
    assert traces((out / project_page("search")).read_text()) == {7}

    assert main(["dashboard", "--project", "nope"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tracewatch:")]
    assert errors == ["tracewatch: unknown project 'nope': the projects present are billing, search"]


def test_an_unknown_project_is_refused_when_the_window_has_none(file_store: Store) -> None:
    publish(file_store, "drift", DAY, [drift_test("latency")])
    with pytest.raises(ConfigError, match=r"unknown project 'x': the projects present are none"):
        build_dashboard(file_store, project="x")


def test_a_projects_page_redraws_only_the_sections_that_read_a_per_project_table(file_store: Store) -> None:
    two_projects(file_store)
    data = load_reports(file_store, day(-1), DAY)
    makers = [overview_section, drift_section]

    every = draw_sections(makers, data, None)
    search = draw_sections(makers, project_data(data, "search"), every)

    assert "trace_metrics_daily" in every[0][1] and "trace_metrics_daily" not in every[1][1]
    assert search[0] is not every[0]  # traffic: drawn again on the project's rows
    assert search[1] is every[1]  # drift has no project column: the same charts, not drawn twice


def test_a_full_build_removes_the_pages_of_projects_no_longer_in_the_window(file_store: Store) -> None:
    two_projects(file_store)
    build_dashboard(file_store)
    publish(file_store, "trace_metrics_daily", day(1), [metric_row("m", "r", project="search")])

    built = build_dashboard(file_store, days=1)

    assert (built.projects, built.pages) == (("search",), (INDEX_KEY,))
    assert not file_store.list_objects(f"{SITE_PREFIX}/project/")
