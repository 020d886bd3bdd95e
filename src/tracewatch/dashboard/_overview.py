"""Overview: the day's traffic, errors, latency, tokens, cost and feedback, per model and route, with the days
that alerted marked; read from `trace_metrics_daily`, `drift` and `quality_trend`."""

from __future__ import annotations

import polars as pl

from tracewatch.dashboard._charts import (
    MAX_COLOURS,
    MAX_PANELS,
    Chart,
    Section,
    capped,
    empty_chart,
    small_multiples,
    trend,
)
from tracewatch.dashboard._load import ReportData

TABLE = "trace_metrics_daily"
PERCENTILES = {"latency_ms_p50": "p50", "latency_ms_p90": "p90", "latency_ms_p99": "p99"}


def weighted(column: str) -> pl.Expr:
    """A per-group mean or percentile combined over groups, weighted by traces (null: no group knew it)."""
    known = pl.col(column).is_not_null() & (pl.col("trace_count") > 0)
    weight = pl.when(known).then(pl.col("trace_count")).otherwise(0)
    total = weight.sum()
    return pl.when(total > 0).then((pl.col(column).fill_null(0) * weight).sum() / total).alias(column)


def daily_totals(metrics: pl.DataFrame, by: list[str] | None = None) -> pl.DataFrame:
    """Per day (and `by`): sums of the counts, error rate from the sums, latency percentiles weighted by traces."""
    keys = ["date", *(by or [])]
    return (
        metrics.group_by(keys)
        .agg(
            pl.col("trace_count").sum().alias("traces"),
            pl.col("error_count").sum().alias("errors"),
            pl.col("input_tokens_sum").sum().alias("input_tokens"),
            pl.col("output_tokens_sum").sum().alias("output_tokens"),
            pl.col("cost_usd_sum").sum().alias("cost_usd"),
            pl.col("quarantined_count").sum().alias("quarantined"),
            *(weighted(c) for c in PERCENTILES),
        )
        .with_columns(
            pl.when(pl.col("traces") > 0).then(pl.col("errors") / pl.col("traces")).alias("error_rate")
        )
        .sort(keys)
    )


def feedback_means(metrics: pl.DataFrame) -> pl.DataFrame:
    """Each feedback score's mean per day over every group, weighted by its count."""
    entries = metrics.select("date", "feedback").explode("feedback").drop_nulls("feedback").unnest("feedback")
    if entries.height == 0:
        return pl.DataFrame(
            schema={"date": pl.Date, "name": pl.String, "mean": pl.Float64, "count": pl.Int64}
        )
    return (
        entries.filter(pl.col("count") > 0)
        .group_by("date", "name")
        .agg(
            ((pl.col("mean") * pl.col("count")).sum() / pl.col("count").sum()).alias("mean"),
            pl.col("count").sum().alias("count"),
        )
        .sort("date", "name")
    )


def alert_days(data: ReportData) -> pl.DataFrame:
    """One row per day that paged: what alerted, drift features and quality scores together."""
    drift = data.table("drift").frame
    quality = data.table("quality_trend").frame
    found = pl.concat(
        [
            drift.filter(pl.col("alert").fill_null(False) & pl.col("role").is_in(["test"])).select(
                "date", ("drift: " + pl.col("feature")).alias("what")
            ),
            quality.filter(pl.col("alert").fill_null(False)).select(
                "date", ("quality: " + pl.col("name")).alias("what")
            ),
        ]
    )
    return (
        found.group_by("date").agg(pl.col("what").unique().sort().str.join(", ").alias("alerts")).sort("date")
    )


