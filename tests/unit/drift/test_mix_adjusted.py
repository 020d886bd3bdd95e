"""Mix-adjusted tests end to end: a swing of the route mix alerts once, on `route`, not again on every feature
that differs by route; a change within the routes alerts; without segment tables, or with `mix_adjusted` off,
every test is pooled and the row says so."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl

from tracewatch.drift import DayProfile, DriftConfig, assess_night, build_day_profile
from tracewatch.drift.checks import CheckResult

DAY = dt.date(2026, 11, 1)


def _day(index: int, long_share: float, *, new_tag: float = 0.0, n: int = 3000) -> DayProfile:
    """A day of two routes: `short` (about 20 input tokens, tagged `a`) and `long` (about 200, tagged `b`);
    `new_tag` of the traces on both routes are tagged `c` instead."""
    rng = np.random.default_rng(index)
    long = rng.random(n) < long_share
    tokens = np.where(long, rng.normal(200, 30, n), rng.normal(20, 5, n)).round().astype(np.int64)
    tags = np.where(rng.random(n) < new_tag, "c", np.where(long, "b", "a"))
    frame = pl.DataFrame(
        {
            "route": np.where(long, "long", "short"),
            "model": "m",
            "input_tokens": tokens,
            "tags": [[t] for t in tags],
        }
    )
    return build_day_profile(frame, DAY + dt.timedelta(days=index))


REFERENCE_SHARES = (0.5, 0.45, 0.55, 0.48, 0.52, 0.46, 0.54)


def _tests(
    current: DayProfile, config: DriftConfig, reference: list[DayProfile] | None = None
) -> dict[str, CheckResult]:
    days = reference or [_day(i, s) for i, s in enumerate(REFERENCE_SHARES)]
    report = assess_night(days, current, config).report
    assert report is not None
    return {r.feature: r for r in report.tests}


def test_a_mix_swing_alerts_once_on_the_route_and_not_on_what_differs_by_route() -> None:
    current = _day(20, 0.75)
    pooled = _tests(current, DriftConfig(mix_adjusted=False))
    assert {f for f, r in pooled.items() if r.alert} == {"route", "input_tokens", "tags"}
    adjusted = _tests(current, DriftConfig())
    assert {f for f, r in adjusted.items() if r.alert} == {"route"}
    assert adjusted["route"].method == "chisquare" and "segment column" in adjusted["route"].message
    assert adjusted["input_tokens"].method == "binned_cmh_chisquare"
    assert adjusted["tags"].method == "cmh_chisquare"
    assert "within route x model segments (2 of 2 compared)" in adjusted["tags"].message
    assert adjusted["tags"].effect_size is not None and adjusted["tags"].effect_size < 0.02


def test_a_change_within_the_routes_alerts_through_the_mix_swing() -> None:
    adjusted = _tests(_day(20, 0.6, new_tag=0.05), DriftConfig())
    assert adjusted["tags"].alert and adjusted["tags"].method == "cmh_chisquare"
    assert "re-weighted to today's route x model mix" in adjusted["tags"].message
    assert not adjusted["input_tokens"].alert


def test_without_segment_tables_on_every_day_the_test_is_pooled_and_says_why() -> None:
    reference = [_day(i, s) for i, s in enumerate(REFERENCE_SHARES)]
    reference[3] = dataclasses.replace(reference[3], segments={}, version=1)  # a day profiled before segments
    tests = _tests(_day(20, 0.5), DriftConfig(), reference)
    assert tests["tags"].method == "chisquare" and tests["input_tokens"].method == "binned_chisquare"
    assert "pooled (not every day has segment tables)" in tests["tags"].message
    off = _tests(_day(20, 0.5), DriftConfig(mix_adjusted=False))
    assert "pooled (mix_adjusted is off)" in off["tags"].message


def test_the_pooled_fallback_is_the_test_mix_adjusted_off_gives() -> None:
    """Profiles without segments under the default settings test exactly as `mix_adjusted: false` does."""
    reference = [_day(i, s) for i, s in enumerate(REFERENCE_SHARES)]
    current = _day(20, 0.7, new_tag=0.03)
    off = _tests(current, DriftConfig.from_mapping({"mix_adjusted": False}), reference)
    bare = [dataclasses.replace(p, segments={}) for p in (*reference, current)]
    fallback = _tests(bare[-1], DriftConfig(), bare[:-1])
    fields = ("method", "statistic", "p_value", "effect_size", "effect_threshold", "dispersion", "alert")
    for name, row in off.items():
        assert [getattr(row, f) for f in fields] == [getattr(fallback[name], f) for f in fields], name
