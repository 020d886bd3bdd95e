"""A build's window as parts: one accepted trace file each, read on its own (in a flow, on a worker).

A part reads exactly the rows `ingest.scan_accepted` has of its file in the whole date (quarantined rows left
out, late feedback merged), so parts concatenated in `accepted_parts` order are the date's accepted traces in
the order the one-pass build read them. The readers are module-level and take the store as an argument, so a
`functools.partial` of them pickles (with the flows' `PortableStore`, as its URL alone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tracewatch.datasets.shortlist import PartRead
from tracewatch.frame_memory import owned
from tracewatch.ingest import load_ledger, scan_accepted
from tracewatch.store import Store

Filters = tuple[tuple[str, tuple[Any, ...]], ...]
"""A build's filters (column -> allowed values) in a form that pickles and hashes."""


@dataclass(frozen=True)
class AcceptedPart:
    """One ingested file of `day` (`key`), and the date's other files, which its read leaves out."""

    day: dt.date
    key: str
    others: frozenset[str]


def accepted_parts(store: Store, start: dt.date, end: dt.date) -> list[AcceptedPart]:
    """The accepted trace files of `start`..`end`, by date and then in the order `scan_accepted` reads them."""
    ledger = load_ledger(store)
    parts = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        entries = ledger.for_date(day).filter(pl.col("status") != "rejected")
        keys = entries.get_column("source_key").to_list()
        parts += [AcceptedPart(day, key, frozenset(keys) - {key}) for key in keys]
    return parts


def as_filters(filters: Mapping[str, Sequence[Any]]) -> Filters:
    """`filters` as `read_part` takes them: plain tuples, which travel to a worker as they are."""
    return tuple((column, tuple(allowed)) for column, allowed in filters.items())


def read_part(store: Store, filters: Filters, part: AcceptedPart, columns: tuple[str, ...]) -> PartRead:
    """`columns` of the part's accepted traces that pass `filters`, and its number of rows before them."""
    wanted = tuple(dict.fromkeys((*columns, *(column for column, _ in filters))))
    frame = scan_accepted(store, part.day, wanted, exclude=part.others)
    kept = frame
    for column, allowed in filters:
        kept = kept.filter(pl.col(column).is_in(list(allowed)))
    return PartRead(kept.select(columns), frame.height)


def part_rows(store: Store, columns: tuple[str, ...], ids: pl.Series, part: AcceptedPart) -> pl.DataFrame:
    """`columns` of the part's accepted traces whose `trace_id` is in `ids` (the picks' full rows)."""
    frame = scan_accepted(store, part.day, columns, exclude=part.others)
    return owned(frame.filter(pl.col("trace_id").is_in(ids.implode())))
