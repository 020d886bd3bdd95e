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


def build_dashboard(
    store: Store, *, days: int = 28, end: dt.date | None = None, now: dt.datetime | None = None
) -> DashboardBuild:
    """Write `reports/_site/index.html` (and its script) for the `days` UTC days ending `end` (default: the
    newest date any report table has; today when there is none), starting no earlier than the first report
    (a young store is not drawn as weeks of nothing). A store with no reports gets a page that says so."""
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
    sections = [make(data) for make in SECTIONS]
    asset = f"{ASSETS}/{bundle_name()}"
    if not store.exists(f"{SITE_PREFIX}/{asset}"):
        store.write_bytes(f"{SITE_PREFIX}/{asset}", javascript_bundle())
    page = render_page(
        sections,
        start=start,
        end=end,
        store_url=store.url,
        generated_at=now or utc_now(),
        script_src=asset,
        notes=notes + [n for t in data.tables.values() for n in t.notes],
    )
    store.write_bytes(INDEX_KEY, page.encode())
    charts = [c for s in sections for c in s.charts]
    built = DashboardBuild(
        key=INDEX_KEY,
        uri=store.uri(INDEX_KEY),
        start=start,
        end=end,
        charts=sum(c.spec is not None for c in charts),
        empty=sum(c.spec is None for c in charts),
        notes=tuple(notes),
        seconds=time.perf_counter() - began,
    )
    log.info("dashboard %s..%s: %d charts, %d empty, at %s", start, end, built.charts, built.empty, built.uri)
    return built
