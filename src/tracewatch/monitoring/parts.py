"""A date's monitoring read back from the store file by file, for dates whose parts ingest did not keep (late
trace files, late feedback, a day beyond ingest's row budget).

Each file's accepted rows are reduced to a part by a per-file step that the caller's `PartMap` runs (threads in
a library call, the flow's task runner in a nightly), so no process holds the day. A day of at most
`DAY_VALUES_MAX_ROWS` accepted traces carries its values to the merge (`metrics.MetricParts`; the parts combine
in the order `scan_accepted` reads the files, the whole day's row order, so the tables come out the same to the
bit as from one read of the whole day); a larger one is aggregated in bounded parts, and its latency percentiles
take further passes over the files that read only the latencies (`bounded`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping

import polars as pl

from tracewatch.ingest import AcceptedFile, Ledger, accepted_files, in_threads, read_accepted_file
from tracewatch.monitoring.bounded import (
    LATENCY_COLUMNS,
    BoundedDay,
    BoundedParts,
    bounded_metrics,
    bounded_parts,
    combine_bounded,
    latency_counts,
    latency_percentiles,
)
from tracewatch.monitoring.metrics import (
    DAY_VALUES_MAX_ROWS,
    METRIC_INPUT_COLUMNS,
    MetricParts,
    combine_parts,
    metric_parts,
    metrics_from_parts,
)
from tracewatch.monitoring.radix_select import RadixQuery, combine_counts
from tracewatch.part_map import PartMap
from tracewatch.store import Store

log = logging.getLogger(__name__)

DayMetrics = MetricParts | BoundedDay
"""A date's monitoring ready for its tables: a small day's values, or a large day's bounded parts."""


def day_metrics(
    store: Store,
    day: dt.date,
    *,
    ledger: Ledger | None = None,
    part_map: PartMap = in_threads,
    values_max_rows: int = DAY_VALUES_MAX_ROWS,
) -> DayMetrics:
    """The monitoring of `day`'s accepted traces, one file per step of `part_map`: its values while the day has
    at most `values_max_rows` accepted traces (ingest's `MetricReducer.max_rows`: a date whose parts ingest
    kept must take the same way here), else bounded parts and the latency percentiles' passes."""
    files = accepted_files(store, day, ledger)
    rows = sum(f.rows_accepted for f in files)
    if rows <= values_max_rows:
        return _values(store, files, part_map)
    log.info(
        "monitoring %s in bounded parts: %d accepted traces, past the %d whose values a day may carry "
        "(TRACEWATCH_MONITORING_VALUES_MAX_ROWS); its latency percentiles read the files again",
        day,
        rows,
        values_max_rows,
    )
    parts = combine_bounded(part_map(functools.partial(file_bounded_parts, store), files))

    def refine(query: RadixQuery) -> dict[str, pl.DataFrame]:
        return combine_counts(part_map(functools.partial(file_latency_counts, store, query), files))

    return BoundedDay(parts, latency_percentiles(parts, refine))


def day_metric_parts(
    store: Store, day: dt.date, *, ledger: Ledger | None = None, part_map: PartMap = in_threads
) -> MetricParts:
    """The monitoring parts (values) of `day`'s accepted traces whatever its size, one file per step."""
    return _values(store, accepted_files(store, day, ledger), part_map)


def _values(store: Store, files: list[AcceptedFile], part_map: PartMap) -> MetricParts:
    return combine_parts(part_map(functools.partial(file_metric_parts, store), files) if files else [])


def day_tables(metrics: DayMetrics, quarantined: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The daily and hourly tables of a date's monitoring (`quarantined`: its quarantined rows)."""
    if isinstance(metrics, BoundedDay):
        return bounded_metrics(metrics, quarantined)
    return metrics_from_parts(metrics, quarantined)


def file_metric_parts(store: Store, file: AcceptedFile) -> MetricParts:
    """The monitoring parts of one file's accepted rows (late feedback merged)."""
    return metric_parts(read_accepted_file(store, file, METRIC_INPUT_COLUMNS))


def file_bounded_parts(store: Store, file: AcceptedFile) -> BoundedParts:
    """The bounded monitoring parts of one file's accepted rows (late feedback merged)."""
    return bounded_parts(read_accepted_file(store, file, METRIC_INPUT_COLUMNS))


def file_latency_counts(store: Store, query: RadixQuery, file: AcceptedFile) -> Mapping[str, pl.DataFrame]:
    """One file's answer to a percentile pass."""
    return latency_counts(read_accepted_file(store, file, LATENCY_COLUMNS), query)
