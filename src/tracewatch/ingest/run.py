"""Ingest new trace files: read, validate, quarantine, and record them in the ledger.

Every row of every file ends up in exactly one place: accepted (readable from the source file through
`scan_accepted`) or in quarantine with its reasons. Source files are never modified or copied.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import polars as pl

from tracewatch.ingest import quarantine
from tracewatch.ingest.ledger import Ledger, LedgerEntry, load_ledger
from tracewatch.runs import new_run_id, utc_now
from tracewatch.store import ObjectInfo, Store
from tracewatch.traces.reader import ROW_NR, RejectedFile, TraceFile, read_trace_file
from tracewatch.traces.schema import TRACE_SCHEMA
from tracewatch.validation.rowchecks import failing_rows
from tracewatch.validation.suite import Suite, load_suite, trace_suite_path

log = logging.getLogger(__name__)

TRACES_PREFIX = "traces"


@dataclass(frozen=True)
class FileOutcome:
    """What became of one source file."""

    key: str
    date: dt.date
    status: str
    rows_read: int | None
    rows_accepted: int
    rows_quarantined: int
    reason: str | None = None


@dataclass
class IngestResult:
    """The outcome of one ingest run: per file, and the dates whose reports must be (re)built."""

    run_id: str
    files: list[FileOutcome] = field(default_factory=list)

    @property
    def dates_touched(self) -> list[dt.date]:
        return sorted({f.date for f in self.files})

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read or 0 for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_rejected(self) -> int:
        return sum(f.status == "rejected" for f in self.files)


def ingest_new_traces(
    store: Store,
    *,
    up_to: dt.date | None = None,
    reprocess: tuple[dt.date, ...] = (),
    suite: Suite | None = None,
    run_id: str | None = None,
) -> IngestResult:
    """Ingest every trace file not yet in the ledger, in partitions up to `up_to` (inclusive).

    Dates in `reprocess` are forgotten first (ledger entries and quarantine records) and ingested again.
    """
    suite = suite or load_suite(trace_suite_path())
    run_id = run_id or new_run_id("ingest")
    ledger = load_ledger(store)
    if reprocess:
        ledger.forget_dates(list(reprocess))
        for day in reprocess:
            store.delete(f"{quarantine.QUARANTINE_PREFIX}/date={day.isoformat()}")
    result = IngestResult(run_id=run_id)
    for day, objects in _new_files(store, ledger, up_to).items():
        entries = _ingest_date(store, ledger, day, objects, suite, run_id, result)
        ledger.record(entries)
        ledger.save(store)
        log.info("ingested %d new file(s) for %s", len(objects), day)
    return result


def scan_accepted(
    store: Store,
    day: dt.date,
    columns: tuple[str, ...],
    ledger: Ledger | None = None,
    exclude: frozenset[str] = frozenset(),
    max_rows_per_file: int | None = None,
) -> pl.DataFrame:
    """The accepted traces of a date (only `columns`), read from their source files minus quarantined rows.

    Files in `exclude` are left out (the ingest step uses it for files it is about to read again).
    `max_rows_per_file` keeps a deterministic sample of each file, so a sample of a huge day stays small.
    """
    ledger = ledger or load_ledger(store)
    entries = ledger.for_date(day).filter(
        (pl.col("status") != "rejected") & ~pl.col("source_key").is_in(sorted(exclude))
    )
    rejected_rows = quarantine.read_records(store, day, ["source_key", "row_nr"]).drop_nulls("row_nr")
    frames = []
    for key in entries.get_column("source_key").to_list():
        read = read_trace_file(store, key, columns)
        if isinstance(read, RejectedFile):
            log.warning("%s was ingested but cannot be read now: %s", key, read.reason)
            continue
        drop = rejected_rows.filter(pl.col("source_key") == key).select(pl.col("row_nr").alias(ROW_NR))
        kept = read.frame.join(drop, on=ROW_NR, how="anti")
        if max_rows_per_file is not None and kept.height > max_rows_per_file:
            kept = kept.sample(n=max_rows_per_file, seed=0).sort(ROW_NR)
        frames.append(kept.drop(ROW_NR))
    if not frames:
        return pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in columns})
    return pl.concat(frames)


def _new_files(store: Store, ledger: Ledger, up_to: dt.date | None) -> dict[dt.date, list[ObjectInfo]]:
    known = ledger.known_versions()
    found: dict[dt.date, list[ObjectInfo]] = {}
    for value in store.partitions(TRACES_PREFIX):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            log.warning("ignoring partition traces/date=%s: not a YYYY-MM-DD date", value)
            continue
        if up_to and day > up_to:
            continue
        new = [
            o
            for o in store.list_objects(f"{TRACES_PREFIX}/date={value}", suffix=".parquet")
            if (o.key, o.version) not in known
        ]
        if new:
            found[day] = new
    return found


def _ingest_date(
    store: Store,
    ledger: Ledger,
    day: dt.date,
    objects: list[ObjectInfo],
    suite: Suite,
    run_id: str,
    result: IngestResult,
) -> list[LedgerEntry]:
    again = frozenset(o.key for o in objects)
    earlier = scan_accepted(store, day, ("trace_id",), ledger, exclude=again)
    seen_ids = _SeenIds(earlier.get_column("trace_id").drop_nulls())
    entries = []
    for obj in objects:
        at = utc_now()
        read = read_trace_file(store, obj.key)
        if isinstance(read, RejectedFile):
            outcome = _reject_file(store, day, obj, read, run_id, at)
        else:
            outcome = _ingest_file(store, day, obj, read, suite, seen_ids, run_id, at)
        result.files.append(outcome)
        entries.append(
            LedgerEntry(
                source_key=obj.key,
                source_version=obj.version,
                source_size=obj.size,
                date=day,
                status=outcome.status,
                reason=outcome.reason,
                rows_read=outcome.rows_read,
                rows_accepted=outcome.rows_accepted,
                rows_quarantined=outcome.rows_quarantined,
                run_id=run_id,
                ingested_at=at,
            )
        )
    return entries


def _reject_file(
    store: Store, day: dt.date, obj: ObjectInfo, read: RejectedFile, run_id: str, at: dt.datetime
) -> FileOutcome:
    log.warning("quarantining whole file %s: %s", obj.key, read.reason)
    store.write_bytes(quarantine.raw_copy_key(day, obj.key), store.read_bytes(obj.key))
    record = quarantine.file_record(
        day=day,
        source_key=obj.key,
        source_version=obj.version,
        reason=read.reason,
        rows=read.rows,
        run_id=run_id,
        at=at,
    )
    quarantine.write_records(store, day, obj.key, record)
    return FileOutcome(obj.key, day, "rejected", read.rows, 0, read.rows or 0, read.reason)


def _ingest_file(
    store: Store,
    day: dt.date,
    obj: ObjectInfo,
    read: TraceFile,
    suite: Suite,
    seen_ids: _SeenIds,
    run_id: str,
    at: dt.datetime,
) -> FileOutcome:
    reasons = _row_reasons(read, suite, day, seen_ids)
    rejected = read.frame.join(reasons, on=ROW_NR, how="inner")
    records = quarantine.row_records(
        rejected, day=day, source_key=obj.key, source_version=obj.version, run_id=run_id, at=at
    )
    quarantine.write_records(store, day, obj.key, records)
    accepted_ids = read.frame.join(reasons, on=ROW_NR, how="anti").get_column("trace_id")
    seen_ids.add(accepted_ids)
    status = "accepted" if rejected.height == 0 else "partial"
    return FileOutcome(obj.key, day, status, read.rows, read.rows - rejected.height, rejected.height)


class _SeenIds:
    """Trace ids already accepted for a date, kept as polars columns (a Python set of a million ids is slow)."""

    def __init__(self, ids: pl.Series) -> None:
        self._parts = [ids] if ids.len() else []

    def add(self, ids: pl.Series) -> None:
        if ids.len():
            self._parts.append(ids.drop_nulls())

    def __bool__(self) -> bool:
        return bool(self._parts)

    def contains(self) -> pl.Expr:
        return pl.col("trace_id").is_in(pl.concat(self._parts).implode())


def _row_reasons(read: TraceFile, suite: Suite, day: dt.date, seen_ids: _SeenIds) -> pl.DataFrame:
    """One row per rejected row: `_row_nr` and every reason it was rejected for."""
    parts = [failing_rows(read.frame, suite, day=day).select(pl.col("row_nr").alias(ROW_NR), "reasons")]
    if read.row_problems:
        parts.append(
            pl.DataFrame(
                {ROW_NR: list(read.row_problems), "reasons": list(read.row_problems.values())},
                schema={ROW_NR: pl.Int64, "reasons": pl.List(pl.String)},
            )
        )
    if seen_ids:
        earlier = read.frame.filter(seen_ids.contains())
        parts.append(
            earlier.select(
                ROW_NR,
                reasons=pl.concat_list(
                    pl.lit("duplicate trace_id: already ingested from an earlier file of this date")
                ),
            )
        )
    combined = pl.concat([p.cast({ROW_NR: pl.Int64}) for p in parts])
    return combined.explode("reasons").group_by(ROW_NR).agg(pl.col("reasons").drop_nulls()).sort(ROW_NR)
