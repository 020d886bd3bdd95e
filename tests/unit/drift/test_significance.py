"""The night's significance test and correction: chi-square of rows and BH equal scipy's; the day-to-day swing of
the reference days is allowed for only when it is there, and an alert must exceed it; the F and t laws equal
scipy's."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import polars as pl
import pytest
from scipy import stats as sst

from tracewatch.drift import DayProfile, DriftConfig, assess_night, build_day_profile
from tracewatch.drift.effects import SAMPLING_SDS
from tracewatch.drift.pvalues import f_sf, t_sf
from tracewatch.drift.significance import benjamini_hochberg, chi2_rows, share_test


@pytest.mark.parametrize("seed", range(5))
def test_chi2_rows_equals_scipy_contingency(seed: int) -> None:
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 60, size=(rng.integers(2, 8), rng.integers(2, 9)))
    table[:, 0] += 1  # no empty row
    statistic, dof = chi2_rows(table)
    expected = sst.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12) and dof == expected.dof


def test_benjamini_hochberg_equals_scipy() -> None:
    rng = np.random.default_rng(3)
    for m in (1, 2, 7, 25):
        p = rng.random(m) ** 3
        assert benjamini_hochberg(p.tolist()) == pytest.approx(sst.false_discovery_control(p), rel=1e-12)
    assert benjamini_hochberg([]) == []


def test_f_and_t_laws_equal_scipy() -> None:
    for x, dfn, dfd in itertools.product([0.01, 0.7, 1, 2.3, 9, 40], [1, 2, 9, 54], [1, 6, 18, 300, 5000]):
        assert f_sf(x, dfn, dfd) == pytest.approx(sst.f.sf(x, dfn, dfd), rel=1e-9, abs=1e-300)
    for t, df in itertools.product([-6, -1.2, 0, 0.4, 2.5, 9], [1, 3, 6, 27, 400]):
        assert t_sf(t, df) == pytest.approx(sst.t.sf(t, df), rel=1e-9, abs=1e-300)


def _days(rng: np.random.Generator, shares: np.ndarray, n: int, days: int, swing: float) -> list[np.ndarray]:
    """Daily counts whose shares swing log-normally by `swing` around `shares` (0: plain sampling)."""
    out = []
    for _ in range(days):
        jittered = shares * np.exp(rng.normal(0, swing, len(shares))) if swing else shares
        out.append(rng.multinomial(n, jittered / jittered.sum()).astype(np.int64))
    return out


@pytest.mark.parametrize("swing", [0.0, 0.15])
def test_quiet_days_are_rejected_at_about_the_level_with_or_without_a_day_to_day_swing(swing: float) -> None:
    """Without allowing for the swing, a 15% swing of the shares makes the plain chi-square reject most quiet
    days at 2,000 traces a day; allowed for, the rejection rate stays near the level (F law, 12 dof)."""
    rng = np.random.default_rng(11)
    shares = np.array([0.5, 0.3, 0.15, 0.05])
    rejected = plain = 0
    seeds = 400
    for _ in range(seeds):
        days = _days(rng, shares, 2000, 8, swing)
        reference, current = np.sum(days[:7], axis=0), days[7]
        tested = share_test(reference, current, days[:7], dispersion_alpha=0.05)
        rejected += tested.p_value < 0.05
        plain += sst.chi2_contingency(np.vstack([reference, current]), correction=False).pvalue < 0.05
    assert rejected / seeds <= 0.08, rejected / seeds
    if swing:
        assert plain / seeds > 0.5  # what the swing does to a test that ignores it


def test_a_steady_reference_costs_no_power_and_a_real_shift_is_found() -> None:
    rng = np.random.default_rng(5)
    shares = np.array([0.94, 0.06])
    days = _days(rng, shares, 300, 7, 0.0)
    current = rng.multinomial(300, [0.88, 0.12]).astype(np.int64)  # refusals doubling on a 300-trace day
    tested = share_test(np.sum(days, axis=0), current, days, dispersion_alpha=0.05)
    plain = sst.chi2_contingency(np.vstack([np.sum(days, axis=0), current]), correction=False)
    if tested.dispersion == 1.0:
        assert tested.p_value == pytest.approx(plain.pvalue, rel=1e-9)
    assert tested.p_value < 1e-3


def test_rare_categories_are_pooled_so_a_thin_day_is_not_a_false_alarm() -> None:
    """Eight categories too rare to expect five on a 100-trace day are pooled, and the pool (still too rare)
    joins the least common other category."""
    reference = np.array([5000, 3000, 3, 2, 4, 1, 2, 3, 1, 2], np.int64)
    current = np.array([60, 38, 0, 0, 0, 1, 0, 0, 1, 0], np.int64)
    tested = share_test(reference, current, [], dispersion_alpha=0.05)
    assert tested.categories == 2 and tested.dof == 1 and tested.p_value > 0.05
    nothing = share_test(np.array([10, 0]), np.array([1, 0]), [], dispersion_alpha=0.05)
    assert (nothing.dof, nothing.p_value) == (0, 1.0)


def _model_day(share_a: float, day: int, n: int = 4000) -> DayProfile:
    a = round(share_a * n)
    frame = pl.DataFrame({"model": ["a"] * a + ["b"] * (n - a)})
    return build_day_profile(frame, dt.date(2026, 11, 1) + dt.timedelta(days=day))


def test_a_change_within_the_reference_days_own_swing_does_not_page() -> None:
    """Reference days whose model-a share swings between 42% and 58% (at 4,000 traces a day, far beyond sampling
    noise): a day at 60% is within the application's normal swing, whose size both the dispersion and the
    effect an alert needs (twice the largest day's swing beyond sampling noise) reflect; a day at 80% is far
    beyond it."""
    reference = [_model_day(s, i) for i, s in enumerate((0.5, 0.42, 0.58, 0.47, 0.55, 0.44, 0.53))]
    config = DriftConfig()
    within = assess_night(reference, _model_day(0.6, 8), config).report
    assert within is not None
    (test,) = within.tests
    assert not test.alert and test.dispersion is not None and test.dispersion > 10
    others = (3.49 - 0.58) / 6  # the largest swing: the 58% day against the other six
    noise = math.sqrt(others * (1 - others) * (1 / 4000 + 1 / 24000))
    assert test.effect_threshold == pytest.approx(2 * (0.58 - others - SAMPLING_SDS * noise), rel=1e-3)
    beyond = assess_night(reference, _model_day(0.8, 8), config).report
    assert beyond is not None and beyond.drifted_features == ("model",)
