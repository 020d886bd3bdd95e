"""The quality test's spread counts each source of noise once: it holds its level whether the days are steady or
swing, and a steady score's real change is found on a thin day."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from tracewatch.drift import DriftConfig
from tracewatch.drift.pvalues import t_sf
from tracewatch.drift.quality import DailyScore, prediction_spread, score_point

DAY = dt.date(2026, 3, 9)


def _days(
    rng: np.random.Generator, n: int, share: float, tau: float, days: int
) -> list[tuple[float, int, float]]:
    """`days` binomial days of about `n` values, each day's true share moved by a normal swing of sd `tau`."""
    shares = np.clip(share + rng.normal(0, tau, days), 0.001, 0.999)
    counts = rng.poisson(n, days).clip(10)
    means = rng.binomial(counts, shares) / counts
    return [(float(m), int(c), float(math.sqrt(m * (1 - m)))) for m, c in zip(means, counts, strict=True)]


def _p_value(history: list[tuple[float, int, float]], today: tuple[float, int, float]) -> float:
    score = DailyScore("refusal", "trace", today[0], today[1], today[2], higher_is_better=False)
    point = score_point(DAY, score, list(history), None, DriftConfig())
    assert point.p_value is not None
    return point.p_value


def test_identical_days_leave_only_sampling_noise() -> None:
    history: list[tuple[float, int | None, float | None]] = [(0.5, 400, 0.5)] * 7
    assert prediction_spread(0.0, 0.5 / 20, history) == math.sqrt(0.025**2 + 0.5**2 / 400 / 7)


def test_the_level_holds_with_steady_and_swinging_days() -> None:
    """One-sided p < 0.05 on about 5% of unchanged days (at most 6.5% over 3,000 draws), whatever the swing."""
    sampling = math.sqrt(0.06 * 0.94 / 300)
    for tau in (0.0, sampling, 2 * sampling, 4 * sampling):
        rng = np.random.default_rng(17)
        hits = 0
        for _ in range(3000):
            days = _days(rng, 300, 0.06, tau, 8)
            hits += _p_value(days[:7], days[7]) < 0.05
        assert hits / 3000 <= 0.065, (tau, hits)


def test_a_steady_score_doubling_on_a_thin_day_is_sharper_than_counting_noise_twice() -> None:
    """Refusals from 6% to 12% of a 300-trace day against seven steady days: the median p-value is well below
    the one of `hypot(ref_sd, sampling)` over t(6), which counts the reference days' sampling noise twice."""
    rng = np.random.default_rng(3)
    found, twice = [], []
    for _ in range(200):
        days = _days(rng, 300, 0.06, 0.0, 7)
        today = _days(rng, 300, 0.12, 0.0, 1)[0]
        found.append(_p_value(days, today))
        means = [d[0] for d in days]
        spread = math.hypot(float(np.std(means, ddof=1)), today[2] / math.sqrt(today[1]))
        twice.append(t_sf((today[0] - float(np.mean(means))) / spread, 6))
    assert float(np.median(found)) < 0.65 * float(np.median(twice))
