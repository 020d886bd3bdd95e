"""Human-readable summaries of a night, for Prefect artifacts and the command line."""

from __future__ import annotations

import datetime as dt

from tracewatch.ingest import IngestResult
from tracewatch.reports.writer import PublishedPartition


def night_summary_markdown(day: dt.date, ingest: IngestResult, published: list[PublishedPartition]) -> str:
    """A short markdown report: what was ingested, what was quarantined and why, what was published."""
    lines = [
        f"# tracewatch night {day.isoformat()}",
        "",
        f"Run `{ingest.run_id}`: {len(ingest.files)} new file(s), {ingest.rows_read} rows read, "
        f"{ingest.rows_accepted} accepted, {ingest.rows_quarantined} quarantined, "
        f"{ingest.files_rejected} file(s) rejected whole.",
        "",
    ]
    rejected = [f for f in ingest.files if f.status == "rejected"]
    if rejected:
        lines += ["## Rejected files", "", "| file | reason |", "|---|---|"]
        lines += [f"| `{f.key}` | {f.reason} |" for f in rejected]
        lines.append("")
    lines += ["## Published partitions", "", "| table | date | rows | status |", "|---|---|---|---|"]
    lines += [f"| {p.table} | {p.date} | {p.row_count} | {p.status} |" for p in published]
    return "\n".join(lines) + "\n"


def ingest_table(ingest: IngestResult) -> list[dict[str, object]]:
    """One row per ingested file, for a table artifact."""
    return [
        {
            "file": f.key,
            "date": f.date.isoformat(),
            "status": f.status,
            "rows_read": f.rows_read,
            "accepted": f.rows_accepted,
            "quarantined": f.rows_quarantined,
            "reason": f.reason or "",
        }
        for f in ingest.files
    ]
