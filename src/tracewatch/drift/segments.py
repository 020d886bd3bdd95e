"""Segments: the route x model cells of a day's traffic, so a change of the mix is told apart from a change
within it.

Production traffic's route and model mix swings from day to day, and every feature that differs by route or
model (lengths, tokens, cost, tags, topics) swings with it. A profile therefore also keeps each feature's
tables per segment: the joint value of the `SEGMENT_COLUMNS` present (a null value is its own segment,
"(null)"). The mix itself is tested once, on `route` and `model`; every other feature can then be tested
within segments (`stratified`) and its effect measured against the reference re-weighted to the day's mix
(`effects`).

A segment's label names its columns and values, `route=qa/multi-hop|model=gpt-x`, with `%`, `|` and `=` in a
value percent-escaped: stable across days and unambiguous, readable in the stored profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from tracewatch.drift.counts import NumericCounts

SEGMENT_COLUMNS: tuple[str, ...] = ("route", "model")
"""The columns whose joint value is a segment; they are not tabled within segments themselves."""
NULL_SEGMENT = "(null)"
_ESCAPES = (("%", "%25"), ("|", "%7C"), ("=", "%3D"))


@dataclass(frozen=True)
class SegmentTables:
    """One segment's traces (`rows`) and its count table of every feature but the segment columns."""

    rows: int
    numeric: Mapping[str, NumericCounts]
    categorical: Mapping[str, Mapping[str, int]]


def segment_labels(traces: pl.DataFrame) -> pl.Series | None:
    """Each trace's segment label, or None when the frame has none of the segment columns."""
    columns = [c for c in SEGMENT_COLUMNS if c in traces.columns]
    if not columns:
        return None
    parts = []
    for column in columns:
        value = pl.col(column).cast(pl.String).fill_null(NULL_SEGMENT)
        for raw, escaped in _ESCAPES:
            value = value.str.replace_all(raw, escaped, literal=True)
        parts.append(pl.lit(f"{column}=") + value)
    return traces.select(pl.concat_str(parts, separator="|").alias("segment")).to_series()


def label_columns(label: str) -> tuple[str, ...]:
    """The columns a label is made of (`route=a|model=b` -> route, model)."""
    return tuple(part.split("=", 1)[0] for part in label.split("|"))


class SegmentedProfile(Protocol):
    """What `covers` and `shared_labels` read of a day profile (`profile.DayProfile` has it), so this module
    does not import the profile that imports it."""

    @property
    def numeric(self) -> Mapping[str, NumericCounts]: ...

    @property
    def categorical(self) -> Mapping[str, Mapping[str, int]]: ...

    @property
    def segments(self) -> Mapping[str, SegmentTables]: ...


def covers(profile: SegmentedProfile, name: str, *, numeric: bool) -> bool:
    """Whether `profile`'s segment tables of `name` hold all its values (they add up to the day's own table):
    false for a profile written before segments, or one whose traces had no segment column."""
    if numeric:
        whole = profile.numeric.get(name)
        size = whole.size if whole is not None else 0
        parts = sum(s.numeric[name].size for s in profile.segments.values() if name in s.numeric)
    else:
        size = sum(profile.categorical.get(name, {}).values())
        parts = sum(sum(s.categorical.get(name, {}).values()) for s in profile.segments.values())
    return size == parts and (size == 0 or bool(profile.segments))


def shared_labels(profiles: Sequence[SegmentedProfile]) -> tuple[str, ...] | None:
    """Every segment label of the profiles, sorted, when they are cut by the same columns; else None."""
    labels = sorted({label for p in profiles for label in p.segments})
    if not labels or len({label_columns(label) for label in labels}) > 1:
        return None
    return tuple(labels)


def describe(labels: Sequence[str]) -> str:
    """`route x model` for the labels' columns."""
    return " x ".join(label_columns(labels[0])) if labels else "no"
