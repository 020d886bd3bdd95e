"""Fixtures for the validation tests."""

from __future__ import annotations

import pytest

from tracewatch.validation.suite import Suite, load_suite, trace_suite_path


@pytest.fixture(scope="session")
def trace_suite() -> Suite:
    """The shipped trace suite, loaded once."""
    return load_suite(trace_suite_path())
