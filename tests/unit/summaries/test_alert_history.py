"""Since when an alert has gone on, read from the published `drift` and `quality_trend` partitions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from night_fixtures import latency, night

from tracewatch.reports import partition_key
from tracewatch.store import Store
from tracewatch.summaries import alert_streaks, alerted_on, night_drift_section

NIGHT = dt.date(2026, 11, 10)
DAY = dt.timedelta(days=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"file://{tmp_path / 'store'}")


def publish(
    store: Store, day: dt.date, *, drift: tuple[str, ...] = (), quality: tuple[str, ...] = ()
) -> None:
    """A night's partitions with the columns the walk reads: alerting test rows, a quiet test row and an
    alerting row of another role (Evidently's, which never pages), and the quality points."""
    rows = [(f, "test", True) for f in drift] + [("quiet", "test", False), ("latency_ms", "evidently", True)]
    frame = pl.DataFrame(rows, schema=["feature", "role", "alert"], orient="row")
    store.write_parquet(partition_key("drift", day), frame)
    points = pl.DataFrame({"name": [*quality, "rating"], "alert": [True] * len(quality) + [None]})
    store.write_parquet(partition_key("quality_trend", day), points)


def test_what_paged_on_a_night_is_read_from_its_partitions(store: Store) -> None:
    publish(store, NIGHT, drift=("model",), quality=("thumbs",))
    assert alerted_on(store, NIGHT) == {("drift", "model"), ("quality", "thumbs")}
    assert alerted_on(store, NIGHT - DAY) == set()  # a night that did not run


def test_each_alert_counts_back_to_the_first_night_of_its_unbroken_run(store: Store) -> None:
    publish(store, NIGHT - 4 * DAY, drift=("latency_ms",))
    publish(store, NIGHT - 3 * DAY)  # quiet: latency's earlier episode ended here
    publish(store, NIGHT - 2 * DAY, drift=("latency_ms",), quality=("thumbs",))
    publish(store, NIGHT - DAY, drift=("latency_ms",))
    publish(store, NIGHT, drift=("latency_ms", "model"), quality=("thumbs",))
    tonight = [("drift", "latency_ms"), ("drift", "model"), ("quality", "thumbs")]
    assert alert_streaks(store, NIGHT, tonight) == {
        ("drift", "latency_ms"): NIGHT - 2 * DAY,
        ("drift", "model"): NIGHT,
        ("quality", "thumbs"): NIGHT,  # not on the night before: a new run
    }


def test_the_walk_back_stops_at_its_limit(store: Store) -> None:
    for back in range(6):
        publish(store, NIGHT - back * DAY, drift=("latency_ms",))
    assert alert_streaks(store, NIGHT, [("drift", "latency_ms")], max_days=3) == {
        ("drift", "latency_ms"): NIGHT - 3 * DAY
    }
    assert alert_streaks(store, NIGHT, []) == {}


def test_the_flow_gets_the_section_with_since_dates_from_the_store(store: Store) -> None:
    publish(store, NIGHT - DAY, drift=("latency_ms",))
    publish(store, NIGHT, drift=("latency_ms",))
    section = night_drift_section(store, NIGHT, [night(NIGHT, latency(NIGHT))])  # only tonight in this run
    assert section.splitlines()[-1].endswith("| 2026-11-09 |")
