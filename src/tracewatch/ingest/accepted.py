"""Accepted traces of a date: read back from their source files, minus the rows that went to quarantine.

Ingest never copies accepted rows anywhere; the ledger says which files were ingested and the quarantine
records say which of their rows were not accepted, so every later step reads the same accepted set.
"""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from tracewatch.frame_memory import owned
from tracewatch.ingest import quarantine
from tracewatch.ingest.feedback_overlay import with_late_feedback
from tracewatch.ingest.ledger import Ledger, load_ledger
from tracewatch.store import Store
from tracewatch.traces import ROW_NR, TRACE_SCHEMA, RejectedFile, TraceFile, read_trace_file

log = logging.getLogger(__name__)

_PATH = "_source_uri"
READ_THREADS = 4
"""Files read at once: hides the per-object round trips to S3 while polars decodes."""


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
    The `feedback` column includes the late feedback attached to the date's traces (`feedback_overlay`).
    """
    if "feedback" not in columns:
        return _scan(store, day, columns, ledger, exclude, max_rows_per_file)
    read = columns if "trace_id" in columns else (*columns, "trace_id")
    frame = _scan(store, day, read, ledger, exclude, max_rows_per_file)
    return with_late_feedback(store, day, frame).select(columns)


@dataclass(frozen=True)
class AcceptedFile:
    """One ingested file of a date, as a per-file step reads its accepted rows (`read_accepted_file`): its key,
    the rows the ledger says it accepted, and the numbers of its rows in quarantine."""

    day: dt.date
    key: str
    rows_accepted: int
    quarantined: tuple[int, ...]


def accepted_files(store: Store, day: dt.date, ledger: Ledger | None = None) -> list[AcceptedFile]:
    """The date's files with accepted rows, in the order `scan_accepted` reads them (so the parts of a stage
    mapped over them combine in the whole day's row order)."""
    ledger = ledger or load_ledger(store)
    entries = ledger.for_date(day).filter(pl.col("status") != "rejected")
    rejected_rows = _quarantined_rows(store, day, entries) if entries.height else None
    out = []
    for key, accepted in entries.select("source_key", "rows_accepted").iter_rows():
        rows: tuple[int, ...] = ()
        if rejected_rows is not None and rejected_rows.height:
            mine = rejected_rows.filter(pl.col("source_key") == key).get_column("row_nr")
            rows = tuple(mine.sort().to_list())
        out.append(AcceptedFile(day, key, int(accepted or 0), rows))
    return out


def read_accepted_file(store: Store, file: AcceptedFile, columns: tuple[str, ...]) -> pl.DataFrame:
    """One file's accepted rows (only `columns`), as `scan_accepted` has them in the whole day: quarantined rows
    left out, late feedback merged into `feedback`. A file that cannot be read now has no rows (with a warning,
    as `scan_accepted` skips it)."""
    read_columns = columns if "feedback" not in columns or "trace_id" in columns else (*columns, "trace_id")
    read = read_trace_file(store, file.key, read_columns)
    if isinstance(read, RejectedFile):
        log.warning("%s was ingested but cannot be read now: %s", read.key, read.reason)
        return pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in columns})
    dropped = pl.DataFrame(
        {"source_key": [file.key] * len(file.quarantined), "row_nr": list(file.quarantined)},
        schema={"source_key": pl.String(), "row_nr": pl.Int64()},
    )
    frame = _accepted_rows(read, dropped, None)
    if "feedback" in columns:
        frame = with_late_feedback(store, file.day, frame)
    return frame.select(columns)


