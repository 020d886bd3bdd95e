"""Per-segment tables in profiles: built for every feature but the segment columns, adding up to the day's own
tables, merged like them, stored and read back; a profile written before segments still reads and merges."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.drift.profile import DayProfile, build_day_profile, merge_profiles
from tracewatch.drift.profile_store import profile_frame, profile_from_frame
from tracewatch.drift.segments import SEGMENT_COLUMNS, covers, label_columns, segment_labels, shared_labels

DAY = dt.date(2026, 11, 5)


Row = tuple[str | None, str, str, int]


def _frame(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "route": [r[0] for r in rows],
            "model": [r[1] for r in rows],
            "input_text": [r[2] for r in rows],
            "input_tokens": [r[3] for r in rows],
            "tags": [["x"] if r[3] % 2 else [] for r in rows],
        },
        schema={
            "route": pl.String,
            "model": pl.String,
            "input_text": pl.String,
            "input_tokens": pl.Int64,
            "tags": pl.List(pl.String),
        },
    )


ROWS: list[Row] = [
    ("qa/multi-hop", "gpt-x", "What is the capital of France?", 12),
    ("qa/multi-hop", "gpt-x", "Who won the match?", 7),
    ("qa|odd=route", "gpt-x", "How tall is it?", 5),
    (None, "claude", "Is it raining?", 4),
    ("qa/multi-hop", "claude", "Why is the sky blue?", 9),
]


def test_every_feature_but_the_segment_columns_is_tabled_per_segment() -> None:
    profile = build_day_profile(_frame(ROWS), DAY)
    assert list(profile.segments) == sorted(profile.segments)
    assert set(profile.segments) == {
        "route=(null)|model=claude",
        "route=qa%7Codd%3Droute|model=gpt-x",
        "route=qa/multi-hop|model=claude",
        "route=qa/multi-hop|model=gpt-x",
    }
    assert profile.segments["route=qa/multi-hop|model=gpt-x"].rows == 2
    for tables in profile.segments.values():
        assert not set(SEGMENT_COLUMNS) & set(tables.categorical)
    for name in profile.numeric:
        assert covers(profile, name, numeric=True), name
    for name in set(profile.categorical) - set(SEGMENT_COLUMNS):
        assert covers(profile, name, numeric=False), name
    assert "input_topic" in profile.segments["route=qa/multi-hop|model=gpt-x"].categorical
    assert not covers(profile, "route", numeric=False)
    assert shared_labels([profile]) == tuple(profile.segments)
    assert label_columns("route=a%7Cb|model=c") == ("route", "model")


def test_a_frame_without_segment_columns_has_no_segments() -> None:
    profile = build_day_profile(_frame(ROWS).drop("route", "model"), DAY)
    assert profile.segments == {}
    assert not covers(profile, "input_tokens", numeric=True)
    only_route = segment_labels(_frame(ROWS).drop("model"))
    assert only_route is not None and only_route.to_list()[3] == "route=(null)"


_row = st.tuples(
    st.sampled_from(["r1", "r2", None]),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from(["what is it", "who", "is it 42", ""]),
    st.integers(0, 50),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(_row, max_size=20), st.lists(_row, max_size=20))
def test_segments_of_a_concatenation_are_the_merge_of_segments(a: list[Row], b: list[Row]) -> None:
    whole = build_day_profile(_frame(a + b), DAY)
    merged = merge_profiles([build_day_profile(_frame(a), DAY), build_day_profile(_frame(b), DAY)])
    assert merged.segments == whole.segments


def test_segments_round_trip_through_the_stored_table() -> None:
    profile = build_day_profile(_frame(ROWS), DAY)
    frame = profile_frame(profile)
    assert frame.get_column("segment").null_count() < frame.height
    assert profile_from_frame(frame, DAY) == profile


def _version_one(profile: DayProfile) -> pl.DataFrame:
    """The stored table a version-1 writer made: no segment rows or column, version 1."""
    frame = profile_frame(dataclasses.replace(profile, segments={}, version=1))
    return frame.drop("segment")


def test_a_profile_written_before_segments_reads_with_none_and_merges_with_a_new_one() -> None:
    new = build_day_profile(_frame(ROWS), DAY)
    old = profile_from_frame(
        _version_one(build_day_profile(_frame(ROWS[:3]), DAY - dt.timedelta(days=1))), DAY
    )
    assert (old.version, old.segments) == (1, {})
    merged = merge_profiles([old, new])
    assert merged.segments == {} and merged.version == 1  # unknown for the old day's traces
    assert merged.numeric["input_tokens"].size == 8
    assert not covers(merged, "input_tokens", numeric=True)
    assert merge_profiles([new, new]).segments["route=qa/multi-hop|model=gpt-x"].rows == 4
    empty = build_day_profile(_frame([]), DAY)
    assert merge_profiles([empty, new]).segments == new.segments  # a day without traces hides nothing


def test_a_profile_of_an_unknown_version_is_still_refused() -> None:
    new = build_day_profile(_frame(ROWS), DAY)
    with pytest.raises(ValueError, match="different versions"):
        merge_profiles([new, dataclasses.replace(new, version=0)])
