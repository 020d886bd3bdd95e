"""With no drift, the share of false alarms over many seeds stays at or below the configured significance.

Small samples (140 reference, 60 current rows) put every feature in the KS / chi-square regime. Pooled over
the four features the rate must not exceed alpha; each feature's own rate, a noisier estimate, must stay
within three binomial standard errors of it (the chi-square law is an approximation with small counts)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from tracewatch.drift import DriftConfig, build_day_profile, run_checks

DAY = dt.date(2026, 11, 1)
SEEDS = 400
ALPHA = 0.05


def _day(rng: np.random.Generator, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "latency_ms": np.round(rng.lognormal(6.5, 0.5, n), 3),
            "output_tokens": rng.poisson(60, n),
            "model": np.array(["a", "b", "c", "d"])[rng.choice(4, n, p=(0.4, 0.3, 0.2, 0.1))],
            "status": np.where(rng.random(n) < 0.1, "error", "ok"),
        }
    )


def test_false_alarm_rate_is_at_most_the_significance_level() -> None:
    config = DriftConfig(ks_alpha=ALPHA, chisquare_alpha=ALPHA)
    alarms: dict[str, int] = {}
    methods: set[str] = set()
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        reference = build_day_profile(_day(rng, 140), DAY)
        current = build_day_profile(_day(rng, 60), DAY)
        for result in run_checks(reference, current, config).results:
            if result.role == "test":
                alarms[result.feature] = alarms.get(result.feature, 0) + result.drifted
                methods.add(result.method)
    assert methods == {"ks", "chisquare"}
    rates = {feature: count / SEEDS for feature, count in alarms.items()}
    overall = sum(alarms.values()) / (SEEDS * len(alarms))
    assert 0 < overall <= ALPHA, rates  # above zero: the tests can fire at all
    # Per feature, 400 seeds estimate a rate to about +-1.1 points: allow three standard errors.
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / SEEDS)
    assert all(rate <= ALPHA + slack for rate in rates.values()), rates
