"""Monitoring of a day too large to hold its values: parts of bounded size and exact percentiles in passes.

`metrics` carries every latency, cost and feedback value of a day to the merge (about 20 bytes a trace), which
is the cheapest way while a day is small (`DAY_VALUES_MAX_ROWS`). Past that many accepted traces a day is
aggregated here instead, so no process holds it: `bounded_parts` reduces any slice of the day (one file) to a
few numbers per UTC hour, project, route and model; `combine_bounded` merges parts; the latency percentiles
take further passes over the files that read only the latencies near the wanted ranks (`latency_percentiles`,
`radix_select`); `bounded_metrics` turns the merged parts and percentiles into the daily and hourly tables,
through the same `metrics.finished_table` as a small day.

A rerun must publish the same bits whichever way the day was sliced, and float addition is not associative. So
every part merges exactly: counts and integer sums add up; float sums (cost, latency, feedback values) are kept
as exact integer limbs and rounded once at the end (`exact_sum`: the correctly rounded sum, as `math.fsum`
gives, and the correctly rounded mean of the exact sum); the percentiles are exact order statistics with
polars' "linear" interpolation, to the bit, so they are the same numbers as a small day's. The sums and means
may differ in the last place from a small day's (polars' sums round at every step). NaN and infinities count
as unknown (null) everywhere (`metrics.finite_or_null`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.monitoring.exact_sum import LIMBS, limb_lists, limb_lists_by_id, merged_limbs, sums_and_means
from tracewatch.monitoring.metrics import (
    COUNTS,
    DAILY_KEYS,
    HOUR,
    HOURLY_KEYS,
    METRIC_INPUT_COLUMNS,
    counted,
    finished_table,
    finite_or_null,
    integer_mean,
)
from tracewatch.monitoring.radix_select import (
    BUCKET,
    HISTOGRAM,
    VALUE_BUDGET,
    Grouping,
    RadixQuery,
    Refine,
    combine_counts,
    histogram_lists_by_id,
    merged_histograms,
    percentiles,
    refine_frame,
)
from tracewatch.traces import GROUP_KEYS, TRACE_SCHEMA

LATENCY_COLUMNS: tuple[str, ...] = ("start_time", *GROUP_KEYS, "latency_ms")
"""The columns the percentile passes read again."""

_COUNTS: tuple[str, ...] = (*COUNTS, "latency_ms_count")
"""Integer columns of the parts: added up exactly when parts are combined (`latency_ms_count`: the finite
latencies)."""
_LIMBS: tuple[str, ...] = ("cost_usd_limbs", "latency_ms_limbs")
"""Exact sums of the finite cost and latency values (`exact_sum.LIMBS`)."""
_HISTOGRAM = "latency_ms_histogram"
"""Pass 1 of the latency percentiles (`radix_select.HISTOGRAM`)."""
_SCORE_KEYS = ("name",)


@dataclass(frozen=True)
class BoundedParts:
    """Partial monitoring aggregates of some accepted traces, per UTC hour, project, route and model.

    `groups`: the hour and group keys, the `_COUNTS`, the limbs of the cost and latency sums and the latency
    histogram. `feedback`: the hour, group keys and score name, the `count` of the score's finite values and
    their limbs (`value_limbs`). A key may appear in several rows (one per part combined) until
    `combine_bounded` merges them.
    """

    groups: pl.DataFrame
    feedback: pl.DataFrame


def _with_hour(traces: pl.DataFrame) -> pl.DataFrame:
    return traces.with_columns(pl.col("start_time").dt.truncate("1h").alias(HOUR))


def bounded_parts(traces: pl.DataFrame) -> BoundedParts:
    """The parts of `traces` (accepted traces with `METRIC_INPUT_COLUMNS`).

    The rows are grouped by their (string) keys once; the limbs, histograms and feedback are then grouped by
    the integer group id, which is several times cheaper."""
    hourly = (
        _with_hour(traces)
        .with_columns(finite_or_null("cost_usd"), finite_or_null("latency_ms"))
        .with_row_index("row")
    )
    groups = (
        hourly.group_by(HOURLY_KEYS)
        .agg(
            *counted(),
            pl.col("latency_ms").count().cast(pl.Int64).alias("latency_ms_count"),
            pl.col("row"),
        )
        .with_row_index("gid")
    )
    members = groups.select("gid", "row").explode("row")
    gid = np.zeros(hourly.height, dtype=np.uint32)
    gid[members.get_column("row").to_numpy()] = members.get_column("gid").to_numpy()
    rows = hourly.select("cost_usd", "latency_ms", "feedback").with_columns(pl.Series("gid", gid))
    groups = groups.drop("row").with_columns(
        *(
            limb_lists_by_id(gid, rows.get_column(c), groups.height).alias(f"{c}_limbs")
            for c in ("cost_usd", "latency_ms")
        ),
        histogram_lists_by_id(gid, rows.get_column("latency_ms"), groups.height).alias(_HISTOGRAM),
    )
    scores = (
        rows.select("gid", "feedback")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback")
        .drop_nulls("name")
        .with_columns(finite_or_null("value"))
    )
    score_keys = ("gid", *_SCORE_KEYS)
    feedback = scores.group_by(score_keys).agg(pl.col("value").count().cast(pl.Int64).alias("count"))
    feedback = _attach(feedback, limb_lists(scores, score_keys, "value", "value_limbs"), score_keys)
    feedback = groups.select("gid", *HOURLY_KEYS).join(feedback, on="gid").drop("gid")
    return BoundedParts(groups=groups.drop("gid"), feedback=feedback)


def _attach(frame: pl.DataFrame, lists: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """`frame` with the list column of `lists` (one row per key or none), empty where a key has none."""
    (name,) = (c for c in lists.columns if c not in keys)
    empty = pl.lit([], dtype=lists.schema[name])
    return frame.join(lists, on=list(keys), how="left", nulls_equal=True).with_columns(
        pl.col(name).fill_null(empty)
    )


def _merged(
    frame: pl.DataFrame, keys: Sequence[str], counts: Sequence[str], limbs: Sequence[str]
) -> pl.DataFrame:
    """One row per `keys` (sorted, with a group id `gid`): `counts` added up, limb lists and (when present) the
    latency histograms merged. Nothing depends on the order of the rows."""
    index = frame.select(keys).unique().sort(keys, nulls_last=True).with_row_index("gid")
    keyed = frame.join(index, on=list(keys), nulls_equal=True)
    out = index.join(keyed.group_by("gid").agg(*(pl.col(c).sum() for c in counts)), on="gid", how="left")
    for column in limbs:
        out = out.join(merged_limbs(keyed, "gid", column), on="gid", how="left").with_columns(
            pl.col(column).fill_null(pl.lit([], dtype=LIMBS))
        )
    if _HISTOGRAM in frame.columns:
        histograms = (
            merged_histograms(keyed, "gid", _HISTOGRAM)
            .group_by("gid")
            .agg(pl.struct("bucket", "count").sort_by("bucket").cast(BUCKET).alias(_HISTOGRAM))
        )
        out = out.join(histograms, on="gid", how="left").with_columns(
            pl.col(_HISTOGRAM).fill_null(pl.lit([], dtype=HISTOGRAM))
        )
    return out.sort("gid")


def combine_bounded(parts: Sequence[BoundedParts]) -> BoundedParts:
    """The parts of several slices of a day merged into one row per key (in any order: the result is the same)."""
    if not parts:
        return bounded_parts(pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in METRIC_INPUT_COLUMNS}))
    groups = _merged(pl.concat([p.groups for p in parts]), HOURLY_KEYS, _COUNTS, _LIMBS).drop("gid")
    feedback = _merged(
        pl.concat([p.feedback for p in parts]), (*HOURLY_KEYS, *_SCORE_KEYS), ("count",), ("value_limbs",)
    ).drop("gid")
    return BoundedParts(groups=groups, feedback=feedback)


@dataclass(frozen=True)
class LatencyPercentiles:
    """A day's latency percentiles: `hourly` per hour and group keys, `daily` per group keys, each with
    `latency_ms_p50`, `_p90` and `_p99` (null for a group without a finite latency)."""

    hourly: pl.DataFrame
    daily: pl.DataFrame


@dataclass(frozen=True)
class BoundedDay:
    """A large day's monitoring, ready for its tables: the merged parts and the latency percentiles."""

    parts: BoundedParts
    latency: LatencyPercentiles


