"""A date's monitoring parts read back from the store file by file, for dates whose parts ingest did not keep
(late trace files, late feedback, a day beyond ingest's row budget).

Each file's accepted rows are reduced to their `MetricParts` by a per-file step that the caller's `PartMap` runs
(threads in a library call, the flow's task runner in a nightly), so no process holds the day; the parts combine
in the order `scan_accepted` reads the files, which is the whole day's row order, so the tables come out the
same to the bit as from one read of the whole day (`metrics` explains why the order is all that matters).
"""

from __future__ import annotations

import datetime as dt
import functools

from tracewatch.ingest import AcceptedFile, Ledger, accepted_files, in_threads, read_accepted_file
from tracewatch.monitoring.metrics import METRIC_INPUT_COLUMNS, MetricParts, combine_parts, metric_parts
from tracewatch.part_map import PartMap
from tracewatch.store import Store


def day_metric_parts(
    store: Store, day: dt.date, *, ledger: Ledger | None = None, part_map: PartMap = in_threads
) -> MetricParts:
    """The monitoring parts of `day`'s accepted traces, one file per step of `part_map`."""
    files = accepted_files(store, day, ledger)
    return combine_parts(part_map(functools.partial(file_metric_parts, store), files) if files else [])


def file_metric_parts(store: Store, file: AcceptedFile) -> MetricParts:
    """The monitoring parts of one file's accepted rows (late feedback merged)."""
    return metric_parts(read_accepted_file(store, file, METRIC_INPUT_COLUMNS))
