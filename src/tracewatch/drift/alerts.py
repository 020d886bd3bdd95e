"""Alerts as plain data: what the flow turns into Prefect events and an artifact (the library never does)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tracewatch.drift.checks import CheckResult
from tracewatch.drift.quality import QualityPoint


@dataclass(frozen=True)
class DriftAlert:
    """A feature (or the dataset) that alerted on the night (`decision.decide_night`)."""

    day: dt.date
    feature: str
    method: str
    statistic: float
    threshold: float
    p_value: float | None
    direction: str
    message: str
    kind: str = "drift"
    p_value_adjusted: float | None = None
    effect_measure: str | None = None
    effect_size: float | None = None


@dataclass(frozen=True)
class QualityAlert:
    """A score whose daily mean changed for the worse against its reference days, and which detector found it."""

    day: dt.date
    feature: str
    """The score name (feedback or judge), so both alert kinds share one column in a table."""
    source: str
    statistic: float
    """The z-score when the one-sided test fired, else the CUSUM."""
    threshold: float
    """alpha (for the adjusted p-value) for the test, cusum_h for the CUSUM."""
    mean: float
    reference_mean: float
    direction: str
    message: str
    kind: str = "quality"
    detector: str = "z_score"
    """`z_score`, `cusum`, or `z_score+cusum` when both fired."""
    p_value_adjusted: float | None = None


Alert = DriftAlert | QualityAlert


def drift_alerts(day: dt.date, results: Sequence[CheckResult]) -> list[DriftAlert]:
    """One alert per feature that alerted, plus one for the dataset when its share of alerts is reached. A
    feature whose night's own test and sustained test both alerted gets one alert, the night's own (first)."""
    paging = {r.feature: r for r in reversed(results) if r.alert and r.role in ("test", "dataset")}
    return [
        DriftAlert(
            day=day,
            feature=r.feature,
            method=r.method,
            statistic=r.statistic,
            threshold=r.threshold,
            p_value=r.p_value,
            direction=r.direction,
            message=r.message,
            p_value_adjusted=r.p_value_adjusted,
            effect_measure=r.effect_measure,
            effect_size=r.effect_size,
        )
        for r in results
        if paging.get(r.feature) is r
    ]


def quality_alerts(points: Sequence[QualityPoint]) -> list[QualityAlert]:
    """One alert per score that alerted, by either detector (the test's numbers when both fired)."""
    alerts = []
    for p in points:
        if not p.alert or p.detector is None:
            continue
        by_z = p.detector.startswith("z_score") and p.z_score is not None
        statistic, threshold = (p.z_score, p.threshold) if by_z else (p.cusum, p.cusum_threshold)
        reference_mean = p.reference_mean if p.reference_mean is not None else p.cusum_reference_mean
        alerts.append(
            QualityAlert(
                day=p.day,
                feature=p.name,
                source=p.source,
                statistic=float(statistic or 0.0),
                threshold=float(threshold or 0.0),
                mean=p.mean,
                reference_mean=float(reference_mean or 0.0),
                direction=p.direction,
                message=p.message,
                detector=p.detector,
                p_value_adjusted=p.p_value_adjusted,
            )
        )
    return alerts


def alert_event(alert: Alert) -> tuple[str, str, dict[str, Any]]:
    """(event name, resource id, JSON-friendly payload) for one alert, e.g. for a Prefect event.

    Names are `tracewatch.drift.detected` and `tracewatch.quality.dropped`; the resource id names the
    feature, so an automation can match one feature (`tracewatch.feature.latency_ms`) or all of them.
    """
    name = "tracewatch.drift.detected" if alert.kind == "drift" else "tracewatch.quality.dropped"
    payload = {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in asdict(alert).items()}
    return name, f"tracewatch.feature.{alert.feature}", payload


def alert_rows(alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """Rows for a table artifact: kind, feature, the adjusted p-value, statistic, threshold, message (dates as
    ISO strings)."""
    rows = []
    for alert in alerts:
        row = {
            k: v
            for k, v in asdict(alert).items()
            if k in ("kind", "feature", "p_value_adjusted", "statistic", "threshold", "message")
        }
        rows.append({"date": alert.day.isoformat(), **row})
    return rows


def alerts_markdown(day: dt.date, alerts: Sequence[Alert], *, summary: str = "") -> str:
    """A markdown summary of the night's alerts, for an artifact."""
    lines = [f"# Drift and quality on {day.isoformat()}", ""]
    if summary:
        lines += [summary, ""]
    if not alerts:
        return "\n".join([*lines, "No drift or quality alert."]) + "\n"
    lines += ["| kind | feature | adjusted p | message |", "|---|---|---|---|"]
    for row in alert_rows(alerts):
        message = str(row["message"]).replace("|", "\\|")
        adjusted = "-" if row["p_value_adjusted"] is None else f"{row['p_value_adjusted']:.3g}"
        lines.append(f"| {row['kind']} | {row['feature']} | {adjusted} | {message} |")
    return "\n".join(lines) + "\n"
