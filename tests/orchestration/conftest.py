"""Flow tests run against a real (temporary, SQLite-backed) Prefect server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prefect.testing.fixtures import asserting_events_worker  # noqa: F401  (Prefect's fixture: records events)
from prefect.testing.utilities import prefect_test_harness


@pytest.fixture(scope="session", autouse=True)
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield
