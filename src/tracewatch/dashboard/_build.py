"""Build the dashboard of a store: read the report tables of the window, draw each section, write the page and
its script under `reports/_site/` (on a local folder or S3 alike)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tracewatch.dashboard._bundle import ASSETS, bundle_name, javascript_bundle
from tracewatch.dashboard._charts import Section
from tracewatch.dashboard._datasets import datasets_section
from tracewatch.dashboard._drift import drift_section
from tracewatch.dashboard._experiments import ITEM_COLUMNS, experiments_section
from tracewatch.dashboard._health import health_section
from tracewatch.dashboard._load import ReportData, load_reports, report_dates
from tracewatch.dashboard._overview import overview_section
from tracewatch.dashboard._page import render_page
from tracewatch.dashboard._projects import (
    DrawnSection,
    check_project,
    draw_sections,
    project_data,
    project_page,
    projects_in,
    selector,
    whole_tables_note,
)
from tracewatch.dashboard._quality import quality_section
from tracewatch.errors import ConfigError
from tracewatch.reports import REPORTS_PREFIX
from tracewatch.runs import utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)

SITE_PREFIX = f"{REPORTS_PREFIX}/_site"
INDEX_KEY = f"{SITE_PREFIX}/index.html"

SECTIONS: tuple[Callable[[ReportData], Section], ...] = (
    overview_section,
    drift_section,
    quality_section,
    experiments_section,
    datasets_section,
    health_section,
)


@dataclass(frozen=True)
class DashboardBuild:
    """Where the page is, what window it shows, and what the reader is told is missing."""

    key: str
    uri: str
    start: dt.date
    end: dt.date
    charts: int
    empty: int
    notes: tuple[str, ...]
    seconds: float
    projects: tuple[str, ...] = ()
    """The projects of the window; with two or more, each has its page beside the all-projects one."""
    pages: tuple[str, ...] = ()
    """Every page this build wrote (store keys), the one `key` names first."""


def build_dashboard(
    store: Store,
    *,
    days: int = 28,
    end: dt.date | None = None,
    now: dt.datetime | None = None,
    project: str | None = None,
) -> DashboardBuild:
    """Write `reports/_site/index.html` (and its script) for the `days` UTC days ending `end` (default: the
    newest date any report table has; today when there is none), starting no earlier than the first report
    (a young store is not drawn as weeks of nothing). A store with no reports gets a page that says so.

    With several projects in the window, each also gets `reports/_site/project/<slug>/index.html`; `project`
    builds that one page only (an unknown name is refused, naming the projects present)."""
    if days < 1:
        raise ConfigError(f"dashboard days={days}: expected a whole number of days, 1 or more")
    began = time.perf_counter()
    notes: list[str] = []
    found = report_dates(store)
    if found is None:
        notes.append(f"No report tables in {store.url} yet: run the nightly flow (or make demo) first.")
    end = end or (found[1] if found else (now or utc_now()).date())
    start = end - dt.timedelta(days=days - 1)
    if found is not None and start < found[0] <= end:
        notes.append(f"The reports begin on {found[0]}: the {days} days asked for start there.")
        start = found[0]
    # The answers' text is the bulk of experiment_items and no chart needs it.
    data = load_reports(store, start, end, columns={"experiment_items": ITEM_COLUMNS})
    projects = projects_in(data)
    if project is not None:
        check_project(project, projects)
    asset = f"{ASSETS}/{bundle_name()}"
    if not store.exists(f"{SITE_PREFIX}/{asset}"):
        store.write_bytes(f"{SITE_PREFIX}/{asset}", javascript_bundle())
    shown: list[str | None] = [project] if project is not None else [None]
    if project is None and len(projects) > 1:
        shown += projects
    written: list[tuple[str, list[DrawnSection]]] = []
    for page_project in shown:
        page_data = data if page_project is None else project_data(data, page_project)
        # A project's page takes the all-projects page's sections that read no per-project table as drawn.
        drawn = draw_sections(SECTIONS, page_data, written[0][1] if written else None)
        key = _write_page(
            store,
            page_data,
            [section for section, _ in drawn],
            page_project,
            projects,
            asset=asset,
            notes=notes,
            generated_at=now or utc_now(),
        )
        written.append((key, drawn))
    if project is None:
        _drop_stale_pages(store, {key for key, _ in written})
    charts = [c for section, _ in written[0][1] for c in section.charts]
    built = DashboardBuild(
        key=written[0][0],
        uri=store.uri(written[0][0]),
        start=start,
        end=end,
        charts=sum(c.spec is not None for c in charts),
        empty=sum(c.spec is None for c in charts),
        notes=tuple(notes),
        seconds=time.perf_counter() - began,
        projects=tuple(projects),
        pages=tuple(key for key, _ in written),
    )
    log.info(
        "dashboard %s..%s: %d charts, %d empty, %d page(s), at %s",
        start,
        end,
        built.charts,
        built.empty,
        len(built.pages),
        built.uri,
    )
    return built


def _drop_stale_pages(store: Store, written: set[str]) -> None:
    """Delete the project pages an earlier build wrote for projects this window does not have (or all of
    them, with one project): no page is left behind that the selector no longer leads to or that shows an
    older window."""
    for found in store.list_objects(f"{SITE_PREFIX}/project/"):
        if found.key not in written:
            store.delete(found.key)
            log.info("dashboard: removed %s (no such project page in this build)", found.key)


def _write_page(
    store: Store,
    data: ReportData,
    sections: list[Section],
    project: str | None,
    projects: list[str],
    *,
    asset: str,
    notes: list[str],
    generated_at: dt.datetime,
) -> str:
    """Write one page (all projects, or one); its key. A project's page sits two folders down, so its links
    and script are relative to the site's root from there."""
    root = "" if project is None else "../../"
    page_notes = notes + [n for t in data.tables.values() for n in t.notes]
    if project is not None:
        page_notes.append(whole_tables_note(data))
    page = render_page(
        sections,
        start=data.start,
        end=data.end,
        store_url=store.url,
        generated_at=generated_at,
        script_src=f"{root}{asset}",
        notes=page_notes,
        selector=selector(projects, project, root),
    )
    key = INDEX_KEY if project is None else f"{SITE_PREFIX}/{project_page(project)}"
    store.write_bytes(key, page.encode())
    return key
