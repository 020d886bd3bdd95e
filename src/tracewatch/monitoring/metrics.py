"""Pure aggregation of accepted traces (and quarantined rows) into monitoring metrics.

The work is split in two so the heavy part can run where the traces are read: `metric_parts` reduces any
slice of a day's accepted traces (ingest calls it on each file, in the thread that read and checked it) to
one row per UTC hour, project, route and model, and `metrics_from_parts` turns the parts of a whole day into
the daily and hourly tables.

A rerun must publish the same bits whichever way the traces were sliced (per file at ingest, or the whole day
read back from the store), and float addition is not associative. So only counts and integer sums are added
up across parts (exactly); the float columns travel as lists of their values, which combining only
concatenates, in part order then row order. Every float statistic is then computed once, over the whole
group's values in that one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.reports import FEEDBACK_STATS
from tracewatch.traces import GROUP_KEYS, TRACE_SCHEMA

METRIC_INPUT_COLUMNS: tuple[str, ...] = (
    "start_time",
    "project",
    "route",
    "model",
    "status",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "feedback",
)
"""The only trace columns monitoring reads, so scans skip the (large) text columns."""

DAY_VALUES_MAX_ROWS = 2_000_000
"""A day with more accepted traces than this is aggregated in bounded parts (`bounded`); up to it, its values
travel to the merge: at about 20 bytes a trace, 40 MB in the process that merges them."""

HOUR = "hour"
DAILY_KEYS: tuple[str, ...] = GROUP_KEYS
HOURLY_KEYS: tuple[str, ...] = (HOUR, *GROUP_KEYS)
COUNTS: tuple[str, ...] = (
    "trace_count",
    "error_count",
    "input_tokens_sum",
    "input_tokens_count",
    "output_tokens_sum",
    "output_tokens_count",
)
"""Integer columns of the parts: added up exactly when parts are combined."""
_VALUES: tuple[str, ...] = ("cost_usd", "latency_ms")
"""Float columns of the parts: the values of each group, as a list. Nulls are kept: with them, a list's
quantile takes the same path as a group's (the two differ in the last bit on some lists otherwise), and a
group without a cost sums to 0.0, not -0.0. NaN and infinities become nulls (see `finite_or_null`)."""


def finite_or_null(column: str) -> pl.Expr:
    """`column` with NaN and +/-inf as null (unknown). Validation quarantines them, but a frame that skipped it
    (a custom source, an older ingest) must still not turn a group's sum, mean or percentiles into NaN/inf."""
    col = pl.col(column)
    return pl.when(col.is_finite()).then(col).alias(column)


@dataclass(frozen=True)
class MetricParts:
    """Partial monitoring aggregates of some accepted traces, per UTC hour, project, route and model.

    `groups`: the hour and group keys, the `COUNTS` and the lists of `_VALUES`. `feedback`: the hour, group
    keys and score name, with the list of the score's finite values (`value`). A key may appear in several rows (one
    per part combined); `metrics_from_parts` adds them up.
    """

    groups: pl.DataFrame
    feedback: pl.DataFrame

    @property
    def rows(self) -> int:
        """The traces these parts were made from."""
        return int(self.groups.get_column("trace_count").sum())


def counted() -> list[pl.Expr]:
    """The aggregations of a group's `COUNTS`, the same in either way of aggregating a day."""
    return [
        pl.len().cast(pl.Int64).alias("trace_count"),
        (pl.col("status") == "error").sum().cast(pl.Int64).alias("error_count"),
        pl.col("input_tokens").sum().alias("input_tokens_sum"),
        pl.col("input_tokens").count().cast(pl.Int64).alias("input_tokens_count"),
        pl.col("output_tokens").sum().alias("output_tokens_sum"),
        pl.col("output_tokens").count().cast(pl.Int64).alias("output_tokens_count"),
    ]


