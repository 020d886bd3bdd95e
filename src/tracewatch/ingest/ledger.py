"""The ingest ledger: which trace files (at which version) were ingested, and what became of their rows.

It is the watermark: a file is new when its key or version is not in the ledger, so late files in old
partitions and rewritten files are picked up, and nothing is read twice by accident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from tracewatch.store import Store

LEDGER_KEY = "warehouse/state/ingest_ledger.parquet"

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "source_key": pl.String(),
    "source_version": pl.String(),
    "source_size": pl.Int64(),
    "date": pl.Date(),
    "status": pl.String(),  # accepted | partial | rejected
    "reason": pl.String(),  # why a whole file was rejected
    "rows_read": pl.Int64(),  # null when the file could not be read at all
    "rows_accepted": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "run_id": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class LedgerEntry:
    """One source file (key and version) as ingest left it: its date, status, row counts and the run."""

    source_key: str
    source_version: str
    source_size: int
    date: dt.date
    status: str
    reason: str | None
    rows_read: int | None
    rows_accepted: int
    rows_quarantined: int
    run_id: str
    ingested_at: dt.datetime


class Ledger:
    """An in-memory view of the ledger; `save` writes it back atomically."""

    def __init__(self, frame: pl.DataFrame, key: str = LEDGER_KEY) -> None:
        self.frame = frame
        self.key = key

    def is_known(self, key: str, version: str) -> bool:
        hit = self.frame.filter((pl.col("source_key") == key) & (pl.col("source_version") == version))
        return hit.height > 0

    def known_versions(self) -> set[tuple[str, str]]:
        return set(self.frame.select("source_key", "source_version").iter_rows())

    def for_date(self, day: dt.date) -> pl.DataFrame:
        return self.frame.filter(pl.col("date") == day)

    def record(self, entries: list[LedgerEntry]) -> None:
        """Add entries, replacing any earlier entry for the same file."""
        if not entries:
            return
        new = pl.DataFrame([e.__dict__ for e in entries], schema=LEDGER_SCHEMA)
        kept = self.frame.filter(~pl.col("source_key").is_in(new.get_column("source_key").implode()))
        self.frame = pl.concat([kept, new]).sort("date", "source_key")

    def forget_dates(self, days: list[dt.date]) -> None:
        self.frame = self.frame.filter(~pl.col("date").is_in(days))

    def save(self, store: Store) -> None:
        store.write_parquet(self.key, self.frame)


def load_ledger(store: Store, key: str = LEDGER_KEY) -> Ledger:
    """The ledger as saved (empty before the first ingest): one read, no existence check first, and through
    polars' own client, so it needs no S3 client of the store's (that one may still be starting).

    `key` names another input's ledger kept by the same rules (late feedback's, say)."""
    try:
        frame = store.read_parquet(key)
    except FileNotFoundError:
        return Ledger(pl.DataFrame(schema=LEDGER_SCHEMA), key)
    return Ledger(frame.cast(LEDGER_SCHEMA), key)  # type: ignore[arg-type]