def _scan(
    store: Store,
    day: dt.date,
    columns: tuple[str, ...],
    ledger: Ledger | None,
    exclude: frozenset[str],
    max_rows_per_file: int | None,
) -> pl.DataFrame:
    ledger = ledger or load_ledger(store)
    entries = ledger.for_date(day).filter(
        (pl.col("status") != "rejected") & ~pl.col("source_key").is_in(sorted(exclude))
    )
    keys = entries.get_column("source_key").to_list()
    if not keys:  # e.g. ingest asking for the earlier files of a date it reads whole: no quarantine to list
        return pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in columns})
    rejected_rows = _quarantined_rows(store, day, entries)
    if max_rows_per_file is None:
        together = _read_together(store, keys, columns, rejected_rows)
        if together is not None:
            return together

    def accepted(key: str) -> pl.DataFrame | RejectedFile:
        # Cut to the file's accepted rows (and sample) in the reading thread: only READ_THREADS whole files
        # are ever in memory, whatever the day's size.
        read = read_trace_file(store, key, columns)
        return (
            read if isinstance(read, RejectedFile) else _accepted_rows(read, rejected_rows, max_rows_per_file)
        )

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        reads = list(pool.map(accepted, keys))
    frames = []
    for read in reads:
        if isinstance(read, RejectedFile):
            log.warning("%s was ingested but cannot be read now: %s", read.key, read.reason)
        else:
            frames.append(read)
    if not frames:
        return pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in columns})
    return pl.concat(frames)


def _quarantined_rows(store: Store, day: dt.date, entries: pl.DataFrame) -> pl.DataFrame:
    """`source_key` and `row_nr` of the date's quarantined rows. The ledger counts them per file, so a date
    whose files quarantined nothing costs no listing of the quarantine (nor a wait for the S3 client).

    This relies on ingest's invariant: a file has a row record in the quarantine exactly when its ledger entry
    counts quarantined rows (`file_checks.settle_file` writes or deletes the record, then the ledger is saved with
    the count; reprocessing clears both). A null count reads the quarantine."""
    counted = entries.get_column("rows_quarantined")
    if counted.null_count() == 0 and counted.sum() == 0:
        return pl.DataFrame(schema={"source_key": pl.String(), "row_nr": pl.Int64()})
    return quarantine.read_records(store, day, ["source_key", "row_nr"]).drop_nulls("row_nr")


def _accepted_rows(read: TraceFile, rejected_rows: pl.DataFrame, max_rows: int | None) -> pl.DataFrame:
    drop = rejected_rows.filter(pl.col("source_key") == read.key).select(pl.col("row_nr").alias(ROW_NR))
    kept = read.frame.join(drop, on=ROW_NR, how="anti", maintain_order="left") if drop.height else read.frame
    if max_rows is not None and kept.height > max_rows:
        # its own copy: the sample would keep the whole file's texts alive (`frame_memory`)
        return owned(kept.sample(n=max_rows, seed=0).sort(ROW_NR).drop(ROW_NR))
    return kept.drop(ROW_NR)


def _read_together(
    store: Store, keys: list[str], columns: tuple[str, ...], rejected_rows: pl.DataFrame
) -> pl.DataFrame | None:
    """All files in one polars scan (parallel across files and columns, no per-file round trips), or None when
    a file does not store `columns` with their canonical types, or cannot be read now: the per-file reader then
    converts what it can and says what it cannot."""
    uris = {store.uri(key): key for key in keys}
    drop = rejected_rows.filter(pl.col("source_key").is_in(keys))
    per_file = drop.height > 0  # the quarantine points at rows by their position in their file
    scan = pl.scan_parquet(
        list(uris),
        storage_options=store.storage_options() or None,
        row_index_name=ROW_NR if per_file else None,
        include_file_paths=_PATH if per_file else None,
    )
    try:
        frame = scan.select(*columns, *((ROW_NR, _PATH) if per_file else ())).collect()
    except (pl.exceptions.PolarsError, OSError):
        return None
    if any(frame.schema[c] != TRACE_SCHEMA[c] for c in columns):
        return None
    if not per_file:
        return frame
    first_row = pl.col(ROW_NR).min().over(_PATH)
    located = frame.with_columns(
        pl.col(_PATH).replace_strict(uris).alias("source_key"), (pl.col(ROW_NR) - first_row).cast(pl.Int64)
    )
    quarantined = drop.select("source_key", pl.col("row_nr").cast(pl.Int64).alias(ROW_NR))
    return located.join(quarantined, on=["source_key", ROW_NR], how="anti", maintain_order="left").select(
        columns
    )
