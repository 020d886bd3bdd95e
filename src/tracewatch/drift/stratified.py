"""The within-segment significance test: today's counts against the reference's, segment by segment.

A day whose route x model mix differs from the reference's shifts every feature that differs by route or
model, and the pooled chi-square (`significance.share_test`) reports that mix swing again in each of them,
while a real change within the routes drowns in it. Stratified by segment, the comparison is made within each
segment and summed, so only a change *within* segments counts (the mix itself is tested on `route` and
`model`).

The statistic is the generalized Cochran-Mantel-Haenszel statistic of general association (Landis, Heyman &
Koch 1978): per stratum, the R x K table's cells (R-1 rows by K-1 columns) less their expectations given the
margins, with the multivariate hypergeometric covariance; deviations and covariances are summed over strata
and Q = d' V^- d (on V's eigenvectors, so a category absent everywhere costs nothing) is chi-square with
rank(V) dof under "no row differs within any stratum". Its law rests on the *total* counts, not each
stratum's: sparse strata are fine, which is what a thin day cut into nine segments needs. With one stratum
Q = (n - 1) / n times Pearson's chi-square. A stratum row with fewer than `MIN_STRATUM_ROW` observations is
dropped (its hypergeometric moments are degenerate), and a stratum left with fewer than two rows adds nothing.

The pooled test's other steps carry over: rare categories are pooled on the pooled tables (`pool_rare`) and
the groups applied to every stratum; numeric features are bucketed at the pooled reference's deciles.

Dispersion. The reference days may differ within segments by more than sampling (a drifting user base, a
weekly cycle of topics). The allowance is the same CMH statistic on the reference days' D x K tables per
stratum, over its (D-1)(K-1) dof: phi, used when significant at `dispersion_alpha`, today's Q / (K-1) / phi
then tested against F (`significance.allow_for_swing`). Two alternatives were weighed:

- the sum over strata of each stratum's Pearson chi-square of its D x K table, over the summed dof, measures
  the swing of each stratum alone. A swing shared by every segment (today's users asking about something else
  on every route, the common case) adds up coherently in the CMH sum but not in that one, which dilutes it
  by about the number of segments and lets the shared swing through as significant. And a 300-trace day cut
  into nine segments gives D x K tables of a few counts a cell, where Pearson's statistic is far from its law;
- the mean of the leave-one-day-out CMH statistics (each day against the others) measures the same thing as
  the D x K statistic (with one stratum and equal days they are equal), but its terms are dependent, so its
  dof is unclear; the D x K statistic is their joint form, with a known dof.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracewatch.drift.counts import FloatArray, IntArray
from tracewatch.drift.significance import ShareTest, allow_for_swing, grouped, pool_rare

MIN_STRATUM_ROW = 2
"""A stratum's row (a day, or the reference or today) with fewer observations than this is left out of it."""
_RANK_TOLERANCE = 1e-9
"""Eigenvalues (or Cholesky pivots) of the summed covariance below this share of the largest are taken as zero:
those directions cannot vary given the margins, and carry no dof."""


def stratified_share_test(
    reference: IntArray, current: IntArray, daily: Sequence[IntArray], *, dispersion_alpha: float
) -> ShareTest | None:
    """Test `current` against `reference` within strata (both segments x categories counts); `daily` holds
    each reference day's counts (segments x categories). None when fewer than two strata hold at least
    `MIN_STRATUM_ROW` observations on both sides: there is nothing to stratify, so the caller tests pooled."""
    both = (reference.sum(axis=1) >= MIN_STRATUM_ROW) & (current.sum(axis=1) >= MIN_STRATUM_ROW)
    if int(both.sum()) < 2:
        return None
    groups = pool_rare(reference.sum(axis=0), current.sum(axis=0))
    ref, cur = grouped(reference, groups), grouped(current, groups)
    tested = cmh_statistic([np.vstack([r, c]) for r, c in zip(ref, cur, strict=True)])
    days = [grouped(day, groups) for day in daily if day.sum() > 0]
    between = (
        cmh_statistic([np.vstack([day[h] for day in days]) for h in range(len(ref))])
        if len(days) >= 2
        else (0.0, 0)
    )
    return allow_for_swing(
        tested, between, ref.shape[1], dispersion_alpha=dispersion_alpha, strata=int(both.sum())
    )


def cmh_statistic(tables: Sequence[IntArray]) -> tuple[float, int]:
    """The generalized CMH statistic of general association of R x K tables (one per stratum, the same rows
    and columns in each) and its dof, the rank of the summed covariance (0: nothing to test)."""
    rows, columns = np.asarray(tables[0]).shape if tables else (0, 0)
    size = max(rows - 1, 0) * max(columns - 1, 0)
    if not size:
        return 0.0, 0
    deviation, covariance = np.zeros(size), np.zeros((size, size))
    for table in tables:
        counts = np.asarray(table, dtype=np.float64).copy()
        counts[counts.sum(axis=1) < MIN_STRATUM_ROW] = 0.0
        row_totals, column_totals, n = counts.sum(axis=1), counts.sum(axis=0), counts.sum()
        if np.count_nonzero(row_totals) < 2:
            continue
        expected = np.outer(row_totals, column_totals) / n
        deviation += (counts - expected)[:-1, :-1].ravel()
        covariance += n * n / (n - 1) * np.kron(_multinomial(row_totals / n), _multinomial(column_totals / n))
    return _quadratic_form(deviation, covariance)


def _quadratic_form(deviation: FloatArray, covariance: FloatArray) -> tuple[float, int]:
    """d' V^- d and rank(V): by Cholesky on V's non-zero rows when it is well conditioned there (the usual
    case, and 30x faster than an eigen-decomposition), else on V's eigenvectors with non-negligible values."""
    live = np.diag(covariance) > 0
    if not live.any():
        return 0.0, 0
    covariance, deviation = covariance[np.ix_(live, live)], deviation[live]
    try:
        factor = np.linalg.cholesky(covariance)
        if np.min(np.diag(factor)) ** 2 > _RANK_TOLERANCE * np.max(np.diag(covariance)):
            solved = np.linalg.solve(factor, deviation)
            return float(solved @ solved), len(deviation)
    except np.linalg.LinAlgError:
        pass
    values, vectors = np.linalg.eigh(covariance)
    kept = values > _RANK_TOLERANCE * values.max()
    projected = vectors[:, kept].T @ deviation
    return float(np.sum(projected**2 / values[kept])), int(kept.sum())


def _multinomial(shares: FloatArray) -> FloatArray:
    """diag(p) - p p' on all but the last share: a multinomial's covariance per draw, one category dropped."""
    kept = shares[:-1]
    out: FloatArray = np.diag(kept) - np.outer(kept, kept)
    return out
