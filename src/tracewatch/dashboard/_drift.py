"""Drift: each night's tests as a feature x day heatmap of how far each statistic went past its threshold, the
alerts with their messages, and the chosen day's effects and distributions; read from the `drift` and
`drift_distributions` tables."""

from __future__ import annotations

import math

import altair as alt
import polars as pl

from tracewatch.dashboard._charts import (
    ALERT_COLOUR,
    DAY_TITLE,
    OKABE_ITO,
    WIDTH,
    Chart,
    Section,
    base,
    empty_chart,
    finish,
    rows,
    trend,
)
from tracewatch.dashboard._load import ReportData, TableRead

TABLE = "drift"
DISTRIBUTIONS = "drift_distributions"
MAX_STRENGTH = 4.0
"""The heatmap's colour stops here: a p-value of 1e-40 and one of 1e-8 both read as "far past"."""


def strength(frame: pl.DataFrame) -> pl.DataFrame:
    """`strength`: how far a test went toward its alert, 1 where it reaches the bar, higher past it.

    The night's test alerts when its (adjusted) p-value is below alpha and its effect reaches the effect it
    needs, so the strength is the lesser of the two ratios: log(p) / log(alpha) (or statistic / threshold for a
    distance) and effect / needed effect. With thousands of traces a tiny p-value alone says little."""
    p = pl.coalesce("p_value_adjusted", "p_value").clip(lower_bound=1e-300)
    by_p = pl.col("direction").str.starts_with("p_value")
    statistic = (
        pl.when(by_p & pl.col("threshold").is_between(0, 1, closed="none"))
        .then(p.log10() / pl.col("threshold").log10())
        .when(~by_p & (pl.col("threshold") > 0))
        .then(pl.col("statistic") / pl.col("threshold"))
    )
    effect = pl.when(pl.col("effect_threshold") > 0).then(pl.col("effect_size") / pl.col("effect_threshold"))
    value = pl.min_horizontal(statistic, effect)  # a null ratio (unknown) leaves the other to decide
    return frame.with_columns(value.clip(0, MAX_STRENGTH).alias("strength"))


def strongest_per_feature_day(tests: pl.DataFrame) -> pl.DataFrame:
    """One cell per feature and day. A feature can have two tests on a night: its own, and the sustained test
    that pools it with the nights before (method `..._<n>night`, docs/drift.md); the cell shows the one that
    alerted, else the one that went furthest toward alerting, so two tests never draw over each other."""
    ranked = tests.sort(
        [pl.col("alert").fill_null(False), pl.col("strength").fill_null(-1.0)], descending=True
    )
    return ranked.unique(["date", "feature"], keep="first", maintain_order=True).sort("date", "feature")


