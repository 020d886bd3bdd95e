"""A night without Prefect, for the fault tests: ingest up to the day, then its monitoring reports, as the
nightly flow's first stages call them; and what a store holds after it, compared as a person would."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.experiments import read_experiment_items
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
from tracewatch.store import Store

REPORTS = ("trace_metrics_daily", "trace_metrics_hourly", "ingest_daily")
ANSWERED = ["item_id", "status", "output", "error"]
"""What an experiment's answers are compared on (run ids, timings, attempts and cache hits differ by run)."""
VOLATILE = ("run_id", "published_at", "created_at", "ingested_at", "updated_at")


def run_night(store: Store, day: dt.date) -> None:
    """Ingest what is new up to `day` and publish the monitoring reports of every date it touched."""
    result = ingest_new_traces(store, up_to=day, reprocess=(), reducer=METRIC_REDUCER, require_traces=True)
    for touched in sorted({*result.dates_touched, day}):
        build_monitoring_reports(store, touched, run_id=result.run_id, parts=result.parts.pop(touched, None))


def report_tables(store: Store, day: dt.date) -> dict[str, pl.DataFrame]:
    """The night's report partitions without run ids and timestamps, sorted, so two runs compare equal."""
    tables = {}
    for table in REPORTS:
        keys = [o.key for o in store.list_objects(f"reports/{table}/date={day}", suffix=".parquet")]
        frame = pl.concat([store.read_parquet(k) for k in keys], how="diagonal_relaxed")
        frame = frame.drop([c for c in frame.columns if c in VOLATILE])
        tables[table] = frame.sort(frame.columns)
    return tables


def leftovers(store: Store) -> list[str]:
    """Objects a reader never sees but that a failed write could leave: temp files and empty files."""
    found = store.fs.find(store.path(""), detail=True, withdirs=False)
    return sorted(
        path
        for path, info in found.items()
        if path.rsplit("/", 1)[-1].startswith("_tmp-") or int(info.get("size") or 0) == 0
    )


def unreadable_parquet(store: Store) -> list[str]:
    """Parquet objects that do not decode (a torn write)."""
    bad = []
    for obj in store.list_objects("", suffix=".parquet"):
        try:
            store.read_parquet(obj.key)
        except Exception:
            bad.append(obj.key)
    return bad


def answers(store: Store, experiment_id: str = "night-echo") -> pl.DataFrame:
    """An experiment's answers, as compared between an interrupted and an uninterrupted night."""
    return read_experiment_items(store, experiment_id).select(ANSWERED).sort("item_id")
