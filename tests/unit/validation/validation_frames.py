"""Trace frames for the validation tests: valid rows with chosen overrides, and days with planted violations.

A plain module (not conftest) so tests and hypothesis strategies can import the helpers directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from tracewatch.traces.schema import TRACE_SCHEMA

DAY = dt.date(2026, 11, 1)
DAY_START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY_END = DAY_START + dt.timedelta(days=1)
US = dt.timedelta(microseconds=1)
MAX_TEXT = 1_000_000


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


def traces(*overrides: Mapping[str, Any]) -> pl.DataFrame:
    """One canonical-schema row per override: a valid row `i` with the given columns replaced."""
    rows = [{**valid_row(i), **o} for i, o in enumerate(overrides)]
    return pl.DataFrame(rows, schema=TRACE_SCHEMA)


def planted_day(n: int, seed: int) -> pl.DataFrame:
    """`n` mostly valid traces in random order with violations of every rule planted, edge cases included.

    Planted: negative / NaN / null numbers, out-of-day and boundary timestamps, unknown and null statuses,
    null and duplicated (pairs and triples) trace ids, over-long and exactly-at-limit multi-byte texts.
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

    plant("latency_ms", [-5.0, -1e-9, float("nan"), None, 0.0, -0.0])
    plant("cost_usd", [-0.5, None, 0.0, float("nan")])
    plant("input_tokens", [-1, None, 0])
    plant("output_tokens", [-3, None])
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
