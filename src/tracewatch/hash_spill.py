"""Rows keyed by a 64-bit hash, put together a range of the hash space at a time, so no process holds a day's.

Some merges must see every row with the same key together (trace ids repeated across files, an input's best row
over the night), and their rows grow with the day. Equal keys have equal hashes, so the hash space can be cut
into ranges and each range merged on its own, exactly. A per-file step whose rows are over its share of a budget
writes them sorted by hash to a scratch object of the store (`Spill`) and sends back its key instead
(`HashRows`); the merge then reads one range of every file's rows at a time (`hash_ranges`), each a slice of a
sorted object, and the caller deletes the scratch prefix when done.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.store import Store

SCRATCH_PREFIX = "warehouse/scratch"
"""Where steps write rows too many to send back; each merge deletes its own prefix under it when done."""


@dataclass(frozen=True)
class HashRows:
    """One step's `rows` rows keyed by the UInt64 column `column`: `frame` itself, or the scratch object
    `spilled` of `store` holding them sorted by it."""

    column: str
    rows: int
    frame: pl.DataFrame | None = None
    spilled: str | None = None
    store: Store | None = None

    @staticmethod
    def inline(frame: pl.DataFrame, column: str) -> HashRows:
        """`frame` kept as it is."""
        return HashRows(column, frame.height, frame=frame)

    def read(self) -> pl.DataFrame:
        """All the rows (read back when spilled)."""
        if self.frame is not None:
            return self.frame
        assert self.store is not None and self.spilled is not None
        return self.store.read_parquet(self.spilled)

    def in_range(self, low: int, high: int | None) -> pl.DataFrame:
        """The rows whose hash is in [low, high) (None: to the end of the hash space)."""
        frame = self.read()
        if low == 0 and high is None:  # the whole hash space: one range, nothing to cut
            return frame
        hashes = frame.get_column(self.column).to_numpy()
        if self.spilled is not None:  # sorted: the range is one slice
            start = int(np.searchsorted(hashes, np.uint64(low), side="left"))
            end = len(hashes) if high is None else int(np.searchsorted(hashes, np.uint64(high), side="left"))
            return frame.slice(start, end - start)
        inside = hashes >= np.uint64(low)
        if high is not None:
            inside &= hashes < np.uint64(high)
        return frame.filter(pl.Series(inside))


@dataclass(frozen=True)
class Spill:
    """Where a step writes its rows past `max_rows` (its share of the merge's budget): `prefix` of `store`."""

    store: Store
    prefix: str
    max_rows: int

    @staticmethod
    def under(store: Store, name: str, budget: int, steps: int) -> Spill:
        """A new scratch prefix for one merge of `steps` steps sharing `budget` rows."""
        prefix = f"{SCRATCH_PREFIX}/{name}/{uuid.uuid4().hex}"
        return Spill(store, prefix, budget // max(1, steps))

    def keep(self, frame: pl.DataFrame, column: str, name: str) -> HashRows:
        """`frame` as it is within `max_rows`, else written sorted by `column` under `name` (unique per step:
        a retried step rewrites its own object)."""
        if frame.height <= self.max_rows:
            return HashRows.inline(frame, column)
        key = f"{self.prefix}/{name}.parquet"
        self.store.write_parquet(key, frame.sort(column))
        return HashRows(column, frame.height, spilled=key, store=self.store)


def ranges_of(parts: Sequence[HashRows], max_rows: int) -> Iterator[tuple[int, int | None]]:
    """The ranges to merge `parts` in: one while none was spilled (they are all in memory already)."""
    if not any(p.spilled for p in parts):
        return hash_ranges(1, 1)
    return hash_ranges(sum(p.rows for p in parts), max_rows)


def hash_ranges(rows: int, max_rows: int) -> Iterator[tuple[int, int | None]]:
    """Ranges [low, high) of the 64-bit hash space holding about `max_rows` of `rows` uniform hashes each (the
    last one open: None)."""
    count = max(1, math.ceil(rows / max(1, max_rows)))
    lows = [(2**64 * k) // count for k in range(count)]
    highs: list[int | None] = [*lows[1:], None]
    yield from zip(lows, highs, strict=True)
