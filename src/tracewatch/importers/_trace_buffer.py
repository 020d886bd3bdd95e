"""The grace window: span facts wait here, by trace id, until their trace is whole enough to assemble.

The Collector's S3 exporter partitions objects by upload time, not span time, and a batch processor sends a
trace's spans as they end, so one trace can be spread over several objects, minutes apart, and its root (which
ends last) usually comes last. A trace is released once no new span of it has come for `grace` of upload time:
complete when its root (a span without a parent) is there, otherwise without one, for the caller to import
flagged incomplete or quarantine (`IncompletePolicy`). Time here is always upload time, given by the caller,
never span time, so clock skew between hosts cannot hold a trace back or release it early.

Traces still waiting at the end of a run are written out (`to_frame`, one JSON text per span) and read back by
the next run (`from_frame`), which resumes their windows where they stood. Per span only the facts and the span
id are held; a released trace's id is remembered for the rest of the run, so a span arriving after its trace
was assembled is released on its own, marked `late`, instead of becoming a second row with the same trace id.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracewatch.importers._facts_json import facts_from_json, facts_to_json
from tracewatch.importers._spans import SpanFacts

PENDING_FORMAT = 1
"""Version of the `to_frame` layout; `from_frame` refuses another one rather than misread it."""

PENDING_SCHEMA: dict[str, pl.DataType] = {
    "format": pl.Int32(),
    "trace_id": pl.String(),
    "home": pl.String(),
    "first_uploaded": pl.Datetime("us", "UTC"),
    "last_new_uploaded": pl.Datetime("us", "UTC"),
    "late": pl.Boolean(),
    "facts": pl.String(),
}
"""One row per waiting span; the trace's columns repeat on each of its spans (Parquet stores them run-length)."""


def checked_pending(frame: pl.DataFrame) -> pl.DataFrame:
    """A pending-traces frame cast to `PENDING_SCHEMA`; ValueError naming what is wrong when it lacks a column
    or was written in another format version."""
    missing = sorted(set(PENDING_SCHEMA) - set(frame.columns))
    if missing:
        raise ValueError(
            f"pending traces frame lacks column(s) {', '.join(missing)}; expected {', '.join(PENDING_SCHEMA)}"
        )
    formats = set(frame["format"].unique().to_list())
    if formats != {PENDING_FORMAT}:
        raise ValueError(
            f"pending traces frame has format {sorted(formats)}; this version reads {PENDING_FORMAT}"
        )
    return frame.select(pl.col(name).cast(kind) for name, kind in PENDING_SCHEMA.items())


@dataclass(slots=True)
class _Pending:
    facts: list[SpanFacts]
    span_ids: set[str]
    home: str | None
    first_uploaded: dt.datetime
    last_new_uploaded: dt.datetime
    has_root: bool
    late: bool


def late_reason(trace_id: str, spans: int, uploaded: dt.datetime) -> str:
    """The quarantine reason for `spans` spans of a trace released earlier, uploaded (the last new one) at
    `uploaded`."""
    return (
        f"{spans} span(s) of trace {trace_id} arrived after the trace was assembled "
        f"(uploaded {uploaded.isoformat()}, more than the grace window after its previous span)"
    )


@dataclass(slots=True)
class ReleasedTrace:
    """A trace leaving the buffer: its facts (duplicates kept, so assembly can count them), the key of the
    object it was first seen in (`home`, for deterministic output names), and whether its root arrived.

    `late`: spans of a trace already released in this run; they cannot join its row any more and the caller
    quarantines them (`late_reason`)."""

    trace_id: str
    facts: list[SpanFacts]
    home: str | None
    first_uploaded: dt.datetime
    last_new_uploaded: dt.datetime
    has_root: bool
    late: bool = False

    @property
    def late_reason(self) -> str:
        """The quarantine reason for a late release."""
        return late_reason(self.trace_id, len(self.facts), self.last_new_uploaded)

    def source_metadata(self) -> dict[str, Any]:
        """Where and when the trace's spans arrived, for the row's metadata `source`."""
        return {
            "home": self.home,
            "first_uploaded": _isoformat(self.first_uploaded),
            "last_uploaded": _isoformat(self.last_new_uploaded),
        }


_isoformat = functools.lru_cache(maxsize=4096)(dt.datetime.isoformat)
"""Upload times are few (one per object) and every released trace names two of them."""


