"""Quality trends: each feedback and judge score per day against its reference, the CUSUM and the alarms,
and the production-trace scores with their confidence intervals; read from `quality_trend` and
`trace_quality`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import polars as pl

from tracewatch.dashboard._charts import (
    ALERT_COLOUR,
    MAX_COLOURS,
    MAX_PANELS,
    OKABE_ITO,
    OTHER,
    Chart,
    Section,
    capped,
    colour,
    day_tooltip,
    day_x,
    empty_chart,
    finish,
    rows,
)
from tracewatch.dashboard._load import ReportData


def quality_section(data: ReportData) -> Section:
    trend = data.table("quality_trend")
    scores = data.table("trace_quality")
    section = Section(
        "quality",
        "Quality trends",
        "Each score's daily mean (solid) against its reference mean (dashed), judged in its own bad direction; "
        "orange points are days a detector found a change for the worse, and the CUSUM panel shows the "
        "accumulated drift toward worse against its threshold h.",
        notes=[*trend.notes, *scores.notes],
    )
    window = (data.start, data.end)
    frame = trend.frame
    if not trend.has_rows:
        section.charts.append(empty_chart("quality-trend", "Score trends", trend.why_empty()))
    else:
        names = _names(frame)
        shown = frame.filter(pl.col("name").is_in(names)).select(
            "date",
            "name",
            "source",
            "mean",
            "reference_mean",
            "count",
            "changed",
            "alert",
            "detector",
            "cusum",
            "cusum_threshold",
            "message",
        )
        note = (
            None
            if len(names) == frame.get_column("name").n_unique()
            else "More scores are in the table only."
        )
        section.charts.extend(
            [
                Chart(
                    "quality-trend",
                    "Score means",
                    shown,
                    _means(shown, names, window),
                    table=frame.select(
                        "date",
                        "name",
                        "source",
                        "mean",
                        "reference_mean",
                        "count",
                        "changed",
                        "alert",
                        "message",
                    ),
                    marks=shown.drop_nulls("mean").height,
                    note=note,
                ),
                _cusum(shown, names, window),
            ]
        )
    section.charts.append(_trace_scores(scores, window))
    return section


def _names(frame: pl.DataFrame) -> list[str]:
    """The scores with the most values, one panel each (MAX_PANELS at most; means of different scores do not
    add up, so the rest are listed in the table rather than grouped)."""
    _, kept = capped(frame.with_columns(pl.col("count").fill_null(0)), "name", "count", MAX_PANELS)
    return [k for k in kept if k != OTHER]


def _means(frame: pl.DataFrame, names: list[str], window: tuple[dt.date, dt.date]) -> dict[str, Any]:
    x = day_x(*window)
    tips = [
        day_tooltip(),
        alt.Tooltip("name:N", title="score"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("reference_mean:Q", title="reference mean", format=".4g"),
        alt.Tooltip("count:Q", title="scores"),
        alt.Tooltip("message:N"),
    ]
    line = (
        alt.Chart()
        .mark_line(point=True, color=OKABE_ITO[0])
        .encode(x=x, y=alt.Y("mean:Q", title="mean"), tooltip=tips)
    )
    reference = (
        alt.Chart()
        .mark_line(strokeDash=[5, 4], color=OKABE_ITO[4])
        .encode(x=x, y="reference_mean:Q", tooltip=tips)
    )
    alarms = (
        alt.Chart()
        .transform_filter("datum.changed || datum.alert")
        .mark_point(filled=True, size=90, color=ALERT_COLOUR)
        .encode(x=x, y="mean:Q", tooltip=tips)
    )
    chart = alt.layer(line, reference, alarms, data=rows(frame)).properties(width=240, height=120)
    faceted = chart.facet(
        facet=alt.Facet("name:N", sort=names, title=None),
        columns=3,
        title="Score means per day (UTC) against their reference",
    )
    return finish(faceted.resolve_scale(y="independent"), frame)


def _cusum(frame: pl.DataFrame, names: list[str], window: tuple[dt.date, dt.date]) -> Chart:
    cusum = frame.drop_nulls("cusum").select("date", "name", "cusum", "cusum_threshold", "detector")
    if cusum.height == 0:
        return empty_chart(
            "quality-cusum", "CUSUM", "No CUSUM values in this window (too few reference days)."
        )
    x = day_x(*window)
    tips = [
        day_tooltip(),
        alt.Tooltip("name:N", title="score"),
        alt.Tooltip("cusum:Q", format=".3g"),
        alt.Tooltip("cusum_threshold:Q", title="h", format=".3g"),
    ]
    line = (
        alt.Chart()
        .mark_line(point=True, color=OKABE_ITO[0])
        .encode(x=x, y=alt.Y("cusum:Q", title="CUSUM (daily-mean sd)"), tooltip=tips)
    )
    limit = alt.Chart().mark_rule(color=ALERT_COLOUR, strokeDash=[4, 3]).encode(y="mean(cusum_threshold):Q")
    chart = alt.layer(line, limit, data=rows(cusum)).properties(width=240, height=100)
    spec = finish(
        chart.facet(
            facet=alt.Facet("name:N", sort=names, title=None),
            columns=3,
            title="CUSUM toward worse per day (UTC); dashed: threshold h",
        ),
        cusum,
    )
    return Chart("quality-cusum", "CUSUM", cusum, spec, marks=cusum.height)


def _trace_scores(read: Any, window: tuple[dt.date, dt.date]) -> Chart:
    title = "Production-trace scores"
    frame: pl.DataFrame = read.frame
    overall = frame.filter(pl.col("segment_kind") == "all").drop_nulls("mean") if read.has_rows else frame
    if overall.height == 0:
        why = read.why_empty() if not read.has_rows else "No scored production traces in this window."
        return empty_chart("quality-trace-scores", title, why)
    shown, kept = capped(
        overall.with_columns(pl.col("n_scored").fill_null(0)), "scorer", "n_scored", MAX_COLOURS
    )
    shown = shown.filter(pl.col("scorer") != OTHER).select(
        "date", "scorer", "mean", "ci_low", "ci_high", "n_scored", "sampled", "traces"
    )
    names = [k for k in kept if k != OTHER]
    x = day_x(*window)
    tips = [
        day_tooltip(),
        alt.Tooltip("scorer:N"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("ci_low:Q", title="CI low", format=".4g"),
        alt.Tooltip("ci_high:Q", title="CI high", format=".4g"),
        alt.Tooltip("n_scored:Q", title="scored"),
    ]
    points = (
        alt.Chart()
        .mark_line(point=True)
        .encode(
            x=x, y=alt.Y("mean:Q", title="mean score"), color=colour("scorer", "scorer", names), tooltip=tips
        )
    )
    bars = (
        alt.Chart()
        .mark_errorbar()
        .encode(
            x=x,
            y=alt.Y("ci_low:Q", title="mean score"),
            y2="ci_high:Q",
            color=colour("scorer", "scorer", names),
        )
    )
    chart = alt.layer(bars, points, data=rows(shown)).properties(
        width=560,
        height=180,
        title=alt.TitleParams(title, subtitle="daily sample, mean with bootstrap 95% CI"),
    )
    return Chart("quality-trace-scores", title, shown, finish(chart, shown), marks=shown.height)
