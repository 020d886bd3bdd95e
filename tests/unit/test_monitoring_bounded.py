"""Monitoring's bounded parts of a large day: exact sums and bounded-memory percentiles against exact
references (math.fsum, fractions, polars' own quantile), however the traces are split, with the sizes of what
crosses between the passes, and the same tables as a small day's up to the rounding of float sums."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.errors import DataContractError
from tracewatch.monitoring import exact_sum as limbs_module
from tracewatch.monitoring.bounded import (
    BoundedDay,
    bounded_day_in_memory,
    bounded_metrics,
    bounded_parts,
    combine_bounded,
    latency_counts,
    latency_percentiles,
)
from tracewatch.monitoring.metrics import METRIC_INPUT_COLUMNS, daily_and_hourly_metrics
from tracewatch.monitoring.radix_select import VALUE_BUDGET, RadixQuery, combine_counts
from tracewatch.traces import TRACE_SCHEMA

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
QUARANTINE = pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in ("start_time", "project", "route", "model")})


def traces(
    latency: list[float | None], cost: list[float | None], hours: list[int] | None = None
) -> pl.DataFrame:
    n = len(latency)
    hours = hours or [0] * n
    return pl.DataFrame(
        {
            "start_time": [T0 + dt.timedelta(hours=h, seconds=i % 3600) for i, h in enumerate(hours)],
            "project": ["p"] * n,
            "route": [None if i % 5 == 0 else "r" for i in range(n)],
            "model": ["m"] * n,
            "status": ["ok"] * n,
            "input_tokens": [1] * n,
            "output_tokens": [1] * n,
            "cost_usd": cost,
            "latency_ms": latency,
            "feedback": [[{"name": "s", "value": c, "source": "user"}] for c in cost],
        },
        schema={c: TRACE_SCHEMA[c] for c in METRIC_INPUT_COLUMNS},
    )


def split_metrics(
    frame: pl.DataFrame, pieces: int, budget: int = VALUE_BUDGET
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The tables from `pieces` slices of `frame`, each pass run over every slice."""
    size = max(1, -(-frame.height // pieces))
    slices = [frame.slice(i, size) for i in range(0, frame.height, size)] or [frame]
    parts = combine_bounded([bounded_parts(s) for s in slices])
    latency = latency_percentiles(
        parts, lambda q: combine_counts([latency_counts(s, q) for s in slices]), value_budget=budget
    )
    return bounded_metrics(BoundedDay(parts, latency), QUARANTINE)


def exact_sum(values: list[float]) -> float:
    """The correctly rounded sum (math.fsum), +/-inf when it is past the float range."""
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf if sum(map(Fraction, values)) > 0 else -math.inf


def reference(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Polars' own group-by quantiles (nulls and non-finite values as null) and exact Python sums."""
    finite = frame.with_columns(
        *(pl.when(pl.col(c).is_finite()).then(pl.col(c)).alias(c) for c in ("latency_ms", "cost_usd"))
    ).with_columns(pl.col("start_time").dt.truncate("1h").alias("hour"))
    return (
        finite.group_by(keys)
        .agg(
            *(
                pl.col("latency_ms").quantile(q / 100, "linear").alias(f"latency_ms_p{q}")
                for q in (50, 90, 99)
            ),
            pl.col("latency_ms").drop_nulls().alias("lat"),
            pl.col("cost_usd").drop_nulls().alias("cost"),
        )
        .with_columns(
            pl.col("cost").map_elements(exact_sum, return_dtype=pl.Float64).alias("cost_usd_sum"),
            pl.col("lat")
            .map_elements(
                lambda v: float(sum(map(Fraction, v)) / len(v)) if len(v) else None, return_dtype=pl.Float64
            )
            .alias("latency_ms_mean"),
        )
        .drop("lat", "cost")
        .sort(keys, nulls_last=True)
    )


finite_or_not = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda x: round(x, 1)),  # ties
    st.floats(min_value=1e-310, max_value=1e-300),  # subnormals and tiny values
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(finite_or_not, finite_or_not, st.integers(0, 2)), min_size=1, max_size=60),
    st.integers(1, 7),
)
def test_sums_means_and_percentiles_are_exact_however_split(
    rows: list[tuple[float | None, float | None, int]], pieces: int
) -> None:
    frame = traces([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    daily, hourly = split_metrics(frame, pieces)
    whole = bounded_metrics(bounded_day_in_memory(frame), QUARANTINE)
    assert daily.equals(whole[0], null_equal=True) and hourly.equals(whole[1], null_equal=True)
    for table, keys in (
        (daily, ["project", "route", "model"]),
        (hourly, ["hour", "project", "route", "model"]),
    ):
        expected = reference(frame, keys)
        got = table.select(expected.columns)
        assert got.equals(expected, null_equal=True), (got, expected)


def test_percentiles_of_a_large_group_match_polars_to_the_bit() -> None:
    """100,000 values crowded into few top-bit buckets, with ties, nulls and negatives: every pass is needed."""
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            1000.0
            + rng.integers(0, 2000, 60_000) * 1e-9,  # 60% of the values in one 24-bit bucket, many ties
            rng.lognormal(6, 1.5, 39_000),
            -rng.lognormal(1, 1, 1_000),
        ]
    )
    rng.shuffle(values)
    latency: list[float | None] = [float(v) for v in values]
    for i in range(0, len(latency), 997):
        latency[i] = None
    frame = traces(latency, [0.001] * len(latency), [i % 3 for i in range(len(latency))])
    for budget in (VALUE_BUDGET, 100):  # one further pass, and 8 more key bits a pass until 100 values fit
        daily, hourly = split_metrics(frame, 9, budget)
        assert_matches_reference(frame, daily, hourly)


