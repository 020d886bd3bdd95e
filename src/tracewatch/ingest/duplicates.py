"""Duplicate trace ids across a date's files, in memory bounded by the largest file, not by the date.

A row whose trace id was accepted earlier (from an earlier ingest of the date, or an earlier file now) is a
duplicate. Only 64-bit hashes of the ids are put together (`tracewatch.hashing.stable_hash64`); the ids of the few
rows whose hash repeats are read again and compared exactly, in order, so a hash collision is never taken for a
duplicate and "seen on an earlier row" still holds.

While a date's hashes fit `HASHES_MAX_ROWS`, the checked files bring theirs back (16 bytes a row) and one pass
over all of them finds the repeats. Past it, a file over its share of the budget writes its hashes, sorted, to a
scratch object of the store instead (`SCRATCH_PREFIX`, deleted when the date is settled), the earlier files'
hashes are written the same way by a step per file, and the repeats are found one range of the hash space at a
time (`_buckets` ranges of at most about `HASHES_MAX_ROWS` hashes each): no process holds the date's hashes.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.hashing import stable_hash64
from tracewatch.ingest.accepted import AcceptedFile, accepted_files, read_accepted_file, scan_accepted
from tracewatch.ingest.file_checks import ID_HASH, FileCheck, ids_of_rows, spill_hashes, spill_key
from tracewatch.ingest.ledger import Ledger
from tracewatch.ingest.reducer import Part
from tracewatch.part_map import PartMap
from tracewatch.store import Store
from tracewatch.traces import ROW_NR

DUPLICATE_REASON = "duplicate trace_id: already ingested from an earlier file of this date"
HASHES_MAX_ROWS = 2_000_000
"""Trace id hashes of a date held at once (about 16 bytes each, 32 MB) before they go through the store."""
SCRATCH_PREFIX = "warehouse/scratch/ingest_hashes"
"""Where files over their share write their sorted hashes during a date's duplicate check."""
_READERS = 8
"""Scratch objects read at once (their round trips overlap)."""


def scratch_prefix(day: dt.date, run_id: str) -> str:
    """The scratch objects of one date's check in one run (a retried step rewrites its own object)."""
    return f"{_date_scratch(day)}/run={run_id}"


def _date_scratch(day: dt.date) -> str:
    return f"{SCRATCH_PREFIX}/date={day.isoformat()}"


@dataclass(frozen=True)
class _Hashes:
    """One file's hashes for the check: `frame` in memory, or the scratch object `spilled`; `file` is its
    position among the new files, or -1 for an `earlier` file."""

    file: int
    frame: pl.DataFrame | None = None
    spilled: str | None = None
    earlier: AcceptedFile | None = None

    def read(self, store: Store) -> pl.DataFrame:
        return self.frame if self.frame is not None else store.read_parquet(str(self.spilled))

    def in_range(self, store: Store, low: int, high: int | None) -> pl.Series:
        """The hashes in [low, high) (None: to the end of the hash space)."""
        hashes = self.read(store).get_column(ID_HASH).to_numpy()
        if self.spilled is None:
            inside = hashes >= np.uint64(low)
            if high is not None:
                inside &= hashes < np.uint64(high)
            return pl.Series(ID_HASH, hashes[inside], pl.UInt64)
        start = int(np.searchsorted(hashes, np.uint64(low), side="left"))  # sorted: the range is one slice
        end = len(hashes) if high is None else int(np.searchsorted(hashes, np.uint64(high), side="left"))
        return pl.Series(ID_HASH, hashes[start:end], pl.UInt64)


def find_duplicates(
    store: Store,
    ledger: Ledger,
    day: dt.date,
    files: Sequence[FileCheck[Part]],
    *,
    run_id: str,
    part_map: PartMap,
    max_rows: int = HASHES_MAX_ROWS,
) -> dict[int, pl.DataFrame]:
    """Per file (by position), the rows whose trace id was accepted earlier: from an earlier ingest, or an
    earlier file now; with the duplicate reason."""
    if not files:
        return {}
    again = frozenset(f.obj.key for f in files)
    earlier = [f for f in accepted_files(store, day, ledger) if f.key not in again]
    new = [_Hashes(i, None if f.spilled else f.passed_hashes, f.spilled) for i, f in enumerate(files)]
    earlier_rows = sum(f.rows_accepted for f in earlier)
    if not any(f.spilled for f in files) and earlier_rows <= max_rows:
        return _in_memory(store, ledger, day, files, again)
    try:
        spill = functools.partial(_spill_earlier, store, scratch_prefix(day, run_id))
        old = [
            _Hashes(-1, spilled=key, earlier=f)
            for f, key in zip(earlier, part_map(spill, earlier), strict=True)
        ]
        rows = earlier_rows + sum(f.rows - f.reasons.height for f in files)
        every = [*old, *new]
        wanted = pl.concat([_repeated_in(store, every, *r) for r in _buckets(rows, max_rows)])
        return _flagged(store, files, every, wanted) if wanted.len() else {}
    finally:  # this run's scratch, and any a run that died left for the date
        store.delete(_date_scratch(day))


