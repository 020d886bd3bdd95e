"""Duplicate trace ids across a date's files, in memory bounded by the largest file, not by the date.

A row whose trace id was accepted earlier (from an earlier ingest of the date, or an earlier file now) is a
duplicate. Only 64-bit hashes of the ids are put together (`tracewatch.hashing.stable_hash64`); the ids of the few
rows whose hash repeats are read again and compared exactly, in order, so a hash collision is never taken for a
duplicate and "seen on an earlier row" still holds.

While a date's hashes fit `HASHES_MAX_ROWS`, the checked files (and a step per file of the date's earlier ingests)
bring theirs back (16 bytes a row) and one pass over all of them finds the repeats. Past it, a file over its share
of the budget writes its hashes, sorted, to a scratch object of the store instead (`tracewatch.hash_spill`, deleted
when the date is settled), the earlier files' hashes are written the same way by a step per file, and the repeats
are found one range of the hash space at a time (ranges of about `HASHES_MAX_ROWS` hashes each): no process holds
the date's hashes.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import polars as pl

from tracewatch.hash_spill import SCRATCH_PREFIX, HashRows, Spill, ranges_of
from tracewatch.hashing import stable_hash64
from tracewatch.ingest.accepted import AcceptedFile, accepted_files, read_accepted_file
from tracewatch.ingest.file_checks import ID_HASH, FileCheck, ids_of_rows
from tracewatch.ingest.ledger import Ledger
from tracewatch.ingest.reducer import Part
from tracewatch.part_map import PartMap
from tracewatch.store import Store
from tracewatch.traces import ROW_NR

DUPLICATE_REASON = "duplicate trace_id: already ingested from an earlier file of this date"
HASHES_MAX_ROWS = 2_000_000
"""Trace id hashes of a date held at once (about 16 bytes each, 32 MB) before they go through the store."""
_READERS = 8
"""Scratch objects read at once (their round trips overlap)."""


def scratch_name(day: dt.date) -> str:
    """The scratch of a date's duplicate checks (under `hash_spill.SCRATCH_PREFIX`)."""
    return f"ingest_hashes/date={day.isoformat()}"


def find_duplicates(
    store: Store,
    ledger: Ledger,
    day: dt.date,
    files: Sequence[FileCheck[Part]],
    *,
    spill: Spill,
    part_map: PartMap,
    max_rows: int = HASHES_MAX_ROWS,
) -> dict[int, pl.DataFrame]:
    """Per file (by position), the rows whose trace id was accepted earlier: from an earlier ingest, or an
    earlier file now; with the duplicate reason. `spill` is where the files over their share wrote their
    hashes; when any did, the date's scratch is deleted here (with any a killed run left for it)."""
    if not files:
        return {}
    again = frozenset(f.obj.key for f in files)
    earlier = [f for f in accepted_files(store, day, ledger) if f.key not in again]
    shared = replace(spill, max_rows=max_rows // max(1, len(earlier)))  # the earlier files' own shares
    hashed = part_map(functools.partial(_earlier_hashes, shared), earlier) if earlier else []
    every = [*hashed, *(f.passed_hashes for f in files)]
    owners: list[AcceptedFile | int] = [*earlier, *range(len(files))]
    try:
        wanted = pl.concat([_repeated_in(every, *bounds) for bounds in ranges_of(every, max_rows)])
        return _flagged(store, files, list(zip(owners, every, strict=True)), wanted) if wanted.len() else {}
    finally:
        if any(h.spilled for h in every):
            store.delete(f"{SCRATCH_PREFIX}/{scratch_name(day)}")


def _earlier_hashes(spill: Spill, file: AcceptedFile) -> HashRows:
    """An earlier file's accepted trace ids hashed (numbered in their accepted order), kept as a new file's are
    (a step of `part_map`)."""
    ids = read_accepted_file(spill.store, file, ("trace_id",))
    hashes = pl.DataFrame(
        [
            pl.int_range(ids.height, eager=True, dtype=pl.Int64).alias(ROW_NR),
            pl.Series(ID_HASH, stable_hash64(ids.get_column("trace_id")), pl.UInt64),
        ]
    )
    return spill.keep(hashes, ID_HASH, f"earlier/{file.key}")


def _repeated_in(hashes: list[HashRows], low: int, high: int | None) -> pl.Series:
    """The hashes in [low, high) that occur more than once over every file's."""
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        found = list(pool.map(lambda h: h.in_range(low, high).get_column(ID_HASH), hashes))
    together: pl.Series = pl.concat(found, rechunk=False)
    # every hash distinct: the usual case, and several times cheaper to tell than finding the repeats
    if together.n_unique() == together.len():
        return together.clear()
    return together.filter(together.is_duplicated()).unique()


def _flagged(
    store: Store,
    files: Sequence[FileCheck[Part]],
    owned: list[tuple[AcceptedFile | int, HashRows]],
    wanted: pl.Series,
) -> dict[int, pl.DataFrame]:
    """The duplicates among the rows whose hash is `wanted` (earlier files first, then the new ones in order),
    their ids read again and compared in order."""
    repeated = wanted.unique().implode()
    suspects = []
    for owner, hashes in owned:
        rows = hashes.read().filter(pl.col(ID_HASH).is_in(repeated)).sort(ROW_NR)
        if not rows.height:
            continue
        if isinstance(owner, AcceptedFile):
            ids = _earlier_ids(store, owner, rows)
            suspects.append(
                ids.select(file=pl.lit(-1), **{ROW_NR: pl.lit(-1, pl.Int64)}, trace_id="trace_id")
            )
        else:
            ids = ids_of_rows(store, files[owner].obj, rows)
            suspects.append(ids.select(pl.lit(owner).alias("file"), ROW_NR, "trace_id"))
    return _duplicate_rows(suspects)


def _earlier_ids(store: Store, file: AcceptedFile, rows: pl.DataFrame) -> pl.DataFrame:
    """The trace ids of an earlier file's accepted rows at the positions `rows` gives (as `_earlier_hashes`
    numbered them)."""
    ids = read_accepted_file(store, file, ("trace_id",)).with_row_index(ROW_NR)
    return ids.with_columns(pl.col(ROW_NR).cast(pl.Int64)).join(rows.select(ROW_NR), on=ROW_NR, how="semi")


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
