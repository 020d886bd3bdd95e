"""The polars compile of the suite: each rule on hand-made rows, nulls and boundaries, and properties."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from validation_frames import (
    DAY,
    DAY_END,
    DAY_START,
    MAX_COST_USD,
    MAX_LATENCY_MS,
    MAX_TEXT,
    MAX_TOKENS,
    US,
    feedback,
    traces,
)

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.traces import TRACE_SCHEMA
from tracewatch.validation import rowchecks
from tracewatch.validation.rowchecks import RESULT_SCHEMA, failing_rows, unexpected_counts
from tracewatch.validation.suite import Suite, load_suite


def failures(frame: pl.DataFrame, suite: Suite) -> dict[int, list[str]]:
    out = failing_rows(frame, suite, day=DAY)
    return {row: ids for row, ids in out.select("row_nr", "expectation_ids").iter_rows()}


def test_valid_rows_pass_and_the_result_has_the_documented_schema(trace_suite: Suite) -> None:
    out = failing_rows(traces({}, {}, {}), trace_suite, day=DAY)
    assert out.height == 0
    assert out.schema == pl.Schema(RESULT_SCHEMA)


def test_empty_frame_gives_empty_result(trace_suite: Suite) -> None:
    out = failing_rows(pl.DataFrame(schema=TRACE_SCHEMA), trace_suite, day=DAY)
    assert out.schema == pl.Schema(RESULT_SCHEMA)
    assert out.height == 0


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # nulls fail not-null only; every other rule ignores them (GX semantics)
        ({"trace_id": None}, ["trace_id_not_null"]),
        ({"start_time": None}, ["start_time_not_null"]),
        ({"project": None}, ["project_not_null"]),
        ({"route": None}, ["route_not_null"]),
        ({"model": None}, ["model_not_null"]),
        ({"status": None}, ["status_not_null"]),
        ({"input_tokens": None, "output_tokens": None, "latency_ms": None, "cost_usd": None}, []),
        ({"input_text": None, "output_text": None}, []),
        # an empty string is a value, not a null
        ({"model": "", "input_text": ""}, []),
        # NaN skips the range checks (pandas, so GX, reads it as null) but fails the row-only finiteness rules
        ({"latency_ms": math.nan, "cost_usd": math.nan}, ["latency_ms_finite", "cost_usd_finite"]),
        # an infinity is not finite, and beyond a bound as well (which GX sees too)
        ({"latency_ms": math.inf}, ["latency_ms_finite", "latency_ms_at_most_7_days"]),
        ({"latency_ms": -math.inf}, ["latency_ms_finite", "latency_ms_non_negative"]),
        ({"cost_usd": math.inf}, ["cost_usd_finite", "cost_usd_at_most_10k"]),
        ({"cost_usd": -math.inf}, ["cost_usd_finite", "cost_usd_non_negative"]),
        # absurd values: the bounds are inclusive
        (
            {
                "input_tokens": MAX_TOKENS,
                "output_tokens": MAX_TOKENS,
                "latency_ms": MAX_LATENCY_MS,
                "cost_usd": MAX_COST_USD,
            },
            [],
        ),
        ({"input_tokens": MAX_TOKENS + 1}, ["input_tokens_at_most_10m"]),
        ({"output_tokens": 20_000_000}, ["output_tokens_at_most_10m"]),
        ({"latency_ms": MAX_LATENCY_MS + 0.5}, ["latency_ms_at_most_7_days"]),
        ({"cost_usd": MAX_COST_USD + 0.01}, ["cost_usd_at_most_10k"]),
        # feedback values: null entries and null values are unknown, not wrong; NaN or inf anywhere fails
        ({"feedback": [feedback("thumbs", 1.0), feedback("rating", None), None]}, []),
        ({"feedback": []}, []),
        ({"feedback": [feedback("thumbs", 1.0), feedback("rating", math.nan)]}, ["feedback_values_finite"]),
        ({"feedback": [feedback("rating", -math.inf)]}, ["feedback_values_finite"]),
        # boundaries of the half-open day [day_start, day_end)
        ({"start_time": DAY_START}, []),
        ({"start_time": DAY_END - US}, []),
        ({"start_time": DAY_END}, ["start_time_in_day"]),
        ({"start_time": DAY_START - US}, ["start_time_in_day"]),
        # non-negative numbers: 0 and -0.0 pass, anything below fails
        ({"latency_ms": 0.0, "cost_usd": 0.0, "input_tokens": 0, "output_tokens": 0}, []),
        ({"latency_ms": -0.0}, []),
        ({"latency_ms": -1e-9}, ["latency_ms_non_negative"]),
        ({"cost_usd": -0.01}, ["cost_usd_non_negative"]),
        ({"input_tokens": -1}, ["input_tokens_non_negative"]),
        ({"output_tokens": -1}, ["output_tokens_non_negative"]),
        # status is case-sensitive
        ({"status": "error"}, []),
        ({"status": "OK"}, ["status_in_set"]),
        ({"status": ""}, ["status_in_set"]),
        # lengths count characters, not bytes
        ({"input_text": "é" * MAX_TEXT}, []),
        ({"input_text": "é" * (MAX_TEXT + 1)}, ["input_text_max_length"]),
        ({"output_text": "x" * (MAX_TEXT + 1)}, ["output_text_max_length"]),
    ],
)
def test_each_rule_on_nulls_and_boundaries(
    trace_suite: Suite, override: dict[str, Any], expected: list[str]
) -> None:
    frame = traces({}, override)
    assert failures(frame, trace_suite) == ({1: expected} if expected else {})


def test_reasons_name_the_rule_the_value_and_the_bound(trace_suite: Suite) -> None:
    frame = traces({}, {"latency_ms": -5.0, "start_time": DAY_END, "status": "weird", "input_tokens": -2})
    out = failing_rows(frame, trace_suite, day=DAY)
    assert out["row_nr"].to_list() == [1]
    # in suite order, parallel to the ids
    assert out["expectation_ids"][0].to_list() == [
        "start_time_in_day",
        "status_in_set",
        "input_tokens_non_negative",
        "latency_ms_non_negative",
    ]
    assert out["reasons"][0].to_list() == [
        "start_time must fall within the partition day [day_start, day_end) in UTC: "
        "start_time=2026-11-02T00:00:00+00:00 is at or above the exclusive maximum 2026-11-02T00:00:00+00:00"
        " [start_time_in_day]",
        "status must be 'ok' or 'error': status='weird' is not in ['ok', 'error'] [status_in_set]",
        "input_tokens must be >= 0: input_tokens=-2 is below the minimum 0 [input_tokens_non_negative]",
        "latency_ms must be >= 0: latency_ms=-5.0 is below the minimum 0 [latency_ms_non_negative]",
    ]


def test_non_finite_numbers_are_quarantined_with_a_reason_that_names_the_column_and_the_value(
    trace_suite: Suite,
) -> None:
    frame = traces(
        {"latency_ms": math.nan},
        {"latency_ms": math.inf},
        {"cost_usd": -math.inf},
        {"feedback": [feedback("thumbs", 1.0), None, feedback("rating", math.nan), feedback("x", math.inf)]},
        {"input_tokens": 20_000_000},
    )
    out = failing_rows(frame, trace_suite, day=DAY)
    reasons = dict(zip(out["row_nr"], out["reasons"].list.first(), strict=True))
    assert reasons == {
        0: "latency_ms must be a finite number: got NaN [latency_ms_finite]",
        1: "latency_ms must be a finite number: got inf [latency_ms_finite]",
        2: "cost_usd must be a finite number: got -inf [cost_usd_finite]",
        3: "feedback values must be finite numbers: got NaN in feedback[2].value [feedback_values_finite]",
        4: "input_tokens must be at most 10,000,000 in one request: input_tokens=20000000 is above the "
        "maximum 10000000 [input_tokens_at_most_10m]",
    }


def test_the_finiteness_rule_on_other_column_types() -> None:
    """Integers are always finite; a list of plain floats has no field; text cannot be checked at all."""
    suite = _suite(
        {"type": "expect_column_values_to_be_finite", "kwargs": {"column": "input_tokens"}},
        {
            "type": "expect_column_values_to_be_finite",
            "kwargs": {"column": "feedback", "element_field": "value"},
        },
    )
    assert failing_rows(traces({"input_tokens": 1}, {"feedback": None}), suite, day=DAY).height == 0
    plain = _suite({"type": "expect_column_values_to_be_finite", "kwargs": {"column": "tags"}})
    with pytest.raises(DataContractError, match="needs numbers, but tags is"):
        failing_rows(traces({}), plain, day=DAY)
    text_field = _suite(
        {
            "type": "expect_column_values_to_be_finite",
            "kwargs": {"column": "feedback", "element_field": "name"},
        }
    )
    with pytest.raises(DataContractError, match=r"feedback\[\]\.name is String"):
        failing_rows(traces({}), text_field, day=DAY)
    no_field = _suite(
        {
            "type": "expect_column_values_to_be_finite",
            "kwargs": {"column": "latency_ms", "element_field": "v"},
        }
    )
    with pytest.raises(DataContractError, match="list of structs with field 'v'"):
        failing_rows(traces({}), no_field, day=DAY)


def test_long_values_are_cut_short_in_reasons(trace_suite: Suite) -> None:
    out = failing_rows(traces({"status": "s" * 500}), trace_suite, day=DAY)
    (reason,) = out["reasons"][0].to_list()
    assert "status='" + "s" * 80 + "...'" in reason
    assert len(reason) < 200


def test_duplicates_keep_the_first_occurrence_and_point_at_it(trace_suite: Suite) -> None:
    frame = traces(
        {"trace_id": "a"}, {"trace_id": "b"}, {"trace_id": "a"}, {"trace_id": None}, {"trace_id": "a"}
    )
    frame = pl.concat([frame, traces({"trace_id": None}), traces({"trace_id": "b"})])
    out = failing_rows(frame, trace_suite, day=DAY)
    assert failures(frame, trace_suite) == {
        2: ["trace_id_unique"],
        3: ["trace_id_not_null"],
        4: ["trace_id_unique"],
        5: ["trace_id_not_null"],  # two nulls are not duplicates of each other
        6: ["trace_id_unique"],
    }
    reasons = dict(zip(out["row_nr"], out["reasons"].list.first(), strict=True))
    assert (
        reasons[4]
        == "trace_id must be unique within the day: duplicate trace_id 'a', first seen at row 0 [trace_id_unique]"
    )
    assert reasons[6].endswith("duplicate trace_id 'b', first seen at row 1 [trace_id_unique]")


def test_unexpected_counts_per_expectation(trace_suite: Suite) -> None:
    frame = traces({}, {"latency_ms": -1.0, "status": "x"}, {"latency_ms": -2.0}, {"trace_id": "t0"})
    counts = unexpected_counts(failing_rows(frame, trace_suite, day=DAY), trace_suite)
    assert counts == {e.id: 0 for e in trace_suite.expectations} | {
        "latency_ms_non_negative": 2,
        "status_in_set": 1,
        "trace_id_unique": 1,
    }


def test_missing_column_is_a_data_contract_error(trace_suite: Suite) -> None:
    with pytest.raises(DataContractError, match=r"\['latency_ms'\].*latency_ms_non_negative"):
        failing_rows(traces({}).drop("latency_ms"), trace_suite, day=DAY)


def test_naive_timestamps_cannot_be_compared_with_the_utc_day(trace_suite: Suite) -> None:
    naive = traces({}).with_columns(pl.col("start_time").dt.replace_time_zone(None))
    with pytest.raises(DataContractError, match="time-zone aware"):
        failing_rows(naive, trace_suite, day=DAY)


def test_a_wrong_column_type_is_a_data_contract_error(trace_suite: Suite) -> None:
    as_text = traces({}).with_columns(pl.col("input_tokens").cast(pl.String))
    with pytest.raises(DataContractError, match="cannot be compared with column input_tokens"):
        failing_rows(as_text, trace_suite, day=DAY)
    latency_as_text = traces({}).with_columns(pl.col("latency_ms").cast(pl.String))
    with pytest.raises(DataContractError, match="needs numbers, but latency_ms is String"):
        failing_rows(latency_as_text, trace_suite, day=DAY)
    tokens_as_text = traces({}).with_columns(pl.col("input_text").str.len_chars())
    with pytest.raises(DataContractError, match="needs a string column"):
        failing_rows(tokens_as_text, trace_suite, day=DAY)


def test_other_time_units_compare_correctly(trace_suite: Suite) -> None:
    frame = traces({}, {"start_time": DAY_END}).with_columns(
        pl.col("start_time").cast(pl.Datetime("ns", "UTC"))
    )
    assert failures(frame, trace_suite) == {1: ["start_time_in_day"]}


def _suite(*expectations: dict[str, Any]) -> Suite:
    return load_suite(
        {
            "name": "custom",
            "expectations": [
                {"type": t, "kwargs": kw, "meta": {"id": f"e{i}", "description": f"rule {i}"}}
                for i, (t, kw) in enumerate((e["type"], e["kwargs"]) for e in expectations)
            ],
        }
    )


def test_strict_bounds_numeric_sets_min_lengths_and_extra_parameters() -> None:
    suite = _suite(
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "latency_ms", "min_value": 0, "max_value": 10, "strict_min": True},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "input_tokens", "value_set": [1, 2.0]},
        },
        {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "model", "min_value": 2}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {
                "column": "start_time",
                "min_value": {"$PARAMETER": "since"},
                "max_value": "2026-11-01T12:00:00+00:00",
            },
        },
    )
    noon = DAY_START + dt.timedelta(hours=12)
    frame = traces(
        {"latency_ms": 0.0, "input_tokens": 1, "model": "ab", "start_time": noon},
        {"latency_ms": 10.0, "input_tokens": 2, "model": "a", "start_time": noon + US},
        {"latency_ms": 10.5, "input_tokens": 3, "model": "abc", "start_time": DAY_START},
    )
    out = failing_rows(frame, suite, day=DAY, parameters={"since": DAY_START})
    assert {r: ids for r, ids in out.select("row_nr", "expectation_ids").iter_rows()} == {
        0: ["e0"],
        1: ["e2", "e3"],
        2: ["e0", "e1"],
    }
    reasons = out["reasons"].explode().to_list()
    assert "rule 0: latency_ms=0.0 is at or below the exclusive minimum 0 [e0]" in reasons
    assert "rule 0: latency_ms=10.5 is above the maximum 10 [e0]" in reasons
    assert "rule 2: model length 1 is below the minimum 2 [e2]" in reasons
    assert (
        "rule 3: start_time=2026-11-01T12:00:00.000001+00:00 is above the maximum 2026-11-01T12:00:00+00:00 [e3]"
        in reasons
    )
    with pytest.raises(ConfigError, match="'since', which was not supplied"):
        failing_rows(frame, suite, day=DAY)


# --- properties ------------------------------------------------------------------------------------------

OVER = "é" * (MAX_TEXT + 1)
_values: dict[str, st.SearchStrategy[Any]] = {
    "trace_id": st.sampled_from(["a", "b", "c", "d", None]),
    "start_time": st.sampled_from(
        [DAY_START, DAY_END - US, DAY_END, DAY_START - US, DAY_START + dt.timedelta(hours=5), None]
    ),
    "project": st.sampled_from(["p", "", None]),
    "route": st.sampled_from(["r", None]),
    "model": st.sampled_from(["m", None]),
    "status": st.sampled_from(["ok", "error", "OK", "bad", None]),
    "input_tokens": st.one_of(st.none(), st.integers(-3, 3), st.sampled_from([MAX_TOKENS, MAX_TOKENS + 1])),
    "output_tokens": st.one_of(st.none(), st.integers(-3, 3), st.just(MAX_TOKENS + 1)),
    "latency_ms": st.one_of(
        st.none(),
        st.sampled_from([math.nan, math.inf, -math.inf, MAX_LATENCY_MS, MAX_LATENCY_MS + 1]),
        st.floats(-2, 2, allow_nan=False),
    ),
    "cost_usd": st.one_of(
        st.none(),
        st.sampled_from([math.nan, math.inf, -math.inf, MAX_COST_USD, MAX_COST_USD + 1]),
        st.floats(-1, 1, allow_nan=False),
    ),
    "input_text": st.sampled_from(["", "q", "é" * 3, OVER, None]),
    "output_text": st.sampled_from(["", "a", None]),
    "feedback": st.one_of(
        st.none(),
        st.lists(
            st.one_of(
                st.none(),
                st.builds(feedback, st.just("r"), st.sampled_from([None, 0.0, 1.0, math.nan, -math.inf])),
            ),
            max_size=3,
        ),
    ),
}
_LIMITS = {
    "input_tokens": ("10m", MAX_TOKENS),
    "output_tokens": ("10m", MAX_TOKENS),
    "latency_ms": ("7_days", MAX_LATENCY_MS),
    "cost_usd": ("10k", MAX_COST_USD),
}
any_rows = st.lists(st.fixed_dictionaries(_values), max_size=25)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def reference(rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    """The shipped suite's rules written out row by row in plain Python, following GX's semantics
    (nulls and NaN skip everything but not-null), our keep-first rule for duplicates, and the row-only
    finiteness rules (NaN and infinities fail, nulls pass)."""
    seen: set[str] = set()
    out: dict[int, list[str]] = {}
    for i, row in enumerate(rows):
        failed = []
        tid = row["trace_id"]
        if tid is None:
            failed.append("trace_id_not_null")
        elif tid in seen:
            failed.append("trace_id_unique")
        else:
            seen.add(tid)
        start = row["start_time"]
        if start is None:
            failed.append("start_time_not_null")
        elif not DAY_START <= start < DAY_END:
            failed.append("start_time_in_day")
        failed += [f"{c}_not_null" for c in ("project", "route", "model", "status") if row[c] is None]
        if row["status"] is not None and row["status"] not in ("ok", "error"):
            failed.append("status_in_set")
        for column, (name, limit) in _LIMITS.items():
            value = row[column]
            if _non_finite(value):
                failed.append(f"{column}_finite")
            if not _missing(value) and value < 0:
                failed.append(f"{column}_non_negative")
            if not _missing(value) and value > limit:
                failed.append(f"{column}_at_most_{name}")
        for column in ("input_text", "output_text"):
            if row[column] is not None and len(row[column]) > MAX_TEXT:
                failed.append(f"{column}_max_length")
        if any(entry is not None and _non_finite(entry["value"]) for entry in row["feedback"] or ()):
            failed.append("feedback_values_finite")
        if failed:
            out[i] = failed
    return out


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={c: TRACE_SCHEMA[c] for c in _values})


@settings(max_examples=150, deadline=None)
@given(rows=any_rows)
def test_matches_a_row_by_row_reference(trace_suite: Suite, rows: list[dict[str, Any]]) -> None:
    out = failing_rows(_frame(rows), trace_suite, day=DAY)
    got = {r: ids for r, ids in out.select("row_nr", "expectation_ids").iter_rows()}
    assert got == reference(rows)
    assert out["reasons"].list.len().to_list() == out["expectation_ids"].list.len().to_list()


def _colliding_hash(col: pl.Expr) -> pl.Expr:
    """Every non-null value hashes alike: the worst case for the candidate step of the uniqueness check."""
    return col.is_null().cast(pl.UInt64)


@settings(max_examples=60, deadline=None)
@given(rows=any_rows)
def test_hash_collisions_never_fail_a_row(trace_suite: Suite, rows: list[dict[str, Any]]) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rowchecks, "_value_hash", _colliding_hash)
        out = failing_rows(_frame(rows), trace_suite, day=DAY)
    got = {r: ids for r, ids in out.select("row_nr", "expectation_ids").iter_rows()}
    assert got == reference(rows)


_valid_values: dict[str, st.SearchStrategy[Any]] = {
    "start_time": st.datetimes(
        min_value=dt.datetime(2026, 11, 1), max_value=dt.datetime(2026, 11, 1, 23, 59, 59, 999999)
    ).map(lambda t: t.replace(tzinfo=dt.UTC)),
    "project": st.text(max_size=5),
    "route": st.text(max_size=5),
    "model": st.text(max_size=5),
    "status": st.sampled_from(["ok", "error"]),
    "input_tokens": st.one_of(st.none(), st.integers(0, MAX_TOKENS)),
    "output_tokens": st.one_of(st.none(), st.integers(0, MAX_TOKENS)),
    "latency_ms": st.one_of(st.none(), st.floats(0, MAX_LATENCY_MS)),
    "cost_usd": st.one_of(st.none(), st.floats(0, MAX_COST_USD)),
    "input_text": st.one_of(st.none(), st.text(max_size=20)),
    "output_text": st.one_of(st.none(), st.text(max_size=20)),
    "feedback": st.one_of(
        st.none(), st.lists(st.builds(feedback, st.text(max_size=3), st.none() | st.floats(-1e9, 1e9)))
    ),
}


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.fixed_dictionaries(_valid_values), max_size=30),
    ids=st.lists(st.text(min_size=1, max_size=8), min_size=30, max_size=30, unique=True),
)
def test_never_flags_a_row_that_satisfies_every_rule(
    trace_suite: Suite, rows: list[dict[str, Any]], ids: list[str]
) -> None:
    rows = [{**row, "trace_id": tid} for row, tid in zip(rows, ids, strict=False)]
    assert failing_rows(_frame(rows), trace_suite, day=DAY).height == 0


@settings(max_examples=100, deadline=None)
@given(data=st.data(), rows=any_rows)
def test_failing_rows_do_not_depend_on_row_order_except_which_duplicate_is_first(
    trace_suite: Suite, data: st.DataObject, rows: list[dict[str, Any]]
) -> None:
    order = data.draw(st.permutations(range(len(rows))))
    before = failures(_frame(rows), trace_suite)
    after = failures(_frame([rows[i] for i in order]), trace_suite)
    after_by_original = {order[pos]: ids for pos, ids in after.items()}

    def without_unique(f: dict[int, list[str]]) -> dict[int, list[str]]:
        stripped = {r: [i for i in ids if i != "trace_id_unique"] for r, ids in f.items()}
        return {r: ids for r, ids in stripped.items() if ids}

    assert without_unique(after_by_original) == without_unique(before)
    # which copy of a duplicated trace_id survives depends on order, how many are flagged does not
    flagged_ids = [
        Counter(rows[r]["trace_id"] for r, ids in f.items() if "trace_id_unique" in ids)
        for f in (before, after_by_original)
    ]
    occurrences = Counter(row["trace_id"] for row in rows if row["trace_id"] is not None)
    expected = Counter({tid: n - 1 for tid, n in occurrences.items() if n > 1})
    assert flagged_ids[0] == flagged_ids[1] == expected


def test_nan_is_null_as_pandas_sees_it() -> None:
    """GX cannot tell NaN from null (pandas), so NaN fails not-null and is skipped by range checks, even
    an upper bound that polars alone would say NaN exceeds."""
    suite = _suite(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "latency_ms"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "latency_ms", "max_value": 10}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "latency_ms"}},
    )
    frame = traces({"latency_ms": math.nan}, {"latency_ms": math.nan}, {"latency_ms": 11.0})
    out = failing_rows(frame, suite, day=DAY)
    assert {r: ids for r, ids in out.select("row_nr", "expectation_ids").iter_rows()} == {
        0: ["e0"],
        1: ["e0"],
        2: ["e1"],
    }
