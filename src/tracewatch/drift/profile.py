"""Daily profiles: every feature's count table for one day, and their merge into any window.

A window is always a merge of daily profiles, never a rescan of raw traces: the merge adds counts, so it is
associative and commutative and the profile of a concatenation is the merge of the profiles. Each feature is
also tabled per segment (`segments`: route x model), so its tests can look within the traffic mix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from tracewatch.drift.counts import (
    NumericCounts,
    categorical_counts,
    merge_categorical,
    merge_numeric,
    numeric_counts,
)
from tracewatch.drift.features import (
    TEXT_VECTOR,
    categorical_features,
    numeric_features,
    text_features,
    text_sample,
)
from tracewatch.drift.segments import SEGMENT_COLUMNS, SegmentTables, segment_labels
from tracewatch.drift.text import REPRESENTATION_VERSION
from tracewatch.drift.vectors import VectorMoments, merge_vectors

PROFILE_VERSION = 2
"""2: per-segment tables (`segments`). 1: without them."""
MERGEABLE_VERSIONS = frozenset({1, 2})
"""Versions that differ only by what a merge can leave unknown (a merge with a version-1 day has no segments)."""
_Tables = tuple[dict[str, NumericCounts], dict[str, dict[str, int]]]
"""A numeric and a categorical feature -> table map."""


@dataclass(frozen=True)
class DayProfile:
    """The profile of one day, or the merge of several (`dates` lists every day merged in, sorted)."""

    dates: tuple[dt.date, ...]
    rows: int
    numeric: Mapping[str, NumericCounts]
    categorical: Mapping[str, Mapping[str, int]]
    vectors: Mapping[str, VectorMoments] = field(default_factory=dict)
    """Moments of text vectors (`input_vector`); absent in profiles written before they existed."""
    version: int = PROFILE_VERSION
    text_version: int = REPRESENTATION_VERSION
    segments: Mapping[str, SegmentTables] = field(default_factory=dict)
    """Segment label (`segments.segment_labels`) -> that segment's tables of every feature but the segment
    columns. Empty when unknown: no segment column in the traces, a version-1 profile, or a merge with one."""

    @property
    def day(self) -> dt.date:
        """The (last) day profiled."""
        return self.dates[-1]


def build_day_profile(traces: pl.DataFrame, day: dt.date) -> DayProfile:
    """Profile a day's accepted traces (any subset of the trace schema's columns)."""
    numeric, categorical = _tables(traces, day)
    vectors = {}
    topics = None
    if "input_text" in traces.columns:
        topics, vectors[TEXT_VECTOR] = text_features(traces, day)
        categorical["input_topic"] = categorical_counts(topics)
    return DayProfile(
        dates=(day,),
        rows=traces.height,
        numeric=dict(sorted(numeric.items())),
        categorical=dict(sorted(categorical.items())),
        vectors=vectors,
        segments=_segments(traces, day, topics),
    )


def _tables(traces: pl.DataFrame, day: dt.date, exclude: Sequence[str] = ()) -> _Tables:
    """The numeric and categorical tables of some traces (a day, or one segment of it), but the topic cells."""
    numeric = {name: numeric_counts(values) for name, values in numeric_features(traces).items()}
    categorical = {
        name: categorical_counts(values)
        for name, values in categorical_features(traces, day, topics=False).items()
        if name not in exclude
    }
    return numeric, categorical


def _segments(traces: pl.DataFrame, day: dt.date, topics: pl.Series | None) -> dict[str, SegmentTables]:
    """Each segment's tables; the topic cells by the segment of each sampled input."""
    labels = segment_labels(traces)
    if labels is None or traces.height == 0:
        return {}
    sampled = labels.gather(text_sample(traces.height, day)) if topics is not None else None
    out = {}
    parts = traces.with_columns(labels.alias("__segment__")).partition_by("__segment__", as_dict=True)
    for (label,), part in parts.items():
        numeric, categorical = _tables(part.drop("__segment__"), day, exclude=SEGMENT_COLUMNS)
        if topics is not None and sampled is not None:
            cells = categorical_counts(topics.filter(sampled == label))
            if cells:
                categorical["input_topic"] = cells
        out[str(label)] = SegmentTables(
            part.height, dict(sorted(numeric.items())), dict(sorted(categorical.items()))
        )
    return dict(sorted(out.items()))


def merge_profiles(profiles: Iterable[DayProfile]) -> DayProfile:
    """One profile summing all; features missing from some days count as zero values there. Segments are
    merged when every day with traces has them, else left unknown (empty)."""
    items = list(profiles)
    if not items:
        raise ValueError("merge_profiles needs at least one profile")
    versions = {(p.version, p.text_version) for p in items}
    if len(versions) > 1 and not (
        len({p.text_version for p in items}) == 1 and {p.version for p in items} <= MERGEABLE_VERSIONS
    ):
        raise ValueError(f"cannot merge profiles of different versions {sorted(versions)}; rebuild them")
    numeric, categorical = _merged_tables(items)
    vector_names = sorted({n for p in items for n in p.vectors})
    return DayProfile(
        dates=tuple(sorted(d for p in items for d in p.dates)),
        rows=sum(p.rows for p in items),
        numeric=numeric,
        categorical=categorical,
        vectors={n: merge_vectors(p.vectors[n] for p in items if n in p.vectors) for n in vector_names},
        version=min(p.version for p in items),
        text_version=items[0].text_version,
        segments=_merged_segments(items),
    )


def _merged_tables(items: Sequence[DayProfile | SegmentTables]) -> _Tables:
    numeric_names = sorted({n for p in items for n in p.numeric})
    categorical_names = sorted({n for p in items for n in p.categorical})
    return (
        {n: merge_numeric(p.numeric[n] for p in items if n in p.numeric) for n in numeric_names},
        {
            n: merge_categorical(p.categorical[n] for p in items if n in p.categorical)
            for n in categorical_names
        },
    )


def _merged_segments(items: Sequence[DayProfile]) -> dict[str, SegmentTables]:
    """Per segment, the merge of the days' tables; unknown (empty) when a day with traces has none."""
    known = [p for p in items if p.rows > 0]
    if not known or not all(p.segments for p in known):
        return {}
    out = {}
    for label in sorted({label for p in known for label in p.segments}):
        parts = [p.segments[label] for p in known if label in p.segments]
        out[label] = SegmentTables(sum(s.rows for s in parts), *_merged_tables(parts))
    return out