def latency_counts(traces: pl.DataFrame, query: RadixQuery) -> dict[str, pl.DataFrame]:
    """One slice's answer to a percentile pass (`radix_select.refine_frame`); `traces` has `LATENCY_COLUMNS`."""
    return refine_frame(_with_hour(traces.select(LATENCY_COLUMNS)), query, "latency_ms")


def latency_percentiles(
    parts: BoundedParts, refine: Refine, *, value_budget: int = VALUE_BUDGET
) -> LatencyPercentiles:
    """The exact percentiles of the day whose merged `parts` these are; `refine` runs each further pass over
    every slice of the day (`latency_counts` on each, then `radix_select.combine_counts`); `value_budget`: see
    `radix_select.VALUE_BUDGET`."""
    hourly, daily = _groupings(parts)
    groupings = {"hourly": _grouping(hourly, HOURLY_KEYS), "daily": _grouping(daily, DAILY_KEYS)}
    found = percentiles(groupings, refine, "latency_ms", value_budget=value_budget)
    return LatencyPercentiles(
        hourly=hourly.select("gid", *HOURLY_KEYS).join(found["hourly"], on="gid").drop("gid"),
        daily=daily.select("gid", *DAILY_KEYS).join(found["daily"], on="gid").drop("gid"),
    )


