"""Daily profiles: every feature's count table for one day, and their merge into any window.

A window is always a merge of daily profiles, never a rescan of raw traces: the merge adds counts, so it is
associative and commutative and the profile of a concatenation is the merge of the profiles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from tracewatch.drift.counts import (
    NumericCounts,
    categorical_counts,
    merge_categorical,
    merge_numeric,
    numeric_counts,
)
from tracewatch.drift.features import TEXT_VECTOR, categorical_features, numeric_features, text_features
from tracewatch.drift.text import REPRESENTATION_VERSION
from tracewatch.drift.vectors import VectorMoments, merge_vectors

PROFILE_VERSION = 1


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

    @property
    def day(self) -> dt.date:
        """The (last) day profiled."""
        return self.dates[-1]


def build_day_profile(traces: pl.DataFrame, day: dt.date) -> DayProfile:
    """Profile a day's accepted traces (any subset of the trace schema's columns)."""
    numeric = {name: numeric_counts(values) for name, values in numeric_features(traces).items()}
    categorical = {
        name: categorical_counts(values)
        for name, values in categorical_features(traces, day, topics=False).items()
    }
    vectors = {}
    if "input_text" in traces.columns:
        topics, vectors[TEXT_VECTOR] = text_features(traces, day)
        categorical["input_topic"] = categorical_counts(topics)
    return DayProfile(
        dates=(day,),
        rows=traces.height,
        numeric=dict(sorted(numeric.items())),
        categorical=dict(sorted(categorical.items())),
        vectors=vectors,
    )


def merge_profiles(profiles: Iterable[DayProfile]) -> DayProfile:
    """One profile summing all; features missing from some days count as zero values there."""
    items = list(profiles)
    if not items:
        raise ValueError("merge_profiles needs at least one profile")
    versions = {(p.version, p.text_version) for p in items}
    if len(versions) > 1:
        raise ValueError(f"cannot merge profiles of different versions {sorted(versions)}; rebuild them")
    numeric_names = sorted({n for p in items for n in p.numeric})
    categorical_names = sorted({n for p in items for n in p.categorical})
    vector_names = sorted({n for p in items for n in p.vectors})
    return DayProfile(
        dates=tuple(sorted(d for p in items for d in p.dates)),
        rows=sum(p.rows for p in items),
        numeric={n: merge_numeric(p.numeric[n] for p in items if n in p.numeric) for n in numeric_names},
        categorical={
            n: merge_categorical(p.categorical[n] for p in items if n in p.categorical)
            for n in categorical_names
        },
        vectors={n: merge_vectors(p.vectors[n] for p in items if n in p.vectors) for n in vector_names},
        version=items[0].version,
        text_version=items[0].text_version,
    )
