"""Effects and swings against the reference re-weighted to the day's segment mix: with one segment they are the
plain ones; a pure change of the mix moves none of them; a change within segments moves them in full."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tracewatch.drift import effects, stats
from tracewatch.drift.counts import NumericCounts, merge_numeric, numeric_counts


def _table(values: np.ndarray) -> NumericCounts:
    return numeric_counts(pl.Series("x", values))


def test_one_segment_gives_the_plain_share_change_and_its_sampling_noise() -> None:
    reference, current = np.array([[500, 300, 200]]), np.array([[40, 35, 25]])
    gap = effects.share_change(current, reference)
    p, q = reference[0] / 1000, current[0] / 100
    assert gap.difference == pytest.approx(q - p)
    assert gap.noise == pytest.approx(np.sqrt(p * (1 - p) * (1 / 100 + 1 / 1000)))


def test_a_pure_mix_change_is_no_share_change_and_a_change_within_is() -> None:
    """Segments with shares (0.8, 0.2) and (0.2, 0.8); the mix moves from 70/30 to 30/70."""
    reference = np.array([[5600, 1400], [600, 2400]])
    current = np.array([[240, 60], [140, 560]])
    assert np.max(np.abs(effects.share_change(current, reference).difference)) == pytest.approx(0.0)
    pooled = effects.share_change(current.sum(axis=0, keepdims=True), reference.sum(axis=0, keepdims=True))
    assert np.max(np.abs(pooled.difference)) == pytest.approx(0.62 - 0.38)
    within = np.array([[210, 90], [140, 560]])  # 10 points within the first segment, 30% of the day
    assert np.max(np.abs(effects.share_change(within, reference).difference)) == pytest.approx(0.03)


def test_a_segment_the_reference_lacks_is_compared_with_the_pooled_reference() -> None:
    reference = np.array([[800, 200], [0, 0]])
    current = np.array([[80, 20], [50, 50]])
    gap = effects.share_change(current, reference)
    assert gap.reference == pytest.approx([0.8, 0.2])
    assert gap.difference == pytest.approx([0.65 - 0.8, 0.35 - 0.2])


def test_a_share_swing_is_a_day_against_the_other_days_re_weighted_to_its_mix() -> None:
    """A day whose mix differs but whose segments look like the others' did not swing; one whose first
    segment moved 10 points (far beyond sampling) did, by that much re-weighted, less 3 sampling sds."""
    steady = np.array([[240, 60], [140, 560]])
    others = np.array([[5600, 1400], [600, 2400]])
    assert effects.share_swing(steady, others + steady) == 0.0
    moved = np.array([[2100, 900], [1400, 5600]])
    gap = effects.share_change(moved, others)
    expected = float(np.max(np.abs(gap.difference) - effects.SAMPLING_SDS * gap.noise))
    assert effects.share_swing(moved, others + moved) == pytest.approx(expected)
    assert 0 < expected < 0.03


def test_one_segment_gives_the_plain_normalised_wasserstein_distance_and_swing() -> None:
    rng = np.random.default_rng(1)
    days = [_table(np.rint(rng.lognormal(5, 0.6 + 0.05 * i, 400))) for i in range(7)]
    reference = merge_numeric(days)
    current = _table(np.rint(rng.lognormal(5.2, 0.6, 300)))
    scale = stats.scale_of(reference)
    assert effects.wasserstein_change([current], [reference], scale) == pytest.approx(
        stats.wasserstein_normed(reference, current), rel=1e-12
    )
    day = days[2]
    others = reference.size - day.size
    plain = stats.wasserstein_normed(reference, day) * reference.size / others - effects.SAMPLING_MEANS * (
        stats.sampling_wasserstein_normed(reference, day.size, others)
    )
    assert effects.wasserstein_swing([day], [reference], scale) == pytest.approx(max(plain, 0.0), rel=1e-9)


def test_a_pure_mix_change_moves_no_numeric_distance() -> None:
    """Short inputs in one segment, long in the other; the same values in each, the mix 70/30 -> 30/70."""
    short, long = np.arange(10, 60, dtype=float), np.arange(400, 900, 10, dtype=float)
    reference = [_table(np.repeat(short, 14)), _table(np.repeat(long, 6))]
    current = [_table(np.repeat(short, 3)), _table(np.repeat(long, 7))]
    scale = stats.scale_of(merge_numeric(reference))
    assert effects.wasserstein_change(current, reference, scale) == pytest.approx(0.0, abs=1e-12)
    pooled = effects.wasserstein_change([merge_numeric(current)], [merge_numeric(reference)], scale)
    assert pooled > 0.5
    longer = [current[0], _table(np.repeat(long * 1.1, 7))]  # the long segment 10% longer: 70% of the day
    distance = effects.wasserstein_change(longer, reference, scale)
    assert distance == pytest.approx(0.7 * np.mean(long) * 0.1 / scale, rel=1e-9)


def test_a_day_whose_segments_look_like_the_others_did_not_swing() -> None:
    """Whatever its mix (here 25/75 against the others' 75/25)."""
    short, long = np.arange(10, 60, dtype=float), np.arange(400, 900, 10, dtype=float)
    day = [_table(np.repeat(short, 1)), _table(np.repeat(long, 3))]
    others = [_table(np.repeat(short, 12)), _table(np.repeat(long, 4))]
    pool = [merge_numeric([d, o]) for d, o in zip(day, others, strict=True)]
    assert effects.wasserstein_swing(day, pool, stats.scale_of(merge_numeric(pool))) == 0.0
