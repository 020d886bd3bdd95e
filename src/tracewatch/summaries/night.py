"""The night's human-readable summary, for the nightly flow's Prefect artifacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracewatch.ingest import IngestResult
from tracewatch.reports import PublishedPartition


@dataclass(frozen=True)
class NightLinks:
    """Where a night's outputs can be opened: the store URL of each published partition (by key) and the
    Data Docs index of each date (None when a date had no rows to document)."""

    partitions: Mapping[str, str] = field(default_factory=dict)
    data_docs: Mapping[dt.date, str | None] = field(default_factory=dict)


def night_summary_markdown(
    day: dt.date,
    ingest: IngestResult[Any],
    published: list[PublishedPartition],
    *,
    new_items: str | None = None,
    experiments: Sequence[str] = (),
    sections: Sequence[tuple[str, str]] = (),
    links: NightLinks | None = None,
) -> str:
    """A short markdown report: what was ingested and quarantined (and why), the night's new dataset items
    (`new_items`, one line), the experiments' one-line results, further `sections` (title, markdown body:
    scores, drift and quality alerts; headings in a body are nested under its `##` title, see `nest_headings`),
    and what was published, with links."""
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
        lines += [f"## {title}", "", nest_headings(body.rstrip(), under=2), ""]
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


def dataset_night_line(message: str, redactions: Mapping[str, int]) -> str:
    """The night's dataset build (`message`) with the PII redacted in its new items, per kind: a person sees
    that redaction ran and what it caught, not only a total in a manifest. `redactions` is the build's count
    per enabled kind (empty when redaction is off or no items were made)."""
    if not redactions:
        return message
    found = [f"{count} {kind}" for kind, count in sorted(redactions.items()) if count]
    if not found:
        return f"{message}. No PII found in the new items (checked: {', '.join(sorted(redactions))})."
    total = sum(redactions.values())
    return f"{message}. **PII redacted in the new items: {total}** ({', '.join(found)})."


def nest_headings(body: str, *, under: int) -> str:
    """`body`'s markdown headings moved down so the highest sits one level below `under` (a `#` title in a
    section body would otherwise outrank the section it is in); code blocks are left alone."""
    lines = body.split("\n")
    fence = False
    heading_at: list[int] = []
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fence = not fence
        elif not fence and _heading_level(line):
            heading_at.append(i)
    if not heading_at:
        return body
    shift = under + 1 - min(_heading_level(lines[i]) for i in heading_at)
    for i in heading_at if shift > 0 else ():
        lines[i] = "#" * shift + lines[i]
    return "\n".join(lines)


def _heading_level(line: str) -> int:
    """The ATX heading level of a line (0: not a heading)."""
    hashes = len(line) - len(line.lstrip("#"))
    return hashes if 0 < hashes <= 6 and line[hashes : hashes + 1] in (" ", "") else 0


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else text


def ingest_table(ingest: IngestResult[Any]) -> list[dict[str, object]]:
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
