"""Dashboard bench: build the dashboard for 90 days of demo-sized reports, then time its first render in
chromium (`python -m bench.run --only dashboard`; its table is in docs/benchmarks.md).

The reports: 14 demo days (2,000 traces a day, the demo's default, with the day-10 drift) run through the real
stages (ingest, monitoring reports, dataset sample, drift), then their report partitions copied to 90
consecutive dates, as a store would hold after three months. The build is timed warm (the Vega script already
in the store, as on every night but the first) and, once, cold (bundling the script). The first render is the
time from navigation start to every chart drawn (`body[data-rendered]`), on the page opened from `file://`.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import VERDICT, machine_info
from tracewatch.dashboard import INDEX_KEY, SITE_PREFIX, build_dashboard
from tracewatch.datasets import load_dataset_spec, sample_dataset_items
from tracewatch.drift import detect_drift
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
from tracewatch.reports import REPORTS_PREFIX
from tracewatch.store import Store
from tracewatch.traces import write_demo_traces

START = dt.date(2026, 11, 1)
DEMO_DAYS = 14
DAYS = 90
TRACES_PER_DAY = 2000
BUILD_TARGET_S = 5.0
RENDER_TARGET_S = 2.0
CHROMIUM = Path("/usr/bin/chromium")


def demo_reports(store: Store) -> None:
    """14 demo nights by the real stages, their report partitions then repeated over 90 dates."""
    write_demo_traces(store, start=START, days=DEMO_DAYS, traces_per_day=TRACES_PER_DAY)
    spec = load_dataset_spec()
    for index in range(DEMO_DAYS):
        day = START + dt.timedelta(days=index)
        result = ingest_new_traces(store, up_to=day, reducer=METRIC_REDUCER, require_traces=False)
        build_monitoring_reports(store, day, run_id=result.run_id, parts=result.parts.pop(day, None))
        sample_dataset_items(store, spec, day, run_id=result.run_id)
        detect_drift(store, day, run_id=result.run_id)
    parts = [o.key for o in store.list_objects(REPORTS_PREFIX, ".parquet") if "/date=" in o.key]
    found = store.read_many(parts)
    for index in range(DEMO_DAYS, DAYS):
        source = (START + dt.timedelta(days=index % DEMO_DAYS)).isoformat()
        target = (START + dt.timedelta(days=index)).isoformat()
        for key, data in found.items():
            if f"/date={source}/" in key:
                store.write_bytes(key.replace(f"/date={source}/", f"/date={target}/"), data, durable=False)


def first_render_s(page_path: Path, repeats: int) -> list[float]:
    """Seconds from navigation start to every chart drawn, one fresh browser context per run."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for _ in range(repeats):
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.goto(page_path.as_uri())
                page.wait_for_selector("body[data-rendered]", timeout=60_000)
                times.append(page.evaluate("performance.now()") / 1000)
                context.close()
        finally:
            browser.close()
    return times


def run_benchmark(*, repeats: int = 5, work_dir: Path | None = None) -> dict[str, Any]:
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        store = Store(f"file://{tmp}")
        began = time.perf_counter()
        demo_reports(store)
        setup_s = time.perf_counter() - began
        cold = build_dashboard(store, days=DAYS)
        warm = [build_dashboard(store, days=DAYS).seconds for _ in range(repeats)]
        page = Path(store.path(INDEX_KEY))
        # What one person loads: a page and the script it shares (the per-project pages are other pages).
        weight = page.stat().st_size + sum(o.size for o in store.list_objects(f"{SITE_PREFIX}/assets"))
        html = page.stat().st_size
        renders = first_render_s(page, repeats)
    build_s, render_s = statistics.median(warm), statistics.median(renders)
    return {
        "days": DAYS,
        "demo_days": DEMO_DAYS,
        "traces_per_day": TRACES_PER_DAY,
        "window": [str(cold.start), str(cold.end)],
        "charts": cold.charts,
        "empty_charts": cold.empty,
        "setup_s": round(setup_s, 1),
        "build_cold_s": round(cold.seconds, 3),
        "build_warm_s": [round(s, 3) for s in warm],
        "build_s": round(build_s, 3),
        "render_s_runs": [round(s, 3) for s in renders],
        "render_s": round(render_s, 3),
        "html_bytes": html,
        "page_bytes": weight,
        "ok": {"build": build_s <= BUILD_TARGET_S, "render": render_s <= RENDER_TARGET_S},
        "machine": machine_info(),
    }


def to_markdown(summary: dict[str, Any]) -> str:
    ok = summary["ok"]
    return (
        f"{summary['days']} days of demo-sized reports ({summary['demo_days']} demo nights of "
        f"{summary['traces_per_day']:,} traces by the real stages, repeated), {summary['charts']} charts "
        f"({summary['empty_charts']} with nothing to show: no experiment in these reports).\n\n"
        "| measure | median | runs |\n|---|---|---|\n"
        f"| build, script already in the store (s) | {summary['build_s']} | "
        f"{', '.join(map(str, summary['build_warm_s']))} |\n"
        f"| first build, bundling the script (s) | {summary['build_cold_s']} | 1 |\n"
        f"| first render in chromium, `file://` (s) | {summary['render_s']} | "
        f"{', '.join(map(str, summary['render_s_runs']))} |\n"
        f"| page weight: HTML / with the script (MB) | {summary['html_bytes'] / 1e6:.2f} / "
        f"{summary['page_bytes'] / 1e6:.2f} | |\n\n"
        f"- build of {summary['days']} days <= {BUILD_TARGET_S:g} s: {summary['build_s']} s, {VERDICT[ok['build']]}\n"
        f"- first render <= {RENDER_TARGET_S:g} s: {summary['render_s']} s, {VERDICT[ok['render']]}\n\n"
        f"Machine: {summary['machine']['usable_cpus']} usable CPUs, load average "
        f"{summary['machine']['load_avg_1m']} when the runs ended; "
        f"commit {summary['machine']['git']}, {summary['machine']['date']}.\n"
    )
