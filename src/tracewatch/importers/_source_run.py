"""One source through one import run: read its new objects, turn spans into facts, wait for whole traces,
assemble them into canonical rows, write the rows and account for everything in the ledger and quarantine."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import polars as pl

from tracewatch.hashing import key64
from tracewatch.importers._assemble import IncompletePolicy, Pricer, assemble_trace
from tracewatch.importers._exports import FeedbackEvent
from tracewatch.importers._ledger import ImportLedger, ObjectEntry
from tracewatch.importers._object_reads import ObjectRead, read_objects, span_facts
from tracewatch.importers._quarantine import QuarantineRecord, existing_keys, write_records
from tracewatch.importers._readers import reader_for
from tracewatch.importers._reading import ObjectContent, SourceObject
from tracewatch.importers._results import TRACES_PREFIX, SourceImport
from tracewatch.importers._rows_frame import trace_rows_frame
from tracewatch.importers._sources import SourceConfig
from tracewatch.importers._spans import Span, SpanEvent, SpanFacts
from tracewatch.importers._trace_buffer import ReleasedTrace, TraceBuffer
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
        self.rows: list[tuple[str, dict[str, Any]]] = []  # (home object key, canonical row)
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
        buffer = TraceBuffer.from_frame(pending, grace=dt.timedelta(minutes=self.source.grace_minutes))
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

    def _read_object(self, read: ObjectRead, buffer: TraceBuffer) -> None:
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
        if not (read.items or content.facts):
            return  # a log object's time is not its spans': it must not move the grace clock
        facts = [
            *content.facts,
            *(item if isinstance(item, SpanFacts) else self._facts_of(item) for item in read.items),
        ]
        # Traces quiet for the grace window before this upload are whole: its spans of them are late,
        # whether or not another object happened to come in between.
        self._assemble(buffer.release(obj.uploaded))
        buffer.add(facts, uploaded=obj.uploaded, home=obj.info.key)
        self._assemble(buffer.release(obj.uploaded))
        if len(self.rows) >= ROWS_PER_FILE:
            self._write_rows()

    # ---- spans to facts to rows ----------------------------------------------------------------------------

    def _facts_of(self, span: Span) -> SpanFacts:
        joined = self.events.pop((span.trace_id, span.span_id), None)
        events = [event for _, event in joined] if joined else None
        return span_facts(span, events, self.source.project.from_attribute)

    def _assemble(self, released: list[ReleasedTrace]) -> None:
        for trace in released:
            home = trace.home or ""
            entry = self.ledger.entry(self.source.name, home)
            if trace.late:
                self.trace_quarantine[home] += [
                    QuarantineRecord("span", trace.late_reason, trace_id=f.trace_id, span_id=f.span_id)
                    for f in trace.facts
                ]
                self.trace_quarantine[home] += _joined_log_records(trace.facts, trace.late_reason)
                self._count(entry, "records_late", len(trace.facts))
                continue
            self.released[trace.trace_id] = trace.last_new_uploaded
            assembled = assemble_trace(
                trace.facts,
                project=None,
                pricer=self.pricer,
                incomplete=self.policy,
                source={"name": self.source.name, **trace.source_metadata()},
            )
            self._count(entry, "records_duplicate", assembled.duplicates)
            if assembled.row is None:
                skipped = assembled.code == "no_llm_call"
                # One record per distinct span, so the spans of a trace that is not a row are counted too.
                span_ids = dict.fromkeys(f.span_id for f in trace.facts)
                self.trace_quarantine[home] += [
                    QuarantineRecord(
                        "trace", assembled.reason or "", trace_id=trace.trace_id, span_id=span_id
                    )
                    for span_id in span_ids
                ]
                self.trace_quarantine[home] += _joined_log_records(trace.facts, assembled.reason or "")
                self._count(entry, "traces_skipped" if skipped else "traces_quarantined", 1)
                continue
            row = assembled.row
            row["project"] = self.source.project.project_of(row.get("project"))
            self.rows.append((home, row))
            self._count(entry, "traces_incomplete" if assembled.incomplete else "traces", 1)

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
        frame = trace_rows_frame([row for _, row in self.rows]).with_columns(
            pl.Series("_home", [home for home, _ in self.rows])
        )
        self.rows.clear()
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


def _joined_log_records(facts: list[SpanFacts], reason: str) -> list[QuarantineRecord]:
    """The log records joined to spans that are quarantined go with them, one record each, so they are counted."""
    return [
        QuarantineRecord("log_record", reason, trace_id=f.trace_id, span_id=f.span_id)
        for f in facts
        for _ in range(f.log_records)
    ]
