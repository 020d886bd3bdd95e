"""NaN and infinities never enter a profile's count tables: they are counted with the nulls (unknown)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from tracewatch.drift.counts import MAX_EXACT_VALUES, merge_numeric, numeric_counts
from tracewatch.drift.profile import build_day_profile
from tracewatch.traces import TRACE_SCHEMA

NAN, INF = float("nan"), float("inf")


def test_non_finite_values_are_counted_with_the_nulls() -> None:
    table = numeric_counts(pl.Series("latency_ms", [1.0, INF, None, NAN, -INF, 3.0, -0.0]))
    assert table.values.tolist() == [0.0, 1.0, 3.0]
    assert table.counts.tolist() == [1, 1, 1]
    assert table.nulls == 4
    assert table.mean() == 4.0 / 3 and math.isfinite(table.std())


def test_a_binned_table_drops_infinities_too() -> None:
    values = np.linspace(0.5, 5000.5, MAX_EXACT_VALUES + 10)
    table = numeric_counts(pl.Series("cost_usd", [*values, INF, -INF, NAN]))
    assert not table.exact
    assert np.isfinite(table.values).all()
    assert table.size == values.size and table.nulls == 3
    merged = merge_numeric([table, numeric_counts(pl.Series("cost_usd", [INF, 2.0]))])
    assert merged.nulls == 4 and np.isfinite(merged.values).all()
    assert merged.mean() is not None and math.isfinite(merged.mean() or 0.0) and math.isfinite(merged.std())


def test_a_day_profile_with_non_finite_numbers_has_finite_statistics() -> None:
    columns = ("latency_ms", "cost_usd", "input_tokens", "feedback")
    traces = pl.DataFrame(
        {
            "latency_ms": [100.0, INF, NAN, 300.0],
            "cost_usd": [0.01, -INF, None, 0.03],
            "input_tokens": [1, 2, 3, 4],
            "feedback": [[{"name": "thumbs", "value": v, "source": "user"}] for v in (1.0, NAN, INF, 0.0)],
        },
        schema={c: TRACE_SCHEMA[c] for c in columns},
    )
    profile = build_day_profile(traces, dt.date(2026, 11, 1))
    for name in ("latency_ms", "cost_usd", "feedback.thumbs"):
        table = profile.numeric[name]
        assert table.size == 2 and table.nulls == 2, name
        assert math.isfinite(table.mean() or NAN) and math.isfinite(table.std()), name
