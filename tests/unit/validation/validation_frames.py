"""Trace frames for the validation tests: valid rows with chosen overrides, and days with planted violations.

A plain module (not conftest) so tests and hypothesis strategies can import the helpers directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from tracewatch.traces import TRACE_SCHEMA

DAY = dt.date(2026, 11, 1)
DAY_START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY_END = DAY_START + dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)
MAX_TEXT = 1_000_000
MAX_TOKENS = 10_000_000
MAX_LATENCY_MS = 604_800_000.0  # 7 days
MAX_COST_USD = 10_000.0


def valid_row(i: int) -> dict[str, Any]:
    """A row that satisfies every expectation of the shipped suite on DAY."""
    return {
        "trace_id": f"t{i}",
        "start_time": DAY_START + dt.timedelta(seconds=i),
        "project": "qa",
        "route": "chat",
        "model": "m1",
        "input_text": f"question {i}",
        "output_text": f"answer {i}",
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": 0.001,
        "latency_ms": 120.0,
        "status": "ok",
    }


def feedback(name: str, value: float | None) -> dict[str, Any]:
    """One entry of the `feedback` list column."""
    return {"name": name, "value": value, "source": "user"}


def traces(*overrides: Mapping[str, Any]) -> pl.DataFrame:
    """One canonical-schema row per override: a valid row `i` with the given columns replaced."""
    rows = [{**valid_row(i), **o} for i, o in enumerate(overrides)]
    return pl.DataFrame(rows, schema=TRACE_SCHEMA)


def planted_day(n: int, seed: int) -> pl.DataFrame:
    """`n` mostly valid traces in random order with violations of every rule planted, edge cases included.

    Planted: negative / NaN / infinite / null / absurdly large and exactly-at-limit numbers, non-finite
    feedback values, out-of-day and boundary timestamps, unknown and null statuses, null and duplicated
    (pairs and triples) trace ids, over-long and exactly-at-limit multi-byte texts.
    """
    rng = np.random.default_rng(seed)
    rows = [valid_row(i) for i in range(n)]
    for row in rows:
        row["start_time"] = DAY_START + dt.timedelta(microseconds=int(rng.integers(0, 86_400_000_000)))
        row["latency_ms"] = float(rng.gamma(2.0, 300.0))
        row["cost_usd"] = None if rng.random() < 0.1 else float(rng.random() / 100)
    k = max(n // 50, 1)

    def plant(column: str, values: list[Any]) -> None:
        for idx in rng.choice(n, size=k, replace=False):
            rows[int(idx)][column] = values[int(rng.integers(len(values)))]

    nan, inf = float("nan"), float("inf")
    plant("latency_ms", [-5.0, -1e-9, nan, None, 0.0, -0.0, inf, -inf, MAX_LATENCY_MS, MAX_LATENCY_MS + 1])
    plant("cost_usd", [-0.5, None, 0.0, nan, -inf, inf, MAX_COST_USD, MAX_COST_USD + 0.01])
    plant("input_tokens", [-1, None, 0, MAX_TOKENS, MAX_TOKENS + 1])
    plant("output_tokens", [-3, None, 2 * MAX_TOKENS])
    plant(
        "feedback", [[feedback("thumbs", nan)], [feedback("thumbs", 1.0), feedback("rating", -inf)], [], None]
    )
    plant(
        "start_time", [DAY_START - US, DAY_END, DAY_END - US, DAY_START, DAY_END + dt.timedelta(days=3), None]
    )
    plant("status", ["bad", "OK", "", None, "error"])
    plant("project", [None])
    plant("route", [None])
    plant("model", [None, ""])
    plant("trace_id", [None, "dup-a", "dup-b", "dup-b", "t0"])
    over = "é" * (MAX_TEXT + 1)  # 1,000,001 characters, 2,000,002 bytes: the limit is in characters
    plant("input_text", [over, "é" * MAX_TEXT, None, ""])
    rows[int(rng.integers(n))]["output_text"] = "x" * (MAX_TEXT + 1)
    return pl.DataFrame(rows, schema=TRACE_SCHEMA)
