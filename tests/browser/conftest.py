"""The whole stack of `make up` (Prefect server, process work pool + worker, deployments, local S3 server,
demo traces) for the browser and crash-recovery tests: one per session, on its own free ports and with its
own `.tracewatch` folder under the session's temporary directory, so it never meets a developer's `make up`.

While working on these tests, start a stack once (`python -m devtools.stack up --no-model
--days 3 --traces-per-day 300 --home /tmp/tw-stack`) and set TRACEWATCH_TEST_STACK_HOME=/tmp/tw-stack: the
tests then use it (starting it if needed) and leave it running.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.stack import Stack, StackOptions, down, up

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".tracewatch" / "test-artifacts"
REUSE_ENV = "TRACEWATCH_TEST_STACK_HOME"
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """No local model (the tests bring their own test model server) and no nightly experiments by default:
    3 small demo days keep a nightly run to seconds."""
    reused = os.environ.get(REUSE_ENV)
    home = Path(reused) if reused else tmp_path_factory.mktemp("stack") / ".tracewatch"
    options = StackOptions(
        home=home,
        repo=REPO,
        model=False,
        demo_days=3,
        traces_per_day=300,
        nightly_experiments="",
        worker_poll_s=2.0,
    )
    running = up(options)
    try:
        yield running
    finally:
        if not reused:
            down(home)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so that a fixture can tell whether the test failed."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the tests leave what a human may want to look at (git-ignored)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Runs:
    """Flow runs of the stack's deployments, started and watched through the Prefect REST API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def start(self, deployment: str, parameters: dict[str, Any]) -> str:
        """A flow run of `deployment` ("flow/name"), as the UI or the schedule would start it; its id."""
        found = self.stack.api("GET", f"/deployments/name/{deployment}")
        body = {"parameters": parameters}
        run = self.stack.api("POST", f"/deployments/{found['id']}/create_flow_run", body)
        return str(run["id"])

    def get(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.stack.api("GET", f"/flow_runs/{run_id}")
        return run

    def wait(self, run_id: str, timeout_s: float = 240.0) -> dict[str, Any]:
        """The flow run once it reached a final state; fails with the worker's log if it does not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.get(run_id)
            if run["state_type"] in FINAL_STATES:
                return run
            time.sleep(1)
        pytest.fail(f"flow run {run_id} did not finish within {timeout_s:.0f} s:\n{self.worker_log()}")

    def worker_log(self) -> str:
        """The end of the worker's log (flow-run logs included), for failure messages."""
        return (self.stack.state_dir / "logs" / "worker.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def runs(stack: Stack) -> Runs:
    return Runs(stack)
