"""The sustained test: the night pooled with the previous nights that did not alert, against the reference days
outside that pool, inside the night's family; found where one thin night is not enough, quiet where nothing
moved, one alert per feature, and the days `detect_drift` hands it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from tracewatch.drift import (
    DayProfile,
    DriftAlert,
    DriftConfig,
    DriftReport,
    NightAssessment,
    assess_night,
    build_day_profile,
    write_profile,
)
from tracewatch.drift.night import earlier_days
from tracewatch.drift.sustained import split_pool
from tracewatch.errors import ConfigError
from tracewatch.store import Store

START = dt.date(2026, 11, 1)
ROWS = 300


def _date(index: int) -> dt.date:
    return START + dt.timedelta(days=index - 1)


def _day(index: int, errors: int, rows: int = ROWS) -> DayProfile:
    """Exactly `errors` of `rows` traces failed (no sampling noise: the test's outcome is fixed)."""
    status = np.where(np.arange(rows) < errors, "error", "ok")
    return build_day_profile(pl.DataFrame({"status": status}), _date(index))


def _days(shifted_errors: int, *, until: int = 10) -> dict[int, DayProfile]:
    """Days 1-7 with 10% errors, days 8 on with `shifted_errors` of 300."""
    return {i: _day(i, 30 if i < 8 else shifted_errors) for i in range(1, until + 1)}


def _night(days: dict[int, DayProfile], index: int, config: DriftConfig | None = None) -> NightAssessment:
    reference = [days[i] for i in range(index - 7, index)]
    earlier = [days[i] for i in range(max(1, index - 9), index - 7)]
    return assess_night(reference, days[index], config or DriftConfig(), earlier=earlier)


def _report(night: NightAssessment) -> DriftReport:
    assert night.report is not None
    return night.report


def _drift_alerts(night: NightAssessment, feature: str) -> list[DriftAlert]:
    return [a for a in night.alerts if isinstance(a, DriftAlert) and a.feature == feature]


def test_the_pool_is_the_previous_usable_nights_and_the_reference_the_days_outside_it() -> None:
    days = _days(30)
    reference, earlier = [days[i] for i in range(3, 10)], [days[1], days[2]]
    pool, rest = split_pool(reference, days[10], DriftConfig(), earlier) or ([], [])
    assert [p.day for p in pool] == [_date(8), _date(9), _date(10)]
    assert [p.day for p in rest] == [_date(i) for i in range(1, 8)]
    # Night 9 alerted, so the reference lacks it: the pool is the nights that did not alert.
    without_9 = [days[i] for i in (2, 3, 4, 5, 6, 7, 8)]
    pool, rest = split_pool(without_9, days[10], DriftConfig(), [days[1]]) or ([], [])
    assert [p.day for p in pool] == [_date(8), _date(10)]
    assert [p.day for p in rest] == [_date(i) for i in range(1, 8)]


def test_no_pool_when_off_when_the_previous_nights_alerted_or_the_rest_is_thin() -> None:
    days = _days(30)
    reference = [days[i] for i in range(3, 10)]
    assert split_pool(reference, days[10], DriftConfig(sustained_nights=1)) is None
    assert split_pool([days[i] for i in range(1, 8)], days[10], DriftConfig()) is None  # 8 and 9 alerted
    assert split_pool([days[7], days[8], days[9]], days[10], DriftConfig()) is None  # one day left outside


def test_a_small_shift_that_lasts_alerts_as_sustained_where_one_night_does_not() -> None:
    """14% errors against 10% on 300 traces: chi-square p about 0.03 on one night (no alert at alpha 0.01);
    three nights pooled against days 1-7: p about 0.0015, below the family's bar."""
    days = _days(42)
    first = _night(days, 8)
    (own_first,) = _report(first).tests
    assert first.alerts == () and 0.01 < (own_first.p_value or 0) < 0.05, own_first.message
    night = _night(days, 10)
    # The night's own test compares with days 3-9, two of them shifted already: weaker still.
    own = next(r for r in _report(night).tests if r.feature == "status")
    (sustained,) = _report(night).sustained
    assert not own.alert and (own.p_value or 0) > 0.05, own.message
    assert sustained.alert and sustained.method == "chisquare_3night", sustained.message
    assert (sustained.reference_start, sustained.reference_end) == (_date(1), _date(7))
    assert sustained.current_size == 3 * ROWS
    (alert,) = _drift_alerts(night, "status")  # and the dataset's: its only feature alerted
    assert alert.feature == "status" and alert.method == "chisquare_3night"
    assert "sustained shift over 3 nights" in alert.message and alert.message.startswith("ALERT")
    assert _report(night).drifted_features == ("status",)
    dataset = _report(night).results[-1]
    assert dataset.role == "dataset" and dataset.statistic == 1.0  # one feature of one alerted


def test_nothing_moved_nothing_pages_and_sustained_rows_are_still_published() -> None:
    night = _night(_days(30), 10)
    assert night.alerts == ()
    (sustained,) = _report(night).sustained
    assert sustained.p_value_adjusted is not None and not sustained.alert
    assert len(_report(night).tests) == 1  # one feature, its own test


def test_a_feature_paging_on_both_tests_gets_one_alert_the_nights_own() -> None:
    night = _night(_days(90), 8)  # 30% errors against 10%: tonight alone, and pooled with nights 6 and 7
    assert [r.alert for r in _report(night).results if r.role == "test"] == [True, True]
    assert [a.method for a in _drift_alerts(night, "status")] == ["chisquare"]


@pytest.mark.parametrize("nights", [0, 8])
def test_sustained_nights_out_of_range_is_a_config_error(nights: int) -> None:
    with pytest.raises(ConfigError, match="sustained_nights"):
        DriftConfig(sustained_nights=nights)


def test_detect_drift_hands_the_usable_days_before_the_reference(file_store: Store) -> None:
    days = _days(30)
    for profile in days.values():
        write_profile(file_store, profile)
    config = DriftConfig()
    found = earlier_days(file_store, _date(11), config, {_date(9)}, None)
    # Reference: days 10, 8, 7, 6, 5, 4, 3 (9 alerted); the two usable days before it: 1 and 2.
    assert [p.day for p in found] == [_date(1), _date(2)]
    assert earlier_days(file_store, _date(11), DriftConfig(sustained_nights=1), (), None) == ()
    pinned = DriftConfig(baseline=(_date(1), _date(3)))
    assert earlier_days(file_store, _date(11), pinned, (), None) == ()
