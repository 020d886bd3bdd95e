"""Profiles merge like counts: commutative, associative, and the profile of a concatenation is the merge."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.drift.counts import MAX_EXACT_VALUES, bin_values, merge_numeric, numeric_counts
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS
from tracewatch.drift.profile import DayProfile, build_day_profile, merge_profiles
from tracewatch.drift.profile_store import profile_frame, profile_from_frame
from tracewatch.traces import FEEDBACK, TRACE_SCHEMA

DAY = dt.date(2026, 11, 5)
WORDS = ("what", "who", "is", "the", "капитал", "東京", "score", "goal", "film", "a@b.co", "+1 555 123 4567")

_row = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["m1", "m2", "m3"]),
        "route": st.sampled_from(["r1", "r2"]),
        "status": st.sampled_from(["ok", "ok", "error"]),
        "error_type": st.none() | st.sampled_from(["Timeout"]),
        "tags": st.lists(st.sampled_from(["x", "y", "z"]), max_size=2),
        "input_text": st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join),
        "output_text": st.sampled_from(["", "I'm sorry, I can't help with that.", "Paris.", "It is 42."]),
        "input_tokens": st.integers(0, 3000),
        "output_tokens": st.none() | st.integers(0, 500),
        "cost_usd": st.floats(0, 0.05, allow_nan=False),
        "latency_ms": st.floats(0.5, 40_000, allow_nan=False),
        "feedback": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["thumbs", "rating"]),
                    "value": st.sampled_from([0.0, 1.0, 4.0]),
                    "source": st.just("user"),
                }
            ),
            max_size=2,
        ),
    }
)
_frames = st.lists(_row, max_size=25).map(
    lambda rows: (
        pl.DataFrame(rows, schema={c: TRACE_SCHEMA[c] for c in _row_columns()})
        if rows
        else pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in _row_columns()})
    )
)


def _row_columns() -> list[str]:
    return [c for c in PROFILE_INPUT_COLUMNS if c != "project"]


@settings(max_examples=25, deadline=None)
@given(_frames, _frames)
def test_profile_of_a_concatenation_is_the_merge_of_profiles(a: pl.DataFrame, b: pl.DataFrame) -> None:
    whole = build_day_profile(pl.concat([a, b]), DAY)
    merged = merge_profiles([build_day_profile(a, DAY), build_day_profile(b, DAY)])
    assert (merged.rows, merged.numeric, merged.categorical) == (whole.rows, whole.numeric, whole.categorical)


@settings(max_examples=25, deadline=None)
@given(_frames, _frames, _frames)
def test_merge_is_commutative_and_associative(a: pl.DataFrame, b: pl.DataFrame, c: pl.DataFrame) -> None:
    pa, pb, pc = (build_day_profile(f, DAY + dt.timedelta(days=i)) for i, f in enumerate((a, b, c)))
    assert merge_profiles([pa, pb]) == merge_profiles([pb, pa])
    assert merge_profiles([merge_profiles([pa, pb]), pc]) == merge_profiles([pa, merge_profiles([pb, pc])])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), min_size=1, max_size=300), st.integers(0, 2))
def test_numeric_tables_merge_exactly_across_the_binning_switch(values: list[float], cut: int) -> None:
    """Even when one part alone is exact and the union must be binned, merge == table of the union."""
    spread = np.array(values) + np.arange(len(values)) * 1e-3  # distinct non-integers
    big = np.concatenate([spread, np.linspace(1, 2, MAX_EXACT_VALUES)])
    pieces = np.array_split(big, cut + 2)
    assert merge_numeric(numeric_counts(pl.Series("x", p)) for p in pieces) == numeric_counts(
        pl.Series("x", big)
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=1, max_size=100))
def test_binning_is_idempotent_and_within_its_relative_accuracy(values: list[float]) -> None:
    x = np.array(values)
    once = bin_values(x)
    assert np.array_equal(bin_values(once), once)
    assert np.all(np.abs(once - x) <= 0.0025 * np.abs(x) * (1 + 1e-9))


def test_profile_table_round_trips() -> None:
    frame = pl.DataFrame(
        {
            "model": ["a", "b", "a"],
            "latency_ms": [1.5, None, 3.25],
            "input_text": ["What is it?", "", None],
            "feedback": [[{"name": "thumbs", "value": 1.0, "source": "user"}], [], None],
        },
        schema={
            "model": pl.String,
            "latency_ms": pl.Float64,
            "input_text": pl.String,
            "feedback": pl.List(FEEDBACK),
        },
    )
    profile = build_day_profile(frame, DAY)
    assert profile.numeric["latency_ms"].nulls == 1
    assert profile_from_frame(profile_frame(profile), DAY) == profile


def test_merging_profiles_of_different_versions_is_refused() -> None:
    empty = pl.DataFrame({"model": ["a"]})
    old = DayProfile(dates=(DAY,), rows=1, numeric={}, categorical={}, version=0)
    with pytest.raises(ValueError, match="different versions"):
        merge_profiles([build_day_profile(empty, DAY), old])
