"""Ingest late feedback: new `feedback/date=D/*.parquet` files -> checked events -> attached to their traces.

The same ledger rules as traces (its own ledger, `warehouse/state/feedback_ledger.parquet`): a file (key and
version) is read once, a rewritten or late file is read again, rejected rows and files are quarantined with
reasons. Accepted events are attached to their traces by id whatever the dates; the trace dates whose
feedback changed are returned, with why, so the nightly rebuilds their reports (as for a late trace file).
Events whose trace is unknown wait; after `orphan_after` they are published as `feedback_orphans`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from tracewatch.ingest.feedback_attach import ATTACHED_SCHEMA, attach, distinct_events, trace_index
from tracewatch.ingest.feedback_files import (
    FEEDBACK_PREFIX,
    CheckedFeedback,
    check_feedback_file,
    feedback_quarantine_keys,
    load_feedback_suite,
    write_feedback_quarantine,
)
from tracewatch.ingest.feedback_overlay import feedback_dates
from tracewatch.ingest.ledger import LedgerEntry, load_ledger
from tracewatch.reports import FEEDBACK_ORPHANS, PublishedPartition, publish_partition
from tracewatch.runs import new_run_id, utc_now
from tracewatch.store import ObjectInfo, Store
from tracewatch.validation import Suite

log = logging.getLogger(__name__)

FEEDBACK_LEDGER_KEY = "warehouse/state/feedback_ledger.parquet"
PENDING_KEY = "warehouse/feedback/pending.parquet"
ORPHANED_PREFIX = "warehouse/feedback/orphaned"
READ_AHEAD = 8
"""Feedback files read and checked at once."""


@dataclass(frozen=True)
class RebuiltDate:
    """A trace date whose reports are rebuilt because late feedback changed, and what changed."""

    date: dt.date
    events: int
    names: dict[str, int]

    @property
    def why(self) -> str:
        names = ", ".join(f"{name} {count}" for name, count in sorted(self.names.items()))
        return f"{self.events} late feedback event(s) attached ({names})"


@dataclass
class FeedbackResult:
    """One late-feedback ingest: files, events and where they went, and the trace dates to rebuild."""

    run_id: str
    files: int = 0
    files_rejected: int = 0
    rows_read: int = 0
    rows_quarantined: int = 0
    duplicates: int = 0
    replaced: int = 0
    waiting: int = 0
    orphaned: int = 0
    rebuilt: list[RebuiltDate] = field(default_factory=list)
    with_feedback: set[dt.date] = field(default_factory=set)
    """every trace date that has late feedback attached (their reports are built from the store)"""
    published: list[PublishedPartition] = field(default_factory=list)

    @property
    def dates_rebuilt(self) -> list[dt.date]:
        return [r.date for r in self.rebuilt]

    def markdown(self) -> str:
        """The night summary's section: which days were rebuilt and why, and what waits or was given up."""
        lines = [
            f"- {self.files} new feedback file(s), {self.rows_read} event(s) read, {self.rows_quarantined} "
            f"quarantined ({self.files_rejected} file(s) rejected whole), {self.duplicates} duplicate(s) counted "
            f"once, {self.replaced} earlier value(s) replaced by a later one",
            f"- {self.waiting} event(s) wait for their trace; {self.orphaned} orphaned tonight "
            "(report `feedback_orphans`)",
        ]
        if not self.rebuilt:
            return "\n".join([*lines, "- No day rebuilt for late feedback."])
        rebuilt = [f"- {r.date}: rebuilt: {r.why}" for r in self.rebuilt]
        return "\n".join(
            [*lines, "", "Days rebuilt (monitoring, trace quality, drift profile and trends):", *rebuilt]
        )


