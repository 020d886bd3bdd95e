"""Statistics for scores: bootstrap intervals, the paired comparison with the baseline, Holm (judge agreement is
`agreement`, the grouped frames `aggregation`).

Pure functions over numpy arrays (and polars frames for the group helpers), deterministic under a seed.
numpy is the only numerical dependency at run time: the normal tail comes from `math.erfc` and every other
distribution is exact or resampled, so scipy stays a test-only reference. Inputs are the *scored* values:
an unscored or failed score is never a number, so a NaN reaching these functions is a bug upstream and is
refused rather than averaged. See docs/scoring-statistics.md for the reasoning behind each choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tracewatch.errors import ConfigError

__all__ = [
    "Interval",
    "PairedComparison",
    "PairedTest",
    "TestResult",
    "Verdict",
    "average_ranks",
    "bootstrap_mean_ci",
    "compare_paired",
    "finite_values",
    "holm",
    "sign_flip_test",
    "verdict",
    "wilcoxon_signed_rank",
]

Verdict = Literal["better", "worse", "no detectable difference", "no data"]
PairedTest = Literal["permutation", "wilcoxon"]

# Bound on the elements of one block of resampled indices (int64: 8 bytes each -> 32 MiB per block).
_BLOCK_ELEMENTS = 1 << 22
# Up to this many pairs the sign-flip test enumerates all 2**n sign patterns (65,536 x 16 at most).
_EXACT_MAX_N = 16


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean with its bootstrap confidence interval; all None when there is nothing to average (n == 0)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True, slots=True)
class TestResult:
    """A two-sided p-value, or None with the reason the test could not be run."""

    p_value: float | None
    n: int
    method: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """Candidate minus baseline on the items both scored: mean difference, its bootstrap CI, a paired test."""

    n: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    reason: str | None = None


def finite_values(values: npt.ArrayLike, name: str = "values") -> npt.NDArray[np.float64]:
    """One-dimensional float array; NaN or inf means an unscored value leaked in as a number, so refuse."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; pass only scored values")
    return array


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")


