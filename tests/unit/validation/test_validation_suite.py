"""Loading the suite file: the shipped suite, and bad suites that must stop the run with a clear message."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tracewatch.errors import ConfigError
from tracewatch.traces import TRACE_SCHEMA
from tracewatch.validation.suite import (
    ROW_ONLY_TYPES,
    SUPPORTED_TYPES,
    Suite,
    day_parameters,
    load_suite,
    trace_suite_path,
)

EXPECTED_IDS = [
    "trace_id_not_null",
    "trace_id_unique",
    "start_time_not_null",
    "start_time_in_day",
    "project_not_null",
    "route_not_null",
    "model_not_null",
    "status_not_null",
    "status_in_set",
    "input_tokens_non_negative",
    "input_tokens_at_most_10m",
    "output_tokens_non_negative",
    "output_tokens_at_most_10m",
    "latency_ms_finite",
    "latency_ms_non_negative",
    "latency_ms_at_most_7_days",
    "cost_usd_finite",
    "cost_usd_non_negative",
    "cost_usd_at_most_10k",
    "input_text_max_length",
    "output_text_max_length",
    "feedback_values_finite",
]
AT = {eid: i for i, eid in enumerate(EXPECTED_IDS)}
LATENCY, STATUS, TEXT = AT["latency_ms_non_negative"], AT["status_in_set"], AT["input_text_max_length"]


def _raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(trace_suite_path().read_text(encoding="utf-8"))
    return raw


def test_shipped_suite_loads_with_stable_ids_in_file_order(trace_suite: Suite) -> None:
    assert trace_suite.name == "traces"
    assert [e.id for e in trace_suite.expectations] == EXPECTED_IDS
    assert all(e.description for e in trace_suite.expectations)
    assert set(trace_suite.columns) <= set(TRACE_SCHEMA)
    assert trace_suite.parameter_names == {"day_start", "day_end"}


def test_shipped_suite_bounds_absurd_values_and_gx_runs_all_but_the_finiteness_rules(
    trace_suite: Suite,
) -> None:
    by_id = trace_suite.by_id()
    assert by_id["input_tokens_at_most_10m"].kwargs["max_value"] == 10_000_000
    assert by_id["output_tokens_at_most_10m"].kwargs["max_value"] == 10_000_000
    assert by_id["latency_ms_at_most_7_days"].kwargs["max_value"] == 7 * 24 * 3600 * 1000
    assert by_id["cost_usd_at_most_10k"].kwargs["max_value"] == 10_000
    assert dict(by_id["feedback_values_finite"].kwargs) == {"column": "feedback", "element_field": "value"}
    row_only = {e.id for e in trace_suite.expectations if e.type in ROW_ONLY_TYPES}
    assert row_only == {"latency_ms_finite", "cost_usd_finite", "feedback_values_finite"}
    gx_part = trace_suite.for_gx()
    assert [e.id for e in gx_part.expectations] == [i for i in EXPECTED_IDS if i not in row_only]
    assert "feedback" not in gx_part.columns  # GX never converts the list column
    assert gx_part.for_gx() is gx_part


def test_shipped_suite_says_what_the_contract_is(trace_suite: Suite) -> None:
    by_id = trace_suite.by_id()
    assert by_id["latency_ms_non_negative"].description == "latency_ms must be >= 0"
    assert dict(by_id["start_time_in_day"].kwargs) == {
        "column": "start_time",
        "min_value": {"$PARAMETER": "day_start"},
        "max_value": {"$PARAMETER": "day_end"},
        "strict_max": True,
    }
    assert by_id["status_in_set"].kwargs["value_set"] == ("ok", "error")
    assert by_id["input_text_max_length"].kwargs["max_value"] == 1_000_000
    assert by_id["cost_usd_non_negative"].mostly == 1.0


def test_suite_is_frozen_and_round_trips_to_the_gx_json(trace_suite: Suite) -> None:
    with pytest.raises(AttributeError):
        trace_suite.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        trace_suite.expectations[0].kwargs["column"] = "x"  # type: ignore[index]
    raw = _raw()
    gx_form = trace_suite.to_gx_dict()
    assert gx_form["expectations"] == raw["expectations"]
    assert load_suite(gx_form) == trace_suite


def test_load_suite_accepts_path_str_mapping_and_suite(trace_suite: Suite) -> None:
    path = trace_suite_path()
    assert load_suite(path) == trace_suite
    assert load_suite(str(path)) == trace_suite
    assert load_suite(_raw()) == trace_suite
    assert load_suite(trace_suite) is trace_suite


def test_day_parameters_are_the_utc_half_open_day() -> None:
    params = day_parameters(dt.date(2026, 3, 29))  # a DST change in Europe: irrelevant in UTC
    assert params == {
        "day_start": dt.datetime(2026, 3, 29, tzinfo=dt.UTC),
        "day_end": dt.datetime(2026, 3, 30, tzinfo=dt.UTC),
    }


def _with_expectation(change: dict[str, Any], index: int = 0) -> dict[str, Any]:
    raw = _raw()
    expectation = copy.deepcopy(raw["expectations"][index])
    for key, value in change.items():
        if value is None:
            expectation.pop(key, None)
        else:
            expectation[key] = value
    raw["expectations"][index] = expectation
    return raw


def test_unknown_expectation_type_names_it_and_the_supported_ones() -> None:
    raw = _with_expectation({"type": "expect_column_values_to_match_strftime_format"})
    with pytest.raises(ConfigError) as err:
        load_suite(raw)
    message = str(err.value)
    assert "'expect_column_values_to_match_strftime_format' is not supported" in message
    for supported in SUPPORTED_TYPES:
        assert supported in message


@pytest.mark.parametrize(
    ("change", "index", "needle"),
    [
        (
            {"kwargs": {"column": "latency_ms", "min_value": 0, "row_condition": "x>1"}},
            LATENCY,
            "row_condition",
        ),
        ({"kwargs": {"min_value": 0}}, LATENCY, "kwargs.column"),
        ({"meta": {"description": "no id"}}, 0, "meta.id"),
        ({"meta": {"id": "x"}}, 0, "meta.description"),
        ({"kwargs": {"column": "latency_ms"}}, LATENCY, "at least one of min_value and max_value"),
        (
            {"kwargs": {"column": "latency_ms", "min_value": 5, "max_value": 1}},
            LATENCY,
            "greater than max_value",
        ),
        ({"kwargs": {"column": "latency_ms", "min_value": 0, "mostly": 1.5}}, LATENCY, "mostly"),
        ({"kwargs": {"column": "latency_ms", "min_value": 0, "strict_min": "yes"}}, LATENCY, "strict_min"),
        ({"kwargs": {"column": "status", "value_set": []}}, STATUS, "value_set"),
        ({"kwargs": {"column": "input_text", "max_value": "big"}}, TEXT, "must be a number"),
        (
            {"kwargs": {"column": "start_time", "min_value": {"$PARAMETER": "day_start + 1"}}},
            3,
            "$PARAMETER",
        ),
        ({"rogue": 1}, 0, "unknown keys ['rogue']"),
        (
            {"kwargs": {"column": "feedback", "element_field": ""}},
            AT["feedback_values_finite"],
            "element_field",
        ),
        ({"kwargs": {"column": "cost_usd", "max_value": 1}}, AT["cost_usd_finite"], "unsupported kwargs"),
    ],
)
def test_bad_expectation_is_a_config_error_that_says_what_is_wrong(
    change: dict[str, Any], index: int, needle: str
) -> None:
    with pytest.raises(ConfigError, match="expectation #") as err:
        load_suite(_with_expectation(change, index))
    assert needle in str(err.value)


def test_duplicate_ids_are_refused() -> None:
    raw = _raw()
    raw["expectations"][1]["meta"]["id"] = raw["expectations"][0]["meta"]["id"]
    with pytest.raises(ConfigError, match="'trace_id_not_null' is used twice"):
        load_suite(raw)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"name": "s", "expectations": []}, "non-empty list"),
        ({"expectations": [{}]}, "name"),
        ({"name": "s", "expectations": [{}], "extra": 1}, "unknown suite keys"),
    ],
)
def test_bad_suite_shape_is_refused(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_suite(raw)


def test_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_suite(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_suite(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match="JSON object"):
        load_suite(listed)
