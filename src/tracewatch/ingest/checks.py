"""Check the new files of one date: row checks per file, duplicates across files, quarantine records.

Each file is read (only the columns the suite reads, plus those a reducer needs when one is given) and checked
in a worker thread, which also reduces its accepted rows to the reducer's parts; the date holds on to the trace
ids of rows that passed, and duplicates across files and against earlier ingests are then found in one pass
over those ids, so the cost stays linear in the number of rows whatever the number of files.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic

import polars as pl

from tracewatch.ingest import quarantine
from tracewatch.ingest.accepted import scan_accepted
from tracewatch.ingest.ledger import Ledger
from tracewatch.ingest.reducer import AcceptedRowsReducer, Part
from tracewatch.runs import utc_now
from tracewatch.store import ObjectInfo, Store
from tracewatch.traces import ROW_NR, TRACE_SCHEMA, RejectedFile, TraceFile, read_trace_file
from tracewatch.validation import Suite, failing_rows

log = logging.getLogger(__name__)

DUPLICATE_REASON = "duplicate trace_id: already ingested from an earlier file of this date"
READ_AHEAD = 8
"""Trace files being read and checked at once."""


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
    version: str = ""
    size: int = 0
    checked_at: dt.datetime | None = None


@dataclass(frozen=True)
class CheckedDate(Generic[Part]):
    """The outcome of every new file of a date, and (with a reducer) the part of its accepted rows."""

    files: list[FileOutcome]
    part: Part | None


def check_date(
    store: Store,
    ledger: Ledger,
    day: dt.date,
    objects: list[ObjectInfo],
    suite: Suite,
    *,
    run_id: str,
    reducer: AcceptedRowsReducer[Part] | None = None,
) -> CheckedDate[Part]:
    """Check the new files of `day`, write their quarantine records, and say what became of each.

    With a `reducer`, the accepted rows' part comes back too, made from the columns read for the checks in
    the same pass (per file, in its worker thread), so the stage that wants it need not read the files again,
    nor reduce a million rows on one thread.
    """
    columns = tuple(dict.fromkeys((*suite.columns, *(reducer.columns if reducer else ()))))

    def read_and_check(obj: ObjectInfo) -> _CheckedFile[Part] | RejectedFile:
        read = read_trace_file(store, obj.key, columns)
        return (
            read if isinstance(read, RejectedFile) else _check_file(obj, read, suite, day, utc_now(), reducer)
        )

    checked: list[_CheckedFile[Part] | FileOutcome] = []
    with ThreadPoolExecutor(max_workers=1) as side:
        # The date's existing records, listed while the files are read: only a clean file's old record
        # matters (it is deleted), and nothing this run writes is one.
        listed = side.submit(quarantine.record_keys, store, day)
        for obj, done in _in_threads(read_and_check, objects):
            if isinstance(done, RejectedFile):
                checked.append(_reject_file(store, day, obj, done, run_id, utc_now()))
            else:
                checked.append(done)
        stale = listed.result()
    readable: list[_CheckedFile[Part]] = [c for c in checked if isinstance(c, _CheckedFile)]
    _flag_duplicates(store, ledger, day, readable)
    outcomes = [
        c if isinstance(c, FileOutcome) else _settle_file(store, day, c, suite, run_id, stale)
        for c in checked
    ]
    part = reducer.combine([c.part for c in readable if c.part is not None]) if reducer else None
    return CheckedDate(files=outcomes, part=part)


def _in_threads(
    work: Callable[[ObjectInfo], _CheckedFile[Part] | RejectedFile], objects: list[ObjectInfo]
) -> Iterator[tuple[ObjectInfo, _CheckedFile[Part] | RejectedFile]]:
    """`work` (read and check a file) on each of `objects` in threads, the results yielded in order.

    Up to `READ_AHEAD` files are in flight at once: enough to hide the S3 round trips and to keep both cores
    busy (polars releases the GIL while it decodes and checks), few enough that memory stays bounded on a day
    of many files.
    """
    with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
        in_flight: deque[tuple[ObjectInfo, Future[_CheckedFile[Part] | RejectedFile]]] = deque()
        for obj in objects:
            in_flight.append((obj, pool.submit(work, obj)))
            if len(in_flight) == READ_AHEAD:
                ready, future = in_flight.popleft()
                yield ready, future.result()
        while in_flight:
            ready, future = in_flight.popleft()
            yield ready, future.result()


def _without(frame: pl.DataFrame, reasons: pl.DataFrame) -> pl.DataFrame:
    """`frame` minus the rows that have reasons (no join at all on a clean file)."""
    return frame.join(reasons, on=ROW_NR, how="anti", maintain_order="left") if reasons.height else frame


@dataclass
class _CheckedFile(Generic[Part]):
    """A readable file after the row checks: the reasons per rejected row and the ids of the rows that passed.

    `kept` are the rows that passed (`_row_nr` and, with a reducer, the columns it needs) and `part` those
    rows' part (None without a reducer); `drop_rows` takes out the rows rejected later, as duplicates of rows
    in other files.
    """

    obj: ObjectInfo
    at: dt.datetime
    rows: int
    reasons: pl.DataFrame
    passed_ids: pl.DataFrame
    kept: pl.DataFrame
    reducer: AcceptedRowsReducer[Part] | None
    part: Part | None

    def drop_rows(self, flagged: pl.DataFrame) -> None:
        """Reject more rows (`_row_nr`, `reasons`): a rare case, so the part is simply made again."""
        self.reasons = _merge_reasons([self.reasons, flagged])
        self.kept = _without(self.kept, flagged)
        if self.reducer is not None:
            self.part = self.reducer.reduce(self.kept.drop(ROW_NR))


def _check_file(
    obj: ObjectInfo,
    read: TraceFile,
    suite: Suite,
    day: dt.date,
    at: dt.datetime,
    reducer: AcceptedRowsReducer[Part] | None,
) -> _CheckedFile[Part]:
    reasons = _row_reasons(read, suite, day)
    keep = reducer.columns if reducer else ()
    passed = _without(read.frame.select(ROW_NR, "trace_id", *(c for c in keep if c != "trace_id")), reasons)
    kept = passed.select(ROW_NR, *keep)
    return _CheckedFile(
        obj=obj,
        at=at,
        rows=read.rows,
        reasons=reasons,
        passed_ids=passed.select(ROW_NR, "trace_id"),
        kept=kept,
        reducer=reducer,
        part=reducer.reduce(kept.drop(ROW_NR)) if reducer else None,
    )


def _flag_duplicates(store: Store, ledger: Ledger, day: dt.date, files: list[_CheckedFile[Part]]) -> None:
    """Reject a row whose trace id was accepted earlier: from an earlier ingest, or an earlier file now."""
    if not files:
        return
    again = frozenset(f.obj.key for f in files)
    earlier = scan_accepted(store, day, ("trace_id",), ledger, exclude=again)
    candidates = pl.concat(
        [
            earlier.select(pl.lit(-1).alias("file"), pl.lit(-1, pl.Int64).alias(ROW_NR), "trace_id"),
            *(f.passed_ids.select(pl.lit(i).alias("file"), ROW_NR, "trace_id") for i, f in enumerate(files)),
        ]
    )
    duplicates = _repeated_later(candidates).filter(pl.col("file") >= 0)
    for (index,), rows in duplicates.group_by("file"):
        checked = files[int(index)]  # type: ignore[call-overload]
        checked.drop_rows(rows.select(ROW_NR, reasons=pl.concat_list(pl.lit(DUPLICATE_REASON))))


def _repeated_later(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows whose trace id occurs on an earlier row: suspects by 64-bit hash, confirmed by value.

    Hashing first is several times faster than exact distinctness on a million strings; the suspects keep
    their order, so the exact check among them is still "seen on an earlier row".
    """
    hashes = frame.get_column("trace_id").hash()
    if hashes.n_unique() == hashes.len():
        return frame.clear()  # the usual case, found several times faster than by is_first_distinct
    repeated = hashes.filter(~hashes.is_first_distinct())
    if repeated.len() == 0:
        return frame.clear()
    suspects = frame.filter(hashes.is_in(repeated.implode()))
    return suspects.filter(~pl.col("trace_id").is_first_distinct())