def _groupings(parts: BoundedParts) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The merged hourly groups and the daily ones merged from them, each sorted by its keys with a `gid`."""
    hourly = _merged(parts.groups, HOURLY_KEYS, _COUNTS, _LIMBS)
    daily = _merged(hourly.drop("gid", HOUR), DAILY_KEYS, _COUNTS, _LIMBS)
    return hourly, daily


def _grouping(groups: pl.DataFrame, keys: tuple[str, ...]) -> Grouping:
    return Grouping(
        index=groups.select(*keys, "gid"),
        sizes=groups.select(
            "gid",
            pl.col("latency_ms_count").alias("values"),
            (pl.col("trace_count") - pl.col("latency_ms_count")).alias("nulls"),
        ),
        histogram=merged_histograms(groups, "gid", _HISTOGRAM),
    )


def bounded_day_in_memory(traces: pl.DataFrame) -> BoundedDay:
    """A `BoundedDay` of traces held in memory (every pass over the one frame): for tests and small tools."""
    parts = combine_bounded([bounded_parts(traces)])
    latency = latency_percentiles(parts, lambda query: combine_counts([latency_counts(traces, query)]))
    return BoundedDay(parts, latency)


def bounded_metrics(day: BoundedDay, quarantined: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Metrics per day and per UTC hour, each per project, route and model, from a large day's merged parts
    and latency percentiles (`quarantined`: as `metrics.metrics_from_parts` takes them)."""
    hourly, daily = _groupings(day.parts)
    hourly_scores = _merged(day.parts.feedback, (*HOURLY_KEYS, *_SCORE_KEYS), ("count",), ("value_limbs",))
    daily_scores = _merged(
        hourly_scores.drop("gid", HOUR), (*DAILY_KEYS, *_SCORE_KEYS), ("count",), ("value_limbs",)
    )
    rejected = quarantined.lazy().with_columns(pl.col("start_time").dt.truncate("1h").alias(HOUR))
    daily_table, hourly_table = pl.collect_all(
        [
            _table(daily, daily_scores, day.latency.daily, rejected, DAILY_KEYS),
            _table(hourly, hourly_scores, day.latency.hourly, rejected, HOURLY_KEYS),
        ]
    )
    return daily_table, hourly_table


def _exact(frame: pl.DataFrame, limbs: str, count: str, *, mean: bool) -> pl.Series:
    """The correctly rounded sums (or means) of `limbs` per row of `frame`, in its row order."""
    found = sums_and_means(frame, "gid", limbs, count)
    return pl.Series([found[gid][1 if mean else 0] for gid in frame.get_column("gid")], dtype=pl.Float64)


def _table(
    groups: pl.DataFrame,
    scores: pl.DataFrame,
    latency: pl.DataFrame,
    quarantined: pl.LazyFrame,
    keys: tuple[str, ...],
) -> pl.LazyFrame:
    """One table from merged parts and percentiles: see `metrics.finished_table`."""
    feedback = scores.with_columns(_exact(scores, "value_limbs", "count", mean=True).alias("mean")).lazy()
    metrics = groups.with_columns(
        _exact(groups, "cost_usd_limbs", "latency_ms_count", mean=False).alias("cost_usd_sum"),
        _exact(groups, "latency_ms_limbs", "latency_ms_count", mean=True).alias("latency_ms_mean"),
    ).lazy()
    metrics = metrics.join(latency.lazy(), on=list(keys), how="left", nulls_equal=True).with_columns(
        integer_mean("input_tokens"), integer_mean("output_tokens")
    )
    return finished_table(metrics, feedback.select(*keys, "name", "mean", "count"), quarantined, keys)
