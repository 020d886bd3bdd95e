"""Two-sample statistics computed from count tables instead of raw values.

On exact tables each statistic equals scipy's on the raw values (the tests pin it): KS (`ks_2samp`),
chi-square of homogeneity (`chi2_contingency(correction=False)`), Wasserstein (`wasserstein_distance`) and
Jensen-Shannon distance (`jensenshannon`, natural log). On binned tables they are approximations whose error
docs/drift.md bounds: every value moved by at most `counts.RELATIVE_ACCURACY` of itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from tracewatch.drift.counts import FloatArray, IntArray, NumericCounts
from tracewatch.drift.pvalues import chi2_sf, ks_2samp_pvalue

PSI_EPSILON = 1e-4
"""Share given to an empty PSI bucket, so an unseen bucket weighs heavily instead of infinitely."""


def _aligned(ref: NumericCounts, cur: NumericCounts) -> tuple[FloatArray, IntArray, IntArray]:
    """The union of values, and each table's counts on it."""
    values = np.union1d(ref.values, cur.values)
    a = np.zeros(len(values), np.int64)
    b = np.zeros(len(values), np.int64)
    a[np.searchsorted(values, ref.values)] = ref.counts
    b[np.searchsorted(values, cur.values)] = cur.counts
    return values, a, b


def ks_test(ref: NumericCounts, cur: NumericCounts) -> tuple[float, float]:
    """(D, p-value) of the two-sided two-sample Kolmogorov-Smirnov test."""
    _, a, b = _aligned(ref, cur)
    n1, n2 = int(a.sum()), int(b.sum())
    d = float(np.max(np.abs(np.cumsum(a) / n1 - np.cumsum(b) / n2)))
    return ks_2samp_pvalue(d, n1, n2)


def wasserstein(ref: NumericCounts, cur: NumericCounts) -> float:
    """First Wasserstein distance: the area between the two empirical CDFs."""
    values, a, b = _aligned(ref, cur)
    if len(values) < 2:
        return 0.0
    gap = np.abs(np.cumsum(a)[:-1] / a.sum() - np.cumsum(b)[:-1] / b.sum())
    return float(np.dot(gap, np.diff(values)))


def wasserstein_normed(ref: NumericCounts, cur: NumericCounts) -> float:
    """Wasserstein distance in reference standard deviations.

    Evidently floors the deviation at 0.001 in the feature's own unit, which makes a dollar cost (std about
    0.0002) look five times steadier than it is; here a floor applies only to a constant reference, whose
    scale is then its own magnitude (or 1 for a reference of zeros)."""
    return wasserstein(ref, cur) / scale_of(ref)


def scale_of(ref: NumericCounts) -> float:
    """The normaliser of a Wasserstein distance: the reference's std, or for a constant reference its own
    magnitude (1 for a reference of zeros)."""
    return ref.std() or abs(ref.mean() or 0.0) or 1.0


def cdf_at(table: NumericCounts, grid: FloatArray) -> FloatArray:
    """The table's empirical CDF at each grid point (share of values <= it; zeros for an empty table)."""
    if not table.size:
        return np.zeros(len(grid))
    cumulative = np.concatenate([[0], np.cumsum(table.counts)])
    shares: FloatArray = cumulative[np.searchsorted(table.values, grid, side="right")] / table.size
    return shares


def sampling_wasserstein_normed(ref: NumericCounts, n: int, m: int) -> float:
    """The normalised Wasserstein distance two samples of sizes `n` and `m` drawn from `ref`'s distribution
    show on average by sampling alone: at each value the gap between the two empirical CDFs is about normal
    with variance F(1 - F)(1/n + 1/m), so E W = sqrt(2/pi) sqrt(1/n + 1/m) * integral of sqrt(F(1 - F))."""
    if n < 1 or m < 1 or len(ref.values) < 2:
        return 0.0
    cdf = np.cumsum(ref.counts)[:-1] / ref.counts.sum()
    spread = float(np.dot(np.sqrt(cdf * (1 - cdf)), np.diff(ref.values)))
    return math.sqrt(2 / math.pi) * math.sqrt(1 / n + 1 / m) * spread / scale_of(ref)


def aligned_categories(
    ref: Mapping[str, int], cur: Mapping[str, int]
) -> tuple[list[str], IntArray, IntArray]:
    """The categories of either side, sorted, with each side's counts on them (0 where absent)."""
    keys = sorted(set(ref) | set(cur))
    return (
        keys,
        np.array([ref.get(k, 0) for k in keys], np.int64),
        np.array([cur.get(k, 0) for k in keys], np.int64),
    )


def chi2_homogeneity(a: IntArray, b: IntArray) -> tuple[float, float, int]:
    """(statistic, p-value, dof) of Pearson's chi-square test that two count vectors share one distribution.

    Columns empty in both are dropped; one remaining category means nothing to test (p = 1).
    """
    keep = (a + b) > 0
    a, b = a[keep].astype(np.float64), b[keep].astype(np.float64)
    dof = len(a) - 1
    if dof < 1 or a.sum() == 0 or b.sum() == 0:
        return 0.0, 1.0, max(dof, 0)
    column = a + b
    total = column.sum()
    statistic = 0.0
    for row in (a, b):
        expected = column * row.sum() / total
        statistic += float(np.sum((row - expected) ** 2 / expected))
    return statistic, chi2_sf(statistic, dof), dof


def jensenshannon(a: IntArray, b: IntArray) -> float:
    """Jensen-Shannon distance (square root of the divergence, natural log) of two count vectors."""
    p = a / a.sum()
    q = b / b.sum()
    m = (p + q) / 2
    divergence = (_rel_entr(p, m) + _rel_entr(q, m)) / 2
    return math.sqrt(max(divergence, 0.0))


def _rel_entr(p: FloatArray, q: FloatArray) -> float:
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / q[nonzero])))


def psi(a: IntArray, b: IntArray) -> float:
    """Population stability index sum((cur - ref) * ln(cur / ref)) over buckets; 0 for identical shares."""
    p = np.maximum(a / a.sum(), PSI_EPSILON)
    q = np.maximum(b / b.sum(), PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def quantile_buckets(ref: NumericCounts, cur: NumericCounts, bins: int) -> tuple[IntArray, IntArray]:
    """Both tables' counts in `bins` buckets cut at reference quantiles (ties keep a bucket whole)."""
    edges = quantile_edges(ref, bins)
    return bucket_counts(ref, edges), bucket_counts(cur, edges)


def quantile_edges(ref: NumericCounts, bins: int) -> FloatArray:
    """Upper edges of `bins` buckets cut at the reference's quantiles (ties keep a bucket whole)."""
    cumulative = np.cumsum(ref.counts)
    targets = cumulative[-1] * np.arange(1, bins) / bins
    edges: FloatArray = np.unique(ref.values[np.searchsorted(cumulative, targets, side="left")])
    return edges


def bucket_counts(table: NumericCounts, edges: FloatArray) -> IntArray:
    """A table's counts in the buckets `quantile_edges` cut (a value equal to an edge falls below it)."""
    counts = np.bincount(np.searchsorted(edges, table.values, side="left"), table.counts, len(edges) + 1)
    return np.rint(counts).astype(np.int64)
