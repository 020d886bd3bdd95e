"""What an import run reports: per source, and over every source."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tracewatch.reports import PublishedPartition

TRACES_PREFIX = "traces"


@dataclass
class SourceImport:
    """What one run did for one source."""

    source: str
    kind: str
    objects: int = 0
    objects_rejected: int = 0
    records: int = 0
    records_rejected: int = 0
    records_duplicate: int = 0
    records_late: int = 0
    traces: int = 0
    traces_incomplete: int = 0
    traces_quarantined: int = 0
    traces_skipped: int = 0
    pending_traces: int = 0
    feedback_events: int = 0
    """scores of traces imported by other runs, written as late feedback (`feedback_outputs`)"""
    feedback_outputs: list[str] = field(default_factory=list)
    """the late-feedback files written (`feedback/date=D/...`); not trace files, so not in `trace_dates`"""
    outputs: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    """canonical files an explicit re-import removed (their days must be ingested again)"""

    @property
    def message(self) -> str:
        if not self.objects:
            return f"{self.source}: no new objects"
        rejected = f", {self.objects_rejected} unreadable" if self.objects_rejected else ""
        return (
            f"{self.source}: {self.objects} object(s){rejected}, {self.records} record(s) "
            f"({self.records_rejected} quarantined) -> {self.traces} trace(s), {self.traces_incomplete} incomplete, "
            f"{self.traces_quarantined} quarantined, {self.pending_traces} waiting for late spans"
            + (f", {self.feedback_events} score(s) written as late feedback" if self.feedback_events else "")
        )


@dataclass
class ImportResult:
    """The outcome of one import run over every source."""

    run_id: str
    sources: list[SourceImport] = field(default_factory=list)
    published: list[PublishedPartition] = field(default_factory=list)

    @property
    def trace_dates(self) -> list[dt.date]:
        """Dates whose canonical files were written or removed: what ingest must (re)read."""
        keys = [k for s in self.sources for k in (*s.outputs, *s.removed)]
        return sorted({date_of_output(k) for k in keys})

    @property
    def reimported_dates(self) -> list[dt.date]:
        """Dates that lost a canonical file to a re-import: ingest must forget them and read them again."""
        return sorted({date_of_output(k) for s in self.sources for k in s.removed})

    @property
    def message(self) -> str:
        return "; ".join(s.message for s in self.sources) or "no sources configured"


def date_of_output(key: str) -> dt.date:
    """The date partition of a canonical trace file key (`traces/date=YYYY-MM-DD/...`)."""
    partition = key.removeprefix(f"{TRACES_PREFIX}/").split("/", 1)[0]
    return dt.date.fromisoformat(partition.removeprefix("date="))
