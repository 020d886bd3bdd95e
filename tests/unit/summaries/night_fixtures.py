"""Drift nights as the drift step returns them, built by hand with messages in the shapes `drift.family` and
`drift.quality` write (copied from a demo run), so the summary is tested without running the drift tests."""

from __future__ import annotations

import datetime as dt

from tracewatch.drift import (
    Alert,
    CheckResult,
    DriftAlert,
    DriftNight,
    DriftReport,
    QualityAlert,
    ReferenceWindow,
)

NIGHT = dt.date(2026, 11, 10)
LATENCY_MESSAGE = (
    "ALERT: latency_ms: CMH chi-square p-value on reference deciles 1.01e-147 within route x model segments "
    "(9 of 12 compared); normalised Wasserstein distance 0.43 (an alert needs 0.1: floor); mean 2291 vs 1286 in "
    "the reference (higher); the distance is to the reference re-weighted to today's route x model mix. "
    "Adjusted p 1.12e-146 (alert below 0.01)."
)
MODEL_MESSAGE = (
    "ALERT: model: chi-square p-value 5.54e-239 pooled (a segment column is itself the mix); largest share change "
    "0.362 (an alert needs 0.02: floor); largest change: gpt-4o-mini-2026-10 0.0% -> 36.2%. Adjusted p 1.22e-237 "
    "(alert below 0.01)."
)


def latency(day: dt.date) -> DriftAlert:
    return DriftAlert(
        day=day,
        feature="latency_ms",
        method="binned_cmh_chisquare",
        statistic=700.0,
        threshold=0.01,
        p_value=1e-147,
        direction="alert when ...",
        message=LATENCY_MESSAGE,
        p_value_adjusted=1.12e-146,
        effect_measure="normalised Wasserstein distance",
        effect_size=0.43,
    )


def model(day: dt.date) -> DriftAlert:
    return DriftAlert(
        day=day,
        feature="model",
        method="chisquare",
        statistic=1100.0,
        threshold=0.01,
        p_value=5.54e-239,
        direction="alert when ...",
        message=MODEL_MESSAGE,
        p_value_adjusted=1.22e-237,
        effect_measure="largest share change",
        effect_size=0.362,
    )


def thumbs(day: dt.date) -> QualityAlert:
    return QualityAlert(
        day=day,
        feature="thumbs",
        source="feedback",
        statistic=-5.48,
        threshold=0.01,
        mean=0.377,
        reference_mean=0.641,
        direction="lower is worse",
        message="thumbs dropped (worse) by z_score and cusum: mean 0.377 vs 0.641 over 7 reference day(s)",
        detector="z_score+cusum",
        p_value_adjusted=0.00213,
    )


def _test_row(feature: str) -> CheckResult:
    return CheckResult(
        feature=feature,
        kind="numeric",
        role="test",
        method="binned_chisquare",
        statistic=1.0,
        threshold=0.01,
        p_value=0.5,
        drifted=False,
        direction="alert when ...",
        reference_size=2800,
        current_size=400,
        reference_start=None,
        reference_end=None,
        message=f"{feature}: no change",
    )


def night(
    day: dt.date, *alerts: Alert, tested: int = 20, rows: int = 400, warming_up: str | None = None
) -> DriftNight:
    """A night compared with the 7 days before it (`tested` features), or with nothing when `tested` is 0."""
    start, end = day - dt.timedelta(days=7), day - dt.timedelta(days=1)
    found = tuple(start + dt.timedelta(days=i) for i in range(7)) if tested else ()
    reference = ReferenceWindow(start, end, found, (), None, ())
    report = DriftReport(tuple(_test_row(f"f{i}") for i in range(tested)), 0.0, False, ()) if tested else None
    return DriftNight(
        day=day,
        profile_key=f"warehouse/profiles/date={day}/profile.json",
        current_rows=rows,
        reference=reference,
        report=report,
        quality=(),
        alerts=alerts,
        published=(),
        message=f"drift {day}: a long message that must not be what a person reads first",
        warming_up=warming_up,
    )
