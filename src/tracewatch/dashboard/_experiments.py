"""Experiments: per experiment scored in the window (its latest scoring), the leaderboard with confidence
intervals, the paired comparisons with the baseline and their Holm-adjusted verdicts, per-segment means,
output-check pass rates, and cost and latency per config; read from `quality`, `comparisons`,
`output_checks` and `experiment_items`."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from tracewatch.dashboard._charts import (
    OKABE_ITO,
    OTHER_COLOUR,
    Chart,
    Section,
    colour,
    empty_chart,
    finish,
    rows,
)
from tracewatch.dashboard._load import ReportData

MAX_EXPERIMENTS = 5
"""Experiments drawn (the most recently scored); the others are named in a note."""
VERDICTS = {
    "better": OKABE_ITO[2],
    "worse": OKABE_ITO[5],
    "no detectable difference": OTHER_COLOUR,
    "no data": "#cccccc",
}
ITEM_COLUMNS = ["config_name", "cost_usd", "latency_ms", "status", "input_tokens", "output_tokens"]


def latest_partitions(frame: pl.DataFrame) -> pl.DataFrame:
    """Each experiment's rows of the latest date it was scored on (a rescoring replaces, not adds)."""
    if frame.height == 0:
        return frame
    latest = frame.group_by("experiment_id").agg(pl.col("date").max().alias("_latest"))
    return frame.join(latest, on="experiment_id").filter(pl.col("date") == pl.col("_latest")).drop("_latest")


def config_costs(items: pl.DataFrame) -> pl.DataFrame:
    """Per config: items, errors, total known cost, and mean and p90 latency of the answered items."""
    return (
        items.group_by("config_name")
        .agg(
            pl.len().alias("items"),
            (pl.col("status") != "ok").sum().alias("not_ok"),
            pl.col("cost_usd").sum().alias("cost_usd"),
            pl.col("latency_ms").mean().alias("latency_ms_mean"),
            pl.col("latency_ms").quantile(0.9, "linear").alias("latency_ms_p90"),
        )
        .sort("config_name")
    )


def experiments_section(data: ReportData) -> Section:
    quality = data.table("quality")
    section = Section(
        "experiments",
        "Experiments",
        "Each experiment scored in this window, as of the latest night it was scored: the configs' mean scores "
        "with bootstrap 95% intervals, each config against the baseline on the items both scored (difference, "
        "interval, Holm-adjusted verdict), per-segment means, output checks, and cost and latency.",
        notes=[
            *quality.notes,
            *(n for t in ("comparisons", "output_checks", "experiment_items") for n in data.table(t).notes),
        ],
    )
    if not quality.has_rows:
        section.charts.append(empty_chart("experiments-empty", "Experiments", quality.why_empty()))
        return section
    scored = latest_partitions(quality.frame)
    order = (
        scored.group_by("experiment_id")
        .agg(pl.col("date").max())
        .sort(["date", "experiment_id"], descending=True)
    )
    ids = order.get_column("experiment_id").to_list()
    if len(ids) > MAX_EXPERIMENTS:
        section.notes.append(
            f"{len(ids) - MAX_EXPERIMENTS} older experiment(s) not drawn: " + ", ".join(ids[MAX_EXPERIMENTS:])
        )
    tables = {
        t: latest_partitions(data.table(t).frame)
        for t in ("comparisons", "output_checks", "experiment_items")
    }
    for number, experiment in enumerate(ids[:MAX_EXPERIMENTS]):
        mine = {t: f.filter(pl.col("experiment_id") == experiment) for t, f in tables.items()}
        section.charts.extend(
            _experiment(number, experiment, scored.filter(pl.col("experiment_id") == experiment), mine)
        )
    return section