def _settle_file(
    store: Store, day: dt.date, checked: _CheckedFile[Part], suite: Suite, run_id: str, stale: set[str]
) -> FileOutcome:
    """Write the file's quarantine record (whole rows, all columns) and say what became of it.

    `stale` are the date's existing record objects: a clean file deletes its old record only if it has one.
    """
    obj, rejected_count = checked.obj, checked.reasons.height
    if rejected_count:
        rejected = _whole_rows(store, obj.key, suite).join(checked.reasons, on=ROW_NR, how="inner")
        records = quarantine.row_records(
            rejected, day=day, source_key=obj.key, source_version=obj.version, run_id=run_id, at=checked.at
        )
        quarantine.write_records(store, day, obj.key, records)
    elif quarantine.quarantine_key(day, obj.key) in stale:
        store.delete(quarantine.quarantine_key(day, obj.key))
    return FileOutcome(
        key=obj.key,
        date=day,
        status="accepted" if rejected_count == 0 else "partial",
        rows_read=checked.rows,
        rows_accepted=checked.rows - rejected_count,
        rows_quarantined=rejected_count,
        version=obj.version,
        size=obj.size,
        checked_at=checked.at,
    )


def _whole_rows(store: Store, key: str, suite: Suite) -> pl.DataFrame:
    """Every column of a file, for its quarantine record; the checked columns if the rest cannot be read."""
    read = read_trace_file(store, key)
    if isinstance(read, TraceFile):
        return read.frame
    log.warning("%s: only the checked columns go to quarantine: %s", key, read.reason)
    narrow = read_trace_file(store, key, suite.columns)
    assert isinstance(narrow, TraceFile), "the file was readable a moment ago"
    return narrow.frame.with_columns(
        pl.lit(None, dtype=t).alias(c) for c, t in TRACE_SCHEMA.items() if c not in narrow.frame.columns
    )


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
    return FileOutcome(
        key=obj.key,
        date=day,
        status="rejected",
        rows_read=read.rows,
        rows_accepted=0,
        rows_quarantined=read.rows or 0,
        reason=read.reason,
        version=obj.version,
        size=obj.size,
        checked_at=at,
    )


def _row_reasons(read: TraceFile, suite: Suite, day: dt.date) -> pl.DataFrame:
    """One row per rejected row: `_row_nr` and every reason it was rejected for."""
    parts = [failing_rows(read.frame, suite, day=day).select(pl.col("row_nr").alias(ROW_NR), "reasons")]
    if read.row_problems:
        parts.append(
            pl.DataFrame(
                {ROW_NR: list(read.row_problems), "reasons": list(read.row_problems.values())},
                schema={ROW_NR: pl.Int64, "reasons": pl.List(pl.String)},
            )
        )
    return _merge_reasons(parts)


def _merge_reasons(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Reason lists of the same rows from several checks, combined into one list per row."""
    combined = pl.concat([p.cast({ROW_NR: pl.Int64}) for p in parts])
    return combined.explode("reasons").group_by(ROW_NR).agg(pl.col("reasons").drop_nulls()).sort(ROW_NR)
