"""Human-readable summaries of a night, for Prefect artifacts and the command line."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from tracewatch.experiments.records import ExperimentRecord
from tracewatch.experiments.resume import read_experiment_items
from tracewatch.ingest import IngestResult
from tracewatch.reports.writer import PublishedPartition
from tracewatch.store import Store


@dataclass(frozen=True)
class NightLinks:
    """Where a night's outputs can be opened: the store URL of each published partition (by key) and the
    Data Docs index of each date (None when a date had no rows to document)."""

    partitions: Mapping[str, str] = field(default_factory=dict)
    data_docs: Mapping[dt.date, str | None] = field(default_factory=dict)


def night_summary_markdown(
    day: dt.date,
    ingest: IngestResult,
    published: list[PublishedPartition],
    *,
    new_items: str | None = None,
    experiments: Sequence[str] = (),
    sections: Sequence[tuple[str, str]] = (),
    links: NightLinks | None = None,
) -> str:
    """A short markdown report: what was ingested and quarantined (and why), the night's new dataset items
    (`new_items`, one line), the experiments' one-line results, further `sections` (title, markdown body:
    scores, drift and quality alerts), and what was published, with links."""
    links = links or NightLinks()
    lines = [
        f"# tracewatch night {day.isoformat()}",
        "",
        f"Run `{ingest.run_id}`: {len(ingest.files)} new file(s), {ingest.rows_read} rows read, "
        f"**{ingest.rows_accepted} traces ingested**, **{ingest.rows_quarantined} quarantined**, "
        f"{ingest.files_rejected} file(s) rejected whole.",
        "",
    ]
    rejected = [f for f in ingest.files if f.status == "rejected"]
    if rejected:
        lines += ["## Rejected files", "", "| file | reason |", "|---|---|"]
        lines += [f"| `{f.key}` | {f.reason} |" for f in rejected]
        lines.append("")
    if new_items is not None:
        lines += ["## New dataset items", "", new_items, ""]
    if experiments:
        lines += ["## Experiments", "", *(f"- {message}" for message in experiments), ""]
    for title, body in sections:
        lines += [f"## {title}", "", body.rstrip(), ""]
    lines += ["## Published partitions", "", "| table | date | rows | status |", "|---|---|---|---|"]
    lines += [
        f"| {_link(p.table, links.partitions.get(p.key))} | {p.date} | {p.row_count} | {p.status} |"
        for p in published
    ]
    if links.data_docs:
        lines += ["", "## Data Docs", ""]
        lines += [
            f"- {d.isoformat()}: {_link('Great Expectations Data Docs', url) if url else 'no rows to document'}"
            for d, url in sorted(links.data_docs.items())
        ]
    return "\n".join(lines) + "\n"


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


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


def leaderboard_table(
    config_rows: Sequence[Mapping[str, object]], items: pl.DataFrame
) -> list[dict[str, object]]:
    """One row per config of an experiment, in the experiment's order: the counts per status (`config_rows`,
    from the experiment record), what its items cost and their mean latency over the answered items (the
    latency of the original call for answers from the cache). `items` are the experiment's item rows."""
    per_config = {
        row["config_name"]: row
        for row in items.group_by("config_name")
        .agg(
            pl.col("cost_usd").sum().alias("cost_usd"),
            pl.col("latency_ms").filter(pl.col("status") == "ok").mean().alias("mean_latency_ms"),
        )
        .iter_rows(named=True)
    }
    table: list[dict[str, object]] = []
    for row in config_rows:
        stats = per_config.get(row["config"], {})
        latency = stats.get("mean_latency_ms")
        table.append(
            {
                "config": row["config"],
                "baseline": row.get("baseline", False),
                "ok": row.get("ok", 0),
                "error": row.get("error", 0),
                "skipped_budget": row.get("skipped_budget", 0),
                "missing": row.get("missing", 0),
                "cost_usd": round(float(stats.get("cost_usd") or 0.0), 6),
                "mean_latency_ms": round(float(latency), 1) if latency is not None else None,
            }
        )
    return table


def experiment_leaderboard(store: Store, record: ExperimentRecord) -> list[dict[str, object]]:
    """`leaderboard_table` of an experiment, from its record and its stored items."""
    return leaderboard_table(record.config_rows(), read_experiment_items(store, record.experiment_id))