def ingest_new_feedback(
    store: Store,
    *,
    up_to: dt.date | None = None,
    orphan_after: dt.timedelta = dt.timedelta(hours=72),
    run_id: str | None = None,
    now: dt.datetime | None = None,
    suite: Suite | None = None,
) -> FeedbackResult:
    """Ingest the feedback files not yet in the feedback ledger (partitions up to `up_to`), attach their events
    to their traces, and publish tonight's orphans (`feedback_orphans` for `up_to`, or today).

    Run it after the trace ingest of the night: feedback for a trace that arrived tonight attaches tonight."""
    run_id = run_id or new_run_id("feedback")
    now = now or utc_now()
    suite = suite or load_feedback_suite()
    ledger = load_ledger(store, FEEDBACK_LEDGER_KEY)
    known = ledger.known_versions()
    result = FeedbackResult(run_id=run_id)
    new_files = [(day, obj) for day, objects in _new_files(store, known, up_to).items() for obj in objects]
    stale = feedback_quarantine_keys(store) if new_files else set()

    def check(item: tuple[dt.date, ObjectInfo]) -> CheckedFeedback:
        day, obj = item
        checked = check_feedback_file(store, obj.key, obj.version, day, suite, run_id=run_id, at=now)
        write_feedback_quarantine(store, day, checked, stale)
        return checked

    fresh: list[pl.DataFrame] = []
    entries: list[LedgerEntry] = []
    with ThreadPoolExecutor(max_workers=READ_AHEAD) as pool:  # S3 round trips overlap; polars frees the GIL
        for (day, obj), checked in zip(new_files, pool.map(check, new_files), strict=True):
            quarantined = checked.quarantined.height if checked.reason is None else checked.rows or 0
            result.files += 1
            result.files_rejected += checked.reason is not None
            result.rows_read += checked.rows or 0
            result.rows_quarantined += quarantined
            fresh.append(
                checked.accepted.select(
                    *(pl.col(c) for c in ("trace_id", "name", "value", "source", "created_at")),
                    feedback_date=pl.lit(day, pl.Date),
                    source_key=pl.lit(obj.key),
                    ingested_at=pl.lit(now, pl.Datetime("us", "UTC")),
                    run_id=pl.lit(run_id),
                )
            )
            entries.append(_entry(obj, day, checked.rows, quarantined, checked.reason, run_id, now))
    ledger.record(entries)
    candidates = pl.concat([_read_pending(store), *fresh]).cast(ATTACHED_SCHEMA)  # type: ignore[arg-type]
    if candidates.height:
        index = trace_index(store, load_ledger(store), candidates.get_column("trace_id"))
    else:  # nothing waits: the index is brought up to date on the next night that needs it
        index = pl.DataFrame(schema={"trace_id": pl.String(), "date": pl.Date()})
    found = candidates.join(index, on="trace_id", how="left", maintain_order="left")
    # the run that attaches an event owns it, so a waiting event whose trace arrived tonight rebuilds its date
    resolved = found.filter(pl.col("date").is_not_null()).with_columns(run_id=pl.lit(run_id))
    attached = attach(store, resolved, run_id)
    result.duplicates += attached.duplicates
    result.replaced += attached.replaced
    result.rebuilt = [
        RebuiltDate(day, events.height, dict(Counter(events.get_column("name").to_list())))
        for day, events in sorted(attached.changed.items())
    ]
    unknown, duplicates = distinct_events(found.filter(pl.col("date").is_null()).drop("date"))
    result.duplicates += duplicates
    night = up_to or now.date()
    clock = _night_end(up_to) if up_to is not None else now
    result.orphaned, result.published = _give_up(store, unknown, clock, orphan_after, night, run_id)
    still = unknown.filter(clock - pl.col("created_at") < orphan_after)
    store.write_parquet(PENDING_KEY, still)
    result.waiting = still.height
    ledger.save(store)  # last: a run that failed before this reads its files again, and duplicates count once
    result.with_feedback = feedback_dates(store)
    log.info(
        "late feedback: %d file(s), %d day(s) rebuilt, %d waiting, %d orphaned",
        result.files,
        len(result.rebuilt),
        result.waiting,
        result.orphaned,
    )
    return result


