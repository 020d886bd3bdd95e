"""Datasets: the versions each night made, items added per sampling strategy, candidates dropped as duplicates
and PII redactions; read from `dataset_versions` and `dataset_items`."""

from __future__ import annotations

import polars as pl

from tracewatch.dashboard._charts import MAX_COLOURS, Chart, Section, capped, empty_chart, trend
from tracewatch.dashboard._load import ReportData


def items_per_strategy(items: pl.DataFrame) -> pl.DataFrame:
    return items.group_by("date", "strategy").agg(pl.len().alias("items")).sort("date", "strategy")


def duplicates(versions: pl.DataFrame) -> pl.DataFrame:
    """Candidates dropped per day, exact and near duplicates apart."""
    per_day = versions.group_by("date").agg(pl.col("duplicates_exact").sum(), pl.col("duplicates_near").sum())
    return (
        per_day.unpivot(index="date", variable_name="kind", value_name="dropped")
        .with_columns(pl.col("kind").str.replace("duplicates_", ""))
        .sort("date", "kind")
    )


def datasets_section(data: ReportData) -> Section:
    versions = data.table("dataset_versions")
    items = data.table("dataset_items")
    section = Section(
        "datasets",
        "Datasets",
        "The dataset versions the nights made from sampled production traces: items per version, the items "
        "each sampling strategy added, candidates dropped as duplicates and PII values redacted.",
        notes=[*versions.notes, *items.notes],
    )
    window = (data.start, data.end)
    if not versions.has_rows:
        section.charts.append(empty_chart("datasets-versions", "Dataset versions", versions.why_empty()))
        return section
    frame = versions.frame
    sizes, names = capped(frame, "dataset", "added_count", MAX_COLOURS)
    sizes = (
        sizes.group_by("date", "dataset")
        .agg(pl.col("item_count").max(), pl.col("version").max())
        .sort("date", "dataset")
    )
    dropped = duplicates(frame)
    redactions = frame.group_by("date").agg(pl.col("redactions").sum()).sort("date")
    per_strategy = items_per_strategy(items.frame)
    strategies = per_strategy.get_column("strategy").unique().sort().to_list()
    section.charts.extend(
        [
            Chart(
                "datasets-versions",
                "Items per version",
                sizes,
                trend(
                    sizes,
                    window=window,
                    y="item_count",
                    y_title="items in the version (count)",
                    title="Dataset size after each night",
                    series="dataset",
                    series_title="dataset",
                    names=names,
                ),
                table=frame.select(
                    "date", "dataset", "version", "kind", "item_count", "added_count", "candidates"
                ),
                marks=sizes.height,
            ),
            Chart(
                "datasets-strategies",
                "Items added per strategy",
                per_strategy,
                trend(
                    per_strategy,
                    window=window,
                    y="items",
                    y_title="items added (count)",
                    title="Items added per day by sampling strategy",
                    series="strategy",
                    series_title="strategy",
                    names=strategies,
                ),
                marks=per_strategy.height,
            )
            if per_strategy.height
            else empty_chart(
                "datasets-strategies",
                "Items added per strategy",
                items.why_empty() if not items.has_rows else "No items added in this window.",
            ),
            Chart(
                "datasets-duplicates",
                "Duplicates dropped",
                dropped,
                trend(
                    dropped,
                    window=window,
                    y="dropped",
                    y_title="candidates dropped (count)",
                    title="Duplicates dropped per day",
                    series="kind",
                    series_title="duplicate",
                    names=["exact", "near"],
                ),
                marks=dropped.height,
            ),
            Chart(
                "datasets-redactions",
                "PII redactions",
                redactions,
                trend(
                    redactions,
                    window=window,
                    y="redactions",
                    y_title="values redacted (count)",
                    title="PII values redacted in new items per day",
                    bars=True,
                ),
                marks=redactions.height,
            ),
        ]
    )
    return section