def _bootstrap_means(
    values: npt.NDArray[np.float64], resamples: int, rng: np.random.Generator
) -> npt.NDArray[np.float64]:
    """Means of `resamples` resamples with replacement, drawn in blocks so memory stays bounded for large n."""
    n = values.size
    rows_per_block = max(1, _BLOCK_ELEMENTS // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, rows_per_block):
        stop = min(start + rows_per_block, resamples)
        index = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[index].mean(axis=1)
    return means


def bootstrap_mean_ci(
    values: npt.ArrayLike, *, confidence: float = 0.95, resamples: int = 2000, seed: int
) -> Interval:
    """Sample mean with a percentile-bootstrap interval.

    The percentile bootstrap assumes nothing about the shape of the score distribution (scores are often
    0/1 or bounded and skewed), which is why it is preferred over a t interval here. n == 0 gives an
    Interval of Nones (no fake number); n == 1 gives the degenerate interval [x, x]: every resample is that
    one value, so the interval says nothing about spread and the caller should read n alongside it.
    """
    _check_confidence(confidence)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    array = finite_values(values)
    n = int(array.size)
    if n == 0:
        return Interval(mean=None, low=None, high=None, n=0)
    mean = float(array.mean())
    if n == 1:
        return Interval(mean=mean, low=mean, high=mean, n=1)
    means = _bootstrap_means(array, resamples, np.random.default_rng(seed))
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(mean=mean, low=float(low), high=float(high), n=n)


def average_ranks(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Ranks 1..n with ties sharing their average rank, and the size of every tie group."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts) - 1
    counts = np.bincount(group).astype(np.int64)
    ends = np.cumsum(counts)  # 1-based rank of the last member of each group
    average = ends - (counts - 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = average[group]
    return ranks, counts


def wilcoxon_signed_rank(differences: npt.ArrayLike) -> TestResult:
    """Two-sided Wilcoxon signed-rank test, normal approximation with zeros dropped and a tie correction.

    Matches scipy.stats.wilcoxon(d, zero_method="wilcox", correction=False, method="asymptotic"). It tests
    whether the differences are symmetric about zero (a pseudo-median), not the mean; kept as an
    alternative to the sign-flip test, which tests the mean the report shows.
    """
    d = finite_values(differences, "differences")
    nonzero = d[d != 0.0]
    count = int(nonzero.size)
    method = "wilcoxon signed-rank (normal approximation)"
    if count == 0:
        return TestResult(None, int(d.size), method, "no non-zero differences: the test is undefined")
    ranks, ties = average_ranks(np.abs(nonzero))
    r_plus = float(ranks[nonzero > 0].sum())
    expected = count * (count + 1) / 4.0
    tie_correction = float(np.sum(ties.astype(np.float64) ** 3 - ties))
    variance = (count * (count + 1) * (2 * count + 1) - tie_correction / 2.0) / 24.0
    z = (r_plus - expected) / math.sqrt(variance)
    return TestResult(min(1.0, math.erfc(abs(z) / math.sqrt(2.0))), int(d.size), method)


def sign_flip_test(
    differences: npt.ArrayLike, *, resamples: int = 9999, seed: int, exact_max_n: int = _EXACT_MAX_N
) -> TestResult:
    """Two-sided paired permutation test of the mean difference: flip the sign of each difference.

    Under "no difference" each pair's difference is as likely positive as negative, so the null
    distribution of the mean comes from random sign flips; no normality is assumed. Exact (all 2**n
    patterns) up to `exact_max_n` pairs, otherwise Monte Carlo with `resamples` draws and the (b+1)/(m+1)
    p-value, which is never zero and stays valid. Zero differences take part but contribute nothing.
    """
    d = finite_values(differences, "differences")
    n = int(d.size)
    if n == 0:
        return TestResult(None, 0, "sign-flip permutation", "no paired items")
    observed = abs(float(d.sum()))
    # Sums computed in a different order may differ in the last bits; treat those as ties with the observed.
    threshold = observed - 1e-12 * max(1.0, float(np.abs(d).sum()))
    if n <= exact_max_n:
        patterns = np.arange(1 << n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)
        signs = 1.0 - 2.0 * (patterns & 1)
        hits = int(np.count_nonzero(np.abs(signs @ d) >= threshold))
        return TestResult(hits / (1 << n), n, "sign-flip permutation (exact)")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    rows_per_block = max(1, _BLOCK_ELEMENTS // n)
    hits = 0
    for start in range(0, resamples, rows_per_block):
        rows = min(rows_per_block, resamples - start)
        signs = 1.0 - 2.0 * rng.integers(0, 2, size=(rows, n))
        hits += int(np.count_nonzero(np.abs(signs @ d) >= threshold))
    return TestResult((hits + 1) / (resamples + 1), n, f"sign-flip permutation (Monte Carlo, {resamples})")


def compare_paired(
    candidate: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    test: PairedTest = "permutation",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int,
) -> PairedComparison:
    """Compare a config with the baseline on the items both scored (candidate - baseline).

    The two arrays are aligned by item; NaN marks an item a side did not score, and such items are dropped
    from both sides. Pairing removes the item-to-item variation that dominates LLM scores, so a much
    smaller difference is detectable than with two independent samples, and using only the common items
    keeps a config that failed on the hard items from looking better than it is.
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"candidate and baseline must be aligned 1-d arrays, got {a.shape} and {b.shape}")
    both = ~np.isnan(a) & ~np.isnan(b)
    differences = finite_values(a[both] - b[both], "differences")
    interval = bootstrap_mean_ci(differences, confidence=confidence, resamples=resamples, seed=seed)
    if test == "permutation":
        result = sign_flip_test(differences, seed=seed)
    elif test == "wilcoxon":
        result = wilcoxon_signed_rank(differences)
    else:
        raise ConfigError(f"unknown paired test {test!r}; allowed: 'permutation', 'wilcoxon'")
    return PairedComparison(
        n=interval.n,
        mean_difference=interval.mean,
        ci_low=interval.low,
        ci_high=interval.high,
        p_value=result.p_value,
        method=result.method,
        reason=result.reason,
    )


def holm(pvalues: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Same semantics as statsmodels' multipletests(method="holm"): the k-th smallest p is multiplied by
    (m - k + 1), made monotone with a running maximum and capped at 1. Holm controls the family-wise error
    rate over all configs compared with the baseline, under any dependence between them, and is uniformly
    more powerful than plain Bonferroni.
    """
    p = finite_values(pvalues, "pvalues")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.empty(m, dtype=np.float64)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def verdict(
    adjusted_p: float | None,
    mean_difference: float | None,
    *,
    alpha: float = 0.05,
    higher_is_better: bool = True,
) -> Verdict:
    """better / worse when the adjusted p is below alpha, by the sign of the difference; otherwise no call.

    No difference at all (no item scored by both sides, so `mean_difference` is None) is "no data": with
    nothing compared there is no verdict, not even "no detectable difference". Pairs without a p-value (the
    test is undefined, e.g. every difference zero) are "no detectable difference": nothing was detected.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha}")
    if mean_difference is None:
        return "no data"
    if adjusted_p is None or adjusted_p >= alpha or mean_difference == 0.0:
        return "no detectable difference"
    improved = (mean_difference > 0.0) == higher_is_better
    return "better" if improved else "worse"
