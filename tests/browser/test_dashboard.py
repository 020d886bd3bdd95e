"""The dashboard in a real browser: Debian's chromium opens the page built from a demo-like store (14 demo days
with the day-10 drift, ingested, reported, sampled into datasets and drift-tested by the real stages, plus one
experiment run against the local test model server and scored), from the file system and from a static file
server. No console error, no request leaving the page (every request other than file:// and the loopback
server is refused and fails the test), every chart drawn with one mark per data row, and the drift heatmap
marking day 10. A screenshot of each section is kept in `.tracewatch/test-artifacts/dashboard/`.

Vega-Lite's SVG renderer gives each mark group the class `role-mark` and each item an `aria-roledescription`
(https://vega.github.io/vega/docs/marks/#aria), which is what the marks are counted by. Charts are drawn as
they near the viewport, through an IntersectionObserver
(https://developer.mozilla.org/en-US/docs/Web/API/Intersection_Observer_API).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from devtools.model_server import ModelServer
from tracewatch.dashboard import build_dashboard, copy_site, site_server
from tracewatch.datasets import load_dataset_spec, sample_dataset_items
from tracewatch.drift import detect_drift
from tracewatch.experiments import experiment_runtime, launch, run_experiment
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
from tracewatch.scoring import load_trace_scoring, score_experiment_answers, score_production_traces
from tracewatch.store import Store
from tracewatch.traces import write_demo_traces

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
START = dt.date(2026, 11, 1)
DAYS = 14
DRIFT_DAY = START + dt.timedelta(days=9)  # the demo generator's drift starts on day 10
SECTIONS = ("overview", "drift", "quality", "experiments", "datasets", "health")

# Per chart: the marks of its first data layer (points, bars, cells), summed over its small multiples.
_MARKS = """() => [...document.querySelectorAll('figure[data-marks]')].map(figure => {
  const counts = new Map();
  for (const path of figure.querySelectorAll('g.role-mark path')) {
    const role = path.getAttribute('aria-roledescription') || '';
    if (!['point', 'bar', 'rect mark', 'rect', 'circle', 'square'].includes(role)) continue;
    const group = path.parentElement.getAttribute('class');
    counts.set(group, (counts.get(group) || 0) + 1);
  }
  const first = counts.size ? [...counts.values()][0] : 0;
  return [figure.dataset.chart, Number(figure.dataset.marks), first];
})"""


def demo_night_store(store: Store, server: ModelServer) -> None:
    """What `make demo` leaves, by the same library calls the nightly flow makes (without Prefect)."""
    write_demo_traces(store, start=START, days=DAYS, traces_per_day=300)
    spec, scoring = load_dataset_spec(), load_trace_scoring("traces")
    for index in range(DAYS):
        day = START + dt.timedelta(days=index)
        result = ingest_new_traces(store, up_to=day, reducer=METRIC_REDUCER, require_traces=False)
        build_monitoring_reports(store, day, run_id=result.run_id, parts=result.parts.pop(day, None))
        build, _ = sample_dataset_items(store, spec, day, run_id=result.run_id)
        in_thread(score_production_traces(store, day, scoring, run_id=result.run_id))
        detect_drift(store, day, run_id=result.run_id)
    experiment = {
        "name": "dash",
        "defaults": {
            "model": "openai/echo",
            "api_base": server.base_url,
            "cost_per_1k_input": 0.001,
            "cost_per_1k_output": 0.002,
        },
        "configs": [
            {"name": "plain", "prompt": "{input}", "baseline": True},
            {"name": "polite", "prompt": "Please answer: {input}"},
        ],
        "scorers": [{"metric": "refusal"}, {"metric": "length", "max": 400}],
    }
    ready = launch(store, experiment, build.dataset, None)

    async def run() -> None:
        runtime = experiment_runtime(store, ready.experiment)
        try:
            done = await run_experiment(
                store, ready.spec, ready.experiment.configs, ready.source.items, runtime=runtime
            )
        finally:
            await runtime.aclose()
        await score_experiment_answers(
            store,
            ready.spec.experiment_id,
            ready.experiment,
            START + dt.timedelta(days=DAYS - 1),
            run_id=done.run_id,
        )

    in_thread(run())


def in_thread(work: Coroutine[Any, Any, object]) -> None:
    """Run a coroutine on a thread of its own: Playwright's sync API may already run a loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, model_server: ModelServer) -> Path:
    """The built dashboard, copied to a local folder (as `tracewatch dashboard --out` does)."""
    store = Store(f"file://{tmp_path_factory.mktemp('dashboard-store')}")
    demo_night_store(store, model_server)
    built = build_dashboard(store)
    assert (built.start, built.end) == (START, START + dt.timedelta(days=DAYS - 1))
    return copy_site(store, tmp_path_factory.mktemp("dashboard-site")).parent


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


