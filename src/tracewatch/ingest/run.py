"""Ingest new trace files: read, validate, quarantine, and record them in the ledger.

Every row of every file ends up in exactly one place: accepted (readable from the source file through
`scan_accepted`) or in quarantine with its reasons. Source files are never modified or copied. The ledger
is the watermark: a file (key and version) in it is not read again unless its date is reprocessed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic

from tracewatch.ingest import quarantine
from tracewatch.ingest.accepted import scan_accepted
from tracewatch.ingest.checks import FileOutcome, check_date, in_threads
from tracewatch.ingest.duplicates import HASHES_MAX_ROWS
from tracewatch.ingest.file_checks import portable_suite
from tracewatch.ingest.ledger import Ledger, LedgerEntry, load_ledger
from tracewatch.ingest.night import TRACES_PREFIX, NightTraces, night_traces
from tracewatch.ingest.reducer import AcceptedRowsReducer, Part
from tracewatch.part_map import PartMap
from tracewatch.runs import new_run_id, utc_now
from tracewatch.store import ObjectInfo, Store
from tracewatch.validation import Suite, load_suite, trace_suite_path

log = logging.getLogger(__name__)


@dataclass
class IngestResult(Generic[Part]):
    """The outcome of one ingest run: per file, and the dates whose reports must be (re)built."""

    run_id: str
    files: list[FileOutcome] = field(default_factory=list)
    parts: dict[dt.date, Part] = field(default_factory=dict, repr=False)
    """Per date, the reducer's part of the rows accepted in this run (see `ingest_new_traces(reducer=...)`)."""
    night: NightTraces | None = None
    """The trace files and rows of the night ingested up to (`up_to`), new or not; None without `up_to`. Its
    `warning` says when the night has no traces, for the log and the night's summary."""

    @property
    def dates_touched(self) -> list[dt.date]:
        return sorted({f.date for f in self.files})

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read or 0 for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_rejected(self) -> int:
        return sum(f.status == "rejected" for f in self.files)


@dataclass(frozen=True)
class IngestPlan:
    """What an ingest will read, decided before any file is: the run, the suite, the ledger (reprocessed dates
    already forgotten and their old quarantine deleted) and the new files of each date."""

    run_id: str
    suite: Suite
    ledger: Ledger
    new_files: dict[dt.date, list[ObjectInfo]]
    files_per_date: Counter[dt.date]
    """The number of trace files of every date, new or not."""
    up_to: dt.date | None
    require_traces: bool


def plan_ingest(
    store: Store,
    *,
    up_to: dt.date | None = None,
    reprocess: tuple[dt.date, ...] = (),
    suite: Suite | None = None,
    run_id: str | None = None,
    require_traces: bool = False,
) -> IngestPlan:
    """The first step of `ingest_new_traces`: forget the reprocessed dates, list the files not in the ledger.

    With `require_traces`, a night (`up_to`) without any trace file raises `NoTracesError` here, before anything
    is read or written (so a store URL with a typo gets no reports)."""
    store.connect_soon()  # listing needs the S3 client; meanwhile the suite and the ledger are loaded
    suite = portable_suite(suite or load_suite(trace_suite_path()))  # it may travel to worker processes
    ledger = load_ledger(store)
    ledger.forget_dates(list(reprocess))
    with ThreadPoolExecutor(max_workers=1) as side:  # their old quarantine goes while traces/ is listed
        cleared = [
            side.submit(store.delete, f"{quarantine.QUARANTINE_PREFIX}/date={day.isoformat()}")
            for day in reprocess
        ]
        new_files, files_per_date = _new_files(store, ledger, up_to)
        for done in cleared:
            done.result()
    if require_traces and up_to is not None and not files_per_date[up_to]:
        night_traces(store.url, up_to, files_per_date, rows=0).require()
    return IngestPlan(
        run_id or new_run_id("ingest"), suite, ledger, new_files, files_per_date, up_to, require_traces
    )