def metric_parts(traces: pl.DataFrame) -> MetricParts:
    """The parts of `traces` (accepted traces with `METRIC_INPUT_COLUMNS`); both tables planned at once."""
    hourly = traces.lazy().with_columns(pl.col("start_time").dt.truncate("1h").alias(HOUR))
    groups = hourly.group_by(HOURLY_KEYS).agg(*counted(), *(finite_or_null(c) for c in _VALUES))
    scores = (
        hourly.select(*HOURLY_KEYS, "feedback")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback")
        .drop_nulls("name")
        .group_by(*HOURLY_KEYS, "name")
        .agg(finite_or_null("value").drop_nulls())
    )
    collected_groups, collected_scores = pl.collect_all([groups, scores])
    return MetricParts(groups=collected_groups, feedback=collected_scores)


def combine_parts(parts: Sequence[MetricParts]) -> MetricParts:
    """The parts of several slices of a day, in the order given (which fixes the order of the float values)."""
    if not parts:
        return metric_parts(pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in METRIC_INPUT_COLUMNS}))
    return MetricParts(
        groups=pl.concat([p.groups for p in parts]), feedback=pl.concat([p.feedback for p in parts])
    )


@dataclass(frozen=True)
class MetricReducer:
    """Monitoring's reducer for ingest (`ingest.AcceptedRowsReducer`): the metric parts of each file's accepted
    rows, made while ingest has them in memory, so a nightly run reads each new file once. A date of more than
    `max_rows` accepted traces gets none: `parts.day_metrics` aggregates it in bounded parts instead."""

    columns: tuple[str, ...] = METRIC_INPUT_COLUMNS
    max_rows: int = DAY_VALUES_MAX_ROWS

    def reduce(self, accepted: pl.DataFrame) -> MetricParts:
        return metric_parts(accepted)

    def combine(self, parts: Sequence[MetricParts]) -> MetricParts:
        return combine_parts(parts)

    def rows(self, part: MetricParts) -> int:
        return part.rows


METRIC_REDUCER = MetricReducer()


def trace_metrics(traces: pl.DataFrame, quarantined: pl.DataFrame, *, hourly: bool) -> pl.DataFrame:
    """Metrics per (hour,) project, route and model: one of the two `daily_and_hourly_metrics` tables."""
    daily, per_hour = daily_and_hourly_metrics(traces, quarantined)
    return per_hour if hourly else daily


