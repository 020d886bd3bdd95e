"""Drift settings: a mapping builds them, a wrong key, method or value stops the run with a clear message."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tracewatch.drift import DriftConfig, build_day_profile, run_checks
from tracewatch.drift.baseline import BaselineState
from tracewatch.drift.config import DEFAULT_METHODS
from tracewatch.drift.window import reference_dates
from tracewatch.errors import ConfigError

DAY = dt.date(2026, 11, 10)


def test_mapping_builds_the_config_and_lays_methods_over_the_defaults() -> None:
    config = DriftConfig.from_mapping(
        {"reference_days": 14, "baseline": ["2026-11-01", "2026-11-07"], "methods": {"latency_ms": "ks"}}
    )
    assert config.reference_days == 14
    assert config.baseline == (dt.date(2026, 11, 1), dt.date(2026, 11, 7))
    assert config.methods == {**DEFAULT_METHODS, "latency_ms": "ks"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"thresold": 0.1}, "unknown drift setting.*'thresold'.*allowed"),
        ({"methods": {"latency_ms": "anova"}}, "'anova' is not a drift method; allowed"),
        ({"reference_days": 10}, "reference_days=10 must be one of"),
        ({"ks_alpha": 1.5}, "ks_alpha=1.5 must be between 0 and 1"),
        ({"baseline": ["2026-11-07", "2026-11-01"]}, "ends before it starts"),
        ({"baseline": ["yesterday", "2026-11-01"]}, "not an ISO date"),
    ],
)
def test_bad_settings_are_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DriftConfig.from_mapping(values)


def test_reference_is_the_previous_days_or_the_pinned_baseline_without_the_day_itself() -> None:
    assert reference_dates(DAY, DriftConfig()) == [DAY - dt.timedelta(days=i) for i in range(7, 0, -1)]
    pinned = DriftConfig(baseline=(dt.date(2026, 11, 8), dt.date(2026, 11, 10)))
    assert reference_dates(DAY, pinned) == [dt.date(2026, 11, 8), dt.date(2026, 11, 9)]
    with pytest.raises(ConfigError, match="the night's day itself"):
        reference_dates(DAY, DriftConfig(baseline=(DAY, DAY)))


def test_pinning_a_categorical_feature_to_a_numeric_method_is_a_config_error() -> None:
    profile = build_day_profile(pl.DataFrame({"model": ["a", "b"]}), DAY)
    with pytest.raises(ConfigError, match="needs a numeric feature; model is categorical"):
        run_checks(profile, profile, DriftConfig(methods={"model": "wasserstein"}))


def test_a_rolling_reference_skips_alerted_days_and_starts_at_a_rebaseline() -> None:
    config = DriftConfig()
    back = [DAY - dt.timedelta(days=i) for i in range(1, 29)]
    alerted = set(back[:3])  # the three nights before alerted
    assert reference_dates(DAY, config, alerted) == sorted(back[3:10])
    assert reference_dates(DAY, config, alerted, earliest=back[5]) == sorted(back[3:6])
    assert reference_dates(DAY, config, set(back)) == []
    assert reference_dates(DAY, DriftConfig(exclude_alerted_days=False)) == sorted(back[:7])
    pinned = DriftConfig(baseline=(back[9], back[8]))
    assert reference_dates(DAY, pinned, alerted) == [back[9], back[8]]  # a pinned baseline is used as given


def test_baseline_state_accepts_alerted_days_from_a_rebaseline_on() -> None:
    days = [DAY + dt.timedelta(days=i) for i in range(6)]
    state = BaselineState()
    for day, alerts in zip(days, [(), ("a",), ("b",), (), ("c",), ()], strict=True):
        state = state.with_night(day, alerts)
    assert state.excluded() == {days[1], days[2], days[4]}
    accepted = state.rebaselined(days[1], days[3])
    assert accepted.excluded() == {days[4]} and accepted.earliest(days[5]) == days[1]
    assert accepted.earliest(days[1]) is None
    assert accepted.with_night(days[2], ()).excluded() == {days[4]}  # a rerun replaces its own entry
    with pytest.raises(ConfigError, match="after the night"):
        state.rebaselined(days[5], days[3])