def ingest_planned(
    store: Store,
    plan: IngestPlan,
    *,
    reducer: AcceptedRowsReducer[Part] | None = None,
    reduce_max_rows: int = 20_000_000,
    part_map: PartMap = in_threads,
    hashes_max_rows: int = HASHES_MAX_ROWS,
) -> IngestResult[Part]:
    """Ingest the planned files date by date: the per-file steps through `part_map`, then the date's ledger
    entries, saved before the next date starts (the ledger is written here only, after every file of the date is
    settled, so a step retried or killed part-way is read again on the rerun and counted once)."""
    ledger = plan.ledger
    result: IngestResult[Part] = IngestResult(run_id=plan.run_id)
    kept_rows = 0
    for day, objects in plan.new_files.items():
        # each file's part only within its share of the rows parts may still hold, so a date's parts stay
        # bounded whatever its size (a larger date gets none, and its stage reads it again its own way)
        share = (min(reducer.max_rows, reduce_max_rows - kept_rows) // len(objects)) if reducer else 0
        checked = check_date(
            store,
            ledger,
            day,
            objects,
            plan.suite,
            run_id=plan.run_id,
            reducer=reducer if share > 0 else None,
            part_max_rows=share,
            part_map=part_map,
            hashes_max_rows=hashes_max_rows,
        )
        result.files += checked.files
        ledger.record([_ledger_entry(outcome, plan.run_id) for outcome in checked.files])
        ledger.save(store)
        whole_date = ledger.for_date(day).height == len(objects)
        if reducer is not None and checked.part is not None and whole_date:
            result.parts[day] = checked.part
            kept_rows += reducer.rows(checked.part)
        log.info("ingested %d new file(s) for %s", len(objects), day)
    if plan.up_to is not None:
        rows = int(ledger.for_date(plan.up_to).get_column("rows_read").sum() or 0)
        result.night = night_traces(store.url, plan.up_to, plan.files_per_date, rows)
        if plan.require_traces:
            result.night.require()
        elif result.night.warning:
            log.warning("%s", result.night.warning)
    return result


def ingest_new_traces(
    store: Store,
    *,
    up_to: dt.date | None = None,
    reprocess: tuple[dt.date, ...] = (),
    suite: Suite | None = None,
    run_id: str | None = None,
    reducer: AcceptedRowsReducer[Part] | None = None,
    reduce_max_rows: int = 20_000_000,
    require_traces: bool = False,
    part_map: PartMap = in_threads,
    hashes_max_rows: int = HASHES_MAX_ROWS,
) -> IngestResult[Part]:
    """Ingest every trace file not yet in the ledger, in partitions up to `up_to` (inclusive).

    Dates in `reprocess` are forgotten first (ledger entries and quarantine records) and ingested again.
    With a `reducer` (monitoring's `METRIC_REDUCER`, say), the part of the accepted rows (made while the
    files are read) comes back in `result.parts` for dates whose every file was ingested in this run, so that
    a nightly run reads each new file once; up to `reduce_max_rows` rows in all and the reducer's `max_rows`
    a date (monitoring's parts hold two floats per row; other dates are read again by the stage that wants
    them).

    `require_traces` (with `up_to`, the night) raises `NoTracesError` when the night has no traces: before
    anything is read or written when it has no trace file (so a store URL with a typo gets no reports), after
    the ingest when its files hold no readable row. Without it, `result.night.warning` says so.

    The per-file steps (read, check, quarantine, reduce) run through `part_map` (threads here; the nightly
    flow passes its task runner); the plan, the duplicate check across files and the ledger stay in this
    process (`plan_ingest`, `ingest_planned`). The duplicate check holds at most about `hashes_max_rows` trace
    id hashes at once: past it they go through the store (`duplicates`).
    """
    plan = plan_ingest(
        store, up_to=up_to, reprocess=reprocess, suite=suite, run_id=run_id, require_traces=require_traces
    )
    return ingest_planned(
        store,
        plan,
        reducer=reducer,
        reduce_max_rows=reduce_max_rows,
        part_map=part_map,
        hashes_max_rows=hashes_max_rows,
    )


def _new_files(
    store: Store, ledger: Ledger, up_to: dt.date | None
) -> tuple[dict[dt.date, list[ObjectInfo]], Counter[dt.date]]:
    """The files of each `traces/date=D/` partition (D up to `up_to`) not in the ledger at their version, and
    the number of trace files of every date, new or not.

    One listing of the whole prefix (a thousand keys a round trip), not one per date: the dates come from
    the keys."""
    known = ledger.known_versions()
    found: dict[dt.date, list[ObjectInfo]] = {}
    files_per_date: Counter[dt.date] = Counter()
    ignored: set[str] = set()
    for obj in store.list_objects(TRACES_PREFIX, suffix=".parquet"):
        partition, _, rest = obj.key.removeprefix(f"{TRACES_PREFIX}/").partition("/")
        name, _, value = partition.partition("=")
        if name != "date" or not value or not rest:
            continue  # not in a date partition
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            if value not in ignored:
                log.warning("ignoring partition traces/date=%s: not a YYYY-MM-DD date", value)
                ignored.add(value)
            continue
        files_per_date[day] += 1
        if (up_to is None or day <= up_to) and (obj.key, obj.version) not in known:
            found.setdefault(day, []).append(obj)
    return dict(sorted(found.items())), files_per_date


def _ledger_entry(outcome: FileOutcome, run_id: str) -> LedgerEntry:
    return LedgerEntry(
        source_key=outcome.key,
        source_version=outcome.version,
        source_size=outcome.size,
        date=outcome.date,
        status=outcome.status,
        reason=outcome.reason,
        rows_read=outcome.rows_read,
        rows_accepted=outcome.rows_accepted,
        rows_quarantined=outcome.rows_quarantined,
        run_id=run_id,
        ingested_at=outcome.checked_at or utc_now(),
    )


__all__ = [
    "FileOutcome",
    "IngestPlan",
    "IngestResult",
    "ingest_new_traces",
    "ingest_planned",
    "plan_ingest",
    "scan_accepted",
]