def _spill_earlier(store: Store, prefix: str, file: AcceptedFile) -> str:
    """An earlier file's accepted trace ids hashed and written like a new file's (a step of `part_map`)."""
    ids = read_accepted_file(store, file, ("trace_id",))
    key = spill_key(prefix, "earlier", file.key)
    hashes = pl.Series(ID_HASH, stable_hash64(ids.get_column("trace_id")), pl.UInt64)
    rows = pl.int_range(ids.height, eager=True, dtype=pl.Int64).alias(ROW_NR)
    spill_hashes(store, key, pl.DataFrame([rows, hashes]))
    return key


def _buckets(rows: int, max_rows: int) -> Iterator[tuple[int, int | None]]:
    """Ranges [low, high) of the 64-bit hash space holding about `max_rows` of `rows` uniform hashes each (the
    last one open: None)."""
    count = max(1, math.ceil(rows / max(1, max_rows)))
    lows = [(2**64 * k) // count for k in range(count)]
    highs: list[int | None] = [*lows[1:], None]
    yield from zip(lows, highs, strict=True)


def _repeated_in(store: Store, hashes: list[_Hashes], low: int, high: int | None) -> pl.Series:
    """The hashes in [low, high) that occur more than once over every file's."""
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        found = list(pool.map(lambda h: h.in_range(store, low, high), hashes))
    together: pl.Series = pl.concat(found, rechunk=False)
    return together.filter(together.is_duplicated()).unique()


def _flagged(
    store: Store, files: Sequence[FileCheck[Part]], hashes: list[_Hashes], wanted: pl.Series
) -> dict[int, pl.DataFrame]:
    """The duplicates among the rows whose hash is `wanted`, their ids read again and compared in order."""
    repeated = wanted.unique().implode()
    suspects = []
    for h in hashes:
        rows = h.read(store).filter(pl.col(ID_HASH).is_in(repeated)).sort(ROW_NR)
        if not rows.height:
            continue
        if h.earlier is not None:
            ids = _earlier_ids(store, h.earlier, rows)
            suspects.append(
                ids.select(file=pl.lit(-1), **{ROW_NR: pl.lit(-1, pl.Int64)}, trace_id="trace_id")
            )
        else:
            ids = ids_of_rows(store, files[h.file].obj, rows)
            suspects.append(ids.select(pl.lit(h.file).alias("file"), ROW_NR, "trace_id"))
    return _duplicate_rows(suspects)


def _earlier_ids(store: Store, file: AcceptedFile, rows: pl.DataFrame) -> pl.DataFrame:
    """The trace ids of an earlier file's accepted rows at the positions `rows` gives (as `_spill_earlier`
    numbered them)."""
    ids = read_accepted_file(store, file, ("trace_id",)).with_row_index(ROW_NR)
    return ids.with_columns(pl.col(ROW_NR).cast(pl.Int64)).join(rows.select(ROW_NR), on=ROW_NR, how="semi")


def _in_memory(
    store: Store, ledger: Ledger, day: dt.date, files: Sequence[FileCheck[Part]], again: frozenset[str]
) -> dict[int, pl.DataFrame]:
    """The check of a date whose hashes fit in memory: every file's and the earlier ids' together, one pass."""
    earlier = scan_accepted(store, day, ("trace_id",), ledger, exclude=again)
    earlier = earlier.with_columns(
        pl.Series(ID_HASH, stable_hash64(earlier.get_column("trace_id")), pl.UInt64)
    )
    wanted = _repeated_hashes(
        [earlier.get_column(ID_HASH), *(f.passed_hashes.get_column(ID_HASH) for f in files)]
    )
    if wanted is None:
        return {}
    suspects = [
        earlier.filter(pl.col(ID_HASH).is_in(wanted)).select(
            file=pl.lit(-1), **{ROW_NR: pl.lit(-1, pl.Int64)}, trace_id="trace_id"
        )
    ]
    for i, f in enumerate(files):
        rows = f.passed_hashes.filter(pl.col(ID_HASH).is_in(wanted))
        if rows.height:
            suspects.append(
                ids_of_rows(store, f.obj, rows).select(pl.lit(i).alias("file"), ROW_NR, "trace_id")
            )
    return _duplicate_rows(suspects)


def _duplicate_rows(suspects: list[pl.DataFrame]) -> dict[int, pl.DataFrame]:
    """Per new file, the suspects whose id was seen on an earlier row (earlier files first, then in order)."""
    if not suspects:
        return {}
    together = pl.concat(suspects, how="vertical_relaxed")
    duplicates = together.filter(~pl.col("trace_id").is_first_distinct() & (pl.col("file") >= 0))
    return {
        int(index): rows.select(ROW_NR, reasons=pl.concat_list(pl.lit(DUPLICATE_REASON)))  # type: ignore[call-overload]
        for (index,), rows in duplicates.group_by("file")
    }


def _repeated_hashes(hashes: list[pl.Series]) -> pl.Series | None:
    """The hashes that occur more than once over `hashes` (the earlier rows' and each file's, in order), as
    one imploded list for `is_in`; None when every hash is distinct (the usual case).

    Hashing first is several times faster than exact distinctness on a million strings, and only hashes are
    put together (8 bytes a row)."""
    together = pl.concat(hashes, rechunk=False)
    if together.n_unique() == together.len():
        return None
    repeated = together.filter(~together.is_first_distinct())
    return repeated.unique().implode() if repeated.len() else None