def _give_up(
    store: Store,
    unknown: pl.DataFrame,
    now: dt.datetime,
    after: dt.timedelta,
    night: dt.date,
    run_id: str,
) -> tuple[int, list[PublishedPartition]]:
    """Publish tonight's orphans: the night's earlier orphans (a rerun keeps them) plus those whose wait ran out
    by the night's clock (`now`: the end of the night; the wait counts from the event's `created_at`)."""
    hours = after.total_seconds() / 3600
    waited = (pl.lit(now, pl.Datetime("us", "UTC")) - pl.col("created_at")).dt.total_seconds() / 3600
    orphans = unknown.filter(now - pl.col("created_at") >= after).select(
        *(c for c in ("trace_id", "name", "value", "source", "created_at", "feedback_date", "source_key")),
        first_seen_at=pl.col("ingested_at"),
        waited_hours=waited,
        reason=pl.concat_str(
            pl.lit("no trace with id "),
            pl.col("trace_id"),
            pl.lit(" by the end of the night, "),
            waited.round(1).cast(pl.String),
            pl.lit(f" h after the feedback was given (it waits {hours:.1f} h)"),
        ),
    )
    if orphans.is_empty() and not store.exists(_orphaned_key(night)):
        return 0, []
    kept = _read_orphaned(store, night)
    together = pl.concat([kept, orphans.cast(kept.schema)]) if kept is not None else orphans  # type: ignore[arg-type]
    store.write_parquet(_orphaned_key(night), together)
    published = publish_partition(store, FEEDBACK_ORPHANS, night, together, run_id=run_id)
    return orphans.height, [published]


def _night_end(night: dt.date) -> dt.datetime:
    """The clock a night's waits are read on: the end of its day (UTC), not the wall clock, so a rerun, a
    backfill of old nights and the demo's fourteen nights in a row orphan the same events as the nights did."""
    return dt.datetime.combine(night + dt.timedelta(days=1), dt.time(), dt.UTC)


def _orphaned_key(night: dt.date) -> str:
    return f"{ORPHANED_PREFIX}/date={night.isoformat()}.parquet"


def _read_orphaned(store: Store, night: dt.date) -> pl.DataFrame | None:
    try:
        return store.read_parquet(_orphaned_key(night))
    except FileNotFoundError:
        return None


def _read_pending(store: Store) -> pl.DataFrame:
    try:
        return store.read_parquet(PENDING_KEY)
    except FileNotFoundError:
        return pl.DataFrame(schema=ATTACHED_SCHEMA)


def _new_files(
    store: Store, known: set[tuple[str, str]], up_to: dt.date | None
) -> dict[dt.date, list[ObjectInfo]]:
    """The feedback files of each date partition (up to `up_to`) not in the ledger at their version."""
    found: dict[dt.date, list[ObjectInfo]] = {}
    for obj in store.list_objects(FEEDBACK_PREFIX, suffix=".parquet"):
        partition, _, rest = obj.key.removeprefix(f"{FEEDBACK_PREFIX}/").partition("/")
        name, _, value = partition.partition("=")
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            log.warning("ignoring %s: not in a feedback/date=YYYY-MM-DD/ partition", obj.key)
            continue
        if (
            name == "date"
            and rest
            and (up_to is None or day <= up_to)
            and (obj.key, obj.version) not in known
        ):
            found.setdefault(day, []).append(obj)
    return dict(sorted(found.items()))


def _entry(
    obj: ObjectInfo,
    day: dt.date,
    rows: int | None,
    quarantined: int,
    reason: str | None,
    run_id: str,
    at: dt.datetime,
) -> LedgerEntry:
    status = "rejected" if reason else ("partial" if quarantined else "accepted")
    return LedgerEntry(
        source_key=obj.key,
        source_version=obj.version,
        source_size=obj.size,
        date=day,
        status=status,
        reason=reason,
        rows_read=rows,
        rows_accepted=(rows or 0) - quarantined,
        rows_quarantined=quarantined,
        run_id=run_id,
        ingested_at=at,
    )
