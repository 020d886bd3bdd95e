"""Monitoring aggregates against numpy reference computations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.monitoring.metrics import METRIC_INPUT_COLUMNS, trace_metrics
from tracewatch.traces.schema import TRACE_SCHEMA

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