def drift_section(data: ReportData) -> Section:
    read = data.table(TABLE)
    section = Section(
        "drift",
        "Drift",
        "Each night compares the day's traffic with its reference window (docs/drift.md). A cell is one feature's "
        "test on one UTC day (the night's own, or the test pooling it with the nights before, whichever went "
        "further), coloured by how far it went toward alerting: 1 means both its p-value and its "
        "effect reached what an alert needs, more is further past; a white "
        "diamond marks a test that alerted (after the night's correction and the effect it needs).",
        notes=[*read.notes, *data.table(DISTRIBUTIONS).notes, *_missing(data.table(DISTRIBUTIONS))],
    )
    tests = read.frame.filter(pl.col("role") == "test") if read.has_rows else read.frame
    if tests.height == 0:
        why = read.why_empty() if not read.has_rows else "No drift tests in this window (no reference yet)."
        section.charts.append(empty_chart("drift-heatmap", "Drift tests", why))
        return section
    cells = strongest_per_feature_day(strength(tests)).select(
        "date",
        "feature",
        "method",
        "statistic",
        "threshold",
        "p_value_adjusted",
        "effect_size",
        "alert",
        "strength",
        "message",
    )
    alerts = cells.filter(pl.col("alert").fill_null(False))
    chosen = str(alerts.get_column("date").max() if alerts.height else cells.get_column("date").max())
    day = cells.filter(pl.col("date").cast(pl.String) == chosen)
    share = read.frame.filter(pl.col("role") == "dataset").select("date", pl.col("statistic").alias("share"))
    section.charts.extend(
        [
            Chart(
                "drift-heatmap",
                "Drift tests: statistic against threshold",
                cells,
                _heatmap(cells, alerts),
                table=cells.drop("message"),
                marks=cells.height,
            ),
            Chart(
                "drift-alerts",
                "Alerts",
                alerts,
                _alerts(alerts) if alerts.height else None,
                empty=None if alerts.height else "No drift test alerted in this window.",
                table=alerts.select(
                    "date", "feature", "method", "p_value_adjusted", "effect_size", "message"
                ),
                marks=alerts.height,
            ),
            Chart(
                "drift-day",
                f"Effects on {chosen}",
                day,
                _day(day, chosen),
                table=day.select("feature", "method", "effect_size", "alert", "message"),
                marks=day.height,
                note="Chosen day: the latest that alerted (else the latest tested).",
            ),
            distributions_chart(data.table(DISTRIBUTIONS), alerts, chosen),
            Chart(
                "drift-share",
                "Share of features alerting",
                share,
                trend(
                    share,
                    window=(data.start, data.end),
                    y="share",
                    y_title="share of tested features",
                    title="Share of features alerting per day",
                    y_format=".0%",
                )
                if share.height
                else None,
                empty=None if share.height else "No drift share rows in this window.",
                marks=share.height,
            ),
        ]
    )
    return section


def distributions_chart(read: TableRead, alerts: pl.DataFrame, chosen: str) -> Chart:
    """Reference against current shares, bucket by bucket, of each feature that alerted on the chosen day,
    with the test's message; the rows drawn are the rows of the table under the chart."""
    title = f"Distributions of the drifted features on {chosen}"
    drifted = alerts.filter(pl.col("date").cast(pl.String) == chosen).select("feature", "message")
    if drifted.height == 0:
        return empty_chart(
            "drift-distributions", title, "No feature alerted in this window: nothing to show."
        )
    if not read.has_rows:
        return empty_chart("drift-distributions", title, read.why_empty())
    shares = (
        read.frame.filter(pl.col("date").cast(pl.String) == chosen)
        .join(drifted, on="feature", how="inner")
        .sort("feature", "bucket_order")
        .select(
            "feature",
            "bucket",
            "bucket_order",
            "reference_share",
            "current_share",
            "reference_count",
            "current_count",
            "message",
        )
    )
    if shares.height == 0:
        why = f"`{DISTRIBUTIONS}` has no rows for the features that alerted on {chosen} (written before it existed)."
        return empty_chart("drift-distributions", title, why)
    return Chart(
        "drift-distributions",
        title,
        shares,
        _distributions(shares, title),
        table=shares,
        marks=2 * shares.height,
        note="; ".join(f"{f}: {m}" for f, m in drifted.sort("feature").iter_rows()),
    )


def _missing(read: TableRead) -> list[str]:
    """What an older store cannot show: its nights ran before the distributions were published."""
    if read.status != "missing":
        return []
    return [
        f"No `{DISTRIBUTIONS}` report in this store yet: the reference and current distributions of the "
        "drifted features are kept in the daily profiles (warehouse/profiles/) and reach the report tables "
        "from the next drift night on."
    ]


