"""The nightly drift step as Prefect tasks: the day's profile file by file on the flow's task runner
(`day_profile`, from the flow's body), one library call for the day, then one Prefect event per alert
(so users can wire automations, e.g. e-mail or Slack, to `tracewatch.drift.detected` and
`tracewatch.quality.dropped`) and the artifacts that list what drifted and by how much."""

from __future__ import annotations

import datetime as dt
import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.common import stage_task
from flows.task_runners import on_task_runner
from tracewatch.drift import (
    Alert,
    DayProfile,
    DriftConfig,
    DriftNight,
    alert_event,
    alert_rows,
    detect_drift,
    profile_from_files,
)
from tracewatch.scoring import score_history
from tracewatch.store import Store


def day_profile(store: Store, day: dt.date) -> DayProfile:
    """The day's profile, each file's part a task on the flow's task runner (call it from the flow's body):
    the profile of the whole day, without one process reading the day."""
    return profile_from_files(store, day, part_map=on_task_runner)


@stage_task
def drift_day(
    store: Store,
    day: dt.date,
    run_id: str,
    rebaseline_from: dt.date | None = None,
    config: DriftConfig | None = None,
    profile: DayProfile | None = None,
) -> DriftNight:
    """Profile the day (unless `profile` is given: `day_profile`), test it against its reference, trend
    feedback and production scores, decide what pages, publish."""
    config = config or DriftConfig()
    history_start = day - dt.timedelta(days=config.reference_lookback_days)
    scores = score_history(store, history_start, day)
    return detect_drift(
        store,
        day,
        run_id=run_id,
        config=config,
        scores=scores,
        rebaseline_from=rebaseline_from,
        profile=profile,
    )


@task(cache_policy=NO_CACHE)
def announce_alerts(day: dt.date, alerts: tuple[Alert, ...], drift_section: str) -> int:
    """One Prefect event per alert (only what paged: the night's decision), a markdown artifact of the night's
    drift (`drift_section`, the night summary's section, headings at ###) and a table artifact of alerts."""
    for alert in alerts:
        name, resource, payload = alert_event(alert)
        emit_event(event=name, resource={"prefect.resource.id": resource}, payload=payload)
    create_markdown_artifact(
        key="nightly-drift",
        markdown=f"# Drift and quality on {day}\n\n"
        + re.sub(r"^###", "##", drift_section, flags=re.MULTILINE),
        description=f"Drift {day}",
    )
    if alerts:
        create_table_artifact(key="nightly-alerts", table=alert_rows(alerts), description=f"Alerts {day}")
    return len(alerts)
