"""Statistics from count tables equal scipy's on the raw values where the tables are exact, and stay within
the documented bound where they are binned."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst
from scipy.spatial import distance

from tracewatch.drift import stats
from tracewatch.drift.counts import (
    RELATIVE_ACCURACY,
    NumericCounts,
    categorical_counts,
    merge_numeric,
    numeric_counts,
)

REL = 1e-9


def _table(values: np.ndarray) -> NumericCounts:
    return numeric_counts(pl.Series("x", values))


def _pair(seed: int, n1: int, n2: int, *, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if integer:
        return rng.poisson(40, n1).astype(np.int64), rng.poisson(43, n2).astype(np.int64)
    return rng.lognormal(6, 0.5, n1).round(3), rng.lognormal(6.05, 0.5, n2).round(3)


@pytest.mark.parametrize(("n1", "n2", "integer"), [(700, 100, True), (1000, 1000, False), (300, 250, False)])
def test_ks_from_tables_equals_scipy(n1: int, n2: int, integer: bool) -> None:
    a, b = _pair(n1 + n2, n1, n2, integer=integer)
    ref, cur = _table(a), _table(b)
    assert ref.exact and cur.exact
    expected = sst.ks_2samp(a, b)
    assert stats.ks_test(ref, cur) == pytest.approx((expected.statistic, expected.pvalue), rel=REL)


@pytest.mark.parametrize("integer", [True, False])
def test_wasserstein_and_std_from_exact_tables_equal_scipy_and_numpy(integer: bool) -> None:
    a, b = _pair(11, 2000, 900, integer=integer)
    ref, cur = _table(a), _table(b)
    assert stats.wasserstein(ref, cur) == pytest.approx(sst.wasserstein_distance(a, b), rel=REL)
    assert ref.std() == pytest.approx(float(np.std(a)), rel=REL)
    assert ref.mean() == pytest.approx(float(np.mean(a)), rel=REL)


def test_integer_features_stay_exact_when_a_table_is_binned() -> None:
    """Tokens past the exact-value cap: integers keep their own bins, so the statistics are still exact."""
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 50_000, 60_000), rng.integers(0, 52_000, 20_000)
    ref, cur = _table(a), _table(b)
    assert not ref.exact
    assert stats.wasserstein(ref, cur) == pytest.approx(sst.wasserstein_distance(a, b), rel=REL)
    assert stats.ks_test(ref, cur)[0] == pytest.approx(sst.ks_2samp(a, b).statistic, rel=REL)


def test_binned_wasserstein_stays_within_the_documented_bound() -> None:
    """|W(binned) - W(raw)| <= RELATIVE_ACCURACY * (E|X| + E|Y|): each value moves by at most that share."""
    rng = np.random.default_rng(8)
    a, b = rng.lognormal(7, 0.6, 50_000), rng.lognormal(7.1, 0.6, 30_000)
    ref, cur = _table(a), _table(b)
    assert not ref.exact and not cur.exact
    error = abs(stats.wasserstein(ref, cur) - sst.wasserstein_distance(a, b))
    assert error <= RELATIVE_ACCURACY * (np.mean(np.abs(a)) + np.mean(np.abs(b)))
    assert abs(ref.std() - np.std(a)) <= RELATIVE_ACCURACY * np.sqrt(np.mean(a**2)) * 1.0001
    d_binned, d_raw = stats.ks_test(ref, cur)[0], sst.ks_2samp(a, b).statistic
    assert abs(d_binned - d_raw) <= 0.01  # KS on bins: the mass of one bin on each side at most


def test_chi2_homogeneity_equals_chi2_contingency() -> None:
    ref = categorical_counts(pl.Series("m", ["a"] * 300 + ["b"] * 200 + ["c"] * 50 + ["d"] * 3))
    cur = categorical_counts(pl.Series("m", ["a"] * 80 + ["b"] * 90 + ["c"] * 20 + ["e"] * 2))
    _, a, b = stats.aligned_categories(ref, cur)
    statistic, p_value, dof = stats.chi2_homogeneity(a, b)
    expected = sst.chi2_contingency(np.vstack([a, b]), correction=False)
    assert (statistic, p_value, dof) == pytest.approx(
        (expected.statistic, expected.pvalue, expected.dof), rel=REL
    )


def test_two_category_chi2_equals_the_two_proportion_z_test() -> None:
    """Evidently's z-test for binary features: z^2 is our chi-square, and the p-values coincide."""
    a, b = np.array([120, 380]), np.array([40, 60])
    p1, p2 = a[0] / a.sum(), b[0] / b.sum()
    pooled = (a[0] + b[0]) / (a.sum() + b.sum())
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / a.sum() + 1 / b.sum()))
    statistic, p_value, _ = stats.chi2_homogeneity(a, b)
    assert statistic == pytest.approx(z**2, rel=REL)
    assert p_value == pytest.approx(2 * sst.norm.sf(abs(z)), rel=REL)


def test_jensenshannon_equals_scipy() -> None:
    a, b = np.array([50, 30, 0, 20]), np.array([10, 30, 5, 55])
    assert stats.jensenshannon(a, b) == pytest.approx(
        float(distance.jensenshannon(a / a.sum(), b / b.sum())), rel=REL
    )


def test_psi_of_a_clear_shift_is_large_and_quantile_buckets_cover_everything() -> None:
    a, b = _pair(2, 5000, 5000, integer=False)
    ref, cur = _table(a), _table(b * 1.5)
    counts_ref, counts_cur = stats.quantile_buckets(ref, cur, 10)
    assert counts_ref.sum() == ref.size and counts_cur.sum() == cur.size
    assert stats.psi(counts_ref, counts_cur) > 0.5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200), st.integers(2, 20))
def test_psi_of_a_sample_with_itself_is_zero(values: list[float], bins: int) -> None:
    table = _table(np.array(values))
    a, b = stats.quantile_buckets(table, table, bins)
    assert stats.psi(a, b) == 0.0
    counts = categorical_counts(pl.Series("c", [str(round(v)) for v in values]))
    _, x, y = stats.aligned_categories(counts, counts)
    assert stats.psi(x, y) == 0.0


def test_merged_tables_test_like_the_concatenated_values() -> None:
    a, b = _pair(4, 400, 300, integer=True)
    merged = merge_numeric([_table(a[:150]), _table(a[150:])])
    assert stats.ks_test(merged, _table(b)) == stats.ks_test(_table(a), _table(b))


def test_the_sampling_wasserstein_is_what_two_samples_of_one_distribution_show_on_average() -> None:
    rng = np.random.default_rng(4)
    population = _table(np.round(rng.lognormal(6.8, 0.45, 200_000), 1))
    observed = [
        stats.wasserstein_normed(
            _table(rng.choice(population.values, 2100, p=population.counts / population.size)),
            _table(rng.choice(population.values, 300, p=population.counts / population.size)),
        )
        for _ in range(300)
    ]
    expected = stats.sampling_wasserstein_normed(population, 300, 2100)
    assert float(np.mean(observed)) == pytest.approx(expected, rel=0.1)
