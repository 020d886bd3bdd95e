"""Production scoring picks its day's sample file by file (issue 23: memory bounded by the largest file): the
per-file shortlists merged give the same rows, in the same order, as the whole-day selection
(`sample_traces`, `feedback_traces`), whatever the split."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import pickle
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
import pytest

from tracewatch.errors import ConfigError
from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.scoring.suite import build_scorers
from tracewatch.scoring.trace_sample import (
    TRACE_COLUMNS,
    DaySample,
    day_sample,
    pick,
    sample_frame,
    shortlist,
)
from tracewatch.scoring.trace_scores import TraceScoring, feedback_traces, sample_traces, score_traces
from tracewatch.store import Store
from tracewatch.traces import write_demo_traces

FEEDBACK = pl.List(pl.Struct({"name": pl.String, "value": pl.Float64, "source": pl.String}))


def traces(n: int, seed: int, *, duplicates: int = 0) -> pl.DataFrame:
    """`n` traces, about a third with finite feedback and a few with only a NaN rating; the last `duplicates`
    rows repeat earlier trace ids (a trace written twice)."""
    rng = np.random.default_rng(seed)
    ids = [f"t{seed}-{i:05d}" for i in rng.permutation(n)]  # not in row order: the sort by id shows
    for i in range(n - duplicates, n):
        ids[i] = ids[int(rng.integers(0, n - duplicates))]
    kinds = rng.integers(0, 6, n)
    feedback = [
        [{"name": "thumbs", "value": float(i % 2), "source": "user"}]
        if kind < 2
        else ([{"name": "rating", "value": float("nan"), "source": "user"}] if kind == 2 else [])
        for i, kind in enumerate(kinds)
    ]
    return pl.DataFrame(
        {
            "trace_id": ids,
            "route": ["qa"] * n,
            "model": ["m"] * n,
            "input_text": [f"question {i}?" for i in range(n)],
            "output_text": [f"answer {i}" for i in range(n)],
            "retrieved_context": [[] for _ in range(n)],
            "latency_ms": rng.random(n) * 1000,
            "cost_usd": [0.001] * n,
            "status": ["ok"] * n,
            "error_message": [None] * n,
            "feedback": feedback,
        },
        schema_overrides={
            "retrieved_context": pl.List(pl.Struct({"id": pl.String, "text": pl.String})),
            "error_message": pl.String,
            "feedback": FEEDBACK,
        },
    ).select(TRACE_COLUMNS)


def split(frame: pl.DataFrame, sizes: Sequence[int]) -> list[pl.DataFrame]:
    bounds = np.cumsum([0, *sizes])
    assert bounds[-1] == frame.height
    return [frame.slice(int(lo), int(hi - lo)) for lo, hi in itertools.pairwise(bounds)]


@pytest.mark.parametrize(
    ("n", "files", "size", "agreement", "duplicates"),
    [
        (500, [100, 250, 150], 20, 10, 0),  # the usual night: many rows per file, small picks
        (500, [5, 400, 0, 95], 20, 10, 0),  # a tiny file and an empty one
        (300, [100, 100, 100], 20, 10, 40),  # trace ids written twice, across files
        (30, [10, 10, 10], 40, 5, 0),  # fewer traces than the sample: all of them, by trace id
        (60, [30, 30], 30, 50, 0),  # fewer feedback traces left than asked: all of them
        (60, [20, 40], 20, 0, 0),  # exactly the sample size in one file, more in the day
        (200, [200], 0, 15, 0),  # no uniform sample, agreement only
    ],
)
def test_the_merged_shortlists_pick_what_the_whole_day_picks(
    n: int, files: list[int], size: int, agreement: int, duplicates: int
) -> None:
    day = traces(n, seed=n + size, duplicates=duplicates)
    whole_sample = sample_traces(day, size, seed=3)
    whole_extra = feedback_traces(day, whole_sample, agreement, seed=3)
    parts = [shortlist(part, i, size, agreement, seed=3) for i, part in enumerate(split(day, files))]
    merged = pick(parts, size, agreement)
    assert merged.traces == n
    assert merged.sample.equals(whole_sample)
    assert merged.extra.equals(whole_extra)
    assert all(part.candidates.height <= 2 * size + agreement + duplicates for part in parts)
    assert merged.sample.height == min(size, n)


def test_a_negative_size_says_which_size_and_what_is_expected() -> None:
    with pytest.raises(ConfigError, match="agreement size -1 must be >= 0"):
        sample_frame(traces(10, seed=1), 5, -1, seed=0)
    with pytest.raises(ConfigError, match="sample size -2 must be >= 0"):
        pick([], -2, 0)


def test_a_stored_day_is_sampled_file_by_file_as_the_whole_day_is(file_store: Store) -> None:
    """Three files of a demo day with quarantined rows (day 3 has malformed rows) and late feedback merged in by
    the reader: one part per file, the same picks as the whole day's frame."""
    start = dt.date(2026, 11, 1)
    day = start + dt.timedelta(days=2)
    write_demo_traces(file_store, start=start, days=3, traces_per_day=900, seed=5, files_per_day=3)
    ingest_new_traces(file_store, up_to=day)
    calls: list[int] = []

    def counting(step: Callable[[Any], Any], items: Sequence[Any], /) -> list[Any]:
        calls.append(len(items))
        return [step(item) for item in items]

    picked = day_sample(file_store, day, size=50, agreement_size=20, seed=0, part_map=counting)
    whole = scan_accepted(file_store, day, TRACE_COLUMNS)
    assert calls == [4]  # three demo files and the planted part-bad.parquet
    assert picked.traces == whole.height
    assert picked.sample.equals(sample_traces(whole, 50, seed=0))
    assert picked.extra.equals(feedback_traces(whole, picked.sample, 20, seed=0))
    assert picked.extra.height == 20


def test_a_day_without_files_has_nothing_to_score(file_store: Store) -> None:
    picked = day_sample(file_store, dt.date(2026, 11, 1), size=50, agreement_size=20, seed=0)
    assert (picked.traces, picked.sample.height, picked.extra.height) == (0, 0, 0)
    assert picked.sample.columns == list(TRACE_COLUMNS)


def test_picks_made_apart_score_as_the_stage_scores_on_its_own(file_store: Store) -> None:
    """A flow maps `day_sample` over its workers and hands the picks to the scoring task: the same scores and
    quality as the task reading the day itself (each part's step pickles, as a process or Dask worker needs)."""
    start = dt.date(2026, 11, 1)
    write_demo_traces(file_store, start=start, days=1, traces_per_day=600, seed=2, files_per_day=3)
    ingest_new_traces(file_store, up_to=start)
    suite = build_scorers([{"metric": "length", "max": 2000}, {"metric": "latency", "max_ms": 5000}])

    def pickled(step: Callable[[Any], Any], items: Sequence[Any], /) -> list[Any]:
        return [pickle.loads(pickle.dumps(step))(item) for item in items]

    picked = day_sample(file_store, start, size=40, agreement_size=10, seed=1, part_map=pickled)

    def score(given: DaySample | None) -> TraceScoring:
        scoring = score_traces(
            file_store, start, suite, sample_size=40, seed=1, resamples=20, agreement_size=10, picked=given
        )
        return asyncio.run(scoring)

    apart, alone = score(picked), score(None)
    assert apart.scores.equals(alone.scores) and apart.quality.equals(alone.quality)
    assert (apart.traces, apart.sampled) == (alone.traces, alone.sampled) == (600, 40)
