"""The within-segment (CMH) test: its statistic equals the classic Mantel-Haenszel chi-square on 2 x 2 strata and
an independent computation from the exact hypergeometric law on 2 x K strata, reduces to Pearson's chi-square
with one stratum, ignores a pure change of the segment mix, and holds its level on thin stratified days."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sst
from statsmodels.stats.contingency_tables import StratifiedTable

from tracewatch.drift.significance import chi2_rows, share_test
from tracewatch.drift.stratified import cmh_statistic, stratified_share_test


def test_two_by_two_strata_give_the_classic_mantel_haenszel_chi_square() -> None:
    rng = np.random.default_rng(4)
    tables = [rng.integers(1, 40, size=(2, 2)) for _ in range(6)]
    statistic, dof = cmh_statistic(tables)
    expected = StratifiedTable([t.astype(float) for t in tables]).test_null_odds(correction=False)
    assert dof == 1 and statistic == pytest.approx(expected.statistic, rel=1e-10)


def _exact_moments(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a 2 x K table's first row given its margins, by enumerating the multivariate
    hypergeometric law (every first row with the right total, weighted by prod C(column total, cell))."""
    columns, total = table.sum(axis=0), int(table[0].sum())
    rows, weights = [], []
    for cells in itertools.product(*(range(int(c) + 1) for c in columns)):
        if sum(cells) == total:
            rows.append(cells)
            weights.append(math.prod(math.comb(int(c), x) for c, x in zip(columns, cells, strict=True)))
    x, w = np.array(rows, np.float64), np.array(weights, np.float64) / sum(weights)
    mean = w @ x
    return mean, (x - mean).T @ ((x - mean) * w[:, None])


def test_the_generalized_statistic_equals_one_built_from_the_exact_hypergeometric_law() -> None:
    """2 x 3 strata small enough to enumerate: the deviations from the exact means, summed over strata, in the
    metric of the summed exact covariances (last category dropped), give the same Q on 2 dof."""
    tables = [
        np.array([[3, 1, 2], [1, 4, 2]]),
        np.array([[0, 2, 5], [2, 1, 1]]),
        np.array([[4, 0, 1], [2, 3, 3]]),
    ]
    deviation, covariance = np.zeros(2), np.zeros((2, 2))
    for table in tables:
        mean, cov = _exact_moments(table)
        deviation += (table[0] - mean)[:2]
        covariance += cov[:2, :2]
    expected = float(deviation @ np.linalg.solve(covariance, deviation))
    statistic, dof = cmh_statistic(tables)
    assert dof == 2 and statistic == pytest.approx(expected, rel=1e-10)
    assert statistic == pytest.approx(2.9935473852, rel=1e-9)  # the number, pinned


@pytest.mark.parametrize("shape", [(2, 5), (4, 3), (7, 6)])
def test_one_stratum_is_pearsons_chi_square_times_n_minus_one_over_n(shape: tuple[int, int]) -> None:
    table = np.random.default_rng(sum(shape)).integers(1, 50, size=shape)
    statistic, dof = cmh_statistic([table])
    pearson, pearson_dof = chi2_rows(table)
    n = table.sum()
    assert dof == pearson_dof and statistic == pytest.approx(pearson * (n - 1) / n, rel=1e-10)


def test_a_category_absent_everywhere_and_thin_strata_cost_nothing() -> None:
    tables = [np.array([[5, 0, 7], [6, 0, 2]]), np.array([[9, 0, 4], [3, 0, 8]])]
    statistic, dof = cmh_statistic(tables)
    assert dof == 1
    assert statistic == pytest.approx(cmh_statistic([t[:, [0, 2]] for t in tables])[0], rel=1e-10)
    with_thin = [*tables, np.array([[1, 0, 0], [0, 0, 9]])]  # one reference observation: left out
    assert cmh_statistic(with_thin) == pytest.approx((statistic, dof))
    last_absent = [t[:, [0, 2, 1]] for t in tables]  # the dropped (last) category is the empty one
    assert cmh_statistic(last_absent) == pytest.approx((statistic, dof))


def _stratum_counts(mix: list[float], within: np.ndarray, n: int) -> np.ndarray:
    """Expected counts (no sampling) of a day of `n` with segment shares `mix` and within-segment `within`."""
    return np.rint(np.asarray(mix)[:, None] * within * n).astype(np.int64)


WITHIN = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6]])
"""Two segments whose feature differs a lot (short vs long inputs, say)."""


def test_a_pure_change_of_the_mix_is_not_a_change_within_segments() -> None:
    """The same within-segment distributions, the segment shares 70/30 -> 30/70: the pooled test flags it, the
    stratified one sees nothing (statistic 0: every stratum matches exactly)."""
    reference = _stratum_counts([0.7, 0.3], WITHIN, 14_000)
    current = _stratum_counts([0.3, 0.7], WITHIN, 2_000)
    pooled = share_test(reference.sum(axis=0), current.sum(axis=0), [], dispersion_alpha=0.05)
    within = stratified_share_test(reference, current, [], dispersion_alpha=0.05)
    assert pooled.p_value < 1e-50
    assert within is not None and within.strata == 2 and within.statistic == pytest.approx(0.0, abs=1e-9)
    assert within.p_value == pytest.approx(1.0)


