"""Pure aggregation of accepted traces (and quarantined rows) into monitoring metrics."""

from __future__ import annotations

import polars as pl

from tracewatch.reports.tables import FEEDBACK_STATS
from tracewatch.traces.schema import GROUP_KEYS

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


def trace_metrics(traces: pl.DataFrame, quarantined: pl.DataFrame, *, hourly: bool) -> pl.DataFrame:
    """Metrics per (hour,) project, route and model: one of the two `daily_and_hourly_metrics` tables."""
    daily, per_hour = daily_and_hourly_metrics(traces, quarantined)
    return per_hour if hourly else daily


def daily_and_hourly_metrics(
    traces: pl.DataFrame, quarantined: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Metrics per day and per UTC hour, each per project, route and model.

    `traces` are accepted traces with `METRIC_INPUT_COLUMNS`; `quarantined` are quarantined rows with
    `start_time` and the group keys (nulls allowed), counted per group so the two add up to what arrived.

    Both tables are planned together over the traces, encoded once, and polars runs the two plans at once.
    Each is aggregated from the rows: a daily float sum of hourly sums would depend on the order the hourly
    groups come out in (it varies by process), and a rerun must publish the same bits.
    """
    # Grouping on dictionary codes is several times faster than hashing three strings per row.
    encoded = traces.with_columns(
        pl.col(GROUP_KEYS).cast(pl.Categorical), pl.col("start_time").dt.truncate("1h").alias("hour")
    ).lazy()
    rejected = quarantined.lazy().with_columns(pl.col("start_time").dt.truncate("1h").alias("hour"))
    daily, hourly = pl.collect_all(
        [_metrics(encoded, rejected, list(GROUP_KEYS)), _metrics(encoded, rejected, ["hour", *GROUP_KEYS])]
    )
    return daily, hourly


_AGGREGATES: tuple[pl.Expr, ...] = (
    pl.len().cast(pl.Int64).alias("trace_count"),
    (pl.col("status") == "error").sum().cast(pl.Int64).alias("error_count"),
    pl.col("input_tokens").sum().alias("input_tokens_sum"),
    pl.col("input_tokens").mean().alias("input_tokens_mean"),
    pl.col("output_tokens").sum().alias("output_tokens_sum"),
    pl.col("output_tokens").mean().alias("output_tokens_mean"),
    pl.col("cost_usd").sum().alias("cost_usd_sum"),
    pl.col("latency_ms").mean().alias("latency_ms_mean"),
    pl.col("latency_ms").quantile(0.50, "linear").alias("latency_ms_p50"),
    pl.col("latency_ms").quantile(0.90, "linear").alias("latency_ms_p90"),
    pl.col("latency_ms").quantile(0.99, "linear").alias("latency_ms_p99"),
)


def _metrics(traces: pl.LazyFrame, quarantined: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """One table: the aggregates, feedback per score name, quarantined counts and the error rate per group."""
    rejected = quarantined.group_by(keys).agg(pl.len().cast(pl.Int64).alias("quarantined_count"))
    out = (
        traces.group_by(keys)
        .agg(*_AGGREGATES)
        .join(_feedback_stats(traces, keys), on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col(GROUP_KEYS).cast(pl.String))
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


def _feedback_stats(traces: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    scores = (
        traces.select(*keys, "feedback")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback")
        .drop_nulls("name")
    )
    per_name = scores.group_by(*keys, "name").agg(
        pl.col("value").mean().alias("mean"), pl.col("value").count().cast(pl.Int64).alias("count")
    )
    return (
        per_name.sort("name")
        .group_by(keys)
        .agg(pl.struct("name", "mean", "count").alias("feedback"))
        .cast({"feedback": FEEDBACK_STATS})
    )