def assert_matches_reference(frame: pl.DataFrame, daily: pl.DataFrame, hourly: pl.DataFrame) -> None:
    for table, keys in (
        (daily, ["project", "route", "model"]),
        (hourly, ["hour", "project", "route", "model"]),
    ):
        expected = reference(frame, keys)
        assert table.select(expected.columns).equals(expected)


@pytest.mark.parametrize("budget", [VALUE_BUDGET, 1_000])
def test_only_small_counts_cross_between_the_passes(budget: int) -> None:
    """A pass returns the values of the wanted buckets when they fit the budget, else histograms of 8 more key
    bits: never all of a group's values."""
    rng = np.random.default_rng(3)
    n = 200_000
    frame = traces([float(v) for v in rng.lognormal(7, 0.8, n).round(3)], [1e-4] * n)
    slices = [frame.slice(i, 20_000) for i in range(0, n, 20_000)]
    parts = combine_bounded([bounded_parts(s) for s in slices])
    histogram_entries = parts.groups.get_column("latency_ms_histogram").list.len().sum()
    assert histogram_entries < 1_000  # 16 buckets a power of two over the values' range, for 2 groups
    assert parts.groups.get_column("latency_ms_limbs").list.len().sum() < 100
    answered: list[tuple[int, int]] = []

    def refine(query: RadixQuery) -> Mapping[str, pl.DataFrame]:
        answers = combine_counts([latency_counts(s, query) for s in slices])
        answered.append((query.next_width, sum(a.height for a in answers.values())))
        return answers

    latency = latency_percentiles(parts, refine, value_budget=budget)
    if (
        budget == VALUE_BUDGET
    ):  # the wanted 16-bit buckets hold a fraction of the values: their values, at once
        assert [w for w, _ in answered] == [64]
        assert answered[0][1] < n / 2
    else:
        assert [w for w, _ in answered] == [24, 64]
        assert (
            answered[0][1] <= 4 * 6 * 256
        )  # 4 groupings' rows (2 hourly, 2 daily) x 6 ranks x 2**8 sub-buckets
        assert answered[1][1] < 200  # the distinct values of a 24-bit bucket, about a millionth of the range
    whole = bounded_metrics(bounded_day_in_memory(frame), QUARANTINE)[0]
    assert bounded_metrics(BoundedDay(parts, latency), QUARANTINE)[0].equals(whole)


def test_values_missing_in_a_later_pass_are_an_error_not_a_wrong_percentile() -> None:
    frame = traces([float(i) for i in range(100)], [0.1] * 100)
    parts = combine_bounded([bounded_parts(frame)])
    changed = frame.filter(pl.col("latency_ms") != 50.0)  # a file lost the median's row between the passes
    with pytest.raises(DataContractError, match="read again"):
        latency_percentiles(parts, lambda q: combine_counts([latency_counts(changed, q)]))
    with pytest.raises(DataContractError, match="read again"):
        latency_percentiles(parts, lambda q: combine_counts([]))  # no file left to read


def test_the_group_by_fallback_adds_up_the_same_limbs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts with very many (group, exponent) bins add their limbs by a group-by instead of dense bins."""
    rng = np.random.default_rng(9)
    n = 5_000
    frame = traces(
        [float(v) for v in rng.lognormal(5, 2, n)],
        [float(v) for v in rng.lognormal(-8, 3, n) * rng.choice([-1, 1], n)],
        [int(h) for h in rng.integers(0, 24, n)],
    )
    dense = combine_bounded([bounded_parts(frame)])  # one row per key, sorted: comparable
    monkeypatch.setattr(limbs_module, "_DENSE_BINS", 0)
    grouped = combine_bounded([bounded_parts(frame)])
    assert grouped.groups.equals(dense.groups) and grouped.feedback.equals(dense.feedback)
    assert dense.groups.get_column("cost_usd_limbs").list.len().sum() > 24  # several exponents per group


def test_a_large_days_tables_are_a_small_days_up_to_the_rounding_of_sums() -> None:
    """The two ways of aggregating a day publish the same tables: counts, token sums and percentiles to the
    bit, float sums and means within a few units in the last place (a small day's are polars' sums, rounded
    at every step; a large day's are correctly rounded)."""
    rng = np.random.default_rng(17)
    n = 30_000
    latency: list[float | None] = [float(v) for v in rng.lognormal(6, 1.2, n)]
    for i in range(0, n, 101):
        latency[i] = None
    frame = traces(
        latency, [float(v) for v in rng.lognormal(-7, 1, n)], [int(h) for h in rng.integers(0, 5, n)]
    )
    for small, large in zip(
        daily_and_hourly_metrics(frame, QUARANTINE),
        bounded_metrics(bounded_day_in_memory(frame), QUARANTINE),
        strict=True,
    ):
        assert small.columns == large.columns and small.schema == large.schema
        floats = ["cost_usd_sum", "latency_ms_mean", "feedback"]
        assert small.drop(floats).equals(large.drop(floats), null_equal=True)
        for column in ("cost_usd_sum", "latency_ms_mean"):
            np.testing.assert_allclose(small.get_column(column), large.get_column(column), rtol=1e-12)
        scores = [
            pl.col("feedback").list.eval(pl.element().struct.field(f)).explode().alias(f)
            for f in ("name", "count", "mean")
        ]
        got_small, got_large = small.select(*scores), large.select(*scores)
        assert got_small.drop("mean").equals(got_large.drop("mean"), null_equal=True)
        np.testing.assert_allclose(got_small.get_column("mean"), got_large.get_column("mean"), rtol=1e-12)