def test_a_change_within_segments_is_found_whatever_the_mix() -> None:
    reference = _stratum_counts([0.7, 0.3], WITHIN, 14_000)
    moved = WITHIN + np.array([-0.05, 0.0, 0.05])  # 5 points from the first category to the last, everywhere
    current = _stratum_counts([0.3, 0.7], moved, 2_000)
    within = stratified_share_test(reference, current, [], dispersion_alpha=0.05)
    assert within is not None and within.p_value < 1e-4


def test_fewer_than_two_comparable_strata_means_pooled() -> None:
    reference = _stratum_counts([0.7, 0.3], WITHIN, 1_000)
    current = reference.copy()
    current[1] = [1, 0, 0]
    assert stratified_share_test(reference, current, [], dispersion_alpha=0.05) is None


def _thin_days(
    rng: np.random.Generator, within: np.ndarray, days: int, n: int, mix_sigma: float, swing: float
) -> list[np.ndarray]:
    """Days of `n` traces whose segment mix swings log-normally by `mix_sigma` and whose within-segment shares
    swing by `swing` (the same factors in every segment: a swing the segments share)."""
    out = []
    for _ in range(days):
        mix = np.exp(rng.normal(0, mix_sigma, len(within)))
        shares = within * np.exp(rng.normal(0, swing, within.shape[1])) if swing else within
        shares = shares / shares.sum(axis=1, keepdims=True)
        segments = rng.multinomial(n, mix / mix.sum())
        out.append(np.vstack([rng.multinomial(m, s) for m, s in zip(segments, shares, strict=True)]))
    return out


@pytest.mark.parametrize(("n", "swing"), [(300, 0.0), (2000, 0.0), (2000, 0.15)])
def test_quiet_days_are_rejected_at_about_the_level_under_a_mix_swing(n: int, swing: float) -> None:
    """Nine segments (a 300-trace day puts a dozen traces in the thinnest), ten categories, the mix swinging
    by 30% a day: the stratified test rejects quiet days at about the level (with a within-segment swing the
    days share, too: the dispersion is measured within strata), while the plain pooled chi-square (no
    dispersion) rejects several times as many at 2,000 a day."""
    rng = np.random.default_rng(n + int(swing * 100))
    within = rng.dirichlet(np.full(10, 2.0), size=9)
    seeds, rejected, pooled = 300, 0, 0
    for _ in range(seeds):
        days = _thin_days(rng, within, 8, n, 0.3, swing)
        reference = np.sum(days[:7], axis=0)
        tested = stratified_share_test(reference, days[7], days[:7], dispersion_alpha=0.05)
        assert tested is not None
        rejected += tested.p_value < 0.05
        plain = share_test(reference.sum(axis=0), days[7].sum(axis=0), [], dispersion_alpha=0.05)
        pooled += plain.p_value < 0.05
    assert rejected / seeds <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / seeds), rejected / seeds
    if n == 2000:
        assert pooled / seeds > 4 * 0.05, pooled / seeds


def test_a_steady_reference_allows_for_nothing() -> None:
    rng = np.random.default_rng(8)
    within = rng.dirichlet(np.full(4, 3.0), size=3)
    days = _thin_days(rng, within, 8, 1000, 0.3, 0.0)
    tested = stratified_share_test(np.sum(days[:7], axis=0), days[7], days[:7], dispersion_alpha=0.05)
    assert tested is not None and tested.dispersion == 1.0
    assert tested.p_value == pytest.approx(sst.chi2.sf(tested.statistic, tested.dof), rel=1e-9)


def test_a_swing_every_segment_shares_is_measured_whole() -> None:
    """The within-segment swing that all nine segments share adds up in the CMH statistic of the days' D x K
    tables (phi about 5 here); each segment's own Pearson chi-square sees a ninth of it (phi about 1.4), which
    would let the swing through as a change. Steady days give phi about 1 either way."""
    rng = np.random.default_rng(0)
    within = rng.dirichlet(np.full(10, 2.0), size=9)
    for swing, low, high in ((0.15, 3.0, 10.0), (0.0, 0.6, 1.5)):
        days = _thin_days(rng, within, 7, 2000, 0.3, swing)
        statistic, dof = cmh_statistic([np.vstack([d[h] for d in days]) for h in range(9)])
        each = [chi2_rows(np.vstack([d[h] for d in days])) for h in range(9)]
        separate = sum(s for s, _ in each) / sum(d for _, d in each)
        assert low < statistic / dof < high
        if swing:
            assert statistic / dof > 2 * separate
