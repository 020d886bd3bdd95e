"""The nightly drift step in one call: profile the day, merge its usable reference days, test, trend, decide
what pages (`decision`), publish, and record the night for the next reference (`baseline`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.drift.alerts import Alert, drift_alerts, quality_alerts
from tracewatch.drift.baseline import read_state, write_state
from tracewatch.drift.checks import CheckResult, DriftReport, run_checks
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.decision import decide_night, warm_up_reason
from tracewatch.drift.distributions import distribution_frame
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS
from tracewatch.drift.profile import DayProfile, build_day_profile, merge_profiles
from tracewatch.drift.profile_store import read_profiles, write_profile
from tracewatch.drift.quality import (
    CusumState,
    QualityPoint,
    cusum_states,
    feedback_scores,
    quality_trends,
)
from tracewatch.drift.results import SUSTAINED_SUFFIX
from tracewatch.drift.sustained import sustained_results, with_sustained
from tracewatch.drift.window import ReferenceWindow, load_reference, reference_dates
from tracewatch.ingest import scan_accepted
from tracewatch.reports import (
    DAILY_SCORE_COLUMNS,
    DRIFT,
    DRIFT_DISTRIBUTIONS,
    QUALITY_TREND,
    PublishedPartition,
    partition_key,
    publish_partition,
)
from tracewatch.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NightAssessment:
    """One night judged: the drift tests, the quality points, what paged, and why nothing could (warm-up)."""

    report: DriftReport | None
    """None when there was nothing to compare (no reference day, or no trace on the day)."""
    quality: tuple[QualityPoint, ...]
    alerts: tuple[Alert, ...]
    warming_up: str | None
    """Why no alert could be raised yet (a thin reference), else None."""
    reference: DayProfile | None = None
    """The merged reference days the tests compared with (None without reference days)."""

    @property
    def results(self) -> tuple[CheckResult, ...]:
        return self.report.results if self.report is not None else ()

    def cusum_states(self) -> dict[tuple[str, str], CusumState]:
        """The quality CUSUMs after this night, to carry into the next one."""
        return {
            (p.name, p.source): CusumState(p.cusum, p.cusum_reference_mean, p.cusum_reference_sd)
            for p in self.quality
            if p.cusum is not None and p.cusum_reference_mean is not None and p.cusum_reference_sd is not None
        }


def assess_night(
    reference_days: Sequence[DayProfile],
    current: DayProfile,
    config: DriftConfig,
    *,
    previous: Mapping[tuple[str, str], CusumState] | None = None,
    scores: pl.DataFrame | None = None,
    earlier: Sequence[DayProfile] = (),
) -> NightAssessment:
    """Judge `current` against its reference days (oldest first): drift tests (the night's own and the
    sustained ones, `sustained`), quality trends, then the night's decision (`decision.decide_night`). Pure: no
    store. `scores` are extra daily scores with `reports.DAILY_SCORE_COLUMNS` covering the day and its reference
    days; `previous` the CUSUMs of the night before; `earlier` usable days before the reference days, which the
    sustained test's reference reaches into for the days its pool takes out (without them it is shorter).
    """
    reference = merge_profiles(reference_days) if reference_days else None
    report = None
    if reference is not None and reference.rows > 0 and current.rows > 0:
        report = run_checks(reference, current, config, reference_days)
        report = with_sustained(report, sustained_results(reference_days, current, config, earlier))
    extra = scores if scores is not None else pl.DataFrame(schema=DAILY_SCORE_COLUMNS)
    extra = extra.select(list(DAILY_SCORE_COLUMNS)).cast(pl.Schema(DAILY_SCORE_COLUMNS))
    all_scores = pl.concat([feedback_scores([*reference_days, current]), extra])
    dates = [d for p in reference_days for d in p.dates]
    quality = quality_trends(all_scores, current.day, dates, config, previous)
    warming = warm_up_reason(len(reference_days), reference.rows if reference else 0, config)
    report, points = decide_night(report, quality, config, warming_up=warming is not None)
    alerts: tuple[Alert, ...] = (
        *(drift_alerts(current.day, report.results) if report else []),
        *quality_alerts(points),
    )
    return NightAssessment(report, points, alerts, warming, reference)


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
    warming_up: str | None = None


def detect_drift(
    store: Store,
    day: dt.date,
    *,
    run_id: str,
    accepted: pl.DataFrame | None = None,
    config: DriftConfig | None = None,
    scores: pl.DataFrame | None = None,
    rebaseline_from: dt.date | None = None,
    profile: DayProfile | None = None,
) -> DriftNight:
    """Profile `day`, compare it with its reference window and publish the `drift` and `quality_trend` tables.

    `accepted` are the day's accepted traces (at least the `PROFILE_INPUT_COLUMNS` present) when the caller
    has them; otherwise they are read from the store. `scores` are extra daily scores (production-trace
    scores) with `reports.DAILY_SCORE_COLUMNS`, covering the day and its reference days. `rebaseline_from` accepts
    the traffic from that date as the new normal (`baseline`). Rerunning a date replaces its profile, both
    partitions and its entry in the baseline state. Quality CUSUMs continue from the previous date's
    `quality_trend` partition (nights run in date order, as the nightly and backfill flows do; a missing
    previous night restarts them at 0). With no reference profile yet (the first nights), no drift is claimed:
    the drift partition is written empty and the message says why. `profile` is the day's profile when the
    caller built it already (file by file, `profile_parts.profile_from_files`); then no trace is read here.
    """
    config = config or DriftConfig()
    if profile is not None:
        current = profile
    else:
        if accepted is None:
            accepted = scan_accepted(store, day, PROFILE_INPUT_COLUMNS)
        current = build_day_profile(accepted, day)
    key = write_profile(store, current)
    state = read_state(store)
    if rebaseline_from is not None:
        state = state.rebaselined(rebaseline_from, day)
    excluded = state.excluded() if config.exclude_alerted_days else frozenset()
    reference = load_reference(store, day, config, excluded, state.earliest(day))
    earlier = earlier_days(store, day, config, excluded, state.earliest(day))
    night = assess_night(
        reference.daily,
        current,
        config,
        previous=previous_cusum(store, day),
        scores=scores,
        earlier=earlier,
    )
    published = (
        publish_partition(store, DRIFT, day, drift_frame(night.report, reference), run_id=run_id),
        publish_partition(store, QUALITY_TREND, day, quality_frame(night.quality), run_id=run_id),
        publish_partition(
            store, DRIFT_DISTRIBUTIONS, day, distributions(night, current, config), run_id=run_id
        ),
    )
    write_state(store, state.with_night(day, tuple(sorted({a.feature for a in night.alerts}))))
    message = _message(day, current, reference, night)
    log.info("%s", message)
    return DriftNight(
        day=day,
        profile_key=key,
        current_rows=current.rows,
        reference=reference,
        report=night.report,
        quality=night.quality,
        alerts=night.alerts,
        published=published,
        message=message,
        warming_up=night.warming_up,
    )


def earlier_days(
    store: Store,
    day: dt.date,
    config: DriftConfig,
    excluded: Collection[dt.date],
    earliest: dt.date | None,
) -> tuple[DayProfile, ...]:
    """The usable days just before a rolling reference window, as many as the sustained test's pool takes out
    of it (none with a pinned baseline, or with the sustained test off)."""
    extra = config.sustained_nights - 1
    if config.baseline is not None or extra < 1:
        return ()
    dates = reference_dates(day, config, excluded, earliest, count=config.reference_days + extra)
    profiles = read_profiles(store, dates[: max(len(dates) - config.reference_days, 0)])
    return tuple(profiles[d] for d in sorted(profiles))


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
    # The window asked for (reference_days says how many of its days had a profile), not just the days found;
    # a sustained row keeps its own reference span (the days outside its pool).
    own = pl.col("method").str.ends_with(SUSTAINED_SUFFIX) & (pl.col("role") == "test")
    return frame.with_columns(
        pl.when(own).then(pl.col("reference_start")).otherwise(pl.lit(reference.start, dtype=pl.Date)),
        pl.when(own).then(pl.col("reference_end")).otherwise(pl.lit(reference.end, dtype=pl.Date)),
        pl.lit(len(reference.found), dtype=pl.Int64).alias("reference_days"),
    )


def distributions(night: NightAssessment, current: DayProfile, config: DriftConfig) -> pl.DataFrame:
    """The `drift_distributions` rows of the features the night tested (zero rows when nothing was compared)."""
    tested = list(dict.fromkeys(r.feature for r in night.results if r.role == "test"))
    if night.reference is None or not tested:
        return distribution_frame(current, current, (), config)
    return distribution_frame(night.reference, current, tested, config)


def quality_frame(points: tuple[QualityPoint, ...]) -> pl.DataFrame:
    """The `quality_trend` table rows of one night."""
    fields = [f.name for f in dataclasses.fields(QualityPoint) if f.name != "day"]
    rows = [tuple(getattr(p, f) for f in fields) for p in points]
    return pl.DataFrame(rows, schema=[(f, QUALITY_TREND.schema[f]) for f in fields], orient="row")


def _message(day: dt.date, current: DayProfile, reference: ReferenceWindow, night: NightAssessment) -> str:
    window = reference.describe()
    worse = [p.name for p in night.quality if p.alert]
    trend = f"; quality worse: {', '.join(worse)}" if worse else ""
    warming = f"; no alert: {night.warming_up}" if night.warming_up else ""
    if current.rows == 0:
        return f"drift {day}: no accepted trace on the day, nothing compared ({window}){trend}{warming}."
    report = night.report
    if report is None:
        return (
            f"drift {day}: no drift claimed, {window} (the first nights have nothing to compare with)"
            f"{trend}{warming}."
        )
    drifted = report.drifted_features
    found = f"{len(drifted)} feature(s) alerted ({', '.join(drifted)})" if drifted else "no feature alerted"
    return f"drift {day}: {found} of {len(report.tests)} tested; {window}{trend}{warming}."
