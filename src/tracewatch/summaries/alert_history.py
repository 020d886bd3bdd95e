"""Since when an alert has been going on: read back through the published `drift` and `quality_trend`
partitions, night by night, while the alert continues.

A single night's run knows only tonight; "latency has alerted since the 3rd" is what tells a person whether this is
news or a known problem. The walk stops at the first night an alert did not fire (or did not run), so it reads
one or two partitions on most nights.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import polars as pl

from tracewatch.drift import DriftNight
from tracewatch.reports import DRIFT, QUALITY_TREND, partition_key
from tracewatch.store import Store
from tracewatch.summaries.drift_section import AlertKey, alert_key, drift_section_markdown

MAX_LOOKBACK_DAYS = 90
"""A streak longer than this is shown as starting this many days back (the walk stops there)."""


def alerted_on(store: Store, day: dt.date) -> set[AlertKey]:
    """What alerted on `day`, from its published report partitions (nothing when the night did not run)."""
    keys: set[AlertKey] = set()
    drift_key = partition_key(DRIFT.name, day)
    if store.exists(drift_key):
        drift = store.read_parquet(drift_key)
        paged = drift.filter(pl.col("alert").fill_null(False) & pl.col("role").is_in(["test", "dataset"]))
        keys |= {("drift", str(name)) for name in paged.get_column("feature")}
    quality_key = partition_key(QUALITY_TREND.name, day)
    if store.exists(quality_key):
        quality = store.read_parquet(quality_key)
        keys |= {("quality", str(name)) for name in quality.filter(pl.col("alert").fill_null(False))["name"]}
    return keys


def alert_streaks(
    store: Store, day: dt.date, alerts: Iterable[AlertKey], *, max_days: int = MAX_LOOKBACK_DAYS
) -> dict[AlertKey, dt.date]:
    """For each of tonight's `alerts`, the first night of its unbroken run of alerting nights up to `day`."""
    starts = {key: day for key in alerts}
    going = set(starts)
    night = day
    while going and (day - night).days < max_days:
        night -= dt.timedelta(days=1)
        going &= alerted_on(store, night)
        for key in going:
            starts[key] = night
    return starts


def night_drift_section(store: Store, day: dt.date, nights: Sequence[DriftNight]) -> str:
    """The summary's drift section for the nights a run assessed, each of tonight's alerts dated from the first
    night of its run in the published reports (`alert_streaks`): one call for the nightly flow."""
    tonight = [alert_key(a) for night in nights if night.day == day for a in night.alerts]
    return drift_section_markdown(day, nights, since=alert_streaks(store, day, tonight))
