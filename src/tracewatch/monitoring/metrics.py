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
    """
    # Grouping on dictionary codes is several times faster than hashing three strings per row.
    encoded = traces.with_columns(
        pl.col(GROUP_KEYS).cast(pl.Categorical), pl.col("start_time").dt.truncate("1h").alias("hour")
    ).lazy()
    hour_keys = ["hour", *GROUP_KEYS]
    per_hour = encoded.group_by(hour_keys).agg(*_ADDITIVE, *_PERCENTILES)
    feedback_per_hour = _feedback_sums(encoded, hour_keys)
    # The daily sums come from the rows too, not from the hourly sums: a float sum of sums depends on the
    # order the hourly groups come out in (it varies by process), and a rerun must publish the same bits.
    per_day = encoded.group_by(GROUP_KEYS).agg(*_ADDITIVE, *_PERCENTILES)
    feedback_per_day = _feedback_sums(encoded, list(GROUP_KEYS))
    rejected = quarantined.lazy().with_columns(pl.col("start_time").dt.truncate("1h").alias("hour"))
    daily, hourly = pl.collect_all(
        [
            _finish(per_day, feedback_per_day, rejected, list(GROUP_KEYS)),
            _finish(per_hour, feedback_per_hour, rejected, hour_keys),
        ]
    )
    return daily, hourly


_SUMMED = ("input_tokens", "output_tokens", "cost_usd", "latency_ms")
_ADDITIVE: tuple[pl.Expr, ...] = (
    pl.len().cast(pl.Int64).alias("trace_count"),
    (pl.col("status") == "error").sum().cast(pl.Int64).alias("error_count"),
    *(pl.col(c).sum().alias(f"{c}_sum") for c in _SUMMED),
    *(pl.col(c).count().cast(pl.Int64).alias(f"{c}_n") for c in _SUMMED),
)
"""Per-group counts and sums; means are sum / non-null count."""
_PERCENTILES: tuple[pl.Expr, ...] = tuple(
    pl.col("latency_ms").quantile(q, "linear").alias(f"latency_ms_p{round(q * 100)}")
    for q in (0.5, 0.9, 0.99)
)


def _mean(column: str) -> pl.Expr:
    n = pl.col(f"{column}_n")
    return pl.when(n > 0).then(pl.col(f"{column}_sum") / n).alias(f"{column}_mean")


def _feedback_sums(traces: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Per group and feedback score name: the sum and count of the scores given."""
    scores = (
        traces.select(*keys, "feedback")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback")
        .drop_nulls("name")
    )
    return scores.group_by(*keys, "name").agg(
        pl.col("value").sum().alias("sum"), pl.col("value").count().cast(pl.Int64).alias("count")
    )


def _finish(
    core: pl.LazyFrame, feedback: pl.LazyFrame, quarantined: pl.LazyFrame, keys: list[str]
) -> pl.LazyFrame:
    """The published columns of one table: means, feedback per name, quarantined counts, error rate."""
    feedback_lists = (
        feedback.with_columns(
            pl.when(pl.col("count") > 0).then(pl.col("sum") / pl.col("count")).alias("mean")
        )
        .sort("name")
        .group_by(keys)
        .agg(pl.struct("name", "mean", "count").alias("feedback"))
        .cast({"feedback": FEEDBACK_STATS})
    )
    strings = pl.col(GROUP_KEYS).cast(pl.String)
    rejected = quarantined.group_by(keys).agg(pl.len().cast(pl.Int64).alias("quarantined_count"))
    out = (
        core.with_columns(_mean("input_tokens"), _mean("output_tokens"), _mean("latency_ms"))
        .join(feedback_lists, on=keys, how="left", nulls_equal=True)
        .with_columns(strings)
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
