"""Late feedback in the nightly flow: one task that ingests the new feedback files and attaches them to their
traces, and the one helper that turns its result into the dates the night rebuilds and the summary's section."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from flows.common import stage_task
from tracewatch.ingest import FeedbackResult, IngestResult, ingest_new_feedback
from tracewatch.settings import Settings
from tracewatch.store import Store

Part = TypeVar("Part")


@stage_task
def attach_late_feedback(store: Store, day: dt.date, run_id: str) -> FeedbackResult:
    """New `feedback/date=D/` files up to the night, attached to their traces (after the trace ingest, so
    feedback for a trace that arrived tonight attaches tonight); TRACEWATCH_FEEDBACK_ORPHAN_AFTER_HOURS says how
    long feedback waits for an unknown trace."""
    wait = dt.timedelta(hours=Settings().feedback_orphan_after_hours)
    return ingest_new_feedback(store, up_to=day, orphan_after=wait, run_id=run_id)


def dates_to_rebuild(day: dt.date, ingested: IngestResult[Part], late: FeedbackResult) -> list[dt.date]:
    """The night, the dates that got late trace files, and those whose late feedback changed, oldest first.

    A date with late feedback loses the monitoring part ingest made from its rows alone, so its reports are
    built from the store, where the feedback is merged in."""
    for stale in late.with_feedback:
        ingested.parts.pop(stale, None)
    return sorted({*ingested.dates_touched, *late.dates_rebuilt, day})
