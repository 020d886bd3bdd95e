"""Quality trends: a drop beyond the z threshold is a change and an alert; a steady or thin history is not."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.drift import DriftConfig, alert_event, alert_rows, alerts_markdown, quality_trends
from tracewatch.drift.alerts import Alert, drift_alerts, quality_alerts
from tracewatch.drift.checks import CheckResult
from tracewatch.drift.quality import SCORE_COLUMNS

DAY = dt.date(2026, 11, 10)
HISTORY = [0.61, 0.6, 0.63, 0.59, 0.62, 0.6, 0.61]


def _scores(today: float, history: list[float] = HISTORY) -> pl.DataFrame:
    days = [DAY - dt.timedelta(days=len(history) - i) for i in range(len(history))]
    rows = [(d, "thumbs", "feedback", m, 600, 0.49) for d, m in zip(days, history, strict=True)]
    rows.append((DAY, "thumbs", "feedback", today, 600, 0.49))
    rows.append((DAY, "faithfulness", "judge", 0.8, 50, 0.1))  # no history: reported, never judged
    return pl.DataFrame(rows, schema=SCORE_COLUMNS, orient="row")


def _reference(n: int = len(HISTORY)) -> list[dt.date]:
    return [DAY - dt.timedelta(days=i) for i in range(n, 0, -1)]


def test_a_drop_is_a_change_and_an_alert() -> None:
    points = {p.name: p for p in quality_trends(_scores(0.36), DAY, _reference(), DriftConfig())}
    thumbs = points["thumbs"]
    assert thumbs.changed and thumbs.z_score is not None and thumbs.z_score < -3.5
    assert thumbs.reference_days == 7 and "dropped" in thumbs.message
    assert not points["faithfulness"].changed and points["faithfulness"].z_score is None
    alerts = quality_alerts(list(points.values()))
    assert [(a.feature, a.kind) for a in alerts] == [("thumbs", "quality")]


def test_a_steady_day_and_a_rise_are_not_changes() -> None:
    for today in (0.605, 0.9):
        points = quality_trends(_scores(today), DAY, _reference(), DriftConfig())
        assert not any(p.changed for p in points)


def test_too_few_reference_days_claim_nothing() -> None:
    points = quality_trends(_scores(0.1, HISTORY[:2]), DAY, _reference(2), DriftConfig())
    thumbs = next(p for p in points if p.name == "thumbs")
    assert not thumbs.changed and thumbs.z_score is None and "3 needed" in thumbs.message


def test_alert_rows_and_markdown_list_every_alert() -> None:
    drifted = CheckResult(
        feature="latency_ms",
        kind="numeric",
        role="test",
        method="wasserstein",
        statistic=0.4,
        threshold=0.1,
        p_value=None,
        drifted=True,
        direction="statistic at or above threshold is drift",
        reference_size=10,
        current_size=5,
        reference_start=DAY,
        reference_end=DAY,
        message="latency_ms drifted | a lot.",
    )
    stable = CheckResult(**{**drifted.__dict__, "feature": "route", "drifted": False})
    alerts: list[Alert] = [
        *drift_alerts(DAY, [drifted, stable]),
        *quality_alerts(quality_trends(_scores(0.3), DAY, _reference(), DriftConfig())),
    ]
    rows = alert_rows(alerts)
    assert [(r["kind"], r["feature"]) for r in rows] == [("drift", "latency_ms"), ("quality", "thumbs")]
    assert set(rows[0]) == {"date", "kind", "feature", "statistic", "threshold", "message"}
    markdown = alerts_markdown(DAY, alerts, summary="2 alerts")
    assert "| drift | latency_ms | 0.4 | 0.1 | latency_ms drifted \\| a lot. |" in markdown
    assert "thumbs" in markdown and "2 alerts" in markdown
    assert "No drift or quality alert." in alerts_markdown(DAY, [])
    name, resource, payload = alert_event(alerts[1])
    assert (name, resource) == ("tracewatch.quality.dropped", "tracewatch.feature.thumbs")
    assert payload["day"] == DAY.isoformat() and payload["statistic"] < -3.5
    assert alert_event(alerts[0])[0] == "tracewatch.drift.detected"
