"""Daily profiles: every feature's count table for one day, and their merge into any window.

A window is always a merge of daily profiles, never a rescan of raw traces: the merge adds counts, so it is
associative and commutative and the profile of a concatenation is the merge of the profiles. Each feature is
also tabled per segment (`segments`: route x model), so its tests can look within the traffic mix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
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


@dataclass(frozen=True)
class TextSample:
    """The day's sampled inputs (`features.text_sample`), in the day's row order, with each one's segment label
    (None when the traces have no segment column): all the text representation needs."""

    texts: list[str | None]
    labels: list[str] | None


def build_day_profile(traces: pl.DataFrame, day: dt.date) -> DayProfile:
    """Profile a day's accepted traces (any subset of the trace schema's columns)."""
    sample = None
    if "input_text" in traces.columns:
        sample = text_sample_of(traces, text_sample(traces.height, day))
    return assemble_profile(day, day_tables(traces, day), segment_tables(traces, day), sample)


def day_tables(traces: pl.DataFrame, day: dt.date) -> SegmentTables:
    """The row count and the tables of every feature of some traces but the topic cells (those come from the
    day's text sample, `assemble_profile`)."""
    return SegmentTables(traces.height, *_tables(traces, day))


def text_sample_of(traces: pl.DataFrame, positions: npt.NDArray[np.int64]) -> TextSample:
    """The inputs at `positions` (sorted) of `traces` and their segment labels."""
    labels = segment_labels(traces)
    return TextSample(
        traces.get_column("input_text").gather(positions).to_list(),
        labels.gather(positions).to_list() if labels is not None else None,
    )


def assemble_profile(
    day: dt.date, tables: SegmentTables, segments: Mapping[str, SegmentTables], sample: TextSample | None
) -> DayProfile:
    """The day's profile from its tables, its segments' tables and its text sample (None: no `input_text`):
    the text representation runs once, on the whole day's sample, so a day profiled from parts (`profile_parts`)
    is the day profiled whole."""
    numeric, categorical = dict(tables.numeric), dict(tables.categorical)
    vectors = {}
    if sample is not None:
        texts = pl.DataFrame({"input_text": sample.texts}, schema={"input_text": pl.String})
        topics, vectors[TEXT_VECTOR] = text_features(texts, day)  # all of a sample is at most TEXT_SAMPLE
        categorical["input_topic"] = categorical_counts(topics)
        if sample.labels is not None:
            segments = _with_topic_cells(segments, topics, pl.Series(sample.labels, dtype=pl.String))
    return DayProfile(
        dates=(day,),
        rows=tables.rows,
        numeric=dict(sorted(numeric.items())),
        categorical=dict(sorted(categorical.items())),
        vectors=vectors,
        segments=dict(sorted(segments.items())),
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


def segment_tables(traces: pl.DataFrame, day: dt.date) -> dict[str, SegmentTables]:
    """Each segment's tables but the topic cells (none without a segment column or a trace)."""
    labels = segment_labels(traces)
    if labels is None or traces.height == 0:
        return {}
    out = {}
    parts = traces.with_columns(labels.alias("__segment__")).partition_by("__segment__", as_dict=True)
    for (label,), part in parts.items():
        numeric, categorical = _tables(part.drop("__segment__"), day, exclude=SEGMENT_COLUMNS)
        out[str(label)] = SegmentTables(
            part.height, dict(sorted(numeric.items())), dict(sorted(categorical.items()))
        )
    return dict(sorted(out.items()))


def _with_topic_cells(
    segments: Mapping[str, SegmentTables], topics: pl.Series, labels: pl.Series
) -> dict[str, SegmentTables]:
    """Each segment's tables with the topic cells of its sampled inputs (none when it has no sampled input)."""
    out = {}
    for label, tables in segments.items():
        cells = categorical_counts(topics.filter(labels == label))
        categorical = {**tables.categorical, "input_topic": cells} if cells else tables.categorical
        out[label] = SegmentTables(tables.rows, tables.numeric, dict(sorted(categorical.items())))
    return out


def merge_tables(items: Sequence[SegmentTables]) -> SegmentTables:
    """The tables of the union of some traces (rows add, counts add; `counts` says why this is exact)."""
    return SegmentTables(sum(t.rows for t in items), *_merged_tables(items))


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
        out[label] = merge_tables(parts)
    return out
