"""Validate traces against an expectation suite: polars on every row, real Great Expectations on a sample.

The suite is written once in GX's ExpectationSuite JSON (`data/expectations/traces.json`). `failing_rows`
compiles it to polars and checks a whole day in about a second; `run_suite` runs the same file through GX on
a bounded sample (`sample_for_gx`) for Data Docs and as a cross-check. Importing this package does not import
great_expectations; only `run_suite` does, when called. See docs/validation.md.
"""

from tracewatch.validation.gx_runner import GxExpectationResult, GxRunResult, run_suite, sample_for_gx
from tracewatch.validation.rowchecks import (
    EXPECTATION_IDS,
    RESULT_SCHEMA,
    ROW_NR,
    failing_rows,
    unexpected_counts,
)
from tracewatch.validation.suite import (
    SUPPORTED_TYPES,
    Expectation,
    Suite,
    day_parameters,
    load_suite,
    trace_suite_path,
)

__all__ = [
    "EXPECTATION_IDS",
    "RESULT_SCHEMA",
    "ROW_NR",
    "SUPPORTED_TYPES",
    "Expectation",
    "GxExpectationResult",
    "GxRunResult",
    "Suite",
    "day_parameters",
    "failing_rows",
    "load_suite",
    "run_suite",
    "sample_for_gx",
    "trace_suite_path",
    "unexpected_counts",
]
