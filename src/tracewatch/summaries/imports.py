"""What a person reads about an import run: one line per source, and a table of what every source gave."""

from __future__ import annotations

from tracewatch.importers import ImportResult


def import_table(result: ImportResult) -> list[dict[str, object]]:
    """One row per source, for a table artifact: objects and records read, traces made, what was set aside."""
    return [
        {
            "source": s.source,
            "kind": s.kind,
            "objects": s.objects,
            "unreadable objects": s.objects_rejected,
            "records": s.records,
            "records quarantined": s.records_rejected,
            "duplicates": s.records_duplicate,
            "traces": s.traces,
            "incomplete": s.traces_incomplete,
            "traces quarantined": s.traces_quarantined,
            "not LLM requests": s.traces_skipped,
            "waiting for late spans": s.pending_traces,
            "files written": len(s.outputs),
        }
        for s in result.sources
    ]


def import_markdown(result: ImportResult) -> str:
    """The run in a few lines: a line per source, and where the quarantined records are."""
    lines = [f"Import run `{result.run_id}`:", ""]
    lines += [f"- {s.message}" for s in result.sources] or ["- no sources configured"]
    if any(s.records_rejected or s.traces_quarantined or s.objects_rejected for s in result.sources):
        lines += [
            "",
            "Quarantined records and their reasons: `warehouse/quarantine/imports/<source>/date=<upload day>/` "
            "(docs/importing.md, 'Accounting').",
        ]
    return "\n".join(lines)
