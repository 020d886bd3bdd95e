"""Data health: rows read, accepted and quarantined per day, the top quarantine reasons per day, where the
quarantined rows came from, and the files and objects rejected whole; read from `ingest_daily`,
`quarantine_daily`, `trace_metrics_daily` and `import_daily`."""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl

from tracewatch.dashboard._charts import (
    HEIGHT,
    MAX_COLOURS,
    MAX_PANELS,
    OKABE_ITO,
    OTHER,
    WIDTH,
    Chart,
    Section,
    base,
    capped,
    colour,
    day_tooltip,
    day_x,
    empty_chart,
    finish,
    trend,
)
from tracewatch.dashboard._load import ReportData

ROWS = {"rows_read": "read", "rows_accepted": "accepted", "rows_quarantined": "quarantined"}
IMPORT_REASONS = {
    "objects_rejected": "import: object rejected whole",
    "records_rejected": "import: record rejected",
    "records_late": "import: span arrived late",
    "traces_quarantined": "import: trace quarantined",
    "traces_skipped": "import: no LLM call",
}
REASONS = "quarantine_daily"


def row_accounting(ingest: pl.DataFrame) -> pl.DataFrame:
    per_day = ingest.group_by("date").agg(pl.col(list(ROWS)).sum())
    return (
        per_day.unpivot(index="date", variable_name="rows", value_name="count")
        .with_columns(pl.col("rows").replace_strict(ROWS))
        .sort("date", "rows")
    )


def quarantine_kinds(ingest: pl.DataFrame, metrics: pl.DataFrame, imports: pl.DataFrame) -> pl.DataFrame:
    """Quarantined rows and objects over the window by kind, most first: rows by model, files rejected whole
    or unreadable, and each import count."""
    single, _ = capped(metrics, "model", "quarantined_count", MAX_PANELS)
    by_model = single.group_by("model").agg(pl.col("quarantined_count").sum().alias("count"))
    kinds = [
        by_model.select(("ingest: row from model " + pl.col("model")).alias("kind"), "count"),
        pl.DataFrame(
            {
                "kind": ["ingest: file rejected whole", "ingest: file unreadable"],
                "count": [
                    ingest.get_column("files_rejected").sum(),
                    ingest.get_column("files_unreadable").sum(),
                ],
            }
        ),
        pl.DataFrame(
            {
                "kind": list(IMPORT_REASONS.values()),
                "count": [imports.get_column(c).sum() for c in IMPORT_REASONS],
            }
        ),
    ]
    return (
        pl.concat([k.cast({"count": pl.Int64}) for k in kinds])
        .filter(pl.col("count") > 0)
        .sort(["count", "kind"], descending=[True, False])
    )


