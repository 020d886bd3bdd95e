"""The grace window over span-fact frames: `TraceBuffer`'s rules (`_trace_buffer`), object by object in columns.

Span facts arrive as one `FRAME_SCHEMA` frame per object (rows mapped in columns, and rows whose `SpanFacts` were
read in Python, which the buffer keeps in `read`), and wait here by trace id until their trace has been quiet for
`grace` of upload time. Everything `TraceBuffer` decides is decided the same way, so the same objects release the
same traces in the same order: a re-sent span (same trace and span id as one already waiting) neither extends the
window nor makes a root; traces are due in the order of their last new span's upload, ties by when they were
scheduled (a trace is scheduled when it first arrives and again when an object brings it new spans); spans of a
trace released earlier come out `late`, every waiting late trace with the next release. Pending traces are kept
between runs in `TraceBuffer`'s own format (`PENDING_SCHEMA`), so either buffer resumes the other's state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import polars as pl

from tracewatch.importers._fact_frame import FRAME_SCHEMA, facts_from_frame, python_frame
from tracewatch.importers._facts_json import facts_from_json, facts_to_json
from tracewatch.importers._spans import SpanFacts
from tracewatch.importers._trace_buffer import PENDING_FORMAT, ReleasedTrace, checked_pending

_UTC = pl.Datetime("us", "UTC")
TRACE_STATE_SCHEMA = pl.Schema(
    {
        "trace_id": pl.String(),
        "home": pl.String(),
        "first_uploaded": _UTC,
        "last_new_uploaded": _UTC,
        "has_root": pl.Boolean(),
        "late": pl.Boolean(),
        "seq": pl.Int64(),
    }
)
"""One row per waiting trace, in the order the traces first arrived; `seq` orders equally due traces."""
_SPANS_SCHEMA = pl.Schema(
    {
        "trace_id": pl.String(),
        "span_id": pl.String(),
        "parent_span_id": pl.String(),
        "arrival": pl.Int64(),
        "chunk": pl.Int64(),
        "row": pl.Int64(),
    }
)
"""What the window needs of each waiting span; its facts stay in the frame they came in (`_Chunk`), which is
never rewritten, so releasing a trace moves a few narrow columns, not its messages."""


@dataclass(frozen=True, slots=True)
class _Chunk:
    """One object's span rows as `add` took them, and the facts read in Python they point at."""

    rows: pl.DataFrame
    read: list[SpanFacts]


@dataclass(frozen=True, slots=True)
class ReleasedFrame:
    """Traces leaving the buffer: `traces` (`TRACE_STATE_SCHEMA` but `seq`, in release order) and `spans`, their
    span rows (`FRAME_SCHEMA`, duplicates kept, by release order then arrival); `read` holds the `SpanFacts`
    their `python_index` points at."""

    traces: pl.DataFrame
    spans: pl.DataFrame
    read: Sequence[SpanFacts]

    def facts(self, trace_id: str) -> list[SpanFacts]:
        """One released trace's span facts, in arrival order (for the Python paths)."""
        rows = self.spans.filter(pl.col("trace_id") == trace_id)
        return facts_from_frame(rows, self.read)

    def released_traces(self) -> list[ReleasedTrace]:
        """The traces as `TraceBuffer.release` gives them: each with its facts, in release order."""
        facts = facts_from_frame(self.spans, self.read)
        out, start = [], 0
        for row in self.traces.iter_rows():
            trace_id = row[0]
            end = start
            while end < len(facts) and facts[end].trace_id == trace_id:
                end += 1
            out.append(ReleasedTrace(trace_id, facts[start:end], *row[1:]))
            start = end
        return out


