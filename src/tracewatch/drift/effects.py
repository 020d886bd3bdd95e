"""Effect sizes an alert needs, and the reference days' own swing, measured within the traffic mix.

Every comparison here is "the day against a reference re-weighted to the day's segment mix": with w_h the day's
share of the feature's values in segment h and p_h the reference's distribution within h (its pooled one for a
segment the reference lacks), the day is compared with sum_h w_h p_h. A day whose route x model mix differs but
whose segments look as they always do then shows no change: the mix is reported once, on `route` and `model`.
With a single segment (the pooled comparison) every function here is the plain one: the largest share change,
the normalised Wasserstein distance, and their sampling noise.

- A categorical feature's effect is the largest share change; a numeric one's the area between the day's CDF
  and the re-weighted reference's, in pooled reference standard deviations (`stats.scale_of`).
- A reference day's swing is the same effect of that day against the other reference days, re-weighted to the
  day's mix, less what sampling alone gives: `SAMPLING_SDS` sampling standard deviations of each share change,
  `SAMPLING_MEANS` times the sampling mean of the Wasserstein distance. The significance test already allows
  for sampling noise; the swing is what the days add to it.

The sampling variance of a re-weighted difference at one category (or CDF point) is
sum_h w_h p_h(1 - p_h) / n + sum_h w_h^2 p_h(1 - p_h) / m_h (the day's n values spread over its segments, the
reference's m_h in segment h): a thin reference segment that today's mix leans on counts for its noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracewatch.drift import stats
from tracewatch.drift.counts import FloatArray, IntArray, NumericCounts

SAMPLING_SDS = 3.0
"""A reference day's swing counts only beyond this many sampling standard deviations of its share change
(the significance test already allows for sampling noise; the swing is what the days add to it)."""
SAMPLING_MEANS = 2.5
"""The same for a numeric feature, in multiples of the Wasserstein distance sampling alone gives on average."""
_MEAN_ABS_NORMAL = math.sqrt(2 / math.pi)
"""E|Z| of a standard normal: the mean gap between two sampled CDFs at a point, in standard deviations."""


@dataclass(frozen=True)
class Gap:
    """The day less the re-weighted reference, per category or CDF point, with that difference's sampling sd."""

    difference: FloatArray
    noise: FloatArray
    reference: FloatArray
    """The re-weighted reference's shares (or CDF)."""


def mixed_gap(
    current: FloatArray,
    current_n: FloatArray,
    reference: FloatArray,
    reference_n: FloatArray,
    spread: FloatArray | None = None,
) -> Gap:
    """Rows are segments: `current[h]` the day's shares (or CDF) within segment h from `current_n[h]` values,
    `reference[h]` the reference's from `reference_n[h]`. A segment the reference lacks takes its pooled rows.
    `spread` (default `reference`) is the distribution whose sampling noise is allowed for."""
    weights = current_n / current_n.sum()
    total = reference_n.sum()
    seen = reference_n > 0
    filled = _filled(reference, reference_n, seen)
    source = filled if spread is None else _filled(spread, reference_n, seen)
    variance = source * (1 - source)
    counts = np.where(seen, reference_n, total)
    noise = np.sqrt(np.maximum(weights @ variance / current_n.sum() + (weights**2 / counts) @ variance, 0.0))
    mixed = weights @ filled
    return Gap(weights @ current - mixed, noise, mixed)


def _filled(rows: FloatArray, counts: FloatArray, seen: npt.NDArray[np.bool_]) -> FloatArray:
    pooled = counts @ rows / counts.sum()
    out: FloatArray = np.where(seen[:, None], rows, pooled)
    return out


def shares(counts: IntArray) -> tuple[FloatArray, FloatArray]:
    """Each row's shares (zeros for an empty row) and its total."""
    totals = counts.sum(axis=1).astype(np.float64)
    out: FloatArray = np.divide(
        counts, totals[:, None], out=np.zeros(counts.shape), where=totals[:, None] > 0
    )
    return out, totals


def share_change(current: IntArray, reference: IntArray) -> Gap:
    """The day's shares (segments x categories counts) against the reference's re-weighted to its mix."""
    return mixed_gap(*shares(current), *shares(reference))


def share_swing(day: IntArray, reference: IntArray) -> float:
    """How far one reference day's shares moved from the other reference days' (`reference` includes the day)
    beyond sampling noise: the largest share change less `SAMPLING_SDS` sampling sds (0 when within them)."""
    others = reference - day
    if day.sum() == 0 or others.sum() == 0:
        return 0.0
    gap = share_change(day, others)
    return float(np.max(np.maximum(np.abs(gap.difference) - SAMPLING_SDS * gap.noise, 0.0)))


def wasserstein_change(
    current: Sequence[NumericCounts], reference: Sequence[NumericCounts], scale: float
) -> float:
    """The normalised Wasserstein distance between the day (its segments' tables) and the reference
    re-weighted to its mix, in `scale` units (the pooled reference's std, `stats.scale_of`)."""
    grid = _grid([*current, *reference])
    if len(grid) < 2:
        return 0.0
    now, now_n = _cdfs(current, grid)
    before, before_n = _cdfs(reference, grid)
    return _area(mixed_gap(now, now_n, before, before_n).difference, grid) / scale


def wasserstein_swing(
    day: Sequence[NumericCounts], reference: Sequence[NumericCounts], scale: float
) -> float:
    """The same swing for a numeric feature: one reference day against the other days re-weighted to its mix,
    less `SAMPLING_MEANS` times what sampling alone gives. The other days' CDF in a segment is the pooled one
    less the day's, (N F_pool - n F_day) / (N - n), so no table is subtracted; their noise is the pool's."""
    grid = _grid([*day, *reference])
    now, now_n = _cdfs(day, grid)
    pool, pool_n = _cdfs(reference, grid)
    others_n = pool_n - now_n
    if len(grid) < 2 or now_n.sum() == 0 or others_n.sum() <= 0:
        return 0.0
    others = np.divide(
        pool * pool_n[:, None] - now * now_n[:, None],
        others_n[:, None],
        out=np.zeros(pool.shape),
        where=others_n[:, None] > 0,
    )
    gap = mixed_gap(now, now_n, others, others_n, spread=pool)
    distance = _area(gap.difference, grid) - SAMPLING_MEANS * _MEAN_ABS_NORMAL * _area(gap.noise, grid)
    return max(distance / scale, 0.0)


def _grid(tables: Sequence[NumericCounts]) -> FloatArray:
    values: FloatArray = np.unique(np.concatenate([t.values for t in tables]))
    return values


def _cdfs(tables: Sequence[NumericCounts], grid: FloatArray) -> tuple[FloatArray, FloatArray]:
    return np.vstack([stats.cdf_at(t, grid) for t in tables]), np.array([t.size for t in tables], np.float64)


def _area(curve: FloatArray, grid: FloatArray) -> float:
    """The area under |curve|, a step function constant from each grid point to the next."""
    return float(np.dot(np.abs(curve[:-1]), np.diff(grid)))