def _distributions(shares: pl.DataFrame, title: str) -> dict[str, object]:
    windows = ["reference", "current"]
    share = alt.X("share:Q", title="share of the window's values", axis=alt.Axis(format=".0%"))
    chart = (
        alt.Chart(rows(shares))
        .transform_fold(["reference_share", "current_share"], as_=["column", "share"])
        .transform_calculate(window="replace(datum.column, '_share', '')")
        .mark_bar()
        .encode(
            x=share,
            y=alt.Y("bucket:N", title="bucket", sort=alt.EncodingSortField("bucket_order", op="min")),
            yOffset=alt.YOffset("window:N", sort=windows),
            color=alt.Color("window:N", title="window", scale=alt.Scale(domain=windows, range=OKABE_ITO[:2])),
            tooltip=[
                alt.Tooltip("feature:N"),
                alt.Tooltip("bucket:N"),
                alt.Tooltip("window:N"),
                alt.Tooltip("share:Q", format=".2%"),
                alt.Tooltip("message:N"),
            ],
        )
        .properties(width=WIDTH - 120, height=alt.Step(9))
        .facet(
            row=alt.Row("feature:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
            title=alt.TitleParams(
                title, subtitle="reference window against the day, on the buckets the test compared"
            ),
        )
        .resolve_scale(y="independent")
    )
    return finish(chart, shares)


def _heatmap(cells: pl.DataFrame, alerts: pl.DataFrame) -> dict[str, object]:
    # The messages (a few hundred characters each) ride on the alert marks only: on every cell of 90 days
    # they would be most of the page's weight.
    cells = _days_named(cells.drop("message")).drop("date")
    alerts = _days_named(alerts).drop("date")
    x = alt.X("day:O", title=DAY_TITLE, axis=alt.Axis(labelAngle=-45))
    y = alt.Y("feature:N", title="feature", sort="ascending")
    tips = [
        alt.Tooltip("feature:N"),
        alt.Tooltip("method:N"),
        alt.Tooltip("statistic:Q", format=".4g"),
        alt.Tooltip("threshold:Q", format=".4g"),
        alt.Tooltip("p_value_adjusted:Q", title="adjusted p", format=".3g"),
        alt.Tooltip("strength:Q", title="against threshold", format=".2f"),
        alt.Tooltip("alert:N"),
    ]
    scale = alt.Scale(scheme="viridis", domain=[0, MAX_STRENGTH])
    heat = (
        base(cells, "Drift tests per feature and day", "colour: how far toward an alert (1 = at it)")
        .mark_rect()
        .encode(x=x, y=y, color=alt.Color("strength:Q", title="toward alert", scale=scale), tooltip=tips)
    )
    marked = base(alerts, "").mark_point(shape="diamond", filled=True, color="white", stroke="black", size=70)
    marked = marked.encode(x=x, y=y, tooltip=[*tips, alt.Tooltip("message:N")])
    rows = cells.get_column("feature").n_unique()
    return finish(
        alt.layer(heat, marked).properties(width=max(WIDTH, 24 * _days(cells)), height=16 * rows),
        cells,
        alerts,
    )


def _alerts(alerts: pl.DataFrame) -> dict[str, object]:
    chart = (
        base(_days_named(alerts), "Alerting tests", "each point one feature on one day")
        .mark_point(filled=True, color=ALERT_COLOUR, size=80)
        .encode(
            x=alt.X("day:O", title=DAY_TITLE),
            y=alt.Y("feature:N", title="feature"),
            tooltip=[
                alt.Tooltip("day:N", title=DAY_TITLE),
                alt.Tooltip("feature:N"),
                alt.Tooltip("message:N"),
            ],
        )
    )
    return finish(chart.properties(width=WIDTH), _days_named(alerts))


def _day(day: pl.DataFrame, chosen: str) -> dict[str, object]:
    chart = (
        base(day, f"Effect per feature on {chosen}", "the test's effect size; orange: alerted")
        .mark_bar()
        .encode(
            x=alt.X("effect_size:Q", title="effect size (largest share change or normalised distance)"),
            y=alt.Y("feature:N", title="feature", sort="-x"),
            color=alt.condition(alt.datum.alert, alt.value(OKABE_ITO[1]), alt.value(OKABE_ITO[0])),
            tooltip=[
                alt.Tooltip("feature:N"),
                alt.Tooltip("effect_size:Q", format=".4g"),
                alt.Tooltip("message:N"),
            ],
        )
    )
    return finish(chart.properties(width=WIDTH), day)


def _days_named(frame: pl.DataFrame) -> pl.DataFrame:
    """The day as its ISO text: an ordinal axis of days, read the same by eye and by a screen reader."""
    return frame.with_columns(pl.col("date").cast(pl.String).alias("day"))


def _days(cells: pl.DataFrame) -> int:
    return max(1, math.ceil(cells.get_column("day").n_unique()))
