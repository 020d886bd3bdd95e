"""The p-value laws equal scipy's: exact two-sample KS, Kolmogorov's limit, and the chi-square tail."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sst

from tracewatch.drift.pvalues import chi2_sf, kolmogorov_sf, ks_2samp_pvalue

REL = 1e-9


def _d(a: np.ndarray, b: np.ndarray) -> float:
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), both, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), both, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


@pytest.mark.parametrize(
    ("n1", "n2", "shift"),
    [
        (3, 5, 1.0),
        (20, 20, 0.0),
        (100, 100, 0.4),
        (700, 100, 0.0),
        (100, 700, 0.3),
        (50, 333, 0.2),
        (1000, 1000, 0.05),
        (999, 7000, 0.1),
        (1000, 10_000, 0.02),
    ],
)
def test_ks_equals_scipy_in_its_exact_branch(n1: int, n2: int, shift: float) -> None:
    rng = np.random.default_rng(n1 * 31 + n2)
    a, b = rng.normal(size=n1), rng.normal(shift, size=n2)
    expected = sst.ks_2samp(a, b, method="auto")
    statistic, p_value = ks_2samp_pvalue(_d(a, b), n1, n2)
    assert statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=REL, abs=1e-300)


def test_ks_on_tied_integer_data_equals_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.poisson(4, 300), rng.poisson(4.6, 450)
    expected = sst.ks_2samp(a, b)
    assert ks_2samp_pvalue(_d(a, b), 300, 450) == pytest.approx(
        (expected.statistic, expected.pvalue), rel=REL
    )


@pytest.mark.parametrize("x", [0.05, 0.3, 0.7, 0.99, 1.0, 1.2, 1.36, 2.0, 4.0, 8.0])
def test_kolmogorov_limit_equals_kstwobign(x: float) -> None:
    assert kolmogorov_sf(x) == pytest.approx(sst.kstwobign.sf(x), rel=REL, abs=1e-300)


def test_asymptotic_branch_uses_the_kolmogorov_limit_documented_as_such() -> None:
    """Above 10,000 values scipy uses the finite-n law; ours is the limit, within 0.01 for en >= 500."""
    n1, n2, d = 1000, 20_000, 0.045
    en = n1 * n2 / (n1 + n2)
    _, p_value = ks_2samp_pvalue(d, n1, n2)
    assert p_value == pytest.approx(sst.kstwobign.sf(math.sqrt(en) * d), rel=REL)
    assert abs(p_value - sst.kstwo.sf(d, round(en))) < 0.01


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 9, 30, 120])
@pytest.mark.parametrize("statistic", [0.001, 0.5, 2.0, 3.84, 11.0, 40.0, 150.0, 700.0])
def test_chi2_tail_equals_scipy(statistic: float, dof: int) -> None:
    expected = sst.chi2.sf(statistic, dof)
    assert chi2_sf(statistic, dof) == pytest.approx(expected, rel=REL, abs=1e-300)


def test_chi2_degenerate_cases() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(5.0, 0) == 1.0
    assert chi2_sf(math.inf, 2) == 0.0


def test_a_long_exact_walk_with_a_negligible_p_value_takes_the_limit() -> None:
    """Strong drift with a 10,000-value day: the exact walk would loop for seconds; the p-value is tiny
    either way and the decision the same."""
    d, n1, n2 = 0.3, 1000, 10_000
    statistic, p_value = ks_2samp_pvalue(d, n1, n2)
    assert statistic == pytest.approx(d, rel=1e-3)
    assert p_value < 1e-6 and sst.kstwo.sf(d, round(n1 * n2 / (n1 + n2))) < 1e-6
