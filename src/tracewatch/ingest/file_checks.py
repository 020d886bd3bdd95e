"""The per-file steps of ingest: check one file, then settle it (write its quarantine record, make its part).

Each step works on one source file and returns a small result (reasons of the rejected rows, the hashes of the
trace ids that passed, the reducer's part), so a date's files can be checked on any worker (a thread, a process, a Dask
worker: `tracewatch.part_map`) while the caller keeps the ledger and the duplicate check across files. Both steps
are idempotent: a retried or rescheduled step rewrites the same quarantine objects (keyed by file), with the same
contents (the check's time and the run id travel with the result), and the ledger records nothing until the
caller has every file's outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Any, Generic

import numpy as np
import polars as pl

from tracewatch.hash_spill import HashRows, Spill
from tracewatch.hashing import stable_hash64
from tracewatch.ingest import quarantine
from tracewatch.ingest.reducer import AcceptedRowsReducer, Part
from tracewatch.runs import utc_now
from tracewatch.store import ObjectInfo, Store
from tracewatch.traces import ROW_NR, TRACE_SCHEMA, RejectedFile, TraceFile, read_trace_file
from tracewatch.validation import Suite, failing_rows, load_suite

log = logging.getLogger(__name__)

ID_HASH = "id_hash"
"""The column of a passed row's trace id hash (`tracewatch.hashing.stable_hash64`: the same on every worker)."""
NO_HASHES = HashRows.inline(pl.DataFrame(schema={ROW_NR: pl.Int64(), ID_HASH: pl.UInt64()}), ID_HASH)
"""A checked file's hashes once the duplicate check is done with them."""


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


class PortableSuite(Suite):
    """A suite that travels to a worker process as its GX JSON form (a parsed suite holds read-only mappings,
    which do not pickle); the worker parses it back to an equal suite."""

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return (_suite_from_gx, (self.to_gx_dict(),))


def portable_suite(suite: Suite) -> PortableSuite:
    """`suite` as a `PortableSuite` (the same expectations)."""
    if isinstance(suite, PortableSuite):
        return suite
    return PortableSuite(suite.name, suite.expectations, suite.meta)


def _suite_from_gx(raw: dict[str, Any]) -> PortableSuite:
    return portable_suite(load_suite(raw))


@dataclass(frozen=True)
class DateFiles(Generic[Part]):
    """What every per-file step of one date shares: where, which date, which checks, which run and reducer."""

    store: Store
    day: dt.date
    suite: Suite
    run_id: str
    reducer: AcceptedRowsReducer[Part] | None
    part_max_rows: int | None = None
    """A file with more accepted rows than this gets no part (its share of the reducer's `max_rows`)."""
    spill: Spill | None = None
    """Where a file with more passed rows than its share of the duplicate check's budget writes their ids'
    hashes (`duplicates`); None: they always come back."""

    def part_of(self, accepted: pl.DataFrame) -> Part | None:
        """The reducer's part of a file's accepted rows; None without a reducer or past `part_max_rows`."""
        if self.reducer is None or (self.part_max_rows is not None and accepted.height > self.part_max_rows):
            return None
        return self.reducer.reduce(accepted.select(self.reducer.columns))

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns read: those the suite checks, plus those the reducer needs."""
        extra = self.reducer.columns if self.reducer else ()
        return tuple(dict.fromkeys((*self.suite.columns, *extra)))


@dataclass(frozen=True)
class FileCheck(Generic[Part]):
    """A readable file after the row checks: the reasons per rejected row (`_row_nr`, `reasons`), the hashes of
    the trace ids of the rows that passed (`_row_nr`, `id_hash`, for the duplicate check across files: 16 bytes a
    row where the ids took about 50, which at 10,000,000 traces was 500 MB held in the caller's process; in a
    scratch object past the file's share of the check's budget) and their part."""

    obj: ObjectInfo
    at: dt.datetime
    rows: int
    reasons: pl.DataFrame
    passed_hashes: HashRows
    part: Part | None


@dataclass(frozen=True)
class Settle(Generic[Part]):
    """One checked file to settle: `flagged` are rows rejected since (duplicates of rows in other files, with
    their reasons) and `stale` says whether the file has a quarantine record from an earlier ingest."""

    checked: FileCheck[Part]
    flagged: pl.DataFrame | None
    stale: bool


@dataclass(frozen=True)
class SettledFile(Generic[Part]):
    """A file's outcome for the ledger and its part (None without a reducer, or for a file rejected whole)."""

    outcome: FileOutcome
    part: Part | None