def overview_section(data: ReportData) -> Section:
    read = data.table(TABLE)
    section = Section(
        "overview",
        "Overview",
        "Production traffic per UTC day from trace_metrics_daily (accepted traces). Dashed red rules mark the "
        "days a drift test or a quality score alerted; hover a rule to see what.",
        notes=list(read.notes),
    )
    metrics = read.frame
    if not read.has_rows:
        section.charts.append(empty_chart("overview-empty", "Traffic", read.why_empty()))
        return section
    s, e = data.start, data.end
    alerts = alert_days(data)
    totals = daily_totals(metrics)
    latency = totals.unpivot(index="date", on=list(PERCENTILES), variable_name="percentile", value_name="ms")
    latency = latency.with_columns(pl.col("percentile").replace_strict(PERCENTILES)).drop_nulls("ms")
    tokens = totals.unpivot(
        index="date", on=["input_tokens", "output_tokens"], variable_name="kind", value_name="tokens"
    ).with_columns(pl.col("kind").str.replace("_tokens", ""))
    feedback = feedback_means(metrics)
    feedback_names = feedback.get_column("name").unique().sort().to_list()
    window = (s, e)
    section.charts.extend(
        [
            Chart(
                "overview-traces",
                "Traces per day",
                totals.select("date", "traces"),
                trend(
                    totals.select("date", "traces"),
                    y="traces",
                    y_title="traces (count)",
                    title="Traces per day",
                    subtitle="accepted traces; dashed rules: alert days",
                    bars=True,
                    alerts=alerts,
                    window=window,
                ),
                table=totals.select("date", "traces", "errors", "quarantined").join(
                    alerts, on="date", how="left"
                ),
                marks=totals.height,
            ),
            Chart(
                "overview-errors",
                "Error rate",
                totals.select("date", "error_rate").drop_nulls(),
                trend(
                    totals.select("date", "error_rate").drop_nulls(),
                    y="error_rate",
                    y_title="error rate (share)",
                    title="Error rate per day",
                    subtitle="errors / accepted traces",
                    y_format=".2%",
                    alerts=alerts,
                    window=window,
                ),
                marks=totals.drop_nulls("error_rate").height,
            ),
            Chart(
                "overview-latency",
                "Latency percentiles",
                latency,
                trend(
                    latency,
                    y="ms",
                    y_title="latency (ms)",
                    title="Latency p50 / p90 / p99 per day",
                    subtitle="each model x route group's percentile, weighted by its traces",
                    series="percentile",
                    series_title="percentile",
                    names=list(PERCENTILES.values()),
                    alerts=alerts,
                    window=window,
                ),
                table=totals.select("date", *PERCENTILES),
                marks=latency.height,
            ),
            Chart(
                "overview-tokens",
                "Tokens",
                tokens,
                trend(
                    tokens,
                    y="tokens",
                    y_title="tokens (count)",
                    title="Input and output tokens per day",
                    series="kind",
                    series_title="tokens",
                    names=["input", "output"],
                    window=window,
                ),
                table=totals.select("date", "input_tokens", "output_tokens"),
                marks=tokens.height,
            ),
            Chart(
                "overview-cost",
                "Cost",
                totals.select("date", "cost_usd"),
                trend(
                    totals.select("date", "cost_usd"),
                    y="cost_usd",
                    y_title="cost (USD)",
                    title="Cost per day",
                    subtitle="sum of known costs; unknown costs are not in it",
                    bars=True,
                    y_format="$,.4f",
                    window=window,
                ),
                marks=totals.height,
            ),
            _feedback_chart(feedback, feedback_names, data),
            *_per_group(metrics, data),
        ]
    )
    return section


def _feedback_chart(feedback: pl.DataFrame, names: list[str], data: ReportData) -> Chart:
    title = "Feedback means"
    if feedback.height == 0:
        return empty_chart("overview-feedback", title, "No feedback scores in this window.")
    shown, kept = capped(feedback, "name", "count", MAX_COLOURS)
    if len(kept) < len(names):
        shown = shown.filter(pl.col("name") != "other")  # means of different scores do not add up
    spec = trend(
        shown,
        window=(data.start, data.end),
        y="mean",
        y_title="mean score",
        title=title,
        subtitle="per feedback name, weighted by its count",
        series="name",
        series_title="feedback",
        names=[k for k in kept if k != "other"],
    )
    note = (
        None
        if len(kept) >= len(names)
        else f"{len(names) - len(kept) + 1} more scores are in the table only."
    )
    return Chart("overview-feedback", title, shown, spec, table=feedback, marks=shown.height, note=note)


def _per_group(metrics: pl.DataFrame, data: ReportData) -> list[Chart]:
    """Small multiples of traces and p90 latency per model and per route (the busiest ten, then "other")."""
    charts = []
    for by in ("model", "route"):
        grouped, panels = capped(metrics, by, "trace_count", MAX_PANELS)
        per = daily_totals(grouped, [by]).select("date", by, "traces", "latency_ms_p90")
        for value, y_title, what in (
            ("traces", "traces (count)", "Traces"),
            ("latency_ms_p90", "p90 (ms)", "p90 latency"),
        ):
            title = f"{what} per day by {by}"
            frame = per.select("date", by, value).drop_nulls(value)
            spec = small_multiples(
                frame,
                window=(data.start, data.end),
                panel=by,
                panels=panels,
                y=value,
                y_title=y_title,
                title=title,
                subtitle=f"busiest {MAX_PANELS} {by}s, the rest as other" if "other" in panels else None,
            )
            charts.append(Chart(f"overview-{value}-by-{by}", title, frame, spec, marks=frame.height))
    return charts
