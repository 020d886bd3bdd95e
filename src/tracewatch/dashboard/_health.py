"""Data health: rows read, accepted and quarantined per day, where the quarantined rows came from, and the
files and objects rejected whole; read from `ingest_daily`, `trace_metrics_daily` and `import_daily`."""

from __future__ import annotations

import altair as alt
import polars as pl

from tracewatch.dashboard._charts import (
    MAX_PANELS,
    OKABE_ITO,
    Chart,
    Section,
    base,
    capped,
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
REASONS_NOTE = (
    "Per-rule quarantine reasons are kept with the rows in warehouse/quarantine/, not in a report table; the "
    "kinds below are what the report tables count."
)


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
    section = Section(
        "health",
        "Data health",
        "Every row read is accepted or quarantined (docs/reports.md); files that could not be read at all are "
        "counted apart. Quarantined rows are kept with their reasons in warehouse/quarantine/.",
        notes=[*ingest.notes, *imports.notes],
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
            Chart(
                "health-reasons",
                "Quarantine by kind",
                kinds,
                _kinds(kinds),
                marks=kinds.height,
                note=REASONS_NOTE,
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
