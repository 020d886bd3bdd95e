"""One source through one import run: read its new objects, turn spans into facts, wait for whole traces,
assemble them into canonical rows, write the rows and account for everything in the ledger and quarantine."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import polars as pl

from tracewatch.hashing import key64
from tracewatch.importers._assemble import IncompletePolicy, Pricer
from tracewatch.importers._assemble_columns import assemble_columns
from tracewatch.importers._columnar_facts import DIALECT_READERS, ObjectFacts, columnar_facts
from tracewatch.importers._exports import FeedbackEvent
from tracewatch.importers._fact_frame import FRAME_SCHEMA, read_rows
from tracewatch.importers._frame_buffer import FrameBuffer, ReleasedFrame
from tracewatch.importers._ledger import ImportLedger, ObjectEntry
from tracewatch.importers._object_reads import ObjectRead, read_objects, span_facts
from tracewatch.importers._quarantine import QuarantineRecord, existing_keys, write_records
from tracewatch.importers._readers import reader_for
from tracewatch.importers._reading import ObjectContent, SourceObject
from tracewatch.importers._results import TRACES_PREFIX, SourceImport
from tracewatch.importers._sources import SourceConfig
from tracewatch.importers._span_columns import SpanColumns
from tracewatch.importers._spans import Span, SpanEvent, SpanFacts
from tracewatch.importers._trace_buffer import late_reason
from tracewatch.ingest import FEEDBACK_EVENT_SCHEMA, FEEDBACK_PREFIX
from tracewatch.runs import utc_now
from tracewatch.settings import Settings
from tracewatch.store import Store, collector_paused

STATE_PREFIX = "warehouse/state/imports"
ROWS_PER_FILE = 50_000
"""Canonical rows per written file: large enough that ingest reads few files (a few a day), small enough that the
rows waiting to be written stay a small part of an import's memory."""


