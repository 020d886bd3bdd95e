"""Validate experiment outputs with an expectation suite (Great Expectations' JSON format, `data/expectations/`):
not empty, length bounds, valid JSON where the application promises JSON, no PII patterns. The pass rate per
config and expectation goes into the `output_checks` report.

The suite is compiled to polars (`validation.rowchecks`), as for traces, so every answered output is checked;
the differential test in tests/integration/test_output_checks.py holds the counts equal to real GX's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.paths import shipped_data
from tracewatch.validation import EXPECTATION_IDS, ROW_NR, Suite, failing_rows, load_suite

DEFAULT_OUTPUT_SUITE = "outputs"
"""The shipped suite every experiment's outputs are checked with unless its file names another."""

OUTPUT_CHECK_SCHEMA: dict[str, pl.DataType] = {
    "config_name": pl.String(),
    "suite": pl.String(),
    "expectation": pl.String(),
    "checked": pl.Int64(),
    "failed": pl.Int64(),
    "pass_rate": pl.Float64(),
}


def load_output_suite(source: str) -> Suite:
    """A shipped suite by name (`outputs`, `outputs-json`) or a path to a suite JSON file."""
    if source.endswith(".json"):
        return load_suite(Path(source))
    try:
        return load_suite(shipped_data(f"expectations/{source}.json"))
    except ConfigError:
        shipped = sorted(p.stem for p in shipped_data("expectations").glob("outputs*.json"))
        raise ConfigError(
            f"no shipped output suite {source!r}; shipped: {shipped}; or pass a .json path"
        ) from None


def output_checks(items: pl.DataFrame, suite: Suite) -> pl.DataFrame:
    """Per config and expectation: answered outputs checked, how many failed, the pass rate (None if none)."""
    answered = items.filter(pl.col("status") == "ok").select("config_name", *suite.columns)
    failing = failing_rows(answered.select(suite.columns), suite, day=dt.date.today())
    failures = (
        failing.select(ROW_NR, pl.col(EXPECTATION_IDS))
        .explode(EXPECTATION_IDS)
        .join(answered.with_row_index(ROW_NR).select(pl.col(ROW_NR).cast(pl.Int64), "config_name"), on=ROW_NR)
        .group_by("config_name", EXPECTATION_IDS)
        .agg(failed=pl.len().cast(pl.Int64))
        .rename({EXPECTATION_IDS: "expectation"})
    )
    configs = items.select("config_name").unique()
    checked = answered.group_by("config_name").agg(checked=pl.len().cast(pl.Int64))
    expectations = pl.DataFrame({"expectation": [e.id for e in suite.expectations]})
    return (
        configs.join(expectations, how="cross")
        .join(checked, on="config_name", how="left")
        .join(failures, on=["config_name", "expectation"], how="left")
        .with_columns(pl.col("checked", "failed").fill_null(0), suite=pl.lit(suite.name))
        .with_columns(pass_rate=pl.when(pl.col("checked") > 0).then(1 - pl.col("failed") / pl.col("checked")))
        .select(list(OUTPUT_CHECK_SCHEMA))
        .cast(OUTPUT_CHECK_SCHEMA)  # type: ignore[arg-type]
        .sort("config_name", "expectation")
    )