def top_reasons(reasons: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Quarantined rows per day and reason (a whole file's reason prefixed `file: `), the `MAX_COLOURS` reasons
    with the most rows over the window by name and the rest as "other"; the names drawn, most rows first.
    Files whose rows could not be counted have no rows to draw: `Rejected files` counts them."""
    named = reasons.filter(pl.col("rows").is_not_null()).with_columns(
        pl.when(pl.col("scope") == "file")
        .then("file: " + pl.col("reason").fill_null("(none)"))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )
    kept, names = capped(named, "reason", "rows", MAX_COLOURS)
    per_day = kept.group_by("date", "reason").agg(pl.col("rows").sum(), pl.col("files").sum())
    order = {name: i for i, name in enumerate(names)}
    ranked = per_day.with_columns(
        pl.col("reason").replace_strict(order, return_dtype=pl.Int64).alias("_rank")
    )
    return ranked.sort("date", "_rank").drop("_rank"), names


def rejected_files(ingest: pl.DataFrame, imports: pl.DataFrame) -> pl.DataFrame:
    files = ingest.group_by("date").agg(pl.col("files_rejected").sum(), pl.col("files_unreadable").sum())
    joined = files
    if imports.height:  # without an import table the objects are unknown, not 0
        objects = imports.group_by("date").agg(pl.col("objects_rejected").sum())
        joined = files.join(objects, on="date", how="full", coalesce=True).fill_null(0)
    return (
        joined.unpivot(index="date", variable_name="what", value_name="count")
        .with_columns(pl.col("what").str.replace("_", " "))
        .sort("date", "what")
    )


def health_section(data: ReportData) -> Section:
    ingest = data.table("ingest_daily")
    metrics = data.table("trace_metrics_daily")
    imports = data.table("import_daily")
    reasons = data.table(REASONS)
    section = Section(
        "health",
        "Data health",
        "Every row read is accepted or quarantined (docs/reports.md); files that could not be read at all are "
        "counted apart. Quarantined rows are kept with their reasons in warehouse/quarantine/ and counted per "
        "reason in `quarantine_daily`.",
        notes=[*ingest.notes, *imports.notes, *reasons.notes],
    )
    window = (data.start, data.end)
    if not ingest.has_rows:
        section.charts.append(empty_chart("health-rows", "Rows per day", ingest.why_empty()))
        return section
    rows = row_accounting(ingest.frame)
    kinds = quarantine_kinds(ingest.frame, metrics.frame, imports.frame)
    files = rejected_files(ingest.frame, imports.frame)
    section.charts.extend(
        [
            Chart(
                "health-rows",
                "Rows per day",
                rows,
                trend(
                    rows,
                    window=window,
                    y="count",
                    y_title="rows (count)",
                    title="Rows read, accepted and quarantined per day",
                    series="rows",
                    series_title="rows",
                    names=list(ROWS.values()),
                ),
                table=ingest.frame.select("date", "files", *ROWS, "files_rejected", "files_unreadable"),
                marks=rows.height,
            ),
            reasons_chart(reasons.frame, reasons.why_empty(), window),
            Chart(
                "health-reasons",
                "Quarantine by kind",
                kinds,
                _kinds(kinds),
                marks=kinds.height,
            )
            if kinds.height
            else empty_chart(
                "health-reasons", "Quarantine by kind", "Nothing was quarantined in this window."
            ),
            Chart(
                "health-files",
                "Rejected files",
                files,
                trend(
                    files,
                    window=window,
                    y="count",
                    y_title="files or objects (count)",
                    title="Files and objects rejected whole per day",
                    series="what",
                    series_title="rejected",
                    names=sorted(files.get_column("what").unique().to_list()),
                ),
                marks=files.height,
            ),
        ]
    )
    return section


def reasons_chart(reasons: pl.DataFrame, why_empty: str, window: tuple[dt.date, dt.date]) -> Chart:
    """Stacked bars of each day's quarantined rows by reason; the table under it is the rows drawn."""
    title = "Top quarantine reasons per day"
    if reasons.height == 0:
        return empty_chart("health-top-reasons", title, why_empty)
    per_day, names = top_reasons(reasons)
    if per_day.height == 0:
        return empty_chart("health-top-reasons", title, "No quarantined row could be counted in this window.")
    x = day_x(*window, bars=True)
    chart = (
        base(per_day, title, "rows quarantined, by reason; a row with several reasons counts under each")
        .mark_bar()
        .encode(
            x=x,
            y=alt.Y("rows:Q", title="quarantined rows (count)", stack="zero"),
            color=colour("reason", "reason", names),
            tooltip=[day_tooltip(), "reason:N", alt.Tooltip("rows:Q", format=","), alt.Tooltip("files:Q")],
        )
        .properties(width=WIDTH, height=HEIGHT)
    )
    unknown = reasons.filter(pl.col("rows").is_null()).height
    notes = []
    if unknown:
        notes.append(
            f"{unknown} file reason(s) had no countable rows (unreadable files): see Rejected files."
        )
    if OTHER in names:
        notes.append(f'"{OTHER}" sums the reasons past the top {MAX_COLOURS}.')
    return Chart(
        "health-top-reasons",
        title,
        per_day,
        finish(chart, per_day),
        table=per_day,
        marks=per_day.height,
        note=" ".join(notes) or None,
    )


def _kinds(kinds: pl.DataFrame) -> dict[str, object]:
    chart = (
        base(kinds, "Quarantined over the window, by kind", "rows, files or objects")
        .mark_bar(color=OKABE_ITO[5])
        .encode(
            x=alt.X("count:Q", title="quarantined (count)"),
            y=alt.Y("kind:N", title=None, sort="-x"),
            tooltip=["kind:N", alt.Tooltip("count:Q", format=",")],
        )
        .properties(width=420)
    )
    return finish(chart, kinds)
