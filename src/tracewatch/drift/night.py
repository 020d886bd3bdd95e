"""The nightly drift step in one call: profile the day, merge its reference, test, trend, publish, alert."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass

import polars as pl

from tracewatch.drift.alerts import Alert, drift_alerts, quality_alerts
from tracewatch.drift.checks import CheckResult, DriftReport, run_checks
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS
from tracewatch.drift.profile import DayProfile, build_day_profile
from tracewatch.drift.profile_store import write_profile
from tracewatch.drift.quality import (
    SCORE_COLUMNS,
    CusumState,
    QualityPoint,
    cusum_states,
    feedback_scores,
    quality_trends,
)
from tracewatch.drift.window import ReferenceWindow, load_reference
from tracewatch.ingest import scan_accepted
from tracewatch.reports import PublishedPartition, publish_partition
from tracewatch.reports.tables import DRIFT, QUALITY_TREND
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftNight:
    """What one night's drift step did: the profile written, the window used, results, alerts, partitions."""

    day: dt.date
    profile_key: str
    current_rows: int
    reference: ReferenceWindow
    report: DriftReport | None
    """None when there was nothing to compare (no reference day, or no trace on the day)."""
    quality: tuple[QualityPoint, ...]
    alerts: tuple[Alert, ...]
    published: tuple[PublishedPartition, ...]
    message: str


def drift_night(
    store: Store,
    day: dt.date,
    *,
    run_id: str,
    accepted: pl.DataFrame | None = None,
    config: DriftConfig | None = None,
    scores: pl.DataFrame | None = None,
) -> DriftNight:
    """Profile `day`, compare it with its reference window and publish the `drift` and `quality_trend` tables.

    `accepted` are the day's accepted traces (at least the `PROFILE_INPUT_COLUMNS` present) when the caller
    has them; otherwise they are read from the store. `scores` are extra daily scores (judges) with
    `quality.SCORE_COLUMNS`, covering the day and its reference days. Rerunning a date replaces its profile
    and both partitions. Quality CUSUMs continue from the previous date's `quality_trend` partition (nights
    run in date order, as the nightly and backfill flows do; a missing previous night restarts them at 0).
    With no reference profile yet (the first nights), no drift is claimed: the drift
    partition is written empty and the message says why.
    """
    config = config or DriftConfig()
    if accepted is None:
        accepted = scan_accepted(store, day, PROFILE_INPUT_COLUMNS)
    current = build_day_profile(accepted, day)
    key = write_profile(store, current)
    reference = load_reference(store, day, config)
    report = None
    if reference.profile is not None and reference.rows > 0 and current.rows > 0:
        report = run_checks(reference.profile, current, config)
    extra = scores if scores is not None else pl.DataFrame(schema=SCORE_COLUMNS)
    extra = extra.select(list(SCORE_COLUMNS)).cast(pl.Schema(SCORE_COLUMNS))
    all_scores = pl.concat([feedback_scores([*reference.daily, current]), extra])
    previous = previous_cusum(store, day)
    quality = tuple(quality_trends(all_scores, day, reference.found, config, previous))
    alerts: tuple[Alert, ...] = (
        *(drift_alerts(day, report.results) if report else []),
        *quality_alerts(quality),
    )
    published = (
        publish_partition(store, DRIFT, day, drift_frame(report, reference), run_id=run_id),
        publish_partition(store, QUALITY_TREND, day, quality_frame(quality), run_id=run_id),
    )
    message = _message(day, current, reference, report, quality)
    log.info("%s", message)
    return DriftNight(
        day=day,
        profile_key=key,
        current_rows=current.rows,
        reference=reference,
        report=report,
        quality=quality,
        alerts=alerts,
        published=published,
        message=message,
    )


def previous_cusum(store: Store, day: dt.date) -> dict[tuple[str, str], CusumState]:
    """The CUSUM states published the day before (none when that night did not run: the sums restart)."""
    key = partition_key(QUALITY_TREND.name, day - dt.timedelta(days=1))
    if not store.exists(key):
        return {}
    return cusum_states(store.read_parquet(key))


def drift_frame(report: DriftReport | None, reference: ReferenceWindow) -> pl.DataFrame:
    """The `drift` table rows of one night (zero rows when nothing was compared)."""
    fields = [f.name for f in dataclasses.fields(CheckResult)]
    rows = [dataclasses.astuple(r) for r in report.results] if report else []
    schema = {name: dtype for name, dtype in DRIFT.schema.items() if name in fields}
    frame = pl.DataFrame(rows, schema=[(f, schema[f]) for f in fields], orient="row")
    # The window asked for (reference_days says how many of its days had a profile), not just the days found.
    return frame.with_columns(
        pl.lit(reference.start, dtype=pl.Date).alias("reference_start"),
        pl.lit(reference.end, dtype=pl.Date).alias("reference_end"),
        pl.lit(len(reference.found), dtype=pl.Int64).alias("reference_days"),
    )


def quality_frame(points: tuple[QualityPoint, ...]) -> pl.DataFrame:
    """The `quality_trend` table rows of one night."""
    fields = [f.name for f in dataclasses.fields(QualityPoint) if f.name != "day"]
    rows = [tuple(getattr(p, f) for f in fields) for p in points]
    return pl.DataFrame(rows, schema=[(f, QUALITY_TREND.schema[f]) for f in fields], orient="row")


def _message(
    day: dt.date,
    current: DayProfile,
    reference: ReferenceWindow,
    report: DriftReport | None,
    quality: tuple[QualityPoint, ...],
) -> str:
    window = reference.describe()
    changed = [p.name for p in quality if p.changed]
    trend = f"; quality dropped: {', '.join(changed)}" if changed else ""
    if current.rows == 0:
        return f"drift {day}: no accepted trace on the day, nothing compared ({window}){trend}."
    if report is None:
        return (
            f"drift {day}: no drift claimed, {window} (the first nights have nothing to compare with){trend}."
        )
    drifted = report.drifted_features
    found = f"{len(drifted)} feature(s) drifted ({', '.join(drifted)})" if drifted else "no feature drifted"
    return f"drift {day}: {found}, drift share {report.drift_share:.0%}; {window}{trend}."