def check_file(files: DateFiles[Part], obj: ObjectInfo) -> FileCheck[Part] | SettledFile[Part]:
    """Read and check one file. A readable one comes back as a `FileCheck` (its part made here, from the rows
    read for the checks, so no stage reads it again); one that cannot be used at all is quarantined whole here
    and comes back settled."""
    read = read_trace_file(files.store, obj.key, files.columns)
    at = utc_now()
    if isinstance(read, RejectedFile):
        return SettledFile(_reject_file(files, obj, read, at), None)
    reasons = _row_reasons(read, files.suite, files.day)
    keep = files.reducer.columns if files.reducer else ()
    passed = _without(read.frame.select(ROW_NR, "trace_id", *(c for c in keep if c != "trace_id")), reasons)
    part = files.part_of(passed)
    hashes = passed.select(
        ROW_NR, pl.Series(ID_HASH, stable_hash64(passed.get_column("trace_id")), pl.UInt64)
    )
    kept = (
        files.spill.keep(hashes, ID_HASH, f"new/{obj.key}")
        if files.spill
        else HashRows.inline(hashes, ID_HASH)
    )
    return FileCheck(obj, at, read.rows, reasons, kept, part)


def ids_of_rows(store: Store, obj: ObjectInfo, rows: pl.DataFrame) -> pl.DataFrame:
    """The trace ids of a checked file's `rows` (`_row_nr`, `id_hash`), read again (the check kept only their
    hashes): `_row_nr`, `trace_id`, in row order. A file that changed since its check (an id whose hash is not
    the one checked) stops the ingest, which is retried from the start."""
    read = read_trace_file(store, obj.key, ("trace_id",))
    found = None
    if isinstance(read, TraceFile):
        found = rows.join(read.frame.select(ROW_NR, "trace_id"), on=ROW_NR, how="left").sort(ROW_NR)
    if found is None or not np.array_equal(
        stable_hash64(found.get_column("trace_id")), found.get_column(ID_HASH).to_numpy()
    ):
        raise RuntimeError(
            f"{obj.key} changed during the ingest (its trace ids are not those it was checked with); the ingest "
            "is retried from the start"
        )
    return found.select(ROW_NR, "trace_id")


def settle_file(files: DateFiles[Part], settle: Settle[Part]) -> SettledFile[Part]:
    """Write the file's quarantine record (whole rows, all columns), or delete a stale one of a clean file, and
    say what became of it. Rows flagged after the check (a rare case) are taken out of its part by reading the
    reducer's columns again."""
    checked = settle.checked
    if settle.flagged is not None and settle.flagged.height:
        reasons = merge_reasons([checked.reasons, settle.flagged])
        checked = replace(checked, reasons=reasons, part=_part_without(files, checked.obj, reasons))
    obj, rejected_count = checked.obj, checked.reasons.height
    if rejected_count:
        whole = _whole_rows(files.store, obj.key, files.suite)
        rejected = whole.join(checked.reasons, on=ROW_NR, how="inner")
        records = quarantine.row_records(
            rejected,
            day=files.day,
            source_key=obj.key,
            source_version=obj.version,
            run_id=files.run_id,
            at=checked.at,
        )
        quarantine.write_records(files.store, files.day, obj.key, records)
    elif settle.stale:
        files.store.delete(quarantine.quarantine_key(files.day, obj.key))
    outcome = FileOutcome(
        key=obj.key,
        date=files.day,
        status="accepted" if rejected_count == 0 else "partial",
        rows_read=checked.rows,
        rows_accepted=checked.rows - rejected_count,
        rows_quarantined=rejected_count,
        version=obj.version,
        size=obj.size,
        checked_at=checked.at,
    )
    return SettledFile(outcome, checked.part)


def _part_without(files: DateFiles[Part], obj: ObjectInfo, reasons: pl.DataFrame) -> Part | None:
    """The part of the file's rows that have no reason, from the same columns the check read."""
    if files.reducer is None:
        return None
    read = read_trace_file(files.store, obj.key, files.columns)
    if isinstance(read, RejectedFile):
        raise RuntimeError(
            f"{obj.key} was readable when checked and is not now ({read.reason}); it changed during the ingest, "
            "which is retried from the start"
        )
    return files.part_of(_without(read.frame.select(ROW_NR, *files.reducer.columns), reasons).drop(ROW_NR))


def _without(frame: pl.DataFrame, reasons: pl.DataFrame) -> pl.DataFrame:
    """`frame` minus the rows that have reasons (no join at all on a clean file)."""
    return frame.join(reasons, on=ROW_NR, how="anti", maintain_order="left") if reasons.height else frame


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


def _reject_file(files: DateFiles[Part], obj: ObjectInfo, read: RejectedFile, at: dt.datetime) -> FileOutcome:
    log.warning("quarantining whole file %s: %s", obj.key, read.reason)
    store, day = files.store, files.day
    store.write_bytes(quarantine.raw_copy_key(day, obj.key), store.read_bytes(obj.key))
    record = quarantine.file_record(
        day=day,
        source_key=obj.key,
        source_version=obj.version,
        reason=read.reason,
        rows=read.rows,
        run_id=files.run_id,
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
    return merge_reasons(parts)


def merge_reasons(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Reason lists of the same rows from several checks, combined into one list per row."""
    combined = pl.concat([p.cast({ROW_NR: pl.Int64}) for p in parts])
    return combined.explode("reasons").group_by(ROW_NR).agg(pl.col("reasons").drop_nulls()).sort(ROW_NR)
