"""The seam between a source format and the import run: what a format lists and what one object yields.

Each format (`otlp`, `otlp_file`, `langfuse`, `opik`, `phoenix`) is a `SourceReader`: it lists the objects it
has not imported yet, in the order they were uploaded, and reads one object into OTel-shaped `Span`s (for the
dialects to read), ready `SpanFacts` (vendor exports), GenAI log events to join to their spans, and quarantine
records for whatever could not be read. The run does everything else the same way for every format.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

from tracewatch.importers._exports import FeedbackEvent
from tracewatch.importers._otlp_decoded import LogEvent
from tracewatch.importers._quarantine import QuarantineRecord
from tracewatch.importers._spans import Span, SpanFacts
from tracewatch.store import ObjectInfo, Store


@dataclass(frozen=True, slots=True)
class SourceObject:
    """An object to import: its listing entry and when it was uploaded (what the grace window counts in)."""

    info: ObjectInfo
    uploaded: dt.datetime


@dataclass(slots=True)
class ObjectContent:
    """What one object held. `records` counts every span, observation, log record or trace file in it, read
    or rejected; `unreadable` is the reason when the whole object could not be read, `skipped` when it is not
    the format's at all (then nothing else is set)."""

    spans: list[Span] = field(default_factory=list)
    facts: list[SpanFacts] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    records: int = 0
    rejected: list[QuarantineRecord] = field(default_factory=list)
    unreadable: str | None = None
    skipped: str | None = None
    """why the object is not the format's (ledgered once, read never)"""
    duplicates: int = 0
    """records the reader dropped as copies of others in the same object or run (a vendor export's overlap)"""
    feedback: list[FeedbackEvent] = field(default_factory=list)
    """scores of traces this object does not hold, for the late-feedback input (Langfuse)"""


class SourceReader(Protocol):
    """One source format."""

    def new_objects(self, source: Store, known: set[tuple[str, str]]) -> list[SourceObject]:
        """The objects not in `known` ((key, version) pairs), oldest upload first; log objects before the
        trace objects of the same upload time, so their events are there when the spans are read."""
        ...

    def read(self, source: Store, obj: SourceObject) -> ObjectContent:
        """Everything one object holds; never raises for bad content (it becomes `rejected`/`unreadable`)."""
        ...


def upload_time(info: ObjectInfo) -> dt.datetime:
    """When an object without a time partition was uploaded: its last-modified time from the listing; the
    epoch when the listing does not say, so such an object sorts first and never holds a trace back."""
    return info.modified or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
