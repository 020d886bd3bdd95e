"""An import run: every configured source's new objects become canonical trace files under `traces/`, which
the nightly ingest then validates like any other trace file.

Per source, objects are read oldest upload first. Their spans go through the dialects to `SpanFacts`, wait in a
buffer until their trace is whole (its root arrived and no span came for the grace window), and are assembled
into one canonical row per trace. Whatever cannot be read is quarantined with its reason; traces still waiting
at the end of the run are kept (`warehouse/state/imports/<source>/pending.parquet`) for the next run. The ledger
(key and version of every object read) is the watermark, so a rerun reads nothing twice, and an explicit
re-import of upload days replaces what those days produced instead of adding to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from tracewatch.importers._assemble import Pricer
from tracewatch.importers._ledger import COUNT_COLUMNS, ImportLedger, load_import_ledger
from tracewatch.importers._object_reads import resolve_workers
from tracewatch.importers._results import ImportResult, SourceImport, date_of_output
from tracewatch.importers._source_run import SourceRun
from tracewatch.importers._sources import SourceConfig
from tracewatch.reports import IMPORT_DAILY, PublishedPartition, publish_partition
from tracewatch.runs import new_run_id, utc_now
from tracewatch.settings import Settings
from tracewatch.store import Store

__all__ = ["ImportResult", "SourceImport", "date_of_output", "import_traces"]


def import_traces(
    store: Store,
    sources: Sequence[SourceConfig],
    *,
    settings: Settings | None = None,
    reimport: Sequence[dt.date] = (),
    run_id: str | None = None,
    now: dt.datetime | None = None,
    pricer: Pricer | None = None,
) -> ImportResult:
    """Import every source's new objects into canonical trace files and publish `import_daily`.

    Every source is opened (and checked) before anything is read, so a wrong location or credentials stop the
    run at once, naming the source and the setting. `reimport` names upload days to read again from scratch:
    their ledger entries are forgotten and the canonical files they produced removed first. `now` is the clock
    the grace window is measured against (default: the wall clock). OTLP objects are read in
    `settings.import_workers` worker processes; the output is the same for any number.
    """
    settings = settings or Settings()
    opened = [(source, source.open(settings)) for source in sources]
    run_id = run_id or new_run_id("import")
    now = now or utc_now()
    ledger = load_import_ledger(store)
    workers = resolve_workers(settings.import_workers)
    result = ImportResult(run_id=run_id)
    days: set[dt.date] = set()
    for source, source_store in opened:
        run = SourceRun(store, source, ledger, run_id, now, pricer, settings=settings, workers=workers)
        outcome = run.run(source_store, reimport)
        result.sources.append(outcome)
        days |= {e.upload_date for e in ledger.touched(source.name)}
        ledger.save(store)
    days |= set(reimport)
    result.published = [_publish_import_daily(store, ledger, day, run_id) for day in sorted(days)]
    return result


def _publish_import_daily(
    store: Store, ledger: ImportLedger, day: dt.date, run_id: str
) -> PublishedPartition:
    """`import_daily` for one upload day, every source's row rebuilt from the ledger."""
    entries = ledger.frame.filter(pl.col("upload_date") == day)
    frame = (
        entries.group_by("source", "kind", maintain_order=True)
        .agg(
            pl.len().alias("objects"),
            (pl.col("status") == "rejected").sum().alias("objects_rejected"),
            *(pl.col(c).sum() for c in COUNT_COLUMNS),
        )
        .with_columns(pl.lit(run_id).alias("run_id"))
    )
    return publish_partition(store, IMPORT_DAILY, day, frame, run_id=run_id)
