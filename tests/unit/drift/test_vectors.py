"""The text-vector test: moments merge and round-trip exactly, the linear-kernel MMD equals its formula on the
raw vectors (p-value pinned to scipy's chi-square), and without drift it alarms at most at the significance
level over many seeds of the demo's own texts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy import stats as sst

from tests.support.demo_days import demo_day
from tracewatch.drift import DriftConfig, build_day_profile, merge_profiles, run_checks
from tracewatch.drift.features import TEXT_VECTOR
from tracewatch.drift.profile_store import profile_frame, profile_from_frame
from tracewatch.drift.text import DIMENSIONS, embed
from tracewatch.drift.vectors import mmd_test, vector_moments

DAY = dt.date(2026, 11, 1)  # the label of the profiles built from slices of the texts
ALPHA = 0.05


@pytest.fixture(scope="module")
def texts() -> list[str]:
    """3,000 inputs of two demo days without drift."""
    days = [demo_day(i, traces=1500, seed=3) for i in (1, 2)]
    return [t for day in days for t in day.get_column("input_text").to_list()]


def test_moments_merge_like_a_concatenation_and_round_trip_through_parquet(texts: list[str]) -> None:
    a, b = pl.DataFrame({"input_text": texts[:700]}), pl.DataFrame({"input_text": texts[700:1000]})
    whole = build_day_profile(pl.concat([a, b]), DAY).vectors[TEXT_VECTOR]
    merged = merge_profiles([build_day_profile(a, DAY), build_day_profile(b, DAY)]).vectors[TEXT_VECTOR]
    assert merged.n == whole.n == 1000 and merged.total.shape == (DIMENSIONS,)
    assert np.allclose(merged.total, whole.total) and np.allclose(merged.cross, whole.cross)
    assert np.allclose(whole.cross, whole.cross.T)

    profile = build_day_profile(b, DAY)
    frame = profile_frame(profile)
    assert frame.filter(pl.col("kind") == "vector").height == DIMENSIONS + DIMENSIONS * (DIMENSIONS + 1) // 2
    assert profile_from_frame(frame, DAY) == profile
    # A profile stored before vectors existed reads without them, and the test is then skipped, not failed.
    old = profile_from_frame(frame.filter(~pl.col("kind").str.starts_with("vector")), DAY)
    assert old.vectors == {}
    assert TEXT_VECTOR in run_checks(old, profile, DriftConfig()).skipped


@pytest.mark.parametrize(("n1", "n2"), [(300, 80), (40, 25)])
def test_mmd_is_the_squared_mean_gap_with_a_scaled_chi_square_null(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1)
    # On a 2^-10 grid, so the stored sums (on a 2^-24 grid) are exact and the comparison can be tight.
    x = np.round(rng.normal(size=(n1, 8)) @ rng.normal(size=(8, 8)) * 1024) / 1024
    y = np.round(rng.normal(0.05, size=(n2, 8)) @ rng.normal(size=(8, 8)) * 1024) / 1024
    result = mmd_test(vector_moments(x), vector_moments(y))
    gap = x.mean(axis=0) - y.mean(axis=0)
    assert result.statistic == pytest.approx(gap @ gap, rel=1e-9)
    sigma = ((n1 - 1) * np.cov(x.T) + (n2 - 1) * np.cov(y.T)) / (n1 + n2 - 2)
    c = 1 / n1 + 1 / n2
    scale = c * np.trace(sigma @ sigma) / np.trace(sigma)
    dof = np.trace(sigma) ** 2 / np.trace(sigma @ sigma)
    assert result.dof == pytest.approx(dof, rel=1e-9)
    assert result.null_mean == pytest.approx(c * np.trace(sigma), rel=1e-9)
    assert result.p_value == pytest.approx(sst.chi2.sf(gap @ gap / scale, dof), rel=1e-9)


def test_constant_vectors_are_certain_either_way() -> None:
    same = vector_moments(np.ones((5, 4)))
    assert mmd_test(same, same).p_value == 1.0
    assert mmd_test(same, vector_moments(np.zeros((3, 4)))).p_value == 0.0


@pytest.mark.parametrize(("n1", "n2", "seeds"), [(140, 60, 2000), (700, 100, 2000)])
def test_false_alarm_rate_stays_at_the_significance_level(
    texts: list[str], n1: int, n2: int, seeds: int
) -> None:
    """Reference and current day drawn from the same demo texts: the share of seeds that alarm.

    Here 4.3% at 140 vs 60 texts and 5.6% at 700 vs 100 (docs/drift.md lists more sizes and pools): the
    level itself is asserted at 140 vs 60, the level within three binomial standard errors at 700 vs 100,
    where the mean of 100 clustered texts is not quite normal and the rate sits slightly above alpha.
    """
    vectors = embed(list(texts))
    rng = np.random.default_rng(n1 + n2)
    alarms = 0
    for _ in range(seeds):
        picked = vectors[rng.choice(len(vectors), n1 + n2, replace=False)]
        p_value = mmd_test(vector_moments(picked[:n1]), vector_moments(picked[n1:])).p_value
        alarms += p_value < ALPHA
    rate = alarms / seeds
    slack = 0.0 if n2 < 100 else 3 * np.sqrt(ALPHA * (1 - ALPHA) / seeds)
    assert 0 < rate <= ALPHA + slack, rate
