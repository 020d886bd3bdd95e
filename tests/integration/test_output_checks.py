"""The output suite: pass rates per config from the polars compilation, and the same counts from real Great
Expectations on the same outputs (the differential check that keeps the two engines in step)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.scoring.output_checks import load_output_suite, output_checks
from tracewatch.validation import run_suite
from tracewatch.validation.suite import parse_suite

OUTPUTS = [
    ("a", "ok", "Paris is the capital."),
    ("a", "ok", "Write to jane.doe@example.com for details."),
    ("a", "ok", "Call +1 415-555-0100 today."),
    ("a", "error", None),
    ("b", "ok", '{"answer": "Paris"}'),
    ("b", "ok", "Server at 10.0.0.12 uses key sk-abcdefghijklmnopqrstuv."),
    ("b", "ok", "Card 4111 1111 1111 1111 was charged."),
    ("b", "ok", "x" * 4001),
]


def items() -> pl.DataFrame:
    return pl.DataFrame(OUTPUTS, schema=["config_name", "status", "output"], orient="row")


def test_pass_rates_per_config_and_expectation() -> None:
    checks = output_checks(items(), load_output_suite("outputs-json"))
    failed = {(r["config_name"], r["expectation"]): r["failed"] for r in checks.to_dicts()}
    assert failed[("a", "no_email")] == 1 and failed[("a", "no_phone")] == 1
    assert failed[("b", "no_ip_address")] == 1 and failed[("b", "no_api_key")] == 1
    assert failed[("b", "no_card_number")] == 1 and failed[("b", "output_length")] == 1
    assert failed[("a", "output_is_json")] == 3 and failed[("b", "output_is_json")] == 3
    assert failed[("a", "no_card_number")] == 0
    checked = dict(checks.select("config_name", "checked").unique().iter_rows())
    assert checked == {"a": 3, "b": 4}  # the errored item has no output to check, and is not counted
    json_rate = checks.filter(pl.col("config_name") == "b", pl.col("expectation") == "output_is_json")
    assert json_rate["pass_rate"].item() == pytest.approx(0.25)


def test_real_great_expectations_counts_the_same_failures() -> None:
    suite = load_output_suite("outputs-json")
    answered = items().filter(pl.col("status") == "ok")
    ours = output_checks(answered, suite).group_by("expectation").agg(pl.col("failed").sum())
    gx = run_suite(answered.select("output"), suite, day=dt.date(2026, 1, 1))
    assert dict(ours.iter_rows()) == {r.id: r.unexpected_count for r in gx.expectations}


def test_unknown_suites_and_bad_patterns_are_refused() -> None:
    with pytest.raises(ConfigError, match="no shipped output suite 'nope'"):
        load_output_suite("nope")
    bad = parse_suite(
        {
            "name": "bad",
            "expectations": [
                {
                    "type": "expect_column_values_to_not_match_regex",
                    "kwargs": {"column": "output", "regex": "(?<=x)y"},
                    "meta": {"id": "lookbehind", "description": "d"},
                }
            ],
        }
    )
    with pytest.raises(DataContractError, match="not a pattern polars can run"):
        output_checks(items(), bad)
