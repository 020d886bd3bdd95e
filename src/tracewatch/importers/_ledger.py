"""The import ledger: which source objects (key and version) were imported, what they held and where their
traces went. It is the importers' watermark, as ingest's ledger is ingest's: an object is new when its key or
version is not in the ledger, so late objects in old partitions are picked up and nothing is read twice.

Counts are per object so `import_daily` can be rebuilt from the ledger alone: a trace is counted on the object
its first span arrived in (its "home"), even when it is released a night later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import polars as pl

from tracewatch.store import Store

LEDGER_KEY = "warehouse/state/import_ledger.parquet"

LEDGER_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "kind": pl.String(),
    "object_key": pl.String(),
    "object_version": pl.String(),
    "object_size": pl.Int64(),
    "upload_date": pl.Date(),
    "status": pl.String(),  # read | rejected
    "reason": pl.String(),  # why a whole object was rejected
    "records": pl.Int64(),  # spans, observations or trace files the object held
    "records_rejected": pl.Int64(),
    "records_duplicate": pl.Int64(),  # re-sent spans (a Collector retry), counted once
    "records_late": pl.Int64(),  # spans that came after their trace was assembled: quarantined
    "traces": pl.Int64(),  # traces imported whole (root present)
    "traces_incomplete": pl.Int64(),  # imported without their root, flagged
    "traces_quarantined": pl.Int64(),  # rootless under the quarantine policy, or unusable
    "traces_skipped": pl.Int64(),  # not LLM requests (no model call): recorded in quarantine, not imported
    "outputs": pl.List(pl.String()),  # canonical trace files this object's traces went to
    "run_id": pl.String(),
    "imported_at": pl.Datetime("us", "UTC"),
}


COUNT_COLUMNS: tuple[str, ...] = (
    "records",
    "records_rejected",
    "records_duplicate",
    "records_late",
    "traces",
    "traces_incomplete",
    "traces_quarantined",
    "traces_skipped",
)
"""The per-object counts the ledger keeps and `import_daily` sums per upload day and source."""


@dataclass
class ObjectEntry:
    """One source object as an import left it; trace counts grow when its traces are released."""

    source: str
    kind: str
    object_key: str
    object_version: str
    object_size: int
    upload_date: dt.date
    status: str
    reason: str | None
    records: int
    records_rejected: int
    records_duplicate: int
    run_id: str
    imported_at: dt.datetime
    records_late: int = 0
    traces: int = 0
    traces_incomplete: int = 0
    traces_quarantined: int = 0
    traces_skipped: int = 0
    outputs: list[str] = field(default_factory=list)


class ImportLedger:
    """An in-memory view of the ledger; `save` writes it back atomically."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._pending: dict[tuple[str, str], ObjectEntry] = {}

    def known(self, source: str) -> set[tuple[str, str]]:
        """(key, version) of the source's objects already imported."""
        rows = self.frame.filter(pl.col("source") == source).select("object_key", "object_version")
        return set(rows.iter_rows())

    def entry(self, source: str, key: str) -> ObjectEntry | None:
        """The object's entry, for counting its traces (from this run, or loaded back from the ledger)."""
        found = self._pending.get((source, key))
        if found is not None:
            return found
        rows = self.frame.filter((pl.col("source") == source) & (pl.col("object_key") == key))
        if rows.is_empty():
            return None
        entry = ObjectEntry(**rows.row(0, named=True))
        self._pending[(source, key)] = entry
        return entry

    def touched(self, source: str) -> list[ObjectEntry]:
        """The source's entries this run added or counted on (not yet folded into the frame)."""
        return [e for (name, _), e in self._pending.items() if name == source]

    def add(self, entry: ObjectEntry) -> None:
        self._pending[(entry.source, entry.object_key)] = entry

    def forget_with_outputs(self, source: str, upload_dates: Iterable[dt.date]) -> list[ObjectEntry]:
        """Drop the source's entries for these upload dates, and of every object whose traces share an output
        file with them (an explicit re-import removes those files); returns what the entries were."""
        self.flush()
        mine = self.frame.filter(pl.col("source") == source)
        keys = set(mine.filter(pl.col("upload_date").is_in(list(upload_dates)))["object_key"].to_list())
        while True:  # grow to the closure: objects sharing a file with a forgotten object are forgotten too
            chosen = mine.filter(pl.col("object_key").is_in(list(keys)))
            files = list(set(chosen["outputs"].explode().drop_nulls().to_list()))
            sharing = mine.filter(pl.col("outputs").list.eval(pl.element().is_in(files)).list.any())
            grown = keys | set(sharing["object_key"].to_list())
            if grown == keys:
                break
            keys = grown
        mask = (pl.col("source") == source) & pl.col("object_key").is_in(list(keys))
        dropped = [ObjectEntry(**row) for row in self.frame.filter(mask).iter_rows(named=True)]
        self.frame = self.frame.filter(~mask)
        return dropped

    def flush(self) -> None:
        """Fold this run's entries into the frame, replacing earlier entries of the same objects."""
        if not self._pending:
            return
        new = pl.DataFrame([asdict(e) for e in self._pending.values()], schema=LEDGER_SCHEMA)
        keys = new.select("source", "object_key")
        kept = self.frame.join(keys, on=["source", "object_key"], how="anti")
        self.frame = pl.concat([kept, new]).sort("source", "upload_date", "object_key")
        self._pending.clear()

    def save(self, store: Store) -> None:
        self.flush()
        store.write_parquet(LEDGER_KEY, self.frame)


def load_import_ledger(store: Store) -> ImportLedger:
    """The ledger as last saved (empty on the first import)."""
    if not store.exists(LEDGER_KEY):
        return ImportLedger(pl.DataFrame(schema=LEDGER_SCHEMA))
    return ImportLedger(store.read_parquet(LEDGER_KEY).cast(pl.Schema(LEDGER_SCHEMA)))