class SourceRun:
    """One source through one run: read, buffer, assemble, write, account."""

    def __init__(
        self,
        store: Store,
        source: SourceConfig,
        ledger: ImportLedger,
        run_id: str,
        now: dt.datetime,
        pricer: Pricer | None,
        *,
        settings: Settings | None = None,
        workers: int = 1,
    ) -> None:
        self.store, self.source, self.ledger, self.run_id, self.now = store, source, ledger, run_id, now
        self.pricer = pricer
        self.settings = settings or Settings()
        self.workers = workers
        """worker processes reading objects (1: all read here; `_object_reads`)"""
        self.outcome = SourceImport(source=source.name, kind=source.kind)
        self.policy = (
            IncompletePolicy.QUARANTINE
            if source.incomplete == "quarantine"
            else IncompletePolicy.IMPORT_FLAGGED
        )
        self.rows: list[pl.DataFrame] = []  # canonical rows waiting to be written, with their home (`_home`)
        self.row_count = 0
        # Log records waiting for their span, with the object each came in (for its accounting).
        self.events: dict[tuple[str, str], list[tuple[str, SpanEvent]]] = defaultdict(list)
        self.released: dict[
            str, dt.datetime
        ] = {}  # trace id -> upload time of its last span, recent releases
        self.trace_quarantine: dict[str, list[QuarantineRecord]] = defaultdict(list)  # by home object
        self.feedback: list[FeedbackEvent] = []  # scores of traces imported by other runs
        self.quarantined: set[str] | None = None  # the source's quarantine keys, listed once a run (`run`)

    @property
    def pending_key(self) -> str:
        return f"{STATE_PREFIX}/{self.source.name}/pending.parquet"

    @property
    def released_key(self) -> str:
        return f"{STATE_PREFIX}/{self.source.name}/released.parquet"

    def run(self, source_store: Store, reimport: Sequence[dt.date]) -> SourceImport:
        self._load_released()
        if reimport:
            self._forget(reimport)
        reader = reader_for(self.source)
        pending = self.store.read_parquet(self.pending_key) if self.store.exists(self.pending_key) else None
        buffer = FrameBuffer.from_frame(pending, grace=dt.timedelta(minutes=self.source.grace_minutes))
        buffer.remember_released(self.released)
        self.quarantined = existing_keys(self.store, self.source.name)
        # Spans, facts and rows are millions of small objects that form no reference cycles (refcounting frees
        # them), yet every burst of them would start a collection walking everything held, the spans waiting
        # for their trace included: a quarter of the import's time, and more when re-enabled between objects.
        # So the collector is paused for the source's run; what little cyclic garbage the store's client
        # leaves is collected once the run is over.
        with collector_paused():
            objects = reader.new_objects(source_store, self.ledger.known(self.source.name))
            for read in read_objects(
                reader,
                source_store,
                objects,
                source=self.source,
                settings=self.settings,
                workers=self.workers,
            ):
                self._read_object(read, buffer)
            self._assemble(buffer.release(self.now))
            self._write_rows()
        self._quarantine_traces()
        self._unjoined_events()
        self._write_feedback()
        self.outcome.pending_traces = buffer.trace_count
        self.store.write_parquet(self.pending_key, buffer.to_frame())
        self._save_released()
        return self.outcome

    def _read_object(self, read: ObjectRead, buffer: FrameBuffer) -> None:
        obj, content = read.obj, read.content
        self._account(obj, content)
        # A score that states no time was given by the time its export run was uploaded, at the latest.
        self.feedback += [
            e
            if e.created_at is not None
            else FeedbackEvent(e.trace_id, e.name, e.value, e.source, obj.uploaded)
            for e in content.feedback
        ]
        for joined in content.events:
            self.events[(joined.trace_id, joined.span_id or "")].append((obj.info.key, joined.event))
        if not (read.items or content.facts or content.columns):
            return  # a log object's time is not its spans': it must not move the grace clock
        frame, read_here = self._object_frame(read)
        # Traces quiet for the grace window before this upload are whole: its spans of them are late,
        # whether or not another object happened to come in between.
        self._assemble(buffer.release(obj.uploaded))
        buffer.add(frame, read_here, uploaded=obj.uploaded, home=obj.info.key)
        self._assemble(buffer.release(obj.uploaded))
        if self.row_count >= ROWS_PER_FILE:
            self._write_rows()

    # ---- spans to facts to rows ----------------------------------------------------------------------------

    def _object_frame(self, read: ObjectRead) -> tuple[pl.DataFrame, list[SpanFacts]]:
        """One object's span facts as `FRAME_SCHEMA` rows in document order, and the facts read in Python
        (vendor exports' facts, spans today's decoders read, spans the columnar readers left to Python)."""
        frames: list[pl.DataFrame] = []
        read_here: list[SpanFacts] = []

        def python(facts: list[SpanFacts]) -> None:
            if facts:
                rows, kept = read_rows(facts, len(read_here))
                frames.append(rows)
                read_here.extend(kept)

        python(read.content.facts)
        done = 0
        for position, columns in read.content.columns:  # requests decoded as columns, in their place
            python([self._fact(item) for item in read.items[done:position]])
            found = self._column_facts(columns)
            frames.append(found.frame.with_columns(pl.col("python_index") + len(read_here)))
            read_here.extend(found.read)
            done = position
        python([self._fact(item) for item in read.items[done:]])
        return pl.concat(frames) if frames else pl.DataFrame(schema=FRAME_SCHEMA), read_here

    def _fact(self, item: Span | SpanFacts) -> SpanFacts:
        return item if isinstance(item, SpanFacts) else self._facts_of(item)

    def _column_facts(self, columns: SpanColumns) -> ObjectFacts:
        """The facts of one request's spans, read in columns (`_columnar_facts`), with the log records
        waiting for them joined."""
        joined: dict[int, list[SpanEvent]] = {}
        if self.events:
            keys = pl.DataFrame(list(self.events), schema=["trace_id", "span_id"], orient="row")
            ids = pl.from_arrow(columns.spans.select(["trace_id", "span_id"]))
            assert isinstance(ids, pl.DataFrame)
            named = ids.with_row_index().join(
                keys, on=["trace_id", "span_id"], how="semi", maintain_order="left"
            )
            for row, trace_id, span_id in named.iter_rows():
                waiting = self.events.pop((trace_id, span_id), None)  # a re-sent span's copy finds none
                if waiting:
                    joined[row] = [event for _, event in waiting]
        return columnar_facts(
            columns, readers=DIALECT_READERS, joined=joined, from_attribute=self.source.project.from_attribute
        )

    def _facts_of(self, span: Span) -> SpanFacts:
        joined = self.events.pop((span.trace_id, span.span_id), None)
        events = [event for _, event in joined] if joined else None
        return span_facts(span, events, self.source.project.from_attribute)

    def _assemble(self, released: ReleasedFrame) -> None:
        """Released traces to rows (`assemble_columns`), their spans to quarantine when late or not a row, and
        every count to its home object's ledger entry."""
        traces = released.traces
        if traces.is_empty():
            return
        late = traces.filter("late")
        if late.height:
            self._late(late, released)
        whole = traces.filter(~pl.col("late"))
        if whole.is_empty():
            return
        self.released.update(
            zip(whole["trace_id"].to_list(), whole["last_new_uploaded"].to_list(), strict=True)
        )
        done = assemble_columns(
            released.spans.filter(pl.col("trace_id").is_in(whole["trace_id"].implode())),
            released.read,
            pricer=self.pricer,
            incomplete=self.policy,
            sources=_sources(whole, self.source.name),
        )
        outcomes = done.outcomes.join(
            whole.select("trace_id", pl.col("home").fill_null("")), on="trace_id", maintain_order="left"
        )
        self._count_by_home(outcomes.group_by("home").agg(pl.col("duplicates").sum()), "records_duplicate")
        rejected = outcomes.filter(pl.col("code").is_not_null())
        if rejected.height:
            self._rejected(rejected, released)
        accepted = outcomes.filter(pl.col("code").is_null())
        counts = accepted.group_by("home", "incomplete").agg(pl.len().alias("n"))
        self._count_by_home(counts.filter(~pl.col("incomplete")), "traces")
        self._count_by_home(counts.filter("incomplete"), "traces_incomplete")
        project = self.source.project
        rows = done.rows.with_columns(
            pl.col("project").map_elements(project.project_of, return_dtype=pl.String(), skip_nulls=False),
            accepted["home"].alias("_home"),
        )
        self.rows.append(rows)
        self.row_count += rows.height

    def _late(self, late: pl.DataFrame, released: ReleasedFrame) -> None:
        """Spans of traces assembled earlier: quarantined, each with its joined log records."""
        spans = released.spans.filter(pl.col("trace_id").is_in(late["trace_id"].implode()))
        by_trace = spans.partition_by("trace_id", as_dict=True, maintain_order=True)
        homes = pl.col("home").fill_null("")
        for trace_id, home, last in late.select("trace_id", homes, "last_new_uploaded").iter_rows():
            mine = by_trace[(trace_id,)]
            reason = late_reason(trace_id, mine.height, last)
            self.trace_quarantine[home] += _span_records("span", reason, mine, distinct=False)
            self._count(self.ledger.entry(self.source.name, home), "records_late", mine.height)

    def _rejected(self, rejected: pl.DataFrame, released: ReleasedFrame) -> None:
        """Traces that are not rows: one record per distinct span (and joined log record), so all are counted."""
        spans = released.spans.filter(pl.col("trace_id").is_in(rejected["trace_id"].implode()))
        by_trace = spans.partition_by("trace_id", as_dict=True, maintain_order=True)
        for trace_id, home, code, reason in rejected.select("trace_id", "home", "code", "reason").iter_rows():
            self.trace_quarantine[home] += _span_records(
                "trace", reason or "", by_trace[(trace_id,)], distinct=True
            )
            skipped = code == "no_llm_call"
            self._count(
                self.ledger.entry(self.source.name, home),
                "traces_skipped" if skipped else "traces_quarantined",
                1,
            )

    def _count_by_home(self, counts: pl.DataFrame, name: str) -> None:
        """Add per-home counts (`home` and one count column) to the ledger entries and the outcome."""
        for home, n in counts.select("home", counts.columns[-1]).iter_rows():
            self._count(self.ledger.entry(self.source.name, home), name, int(n))

    def _count(self, entry: ObjectEntry | None, name: str, n: int) -> None:
        if entry is not None and n:
            setattr(entry, name, getattr(entry, name) + n)
        if n and name in SourceImport.__dataclass_fields__:
            setattr(self.outcome, name, getattr(self.outcome, name) + n)

    # ---- writing -------------------------------------------------------------------------------------------

    def _write_rows(self) -> None:
        """Write the buffered rows, one file per trace date, named from the objects they came from, so the
        same objects always give the same file names (a rerun replaces, never duplicates)."""
        if not self.rows:
            return
        frame = pl.concat(self.rows)
        self.rows.clear()
        self.row_count = 0
        for (day,), part in frame.group_by(pl.col("start_time").dt.date(), maintain_order=True):
            homes = sorted(set(part["_home"].to_list()))
            # The traces name the file as well as their objects: a trace of an object released a night later
            # (its late spans) must not get, and so replace, the name of the file its object's others went to.
            digest = f"{key64(self.source.name, *homes, *sorted(part['trace_id'].to_list())):016x}"
            key = f"{TRACES_PREFIX}/date={day}/import-{self.source.name}-{digest}.parquet"
            self.store.write_parquet(key, part.drop("_home").sort("start_time", "trace_id"))
            self.outcome.outputs.append(key)
            for home in homes:
                entry = self.ledger.entry(self.source.name, home)
                if entry is not None and key not in entry.outputs:
                    entry.outputs.append(key)

    def _write_feedback(self) -> None:
        """Scores of traces imported by other runs, as late-feedback files (docs/trace-schema.md), one per
        `created_at` day, named from the events: a rerun of the same export writes the same object with the
        same content, and different events never get, and so replace, the name of another file."""
        if not self.feedback:
            return
        frame = pl.DataFrame(
            [(e.trace_id, e.name, e.value, e.source, e.created_at) for e in self.feedback],
            schema=FEEDBACK_EVENT_SCHEMA,
            orient="row",
        ).sort("created_at", "trace_id", "name", "source", "value")
        self.feedback.clear()
        for (day,), part in frame.group_by(pl.col("created_at").dt.date(), maintain_order=True):
            cells = [str(v) for row in part.iter_rows() for v in row]
            key = f"{FEEDBACK_PREFIX}/date={day}/import-{self.source.name}-{key64(*cells):016x}.parquet"
            self.store.write_parquet(key, part)
            self.outcome.feedback_outputs.append(key)
            self.outcome.feedback_events += part.height

    def _quarantine_traces(self) -> None:
        """Trace-level quarantine (late spans, rootless or non-LLM traces: a record per span), one file per home
        object."""
        for home, records in self.trace_quarantine.items():
            entry = self.ledger.entry(self.source.name, home)
            day = entry.upload_date if entry is not None else self.now.date()
            write_records(
                self.store,
                source=self.source.name,
                upload_day=day,
                object_key=f"{home}#traces",
                object_version=entry.object_version if entry is not None else "",
                records=records,
                run_id=self.run_id,
                at=utc_now(),
                merge=True,
            )

    def _unjoined_events(self) -> None:
        """Log records whose span never came in this run: quarantined with their object, never dropped."""
        by_origin: dict[str, list[QuarantineRecord]] = defaultdict(list)
        for (trace_id, span_id), waiting in self.events.items():
            for origin, _ in waiting:
                by_origin[origin].append(
                    QuarantineRecord(
                        "log_record",
                        "log record names a span that no object of this import held; it could not be joined",
                        trace_id=trace_id,
                        span_id=span_id or None,
                    )
                )
        for origin, records in by_origin.items():
            entry = self.ledger.entry(self.source.name, origin)
            write_records(
                self.store,
                source=self.source.name,
                upload_day=entry.upload_date if entry is not None else self.now.date(),
                object_key=f"{origin}#unjoined",
                object_version=entry.object_version if entry is not None else "",
                records=records,
                run_id=self.run_id,
                at=utc_now(),
            )
            if entry is not None:
                entry.records_rejected += len(records)
            self.outcome.records_rejected += len(records)
        self.events.clear()

    def _load_released(self) -> None:
        """Traces released by recent runs, so that their spans arriving now are quarantined as late instead of
        starting a second trace with the same id."""
        if self.store.exists(self.released_key):
            frame = self.store.read_parquet(self.released_key)
            self.released = dict(
                zip(frame["trace_id"].to_list(), frame["last_uploaded"].to_list(), strict=True)
            )

    def _save_released(self) -> None:
        """Keep the releases of the last day (at least four grace windows) of upload time."""
        keep = max(dt.timedelta(days=1), 4 * dt.timedelta(minutes=self.source.grace_minutes))
        recent = {t: at for t, at in self.released.items() if at >= self.now - keep}
        frame = pl.DataFrame(
            {"trace_id": list(recent), "last_uploaded": list(recent.values())},
            schema={"trace_id": pl.String(), "last_uploaded": pl.Datetime("us", "UTC")},
        )
        self.store.write_parquet(self.released_key, frame)

    # ---- accounting ----------------------------------------------------------------------------------------

    def _account(self, obj: SourceObject, content: ObjectContent) -> None:
        day = obj.uploaded.date()
        rejected = list(content.rejected)
        if content.unreadable:
            rejected.append(QuarantineRecord("object", content.unreadable))
        # A whole request (a fileexporter line or frame) that cannot be read holds spans nobody could count:
        # it is quarantined, but it is not one of the records `records` counts.
        records_rejected = sum(r.scope not in ("object", "request") for r in rejected)
        self.ledger.add(
            ObjectEntry(
                source=self.source.name,
                kind=self.source.kind,
                object_key=obj.info.key,
                object_version=obj.info.version,
                object_size=obj.info.size,
                upload_date=day,
                status="skipped" if content.skipped else "rejected" if content.unreadable else "read",
                reason=content.skipped or content.unreadable,
                records=content.records,
                records_rejected=records_rejected,
                records_duplicate=content.duplicates,
                run_id=self.run_id,
                imported_at=utc_now(),
            )
        )
        write_records(
            self.store,
            source=self.source.name,
            upload_day=day,
            object_key=obj.info.key,
            object_version=obj.info.version,
            records=rejected,
            run_id=self.run_id,
            at=utc_now(),
            existing=self.quarantined,
        )
        self.outcome.objects += 1
        self.outcome.objects_rejected += bool(content.unreadable)
        self.outcome.records += content.records
        self.outcome.records_duplicate += content.duplicates
        self.outcome.records_rejected += records_rejected

    def _forget(self, days: Sequence[dt.date]) -> None:
        """An explicit re-import: forget the days' objects and remove the canonical files they produced.

        A file can also hold traces of objects uploaded on other days (one run reads several days); those
        objects are forgotten too, so no trace is lost with the file: they are read again with the days."""
        for entry in self.ledger.forget_with_outputs(self.source.name, days):
            for key in entry.outputs:
                if key not in self.outcome.removed and self.store.exists(key):
                    for trace_id in self.store.read_parquet(key)["trace_id"].to_list():
                        self.released.pop(trace_id, None)  # read again, its spans are not late
                    self.store.delete(key)
                    self.outcome.removed.append(key)