def _experiment(
    number: int, experiment: str, quality: pl.DataFrame, tables: dict[str, pl.DataFrame]
) -> list[Chart]:
    key = f"experiment-{number}"
    overall = (
        quality.filter(pl.col("segment_kind") == "all")
        .select(
            "config_name",
            "baseline",
            "scorer",
            "mean",
            "ci_low",
            "ci_high",
            "n_scored",
            "n_unscored",
            "n_error",
        )
        .sort("scorer", "config_name")
    )
    segments = (
        quality.filter(pl.col("segment_kind") != "all")
        .select("config_name", "scorer", "segment_kind", "segment", "mean", "n_scored")
        .sort("scorer", "segment_kind", "segment", "config_name")
    )
    comparisons = (
        tables["comparisons"]
        .select(
            "scorer",
            "config_name",
            "baseline_config",
            "n_pairs",
            "mean_difference",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "verdict",
        )
        .sort("scorer", "config_name")
    )
    checks = tables["output_checks"].select("config_name", "expectation", "checked", "failed", "pass_rate")
    costs = config_costs(tables["experiment_items"]) if tables["experiment_items"].height else pl.DataFrame()
    configs = overall.get_column("config_name").unique().sort().to_list()
    title = f"{experiment}:"
    return [
        Chart(
            f"{key}-leaderboard",
            f"{title} leaderboard",
            overall,
            _leaderboard(overall, configs, experiment),
            marks=overall.drop_nulls("mean").height,
        ),
        Chart(
            f"{key}-comparisons",
            f"{title} against the baseline",
            comparisons,
            _comparisons(comparisons, experiment),
            marks=comparisons.drop_nulls("mean_difference").height,
        )
        if comparisons.height
        else empty_chart(f"{key}-comparisons", f"{title} against the baseline", "No comparisons published."),
        Chart(
            f"{key}-segments",
            f"{title} per segment",
            segments,
            _segments(segments, experiment),
            marks=segments.drop_nulls("mean").height,
        )
        if segments.drop_nulls("mean").height
        else empty_chart(f"{key}-segments", f"{title} per segment", "No per-segment scores published."),
        Chart(
            f"{key}-checks",
            f"{title} output checks",
            checks,
            _checks(checks, configs, experiment),
            marks=checks.drop_nulls("pass_rate").height,
        )
        if checks.drop_nulls("pass_rate").height
        else empty_chart(f"{key}-checks", f"{title} output checks", "No output checks published."),
        Chart(
            f"{key}-cost",
            f"{title} cost and latency",
            costs,
            _costs(costs, experiment),
            marks=costs.height,  # the cost panel; latency beside it has as many,
        )
        if costs.height
        else empty_chart(f"{key}-cost", f"{title} cost and latency", "No experiment items published."),
    ]


def _leaderboard(frame: pl.DataFrame, configs: list[str], experiment: str) -> dict[str, Any]:
    tips = [
        alt.Tooltip("config_name:N", title="config"),
        alt.Tooltip("scorer:N"),
        alt.Tooltip("mean:Q", format=".4g"),
        alt.Tooltip("ci_low:Q", title="CI low", format=".4g"),
        alt.Tooltip("ci_high:Q", title="CI high", format=".4g"),
        alt.Tooltip("n_scored:Q", title="scored"),
        alt.Tooltip("baseline:N"),
    ]
    y = alt.Y("config_name:N", title=None, sort=configs)
    bars = (
        alt.Chart().mark_rule().encode(x=alt.X("ci_low:Q", title="mean score (95% CI)"), x2="ci_high:Q", y=y)
    )
    points = (
        alt.Chart()
        .mark_point(filled=True, size=70)
        .encode(x="mean:Q", y=y, color=colour("config_name", "config", configs), tooltip=tips)
    )
    chart = alt.layer(bars, points, data=rows(frame)).properties(width=220, height=18 * len(configs))
    return finish(
        chart.facet(
            column=alt.Column("scorer:N", title=None), title=f"{experiment}: mean score per config"
        ).resolve_scale(x="independent"),
        frame,
    )


