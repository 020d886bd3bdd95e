"""A date's monitoring parts and latency percentiles read back from the store file by file.

The parts are for dates whose parts ingest did not keep (late trace files, late feedback); the percentile passes
run for every date, since they read the latencies again (`radix_select`). Each file is a step that the caller's
`PartMap` runs (threads in a library call, the flow's task runner in a nightly), so no process holds the day;
parts and counts merge exactly in any order (`metrics` explains why), so the tables come out the same to the
bit as from one read of the whole day.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping

import polars as pl

from tracewatch.ingest import AcceptedFile, Ledger, accepted_files, in_threads, read_accepted_file
from tracewatch.monitoring.metrics import (
    LATENCY_COLUMNS,
    METRIC_INPUT_COLUMNS,
    LatencyPercentiles,
    MetricParts,
    combine_parts,
    latency_counts,
    latency_percentiles,
    metric_parts,
)
from tracewatch.monitoring.radix_select import RadixQuery, combine_counts
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


def day_latency_percentiles(
    store: Store,
    day: dt.date,
    parts: MetricParts,
    *,
    ledger: Ledger | None = None,
    part_map: PartMap = in_threads,
) -> LatencyPercentiles:
    """The latency percentiles of `day` from its merged `parts`: each further pass one file per step of
    `part_map`, reading only the latency and group columns."""
    files = accepted_files(store, day, ledger)

    def refine(query: RadixQuery) -> dict[str, pl.DataFrame]:
        return combine_counts(part_map(functools.partial(file_latency_counts, store, query), files))

    return latency_percentiles(parts, refine)


def file_latency_counts(store: Store, query: RadixQuery, file: AcceptedFile) -> Mapping[str, pl.DataFrame]:
    """One file's answer to a percentile pass."""
    return latency_counts(read_accepted_file(store, file, LATENCY_COLUMNS), query)