@dataclass
class FrameBuffer:
    """Span-fact frames by trace id, released when their trace has been quiet for `grace` of upload time."""

    grace: dt.timedelta
    _chunks: dict[int, _Chunk] = field(default_factory=dict)
    _spans: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=_SPANS_SCHEMA))
    _traces: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TRACE_STATE_SCHEMA))
    _released: set[str] = field(default_factory=set)
    _seq: int = 0
    _arrivals: int = 0

    def __post_init__(self) -> None:
        if self.grace < dt.timedelta(0):
            raise ValueError(f"grace must be a duration >= 0, got {self.grace}")

    @property
    def trace_count(self) -> int:
        """Traces waiting."""
        return self._traces.height

    @property
    def span_count(self) -> int:
        """Span rows waiting (duplicates included)."""
        return self._spans.height

    def remember_released(self, trace_ids: Iterable[str]) -> None:
        """Traces an earlier run released: spans of theirs that arrive now come out `late`, not as a new trace."""
        self._released.update(trace_ids)

    def add(
        self,
        frame: pl.DataFrame,
        read: Sequence[SpanFacts],
        *,
        uploaded: dt.datetime,
        home: str | None = None,
    ) -> None:
        """Take one object's span rows (`FRAME_SCHEMA`; `python_index` into `read`), uploaded at `uploaded`
        (timezone-aware); `home` is its key."""
        if uploaded.tzinfo is None:
            raise ValueError(f"uploaded must be timezone-aware (UTC), got the naive datetime {uploaded}")
        if frame.is_empty():
            return
        chunk = max(self._chunks, default=-1) + 1
        self._chunks[chunk] = _Chunk(frame, list(read))
        rows = frame.select(
            "trace_id",
            "span_id",
            "parent_span_id",
            pl.int_range(self._arrivals, self._arrivals + frame.height, dtype=pl.Int64()).alias("arrival"),
            pl.lit(chunk, pl.Int64()).alias("chunk"),
            pl.int_range(frame.height, dtype=pl.Int64()).alias("row"),
        )
        self._arrivals += frame.height
        keys = ["trace_id", "span_id"]
        # A span is new when no span of its trace and id waits already (nor came before it in this object).
        first = rows.unique(keys, keep="first", maintain_order=True)
        new = first.join(self._spans.select(keys), on=keys, how="anti")
        news = new.group_by("trace_id").agg(
            (pl.col("parent_span_id").is_null() | (pl.col("parent_span_id") == "")).any().alias("root_new"),
            pl.col("arrival").min().alias("first_new"),
        )
        here = rows.group_by("trace_id", maintain_order=True).agg(pl.col("arrival").min().alias("first_seen"))
        state = (
            here.join(self._traces, on="trace_id", how="left", maintain_order="left")
            .join(news, on="trace_id", how="left", maintain_order="left")
            .with_columns(pl.col("seq").is_not_null().alias("_waiting"))
        )
        waiting = pl.col("_waiting")
        extended = waiting & pl.col("first_new").is_not_null() & (pl.col("last_new_uploaded") < uploaded)
        state = state.with_columns(
            pl.when(waiting).then("home").otherwise(pl.lit(home, pl.String())).alias("home"),
            pl.when(waiting).then("first_uploaded").otherwise(pl.lit(uploaded, _UTC)).alias("first_uploaded"),
            pl.when(waiting & ~extended)
            .then("last_new_uploaded")
            .otherwise(pl.lit(uploaded, _UTC))
            .alias("last_new_uploaded"),
            (pl.col("has_root").fill_null(False) | pl.col("root_new").fill_null(False)).alias("has_root"),
            pl.when(waiting)
            .then("late")
            .otherwise(pl.col("trace_id").is_in(list(self._released)))
            .alias("late"),
            # when the trace is (re)scheduled: on arrival, or at the first new span that extends its window
            pl.when(~waiting).then("first_seen").when(extended).then("first_new").alias("touched"),
        )
        touched = state.filter(pl.col("touched").is_not_null()).sort("touched")
        order = touched.select(
            "trace_id", pl.int_range(1, touched.height + 1, dtype=pl.Int64()).alias("_rank")
        )
        state = state.join(order, on="trace_id", how="left", maintain_order="left").with_columns(
            pl.coalesce(pl.col("_rank") + self._seq, "seq").alias("seq")
        )
        self._seq += touched.height
        updated = state.select(TRACE_STATE_SCHEMA.names())
        arrived = state.get_column("_waiting").not_()
        # Waiting traces keep their place, new ones follow in the order they arrived (`TraceBuffer`'s dict order).
        self._traces = pl.concat(
            [
                self._traces.update(updated.filter(~arrived), on="trace_id", include_nulls=True),
                updated.filter(arrived),
            ]
        )
        self._spans = pl.concat([self._spans, rows])

    def release(self, now: dt.datetime) -> ReleasedFrame:
        """Traces quiet for at least `grace` at upload time `now` (oldest first), then every other late trace."""
        due = pl.col("last_new_uploaded") + self.grace <= now
        ready = self._traces.filter(due).sort("last_new_uploaded", "seq")
        late = self._traces.filter(~due & pl.col("late")).sort("trace_id")
        return self._take(pl.concat([ready, late]))

    def release_all(self) -> ReleasedFrame:
        """Every waiting trace, whatever its window: for a final run over a closed period (a backfill)."""
        return self._take(self._traces)

    def _take(self, traces: pl.DataFrame) -> ReleasedFrame:
        ranked = traces.select("trace_id", pl.int_range(traces.height, dtype=pl.Int64()).alias("_rank"))
        taken = self._spans.join(ranked, on="trace_id", how="inner").sort("_rank", "arrival")
        spans, read = self._gather(taken)
        self._spans = self._spans.join(ranked, on="trace_id", how="anti", maintain_order="left")
        self._traces = self._traces.join(ranked, on="trace_id", how="anti", maintain_order="left")
        waiting = set(self._spans["chunk"].unique().to_list())
        for chunk in [c for c in self._chunks if c not in waiting]:
            del self._chunks[chunk]
        self._released.update(traces["trace_id"].to_list())
        return ReleasedFrame(traces.drop("seq"), spans, read)

    def _gather(self, spans: pl.DataFrame) -> tuple[pl.DataFrame, list[SpanFacts]]:
        """The rows (`FRAME_SCHEMA`) of `spans` (`_SPANS_SCHEMA`) in their order, from their chunks, with the
        facts read in Python they point at."""
        parts: list[pl.DataFrame] = []
        read: list[SpanFacts] = []
        numbered = spans.with_row_index("_order")
        for (chunk,), group in numbered.group_by("chunk", maintain_order=True):
            found = self._chunks[int(chunk)]  # type: ignore[call-overload]
            part = found.rows[group["row"].to_numpy()].with_columns(
                pl.col("python_index") + len(read), group["_order"]
            )
            parts.append(part)
            read.extend(found.read)
        if not parts:
            return pl.DataFrame(schema=FRAME_SCHEMA), read
        return pl.concat(parts).sort("_order").drop("_order"), read

    # ---- between runs ----------------------------------------------------------------------------------------

    def to_frame(self) -> pl.DataFrame:
        """The waiting traces, one row per span, in `PENDING_SCHEMA` (`TraceBuffer.to_frame`'s layout)."""
        spans = self._spans.join(self._traces.with_row_index("_order"), on="trace_id", how="inner").sort(
            "_order", "arrival"
        )
        facts = facts_from_frame(*self._gather(spans.select(_SPANS_SCHEMA.names())))
        return spans.select(
            pl.lit(PENDING_FORMAT, pl.Int32()).alias("format"),
            "trace_id",
            "home",
            "first_uploaded",
            "last_new_uploaded",
            "late",
            pl.Series("facts", [facts_to_json(f) for f in facts], dtype=pl.String()),
        )

    @classmethod
    def from_frame(cls, frame: pl.DataFrame | None, *, grace: dt.timedelta) -> FrameBuffer:
        """A buffer holding what `to_frame` (or `TraceBuffer.to_frame`) wrote, windows intact."""
        buffer = cls(grace=grace)
        if frame is None or frame.is_empty():
            return buffer
        frame = checked_pending(frame)
        facts = [facts_from_json(text) for text in frame["facts"].to_list()]
        for fact, trace_id in zip(facts, frame["trace_id"].to_list(), strict=True):
            if fact.trace_id != trace_id:
                raise ValueError(
                    f"pending span facts of trace {fact.trace_id} are filed under trace {trace_id}"
                )
        rows = python_frame(facts)
        buffer._chunks[0] = _Chunk(rows, facts)
        buffer._spans = rows.select(
            "trace_id",
            "span_id",
            "parent_span_id",
            pl.int_range(len(facts), dtype=pl.Int64()).alias("arrival"),
            pl.lit(0, pl.Int64()).alias("chunk"),
            pl.int_range(len(facts), dtype=pl.Int64()).alias("row"),
        )
        buffer._arrivals = len(facts)
        roots = buffer._spans.group_by("trace_id").agg(
            (pl.col("parent_span_id").is_null() | (pl.col("parent_span_id") == "")).any().alias("has_root")
        )
        traces = (
            frame.group_by("trace_id", maintain_order=True)
            .agg(pl.col("home", "first_uploaded", "last_new_uploaded", "late").first())
            .join(roots, on="trace_id", how="left", maintain_order="left")
        )
        buffer._traces = traces.with_columns(
            pl.int_range(1, traces.height + 1, dtype=pl.Int64()).alias("seq")
        ).select(TRACE_STATE_SCHEMA.names())
        buffer._seq = traces.height
        return buffer