def _comparisons(frame: pl.DataFrame, experiment: str) -> dict[str, Any]:
    scale = alt.Scale(domain=list(VERDICTS), range=list(VERDICTS.values()))
    tips = [
        alt.Tooltip("config_name:N", title="config"),
        alt.Tooltip("baseline_config:N", title="baseline"),
        alt.Tooltip("scorer:N"),
        alt.Tooltip("mean_difference:Q", title="difference", format=".4g"),
        alt.Tooltip("ci_low:Q", format=".4g"),
        alt.Tooltip("ci_high:Q", format=".4g"),
        alt.Tooltip("p_adjusted:Q", title="Holm p", format=".3g"),
        alt.Tooltip("verdict:N"),
        alt.Tooltip("n_pairs:Q", title="pairs"),
    ]
    y = alt.Y("config_name:N", title=None)
    zero = alt.Chart().mark_rule(color="black").encode(x=alt.datum(0))
    bars = (
        alt.Chart()
        .mark_rule()
        .encode(x=alt.X("ci_low:Q", title="config minus baseline (95% CI)"), x2="ci_high:Q", y=y)
    )
    points = (
        alt.Chart()
        .mark_point(filled=True, size=70)
        .encode(
            x="mean_difference:Q",
            y=y,
            color=alt.Color("verdict:N", scale=scale, title="Holm verdict"),
            tooltip=tips,
        )
    )
    chart = alt.layer(zero, bars, points, data=rows(frame)).properties(width=220)
    return finish(
        chart.facet(
            column=alt.Column("scorer:N", title=None), title=f"{experiment}: each config against the baseline"
        ).resolve_scale(x="independent"),
        frame,
    )


def _segments(frame: pl.DataFrame, experiment: str) -> dict[str, Any]:
    data = frame.drop_nulls("mean").with_columns(
        (pl.col("segment_kind") + "=" + pl.col("segment")).alias("where")
    )
    chart = (
        alt.Chart(rows(data))
        .mark_rect()
        .encode(
            x=alt.X("config_name:N", title="config"),
            y=alt.Y("where:N", title="segment"),
            color=alt.Color("mean:Q", title="mean", scale=alt.Scale(scheme="viridis")),
            tooltip=["config_name:N", "where:N", alt.Tooltip("mean:Q", format=".4g"), "n_scored:Q"],
        )
        .properties(width=160)
        .facet(column=alt.Column("scorer:N", title=None), title=f"{experiment}: mean score per segment")
        .resolve_scale(color="independent")
    )
    return finish(chart, data)


def _checks(frame: pl.DataFrame, configs: list[str], experiment: str) -> dict[str, Any]:
    chart = (
        alt.Chart(rows(frame.drop_nulls("pass_rate")), title=f"{experiment}: output check pass rates")
        .mark_bar()
        .encode(
            x=alt.X(
                "pass_rate:Q",
                title="pass rate (share of answers)",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("expectation:N", title=None),
            yOffset=alt.YOffset("config_name:N", sort=configs),
            color=colour("config_name", "config", configs),
            tooltip=[
                "config_name:N",
                "expectation:N",
                alt.Tooltip("pass_rate:Q", format=".1%"),
                "checked:Q",
                "failed:Q",
            ],
        )
        .properties(width=420)
    )
    return finish(chart, frame.drop_nulls("pass_rate"))


def _costs(frame: pl.DataFrame, experiment: str) -> dict[str, Any]:
    tips = [
        "config_name:N",
        "items:Q",
        alt.Tooltip("cost_usd:Q", format="$,.4f"),
        alt.Tooltip("latency_ms_mean:Q", title="mean latency (ms)", format=",.0f"),
        alt.Tooltip("latency_ms_p90:Q", title="p90 latency (ms)", format=",.0f"),
    ]
    bar = alt.Chart(rows(frame)).mark_bar(color=OKABE_ITO[0])
    cost = bar.encode(
        x=alt.X("cost_usd:Q", title="cost (USD, known costs)"),
        y=alt.Y("config_name:N", title=None),
        tooltip=tips,
    ).properties(width=240, title="cost per config")
    latency = bar.encode(
        x=alt.X("latency_ms_mean:Q", title="mean latency (ms)"),
        y=alt.Y("config_name:N", title=None),
        tooltip=tips,
    ).properties(width=240, title="latency per config")
    return finish(alt.hconcat(cost, latency, title=f"{experiment}: cost and latency"), frame)