def daily_and_hourly_metrics(
    traces: pl.DataFrame, quarantined: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Metrics per day and per UTC hour of `traces` in one piece: see `metrics_from_parts`."""
    return metrics_from_parts(metric_parts(traces), quarantined)


def metrics_from_parts(parts: MetricParts, quarantined: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Metrics per day and per UTC hour, each per project, route and model, from a whole day's parts.

    `quarantined` are quarantined rows with `start_time` and the group keys (nulls allowed), counted per group
    so the two add up to what arrived. The hourly groups are combined first, then sorted, and the daily ones
    combined from them in that order: a group's values are in the same order in every run.
    """
    hourly = _combined(parts.groups.lazy(), HOURLY_KEYS, COUNTS, _VALUES)
    daily = _combined(hourly, DAILY_KEYS, COUNTS, _VALUES)
    hourly_scores = _combined(parts.feedback.lazy(), (*HOURLY_KEYS, "name"), (), ("value",))
    daily_scores = _combined(hourly_scores, (*DAILY_KEYS, "name"), (), ("value",))
    rejected = quarantined.lazy().with_columns(pl.col("start_time").dt.truncate("1h").alias(HOUR))
    daily_table, hourly_table = pl.collect_all(
        [
            _table(daily, daily_scores, rejected, DAILY_KEYS),
            _table(hourly, hourly_scores, rejected, HOURLY_KEYS),
        ]
    )
    return daily_table, hourly_table


def _combined(
    parts: pl.LazyFrame, keys: tuple[str, ...], counts: tuple[str, ...], values: tuple[str, ...]
) -> pl.LazyFrame:
    """One row per `keys`: `counts` added up, `values` lists concatenated in row order; sorted by the keys.

    (Within a group, polars keeps the rows' order, so the order of the values is the order of the parts.)"""
    return (
        parts.group_by(keys)
        .agg(
            *(pl.col(c).sum() for c in counts),
            *(pl.col(c).list.explode(keep_nulls=False, empty_as_null=False) for c in values),
        )
        .sort(*GROUP_KEYS, *(k for k in keys if k not in GROUP_KEYS), nulls_last=True)
    )


def integer_mean(column: str) -> pl.Expr:
    """The mean of an integer column from its exact sum and count (null when there is no value)."""
    count = pl.col(f"{column}_count")
    return pl.when(count > 0).then(pl.col(f"{column}_sum") / count).alias(f"{column}_mean")


def _latency_quantile(q: float) -> pl.Expr:
    return (
        pl.col("latency_ms")
        .list.eval(pl.element().quantile(q, "linear"))
        .list.first()
        .alias(f"latency_ms_p{round(q * 100)}")
    )


def _table(
    groups: pl.LazyFrame, scores: pl.LazyFrame, quarantined: pl.LazyFrame, keys: tuple[str, ...]
) -> pl.LazyFrame:
    """One table from the groups' values: see `finished_table`."""
    feedback = scores.select(
        *keys,
        "name",
        pl.col("value").list.mean().alias("mean"),
        pl.col("value").list.len().cast(pl.Int64).alias("count"),
    )
    metrics = groups.with_columns(
        integer_mean("input_tokens"),
        integer_mean("output_tokens"),
        pl.col("cost_usd").list.sum().alias("cost_usd_sum"),
        pl.col("latency_ms").list.mean().alias("latency_ms_mean"),
        *(_latency_quantile(q) for q in (0.50, 0.90, 0.99)),
    )
    return finished_table(metrics, feedback, quarantined, keys)


METRIC_COLUMNS: tuple[str, ...] = (
    "trace_count",
    "error_count",
    "input_tokens_sum",
    "input_tokens_mean",
    "output_tokens_sum",
    "output_tokens_mean",
    "cost_usd_sum",
    "latency_ms_mean",
    "latency_ms_p50",
    "latency_ms_p90",
    "latency_ms_p99",
)
"""The aggregates of a group, in the tables' column order (then `feedback`, `quarantined_count`, `error_rate`)."""


def finished_table(
    metrics: pl.LazyFrame, feedback: pl.LazyFrame, quarantined: pl.LazyFrame, keys: tuple[str, ...]
) -> pl.LazyFrame:
    """One table: per group (`keys`) the aggregates (`metrics`, with `METRIC_COLUMNS`), the feedback per score
    name (`feedback`: keys, `name`, `mean`, `count`), the quarantined count and the error rate, sorted by keys.

    Both ways of aggregating a day (`metrics_from_parts` for a day whose values fit, `bounded` beyond) end
    here, so their tables have one shape."""
    rejected = quarantined.group_by(keys).agg(pl.len().cast(pl.Int64).alias("quarantined_count"))
    per_group = (
        feedback.group_by(keys)
        .agg(pl.struct("name", "mean", "count").sort_by("name").alias("feedback"))
        .cast({"feedback": FEEDBACK_STATS})
    )
    out = (
        metrics.select(*keys, *METRIC_COLUMNS)
        .join(per_group, on=keys, how="left", nulls_equal=True)
        .join(rejected, on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(
            pl.col("trace_count", "error_count", "quarantined_count").fill_null(0),
            pl.col("feedback").fill_null(pl.lit([], dtype=FEEDBACK_STATS)),
        )
        .with_columns(
            pl.when(pl.col("trace_count") > 0)
            .then(pl.col("error_count") / pl.col("trace_count"))
            .otherwise(None)
            .alias("error_rate")
        )
    )
    return out.sort(keys, nulls_last=True)