def _span_records(
    scope: Literal["span", "trace"], reason: str, spans: pl.DataFrame, *, distinct: bool
) -> list[QuarantineRecord]:
    """A record per span of one trace (per distinct span id when `distinct`, in arrival order), then one per
    log record joined to them: what goes to quarantine with a trace, so every record read is counted."""
    rows = spans.select("trace_id", "span_id", pl.col("log_records").fill_null(0)).rows()
    records = [
        QuarantineRecord(scope, reason, trace_id=trace_id, span_id=span_id)
        for trace_id, span_id in (
            dict.fromkeys((t, s) for t, s, _ in rows) if distinct else ((t, s) for t, s, _ in rows)
        )
    ]
    records += [
        QuarantineRecord("log_record", reason, trace_id=trace_id, span_id=span_id)
        for trace_id, span_id, joined in rows
        for _ in range(joined)
    ]
    return records


def _sources(traces: pl.DataFrame, name: str) -> pl.DataFrame:
    """Each trace's metadata `source`: the source's name, its home object and upload times (ISO text, as
    `ReleasedTrace.source_metadata` writes them)."""
    times = pl.concat([traces["first_uploaded"], traces["last_new_uploaded"]]).unique().drop_nulls()
    iso = pl.DataFrame({"_at": times, "_iso": [t.isoformat() for t in times.to_list()]})

    def text(column: str) -> pl.Expr:
        return pl.col(column).replace_strict(iso["_at"], iso["_iso"], return_dtype=pl.String())

    return traces.select(
        "trace_id",
        pl.lit(name, pl.String()).alias("name"),
        "home",
        text("first_uploaded").alias("first_uploaded"),
        text("last_new_uploaded").alias("last_uploaded"),
    )
