"""With no drift, false alarms stay at the configured level: each Evidently-style test on its own, and, what a
person experiences, the share of nights that raise any alert, with or without a day-to-day swing in the mix."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from tracewatch.drift import DriftConfig, assess_night, build_day_profile, run_checks

DAY = dt.date(2026, 11, 1)
SEEDS = 400
ALPHA = 0.05
MODELS = np.array(["a", "b", "c", "d"])


def _day(rng: np.random.Generator, n: int, swing: float = 0.0) -> pl.DataFrame:
    shares = np.array([0.4, 0.3, 0.2, 0.1]) * np.exp(rng.normal(0, swing, 4))
    return pl.DataFrame(
        {
            "latency_ms": np.round(rng.lognormal(6.5, 0.5, n), 3),
            "output_tokens": rng.poisson(60, n),
            "model": MODELS[rng.choice(4, n, p=shares / shares.sum())],
            "status": np.where(rng.random(n) < 0.1, "error", "ok"),
        }
    )


def test_each_evidently_style_test_holds_its_own_significance_level() -> None:
    """Small samples (140 reference, 60 current rows) put every feature in the KS / chi-square regime. Pooled
    over the four features the rate must not exceed alpha; each feature's own rate within three binomial
    standard errors of it (the chi-square law is an approximation with small counts)."""
    config = DriftConfig(ks_alpha=ALPHA, chisquare_alpha=ALPHA)
    alarms: dict[str, int] = {}
    methods: set[str] = set()
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        reference = build_day_profile(_day(rng, 140), DAY)
        current = build_day_profile(_day(rng, 60), DAY)
        for result in run_checks(reference, current, config).results:
            if result.role == "evidently":
                alarms[result.feature] = alarms.get(result.feature, 0) + result.drifted
                methods.add(result.method)
    assert methods == {"ks", "chisquare"}
    rates = {feature: count / SEEDS for feature, count in alarms.items()}
    overall = sum(alarms.values()) / (SEEDS * len(alarms))
    assert 0 < overall <= ALPHA, rates  # above zero: the tests can fire at all
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / SEEDS)
    assert all(rate <= ALPHA + slack for rate in rates.values()), rates


def _nightly_rate(alpha: float, swing: float, seeds: int, rows: int) -> float:
    # The test alone decides: no effect floor, no swing gate.
    config = DriftConfig(alpha=alpha, min_share_change=0.0, min_wasserstein=0.0, effect_swing_factor=0.0)
    alerted = 0
    for seed in range(seeds):
        rng = np.random.default_rng([seed, int(swing * 100)])
        days = [build_day_profile(_day(rng, rows, swing), DAY + dt.timedelta(days=i)) for i in range(8)]
        alerted += bool(assess_night(days[:7], days[7], config).alerts)
    return alerted / seeds


@pytest.mark.parametrize("swing", [0.0, 0.2])
def test_the_share_of_quiet_nights_with_any_alert_stays_at_the_nights_level(swing: float) -> None:
    """The night's four tests are one family: at most alpha of quiet nights alert (plus three binomial standard
    errors), even when the model mix swings about 20% from day to day at 1,500 traces, which a test that
    ignored the swing would flag most nights. With alpha at 0.3 the rate is near 0.3: the rule can fire."""
    seeds = 150
    for alpha in (0.05, 0.3):
        rate = _nightly_rate(alpha, swing, seeds, 1500)
        assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / seeds), (alpha, rate)
    assert rate >= 0.1, rate