class Watched:
    """A page whose console errors and outside requests are recorded (outside requests refused)."""

    def __init__(self, page: Page, allowed: tuple[str, ...]) -> None:
        self.page, self.allowed = page, allowed
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.route("**/*", self._route)

    def _route(self, route: Route, request: Request) -> None:
        if request.url.startswith(self.allowed):
            route.continue_()
        else:
            self.outside.append(request.url)
            route.abort()

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_selector("body[data-rendered]", timeout=30_000)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield Watched(context.new_page(), ("file://", "http://127.0.0.1:"))
    context.close()


def draw_every_chart(page: Page) -> None:
    """Scroll each section, then each of its charts, into view (a chart is drawn only when it nears the
    viewport) and wait until every chart of the page is drawn."""
    for section in SECTIONS:
        page.locator(f"section#{section}").scroll_into_view_if_needed()
        for figure in page.locator(f"section#{section} figure[data-marks]").all():
            figure.scroll_into_view_if_needed()
    page.wait_for_function("document.body.dataset.rendered === document.body.dataset.charts", timeout=60_000)


def check_page(watched: Watched, shots: Path | None) -> None:
    page = watched.page
    draw_every_chart(page)
    assert not watched.errors, watched.errors
    assert not watched.outside, f"requests left the page: {watched.outside}"
    assert page.locator("section").count() == len(SECTIONS)
    for section in SECTIONS:
        assert page.locator(f"section#{section} figure").count() >= 1
        if shots is not None:
            page.locator(f"section#{section}").screenshot(path=str(shots / f"{section}.png"))
    counts = page.evaluate(_MARKS)
    assert counts, "no chart on the page"
    wrong = [(chart, expected, drawn) for chart, expected, drawn in counts if expected != drawn or drawn == 0]
    assert not wrong, (
        f"charts drawn with other mark counts than their data rows (chart, rows, marks): {wrong}"
    )
    assert int(page.evaluate("document.body.dataset.rendered")) == len(counts)
    # Every section is filled: no figure on the page says it has nothing to show.
    assert page.locator("figure[data-empty]").count() == 0, page.locator(
        "figure[data-empty]"
    ).all_inner_texts()


def test_the_dashboard_opens_from_the_file_system_offline(
    watched: Watched, site: Path, artifacts: Path
) -> None:
    shots = artifacts / "dashboard"
    shots.mkdir(parents=True, exist_ok=True)
    watched.open((site / "index.html").as_uri())
    page = watched.page
    first = page.evaluate("[Number(document.body.dataset.rendered), Number(document.body.dataset.charts)]")
    assert 0 < first[0] < first[1], f"drawn on opening / charts: {first}"  # the first screen only
    check_page(watched, shots)
    page.screenshot(path=str(shots / "full-page.png"), full_page=True)
    per_day = dict((c, m) for c, m, _ in page.evaluate(_MARKS))
    assert per_day["overview-traces"] == DAYS  # one bar per day
    alerted = page.eval_on_selector_all(
        "#drift-heatmap g.role-mark path[aria-roledescription='point']", "ps => ps.map(p => p.ariaLabel)"
    )
    days = {found[1] for label in alerted if (found := re.search(r"Day \(UTC\): (\d{4}-\d\d-\d\d)", label))}
    assert min(days) == DRIFT_DAY.isoformat(), days  # the injected drift is marked from its first day on
    listed = page.locator("figure[data-chart='drift-alerts'] .table-wrap").text_content() or ""
    assert min(re.findall(r"\d{4}-\d\d-\d\d", listed)) == DRIFT_DAY.isoformat()  # the exact numbers agree


def test_the_dashboard_served_by_a_static_file_server(watched: Watched, site: Path) -> None:
    server = site_server(site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        watched.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        check_page(watched, None)
    finally:
        server.shutdown()
        server.server_close()
