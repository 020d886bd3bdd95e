"""The demo's late feedback: reviewers rate some of each day's answers after the fact, in feedback files of their
own (`feedback/date=D/`), most the same day and a third a day late, so the demo's nights show a day rebuilt for
feedback that arrived after its traces (docs/trace-schema.md, "Late feedback"). And, as in production, the app's
feedback endpoint rates a request whose trace the exporter dropped, once a day: that feedback waits for its
trace, then the report `feedback_orphans` lists it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from tracewatch.hashing import key64, stable_hash64
from tracewatch.store import Store
from tracewatch.traces import DriftSpec, generate_day

REVIEWED_SHARE = 0.08
"""Share of each day's answered traces a reviewer rates."""
A_DAY_LATE = 3
"""One reviewed trace in this many is rated the next day (its day is rebuilt on the next night)."""
DROPPED_TRACE_PREFIX = "dropped-"
"""The ids of the requests whose traces never arrive (no demo trace id starts with it)."""


@dataclass(frozen=True)
class DemoFeedback:
    """What `write_late_feedback` wrote: the files, and the events per trace date that arrived a day late."""

    keys: tuple[str, ...]
    events: int
    day_late: dict[dt.date, int]
    without_trace: int


def write_late_feedback(
    store: Store, *, start: dt.date, days: int, traces_per_day: int, seed: int, drift: DriftSpec | None
) -> DemoFeedback:
    """Reviewer ratings (1-5, `source` annotator) of a deterministic sample of the demo's answered traces (the
    traces `write_demo_traces` and `write_demo_otlp` write with these arguments), two hours after each
    trace, or a day later for every `A_DAY_LATE`-th; the last day's ratings all arrive the same day, within
    the demo's nights."""
    last = start + dt.timedelta(days=days - 1)
    frames = []
    for index in range(1, days + 1):
        day = start + dt.timedelta(days=index - 1)
        traces = generate_day(day, seed=seed, traces=traces_per_day, day_index=index, drift=drift)
        answered = traces.filter(pl.col("status") == "ok")
        draw = stable_hash64(answered["trace_id"], key=key64(seed, "demo-feedback")) / 2.0**64
        chosen = answered.filter(pl.Series(draw < REVIEWED_SHARE))
        late = (pl.int_range(0, pl.len()) % A_DAY_LATE == 0) & pl.lit(day < last)
        frames.append(
            chosen.select(
                "trace_id",
                name=pl.lit("review"),
                value=(pl.col("output_text").str.len_chars() % 5 + 1).cast(pl.Float64),
                source=pl.lit("annotator"),
                created_at=pl.when(late)
                .then(pl.col("start_time") + pl.duration(days=1))
                .otherwise(pl.min_horizontal(pl.col("start_time") + pl.duration(hours=2), _day_end(day))),
                trace_date=pl.lit(day),
            )
        )
    events = pl.concat(frames)
    dropped = _ratings_without_trace(start, days)
    keys = []
    for (arrived,), part in events.group_by(pl.col("created_at").dt.date(), maintain_order=True):
        key = f"feedback/date={arrived}/reviews.parquet"
        store.write_parquet(key, part.drop("trace_date"))
        keys.append(key)
    for (arrived,), part in dropped.group_by(pl.col("created_at").dt.date(), maintain_order=True):
        key = f"feedback/date={arrived}/app-endpoint.parquet"
        store.write_parquet(key, part)
        keys.append(key)
    late_rows = events.filter(pl.col("created_at").dt.date() > pl.col("trace_date"))
    day_late = dict(late_rows.group_by("trace_date").len().sort("trace_date").iter_rows())
    total = events.height + dropped.height
    return DemoFeedback(tuple(sorted(keys)), total, day_late, dropped.height)


def _ratings_without_trace(start: dt.date, days: int) -> pl.DataFrame:
    """One thumbs-down a day, at noon, from the app's endpoint, for a request whose trace never arrives."""
    noons = [dt.datetime.combine(start + dt.timedelta(days=i), dt.time(12), dt.UTC) for i in range(days)]
    return pl.DataFrame(
        {
            "trace_id": [f"{DROPPED_TRACE_PREFIX}{noon.date().isoformat()}" for noon in noons],
            "name": ["thumbs"] * days,
            "value": [0.0] * days,
            "source": ["app-endpoint"] * days,
            "created_at": noons,
        },
        schema={
            "trace_id": pl.String,
            "name": pl.String,
            "value": pl.Float64,
            "source": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
        },
    )


def _day_end(day: dt.date) -> pl.Expr:
    """The last microsecond of `day` (UTC), so a same-day rating stays in its day's partition."""
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) - dt.timedelta(microseconds=1)
    return pl.lit(end, pl.Datetime("us", "UTC"))
