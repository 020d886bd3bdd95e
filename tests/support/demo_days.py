"""Days of the demo trace generator by number, as `write_demo_traces` makes them: day 1 is the first of November
2026, and the date and the generator's day index both follow from the one number."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tracewatch.traces import generate_day

DEMO_START = dt.date(2026, 11, 1)


def demo_date(index: int) -> dt.date:
    """The date of day `index` (1 is `DEMO_START`)."""
    return DEMO_START + dt.timedelta(days=index - 1)


def demo_day(index: int, *, traces: int, seed: int, **options: Any) -> pl.DataFrame:
    """Day `index`'s traces; no drift unless `drift=` says, other `generate_day` options passed on."""
    options.setdefault("drift", None)
    return generate_day(demo_date(index), seed=seed, traces=traces, day_index=index, **options)
