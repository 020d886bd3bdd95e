"""Publish what the scoring stage produced as report partitions (see docs/reports.md)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.reports import (
    COMPARISONS,
    EXPERIMENT_ITEMS,
    JUDGE_AGREEMENT,
    OUTPUT_CHECKS,
    QUALITY,
    TRACE_QUALITY,
    PublishedPartition,
    ReportTable,
    publish_partition,
)
from tracewatch.scoring.experiment_scores import ExperimentScoring
from tracewatch.scoring.trace_scores import TraceScoring
from tracewatch.store import Store


def _with_experiment(frame: pl.DataFrame, scoring: ExperimentScoring) -> pl.DataFrame:
    return frame.with_columns(
        dataset=pl.lit(scoring.dataset), dataset_version=pl.lit(scoring.dataset_version, pl.Int64)
    )


def _or_empty(frame: pl.DataFrame, table: ReportTable) -> pl.DataFrame:
    """A frame with no columns (nothing to compare) as a zero-row frame of the table's schema."""
    return frame if frame.width else pl.DataFrame(schema=table.schema)


def publish_experiment_scoring(
    store: Store, scoring: ExperimentScoring, day: dt.date, *, run_id: str
) -> list[PublishedPartition]:
    """The experiment's items with scores, quality, comparisons and output checks, under
    `date=day/experiment_id=...`."""
    return [
        publish_partition(
            store,
            table,
            day,
            _with_experiment(_or_empty(frame, table), scoring),
            run_id=run_id,
            subpartition=scoring.experiment_id,
        )
        for table, frame in (
            (EXPERIMENT_ITEMS, scoring.items),
            (QUALITY, scoring.quality),
            (COMPARISONS, scoring.comparisons),
            (OUTPUT_CHECKS, scoring.output_checks),
        )
    ]


def publish_trace_scoring(store: Store, scoring: TraceScoring, *, run_id: str) -> list[PublishedPartition]:
    """The day's `trace_quality` and `judge_agreement` partitions (empty ones on a day without traces)."""
    return [
        publish_partition(
            store, TRACE_QUALITY, scoring.day, _or_empty(scoring.quality, TRACE_QUALITY), run_id=run_id
        ),
        publish_partition(store, JUDGE_AGREEMENT, scoring.day, scoring.agreement, run_id=run_id),
    ]
