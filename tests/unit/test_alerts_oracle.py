"""The alerts benchmark's yardstick: one test that knows the shift. It must hold its level on steady shares,
find a clear move in its own direction only, allow for reference days that swing more than the binomial, and
count the shifted quantity from a real generated day."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from bench.alerts_oracle import KINDS, one_test_alerts, shifted_counts

from tracewatch.traces import DriftSpec, generate_day

STEADY = [(100, 1000)] * 7


def test_a_steady_share_does_not_alert_and_a_clear_rise_does() -> None:
    assert not one_test_alerts(STEADY, (100, 1000), "refusals")
    assert one_test_alerts(STEADY, (160, 1000), "refusals")


def test_the_test_is_one_sided_in_the_shifts_direction() -> None:
    assert not one_test_alerts(STEADY, (40, 1000), "refusals")  # fewer refusals is not the shift
    assert one_test_alerts(STEADY, (40, 1000), "feedback_drop")  # fewer thumbs up is
    assert not one_test_alerts(STEADY, (160, 1000), "feedback_drop")


def test_reference_days_that_swing_widen_what_counts_as_noise() -> None:
    swinging = [(60, 1000), (140, 1000), (70, 1000), (130, 1000), (80, 1000), (120, 1000), (100, 1000)]
    assert one_test_alerts(STEADY, (125, 1000), "refusals")
    assert not one_test_alerts(swinging, (125, 1000), "refusals")


def test_a_share_never_seen_before_alerts_when_it_appears() -> None:
    assert one_test_alerts([(0, 300)] * 7, (3, 300), "language")
    assert not one_test_alerts([(0, 300)] * 7, (0, 300), "language")


def test_an_unknown_kind_is_refused_with_the_kinds_it_knows() -> None:
    with pytest.raises(ValueError, match=r"latency.*topic_mix"):
        shifted_counts(pl.DataFrame({"input_text": ["a"]}), "latency")


@pytest.mark.parametrize("kind", KINDS)
def test_the_shifted_quantity_rises_or_falls_with_its_drift(kind: str) -> None:
    day = dt.date(2026, 3, 9)
    plain = generate_day(day, seed=3, traces=2000, day_index=8, drift=None)
    drifted = generate_day(
        day, seed=3, traces=2000, day_index=8, drift=DriftSpec.single(kind, "large", from_day=8)
    )
    (k0, n0), (k1, n1) = shifted_counts(plain, kind), shifted_counts(drifted, kind)
    assert n0 > 0 and n1 > 0
    moved = k1 / n1 - k0 / n0
    assert (moved < -0.1) if kind == "feedback_drop" else (moved > 0.03)


def test_a_share_that_was_always_full_alerts_when_it_falls() -> None:
    assert one_test_alerts([(90, 90)] * 7, (80, 90), "feedback_drop")
    assert not one_test_alerts([(90, 90)] * 7, (90, 90), "feedback_drop")
