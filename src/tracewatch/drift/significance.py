"""The night's significance test of one feature, honest about day-to-day variation, and the night's correction.

Production traffic is not a fresh random sample every day: the route and model mix, the load and the users
swing from day to day. A plain chi-square test of "today against the pooled reference" assumes only sampling
noise, so at a few thousand traces a day it finds a "significant" change on most quiet nights. The test here
measures the swing the reference days themselves show and allows for it:

1. Categories (or, for a numeric feature, buckets cut at the reference's deciles) whose expected count on the
   current day is below `MIN_EXPECTED` are pooled into one (itself joined to the least common other category if
   still very rare), so the chi-square law roughly holds on thin days.
2. `X2` is Pearson's chi-square of today's counts against the pooled reference's (homogeneity, `K - 1` dof).
3. The reference days' own D x K table gives the dispersion `phi = X2_ref / ((D - 1)(K - 1))`: 1 when the days
   differ only by sampling noise, above 1 when they swing more (quasi-likelihood, McCullagh & Nelder ch. 4).
   Only when that swing is itself significant (`dispersion_alpha`) is it used: today's `X2 / (K - 1) / phi`
   is then tested against F(K - 1, (D - 1)(K - 1)), which also pays for phi being estimated from few days.
   Otherwise `X2` is tested against chi-square(K - 1), so nothing is lost when the days are steady
   (`allow_for_swing`, which the within-segment test shares).

This is the pooled test. A feature that differs by route or model also swings with the day's route x model
mix, which this test can only allow for as more noise; `stratified` compares within segments instead, and
`family` picks one of the two per feature (the pooled one for `route` and `model` themselves, for profiles
without segment tables, or with `DriftConfig.mix_adjusted` off).

The night's tests (every feature and every quality score) are one family: `benjamini_hochberg` adjusts their
p-values together. On a night with no drift at all (every null hypothesis true) the false discovery rate equals
the family-wise rate, so the chance that a quiet night pages anyone is held at the level; on a night that did
drift, it keeps the power a Holm correction would spend (docs/drift.md says more).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tracewatch.drift.counts import IntArray
from tracewatch.drift.pvalues import chi2_sf, f_sf

MIN_EXPECTED = 5.0
"""Expected count on the current day below which a category is pooled with the other rare ones."""
MIN_POOL_EXPECTED = 1.0
"""The pool of rare categories is tested on its own down to this expected count (a brand-new category, say a
new language at 5% of a 300-trace day, must stay visible); below it, it joins the least common other category.
The chi-square law is loose there, and the effect an alert also needs keeps a few stray counts from paging."""


@dataclass(frozen=True)
class ShareTest:
    """Today's counts against the reference's, allowing for the reference days' own day-to-day swing."""

    statistic: float
    """Pearson's chi-square of today against the pooled reference (before any dispersion allowance)."""
    dof: int
    p_value: float
    dispersion: float
    """phi: how much more the reference days differ among themselves than sampling explains (1 = not at all,
    or not significantly)."""
    categories: int
    """Categories tested after pooling the rare ones."""
    strata: int = 1
    """Segments the test looked within (`stratified`); 1: the pooled test."""


def share_test(
    reference: IntArray, current: IntArray, daily: Sequence[IntArray], *, dispersion_alpha: float
) -> ShareTest:
    """Test `current` counts against pooled `reference` counts (same categories); `daily` holds each reference
    day's counts on those categories (fewer than two days: no dispersion is estimated)."""
    groups = pool_rare(reference, current)
    ref, cur = grouped(reference, groups), grouped(current, groups)
    statistic, dof = chi2_rows(np.vstack([ref, cur]))
    days = [grouped(day, groups) for day in daily if day.sum() > 0]
    between = chi2_rows(np.vstack(days)) if len(days) >= 2 else (0.0, 0)
    return allow_for_swing((statistic, dof), between, len(ref), dispersion_alpha=dispersion_alpha)


def allow_for_swing(
    tested: tuple[float, int],
    between: tuple[float, int],
    categories: int,
    *,
    dispersion_alpha: float,
    strata: int = 1,
) -> ShareTest:
    """The p-value of a chi-square `tested` = (statistic, dof), allowing for the reference days' swing that
    `between` = (their own chi-square, its dof) shows when it is significant at `dispersion_alpha` (step 3)."""
    statistic, dof = tested
    if dof < 1:
        return ShareTest(0.0, 0, 1.0, 1.0, categories, strata)
    dispersion, dispersion_dof = 1.0, 0
    if between[1] > 0 and chi2_sf(between[0], between[1]) < dispersion_alpha:
        dispersion, dispersion_dof = max(between[0] / between[1], 1.0), between[1]
    p_value = (
        f_sf(statistic / dof / dispersion, dof, dispersion_dof)
        if dispersion > 1.0
        else chi2_sf(statistic, dof)
    )
    return ShareTest(statistic, dof, min(max(p_value, 0.0), 1.0), dispersion, categories, strata)


def chi2_rows(table: IntArray) -> tuple[float, int]:
    """Pearson's chi-square of homogeneity of the rows of a count table, and its dof (empty columns and
    rows dropped; fewer than two of either: nothing to test, 0 dof)."""
    counts = np.asarray(table, dtype=np.float64)
    counts = counts[counts.sum(axis=1) > 0][:, counts.sum(axis=0) > 0]
    rows, columns = counts.shape if counts.ndim == 2 else (0, 0)
    if rows < 2 or columns < 2:
        return 0.0, 0
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / counts.sum()
    return float(np.sum((counts - expected) ** 2 / expected)), (rows - 1) * (columns - 1)


def pool_rare(reference: IntArray, current: IntArray) -> IntArray:
    """A group index per category: common categories keep their own group, the rare ones share one; if even
    that one is rare, it joins the least common of the others."""
    total = reference + current
    expected = total / max(total.sum(), 1) * current.sum()
    common = expected >= MIN_EXPECTED
    groups = (np.cumsum(common) - 1).astype(np.int64)
    rare = ~common
    if not common.any():
        return np.zeros(len(total), np.int64)
    if expected[rare].sum() >= MIN_POOL_EXPECTED:
        groups[rare] = int(common.sum())
    else:
        groups[rare] = groups[np.flatnonzero(common)[np.argmin(expected[common])]]
    return groups


def grouped(counts: IntArray, groups: IntArray) -> IntArray:
    """Counts summed by group (`pool_rare`), along the last axis."""
    member = np.zeros((len(groups), int(groups.max()) + 1), np.int64)
    member[np.arange(len(groups)), groups] = 1
    summed: IntArray = np.asarray(counts, np.int64) @ member
    return summed


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """BH-adjusted p-values (step-up, monotone, capped at 1), in the order given; as
    `statsmodels.stats.multitest.multipletests(method="fdr_bh")`."""
    m = len(p_values)
    if m == 0:
        return []
    order = np.argsort(p_values, kind="stable")
    ranked = np.asarray(p_values, dtype=np.float64)[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]
