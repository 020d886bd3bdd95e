"""Monitoring aggregates against numpy reference computations."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.metric_tables import non_finite_cells
from tracewatch.monitoring.metrics import (
    METRIC_INPUT_COLUMNS,
    combine_parts,
    daily_and_hourly_metrics,
    metric_parts,
    metrics_from_parts,
    trace_metrics,
)
from tracewatch.traces import TRACE_SCHEMA

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
QUARANTINE_COLUMNS = {c: TRACE_SCHEMA[c] for c in ("start_time", "project", "route", "model")}


def frame(latencies: list[float], feedback: list[list[dict[str, object]]] | None = None) -> pl.DataFrame:
    n = len(latencies)
    data = {
        "start_time": [T0 + dt.timedelta(minutes=37 * i) for i in range(n)],
        "project": ["p"] * n,
        "route": ["r"] * n,
        "model": ["m"] * n,
        "status": ["error" if i % 4 == 0 else "ok" for i in range(n)],
        "input_tokens": list(range(n)),
        "output_tokens": [2 * i for i in range(n)],
        "cost_usd": [0.5] * n,
        "latency_ms": latencies,
        "feedback": feedback or [[] for _ in range(n)],
    }
    return pl.DataFrame(data, schema={c: TRACE_SCHEMA[c] for c in METRIC_INPUT_COLUMNS})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), min_size=1, max_size=60))
def test_latency_percentiles_match_numpy(latencies: list[float]) -> None:
    row = trace_metrics(frame(latencies), pl.DataFrame(schema=QUARANTINE_COLUMNS), hourly=False).row(
        0, named=True
    )
    for q in (50, 90, 99):
        assert np.isclose(row[f"latency_ms_p{q}"], np.percentile(latencies, q), rtol=1e-9, atol=1e-9)
    assert row["trace_count"] == len(latencies)
    assert row["error_count"] == sum(1 for i in range(len(latencies)) if i % 4 == 0)
    assert np.isclose(row["error_rate"], row["error_count"] / len(latencies))


def test_feedback_per_name_and_quarantine_counts() -> None:
    fb = [
        [
            {"name": "thumbs", "value": 1.0, "source": "user"},
            {"name": "rating", "value": 4.0, "source": "user"},
        ],
        [{"name": "thumbs", "value": 0.0, "source": "user"}],
        [],
    ]
    quarantined = pl.DataFrame(
        {"start_time": [None, T0], "project": ["p", "other"], "route": ["r", "x"], "model": ["m", "y"]},
        schema=QUARANTINE_COLUMNS,
    )
    out = trace_metrics(frame([1.0, 2.0, 3.0], fb), quarantined, hourly=False)
    main = out.filter(pl.col("project") == "p").row(0, named=True)
    assert main["feedback"] == [
        {"name": "rating", "mean": 4.0, "count": 1},
        {"name": "thumbs", "mean": 0.5, "count": 2},
    ]
    assert main["quarantined_count"] == 1
    other = out.filter(pl.col("project") == "other").row(0, named=True)
    assert other["trace_count"] == 0 and other["quarantined_count"] == 1 and other["error_rate"] is None


def test_hourly_buckets_cover_every_trace() -> None:
    out = trace_metrics(
        frame([float(i) for i in range(40)]), pl.DataFrame(schema=QUARANTINE_COLUMNS), hourly=True
    )
    assert out.get_column("trace_count").sum() == 40
    assert out.get_column("hour").dt.minute().max() == 0
    hours = {(T0 + dt.timedelta(minutes=37 * i)).replace(minute=0) for i in range(40)}
    assert sorted(out.get_column("hour").to_list()) == sorted(hours)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 1439),
            st.sampled_from(["p", "q"]),
            st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
            st.one_of(st.none(), st.floats(0, 10, allow_nan=False)),
            st.one_of(st.none(), st.integers(0, 10**6)),
            st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 1, allow_nan=False)), max_size=2),
        ),
        max_size=80,
    ),
    st.lists(st.integers(0, 80), max_size=4),
)
def test_tables_are_the_same_bits_however_the_traces_are_split_into_parts(
    rows: list[tuple[int, str, float | None, float | None, int | None, list[tuple[str, float]]]],
    cuts: list[int],
) -> None:
    """Ingest makes parts per file, a re-report makes them from the whole day: a rerun must publish the same
    bits either way, so float statistics may not depend on where the day was cut."""
    traces = pl.DataFrame(
        {
            "start_time": [T0 + dt.timedelta(minutes=m) for m, *_ in rows],
            "project": [p for _, p, *_ in rows],
            "route": ["r"] * len(rows),
            "model": ["m"] * len(rows),
            "status": ["error" if m % 3 == 0 else "ok" for m, *_ in rows],
            "input_tokens": [t for *_, t, _ in rows],
            "output_tokens": [t for *_, t, _ in rows],
            "cost_usd": [c for _, _, _, c, _, _ in rows],
            "latency_ms": [lat for _, _, lat, *_ in rows],
            "feedback": [[{"name": n, "value": v, "source": "user"} for n, v in f] for *_, f in rows],
        },
        schema={c: TRACE_SCHEMA[c] for c in METRIC_INPUT_COLUMNS},
    )
    quarantined = pl.DataFrame(schema=QUARANTINE_COLUMNS)
    bounds = sorted({0, traces.height, *(c for c in cuts if c <= traces.height)})
    pieces = [traces.slice(a, b - a) for a, b in itertools.pairwise(bounds)]
    split = metrics_from_parts(combine_parts([metric_parts(p) for p in pieces]), quarantined)
    whole = daily_and_hourly_metrics(traces, quarantined)
    for from_pieces, from_whole in zip(split, whole, strict=True):
        assert from_pieces.equals(from_whole, null_equal=True)
        assert from_pieces.get_column("trace_count").sum() == traces.height


def test_percentiles_match_a_plain_group_by_to_the_bit() -> None:
    """The parts carry each group's latencies with their nulls, so the percentiles are polars' group-by
    quantiles exactly (a list quantile without the nulls differs in the last bit on some lists)."""
    latencies = [None, 2.01, 42.71, 41.52, 11.89, 60.5]
    out = trace_metrics(frame(latencies), pl.DataFrame(schema=QUARANTINE_COLUMNS), hourly=False)
    reference = pl.DataFrame({"latency_ms": latencies}, schema={"latency_ms": pl.Float64}).select(
        *(pl.col("latency_ms").quantile(q / 100, "linear").alias(f"latency_ms_p{q}") for q in (50, 90, 99))
    )
    assert out.select(reference.columns).equals(reference)
    assert out.get_column("cost_usd_sum").to_list() == [0.5 * len(latencies)]


def test_a_group_without_any_cost_sums_to_zero() -> None:
    traces = frame([1.0, 2.0, 3.0]).with_columns(pl.lit(None, dtype=pl.Float64).alias("cost_usd"))
    for hourly in (False, True):
        out = trace_metrics(traces, pl.DataFrame(schema=QUARANTINE_COLUMNS), hourly=hourly)
        assert [str(v) for v in out.get_column("cost_usd_sum").to_list()] == ["0.0"] * out.height


def test_non_finite_values_are_unknown_never_averaged() -> None:
    """Validation quarantines NaN and infinities; should one reach the aggregation anyway (a source that skips
    validation), it counts as a missing value: every statistic stays what the finite values give."""
    nan, inf = float("nan"), float("inf")
    feedback = [
        [{"name": "thumbs", "value": v, "source": "user"}, {"name": "rating", "value": nan, "source": "user"}]
        for v in (1.0, nan, inf, -inf, 0.0)
    ]
    traces = frame([1.0, nan, inf, -inf, 5.0], feedback).with_columns(
        pl.Series("cost_usd", [0.5, inf, nan, -inf, 0.25])
    )
    daily, hourly = daily_and_hourly_metrics(traces, pl.DataFrame(schema=QUARANTINE_COLUMNS))
    assert non_finite_cells(daily) == {} and non_finite_cells(hourly) == {}
    row = daily.row(0, named=True)
    assert row["trace_count"] == 5
    assert row["latency_ms_mean"] == 3.0
    assert row["latency_ms_p50"] == 3.0
    assert row["cost_usd_sum"] == 0.75
    assert row["feedback"] == [
        {"name": "rating", "mean": None, "count": 0},
        {"name": "thumbs", "mean": 0.5, "count": 2},
    ]
    # an hour without a finite latency (+inf and -inf) has an unknown (null) mean and percentiles, not NaN
    second_hour = hourly.row(1, named=True)
    assert second_hour["trace_count"] == 2
    assert second_hour["latency_ms_mean"] is None and second_hour["latency_ms_p99"] is None
