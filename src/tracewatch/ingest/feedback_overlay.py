"""Late feedback as the stages see it: attached to its trace's date and merged into the `feedback` column.

Every stage reads traces through `scan_accepted`, which calls `with_late_feedback` when it reads `feedback`,
so monitoring, trace scoring (and judge-human agreement), drift profiles, quality trends and dataset sampling
all see the same merged list. The rule (docs/trace-schema.md, "Late feedback"): per trace, name and source, the
value with the latest `created_at` wins; a late event replaces the trace row's own entry of the same name and
source, which counts as the earliest.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.store import Store
from tracewatch.traces import FEEDBACK

ATTACHED_PREFIX = "warehouse/feedback/attached"
_ORDER = "_overlay_row"


def attached_key(day: dt.date) -> str:
    """The winning late feedback events of the traces of `day` (one object per trace date)."""
    return f"{ATTACHED_PREFIX}/date={day.isoformat()}/part-0.parquet"


def read_attached(store: Store, day: dt.date) -> pl.DataFrame | None:
    """The attached late feedback of `day`'s traces, or None when none was ever attached."""
    try:
        return store.read_parquet(attached_key(day))
    except FileNotFoundError:
        return None


def feedback_dates(store: Store) -> set[dt.date]:
    """The trace dates that have late feedback attached: their monitoring parts made at ingest (from the rows
    alone) are stale, so the nightly builds their reports from the store."""
    return {dt.date.fromisoformat(value) for value in store.partitions(ATTACHED_PREFIX)}


def with_late_feedback(store: Store, day: dt.date, traces: pl.DataFrame) -> pl.DataFrame:
    """`traces` (with `trace_id` and `feedback`) with `day`'s late feedback merged in, rows in their order."""
    attached = read_attached(store, day) if traces.height else None
    if attached is None or attached.is_empty():
        return traces
    return merge_feedback(traces, attached)


def merge_feedback(traces: pl.DataFrame, late: pl.DataFrame) -> pl.DataFrame:
    """Merge `late` events (`trace_id`, `name`, `value`, `source`, one per trace, name and source) into the
    `feedback` lists of `traces`. Only the rows with late feedback are rebuilt; the others pass untouched."""
    late = late.select("trace_id", "name", "value", "source")
    hit = pl.col("trace_id").is_in(late.get_column("trace_id").unique().implode())
    numbered = traces.with_row_index(_ORDER)
    touched = numbered.filter(hit)
    if touched.is_empty():
        return traces
    own = (
        touched.select(_ORDER, "trace_id", "feedback")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback")
        .join(late, on=["trace_id", "name", "source"], how="anti", nulls_equal=True)
    )
    arrived = touched.select(_ORDER, "trace_id").join(late, on="trace_id", how="inner")
    merged = (
        pl.concat([own.select(arrived.columns), arrived])
        .group_by(_ORDER)
        .agg(pl.struct("name", "value", "source").alias("feedback"))
        .cast({"feedback": pl.List(FEEDBACK)})
    )
    rebuilt = touched.drop("feedback").join(merged, on=_ORDER, how="left").select(numbered.columns)
    return pl.concat([numbered.filter(~hit), rebuilt]).sort(_ORDER).drop(_ORDER)