@dataclass
class TraceBuffer:
    """Span facts by trace id, released when their trace has been quiet for `grace` of upload time."""

    grace: dt.timedelta
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _released: set[str] = field(default_factory=set)
    _late: set[str] = field(default_factory=set)
    _due: list[tuple[dt.datetime, int, str]] = field(default_factory=list)
    _seq: int = 0

    def __post_init__(self) -> None:
        if self.grace < dt.timedelta(0):
            raise ValueError(f"grace must be a duration >= 0, got {self.grace}")

    @property
    def trace_count(self) -> int:
        """Traces waiting."""
        return len(self._pending)

    @property
    def span_count(self) -> int:
        """Span facts waiting (duplicates included)."""
        return sum(len(p.facts) for p in self._pending.values())

    def add(self, facts: Iterable[SpanFacts], *, uploaded: dt.datetime, home: str | None = None) -> None:
        """Take the facts read from one object uploaded at `uploaded` (timezone-aware); `home` is its key.

        Objects should come in upload order; one that comes late only lengthens its traces' windows.
        """
        if uploaded.tzinfo is None:
            raise ValueError(f"uploaded must be timezone-aware (UTC), got the naive datetime {uploaded}")
        # Insertion-ordered, not a set: the order traces are scheduled in is the order equally due traces are
        # released in, and a set's order of strings changes with each process's hash seed.
        touched: dict[str, None] = {}
        for item in facts:
            pending = self._pending.get(item.trace_id)
            if pending is None:
                late = item.trace_id in self._released
                pending = self._pending[item.trace_id] = _Pending(
                    [], set(), home, uploaded, uploaded, False, late
                )
                touched[item.trace_id] = None
                if late:
                    self._late.add(item.trace_id)
            pending.facts.append(item)
            if item.span_id not in pending.span_ids:  # a re-sent span does not extend the window
                pending.span_ids.add(item.span_id)
                pending.has_root = pending.has_root or not item.parent_span_id
                if uploaded > pending.last_new_uploaded:
                    pending.last_new_uploaded = uploaded
                    touched[item.trace_id] = None
        for trace_id in touched:
            self._schedule(trace_id)

    def remember_released(self, trace_ids: Iterable[str]) -> None:
        """Traces an earlier run released: spans of theirs that arrive now come out `late`, not as a new trace."""
        self._released.update(trace_ids)

    def release(self, now: dt.datetime) -> list[ReleasedTrace]:
        """Traces quiet for at least `grace` at upload time `now`, and every late trace, oldest first."""
        out: list[ReleasedTrace] = []
        while self._due and self._due[0][0] + self.grace <= now:
            due, _, trace_id = heapq.heappop(self._due)
            pending = self._pending.get(trace_id)
            if pending is not None and pending.last_new_uploaded == due:  # else a later entry stands for it
                out.append(self._take(trace_id))
        out += [self._take(trace_id) for trace_id in sorted(self._late)]
        return out

    def release_all(self) -> list[ReleasedTrace]:
        """Every waiting trace, whatever its window: for a final run over a closed period (a backfill)."""
        self._due.clear()
        self._late.clear()
        return [self._take(trace_id) for trace_id in list(self._pending)]

    def to_frame(self) -> pl.DataFrame:
        """The waiting traces, one row per span, in `PENDING_SCHEMA`: what the next run resumes from."""
        rows = [
            (PENDING_FORMAT, tid, p.home, p.first_uploaded, p.last_new_uploaded, p.late, facts_to_json(f))
            for tid, p in self._pending.items()
            for f in p.facts
        ]
        return pl.DataFrame(rows, schema=PENDING_SCHEMA, orient="row")

    @classmethod
    def from_frame(cls, frame: pl.DataFrame | None, *, grace: dt.timedelta) -> TraceBuffer:
        """A buffer holding what `to_frame` wrote (None or an empty frame: nothing waiting), windows intact."""
        buffer = cls(grace=grace)
        if frame is None or frame.is_empty():
            return buffer
        frame = checked_pending(frame)
        for tid, home, first, last, late, text in frame.drop("format").iter_rows():
            facts = facts_from_json(text)
            if facts.trace_id != tid:
                raise ValueError(f"pending span facts of trace {facts.trace_id} are filed under trace {tid}")
            pending = buffer._pending.get(tid)
            if pending is None:
                pending = buffer._pending[tid] = _Pending([], set(), home, first, last, False, late)
                if late:
                    buffer._late.add(tid)
            pending.facts.append(facts)
            pending.span_ids.add(facts.span_id)
            pending.has_root = pending.has_root or not facts.parent_span_id
        for trace_id in buffer._pending:
            buffer._schedule(trace_id)
        return buffer

    def _schedule(self, trace_id: str) -> None:
        self._seq += 1  # ties break by arrival, so releases come in a reproducible order
        heapq.heappush(self._due, (self._pending[trace_id].last_new_uploaded, self._seq, trace_id))

    def _take(self, trace_id: str) -> ReleasedTrace:
        p = self._pending.pop(trace_id)
        self._late.discard(trace_id)
        self._released.add(trace_id)
        return ReleasedTrace(
            trace_id, p.facts, p.home, p.first_uploaded, p.last_new_uploaded, p.has_root, late=p.late
        )
