"""Check the new files of one date: row checks per file, duplicates across files, quarantine records.

Each file is read (only the columns the suite reads, plus those a reducer needs when one is given), checked and
reduced to the reducer's part by a per-file step (`file_checks`) that the caller's `PartMap` runs (threads in
a library call, the flow's task runner in a nightly). The date keeps only the hashes of the trace ids of rows
that passed; duplicates across files and against earlier ingests are then found over those hashes
(`duplicates`: in memory while they fit its budget, a range of the hash space at a time through the store past
it), the few ids whose hash repeats read again and compared exactly, so the cost stays linear in the number of
rows whatever the number of files, and a second per-file step settles each file.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from tracewatch.hash_spill import Spill
from tracewatch.ingest import quarantine
from tracewatch.ingest.duplicates import DUPLICATE_REASON, HASHES_MAX_ROWS, find_duplicates, scratch_name
from tracewatch.ingest.file_checks import (
    NO_HASHES,
    DateFiles,
    FileCheck,
    FileOutcome,
    Settle,
    SettledFile,
    check_file,
    portable_suite,
    settle_file,
)
from tracewatch.ingest.ledger import Ledger
from tracewatch.ingest.reducer import AcceptedRowsReducer, Part
from tracewatch.part_map import PartMap
from tracewatch.store import ObjectInfo, Store
from tracewatch.validation import Suite

READ_AHEAD = 8
"""Trace files read and checked at once by `in_threads`."""

T = TypeVar("T")
R = TypeVar("R")


def in_threads(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
    """A `PartMap` of `READ_AHEAD` threads in this process, results in the items' order: enough files in flight
    to hide the S3 round trips and keep both cores busy (polars releases the GIL while it decodes and checks),
    and each step returns a small part, so memory stays bounded on a day of many files."""
    with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:
        return list(pool.map(step, items))


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
    part_max_rows: int | None = None,
    part_map: PartMap = in_threads,
    hashes_max_rows: int = HASHES_MAX_ROWS,
) -> CheckedDate[Part]:
    """Check the new files of `day`, write their quarantine records, and say what became of each.

    With a `reducer`, the accepted rows' part comes back too, made per file from the columns read for the
    checks, so the stage that wants it need not read the files again; none when a readable file has more
    accepted rows than `part_max_rows` (the date is then read again by that stage). The per-file steps run
    through `part_map`; the ledger and the duplicate check stay here.
    """
    spill = Spill.under(store, scratch_name(day), hashes_max_rows, len(objects))  # past it through the store
    files = DateFiles(store, day, portable_suite(suite), run_id, reducer, part_max_rows, spill)
    with ThreadPoolExecutor(max_workers=1) as side:
        # The date's existing records, listed while the files are read: only a clean file's old record
        # matters (it is deleted), and nothing this run writes is one.
        listed = side.submit(quarantine.record_keys, store, day)
        checked = part_map(functools.partial(check_file, files), objects)
        stale = listed.result()
    readable = [c for c in checked if isinstance(c, FileCheck)]
    flagged = find_duplicates(
        store, ledger, day, readable, spill=spill, part_map=part_map, max_rows=hashes_max_rows
    )
    # The ids are done with, and a part travels to settle only when rows were flagged since (it is made
    # again there): a settle sent to a worker process carries the file's reasons, not its 100,000 ids
    # (pickled for 100 files at once, they took the flow's process past 2 GB at 10,000,000 traces on Dask).
    kept = {i: c.part for i, c in enumerate(readable) if i not in flagged}
    settles = [
        Settle(_light(c), flagged.get(i), quarantine.quarantine_key(day, c.obj.key) in stale)
        for i, c in enumerate(readable)
    ]
    early: list[SettledFile[Part] | None] = [c if isinstance(c, SettledFile) else None for c in checked]
    del readable, checked
    settled = part_map(functools.partial(settle_file, files), settles) if settles else []
    del settles
    settled = [replace(s, part=kept[i]) if i in kept else s for i, s in enumerate(settled)]
    ordered = iter(settled)
    in_order = [c if c is not None else next(ordered) for c in early]
    part = None
    if reducer is not None and all(s.part is not None for s in settled):  # every readable file's part
        part = reducer.combine([s.part for s in in_order if s.part is not None])
    return CheckedDate(files=[s.outcome for s in in_order], part=part)


def _light(check: FileCheck[Part]) -> FileCheck[Part]:
    """A checked file as settle needs it: without its passed ids' hashes and its part."""
    return replace(check, passed_hashes=NO_HASHES, part=None)


__all__ = ["DUPLICATE_REASON", "CheckedDate", "FileOutcome", "check_date", "in_threads"]
