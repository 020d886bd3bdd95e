"""The Prefect UI, as a user drives it: open the nightly deployment, start a custom run with changed
parameters, and find that run's report partitions in the store once it completes.

Playwright's Python package drives Debian's chromium (`/usr/bin/chromium`; `make test` installs it). The
screenshot of the filled form is kept in `.tracewatch/test-artifacts/`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from devtools.stack import Stack
from tracewatch.reports.writer import partition_key

if TYPE_CHECKING:
    from tests.browser.conftest import Runs

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPORTS = ("trace_metrics_daily", "trace_metrics_hourly", "ingest_daily")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Debian's chromium is missing: apt-get install -y chromium (make test does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        opened.screenshot(path=str(artifacts / f"{request.node.name}-failure.png"), full_page=True)
    context.close()


def form_property(page: Page, name: str) -> Locator:
    """One parameter of the custom-run form, found by its label ("day (Optional)" for `day`)."""
    label = page.locator(
        ".schema-form-property__label", has_text=re.compile(rf"^{re.escape(name)}\b", re.IGNORECASE)
    )
    return page.locator(".schema-form-property").filter(has=label).first


def pick_date(page: Page, field: Locator, day: dt.date) -> None:
    """Switch an optional date parameter from None to a date and pick `day` in the calendar."""
    field.get_by_role("button", name="date", exact=True).click()
    field.get_by_text("Select date").click()
    picker = page.locator(".p-date-picker").last
    target = (day.strftime("%B"), str(day.year))
    for _ in range(24):  # walk back month by month to the demo date (it is in the past)
        shown = (
            picker.locator(".p-date-picker__title-month").inner_text().strip(),
            picker.locator(".p-date-picker__title-year").inner_text().strip(),
        )
        if shown == target:
            break
        picker.locator(".p-calendar-header__arrow").first.click()
    else:
        pytest.fail(f"the date picker never showed {target}")
    in_month = picker.locator(".p-calendar-date-picker__date--in-month")
    in_month.filter(has_text=re.compile(rf"^\s*{day.day}\s*$")).click()
    picker.get_by_role("button", name="Apply", exact=True).click()
    expect(picker).to_be_hidden()


def submit(page: Page, attempts: int = 3) -> str:
    """Submit the form; the id of the flow run the UI created (from its own API call). Submits again, as a
    user would, if the server said it could not create the run: on a busy machine, Prefect's SQLite database
    sometimes answers "database is locked" (Postgres does not)."""
    failed = page.get_by_text("Something went wrong trying to create a flow run")
    for _ in range(attempts):
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith("/create_flow_run")
        ) as created:
            page.get_by_role("button", name="Submit", exact=True).click()
        if created.value.ok:
            return str(created.value.json()["id"])
        expect(failed.first).to_be_visible()
        expect(failed).to_have_count(0, timeout=20_000)  # the toasts go away by themselves
    pytest.fail(f"the server refused to create the run {attempts} times")


def test_a_custom_run_started_in_the_ui_completes_and_publishes_its_reports(
    stack: Stack, runs: Runs, page: Page, artifacts: Path
) -> None:
    store = stack.store()
    # The night before the last demo day: no run has processed it, so its reports can only come from the
    # run this test starts (the deployment's default would be yesterday).
    day = stack.demo_window[1] - dt.timedelta(days=1)
    assert not [t for t in REPORTS if store.exists(partition_key(t, day))]

    page.goto(stack.ui_url + "/deployments")
    page.get_by_role("link", name="nightly", exact=True).first.click()
    expect(page.get_by_text("At 02:00 AM every day").first).to_be_visible()  # the deployment's schedule
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run").click()

    pick_date(page, form_property(page, "day"), day)
    reprocess = form_property(page, "reprocess").get_by_role("switch")
    expect(reprocess).to_have_attribute("aria-checked", "false")
    reprocess.click()
    expect(reprocess).to_have_attribute("aria-checked", "true")
    page.screenshot(path=str(artifacts / "prefect-ui-custom-run-form.png"), full_page=True)

    run_name = page.locator(".p-label", has_text="Run Name").locator("input").first
    expect(run_name).not_to_have_value("")
    name = run_name.input_value()
    run_id = submit(page)
    # The UI goes back to the deployment and says so in a toast; the run's page shows it run.
    expect(page.locator(".toast-flow-run-create").first).to_contain_text(f"{name} scheduled")
    page.goto(f"{stack.ui_url}/runs/flow-run/{run_id}")
    run = runs.get(run_id)
    chosen = {k: run["parameters"].get(k) for k in ("day", "reprocess")}
    assert chosen == {"day": day.isoformat(), "reprocess": True}, run["parameters"]

    finished = runs.wait(run_id)
    assert finished["state_type"] == "COMPLETED", f"{finished['state_name']}:\n{runs.worker_log()}"
    assert finished["name"] == f"nightly-{day}"
    missing = [t for t in REPORTS if not store.exists(partition_key(t, day))]
    assert missing == [], f"report partitions missing for {day}: {missing}"
    # The flow run's page says so too, as the user watching it would see.
    page.reload()
    expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
