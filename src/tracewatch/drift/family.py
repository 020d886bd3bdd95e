"""Each feature's `test` row, the night's family member: within route x model segments when it can, else pooled.

Within segments (`DriftConfig.mix_adjusted`, every day tabled per segment, at least two segments with data on
both sides): the stratified CMH test (`stratified`), the effect measured against the reference re-weighted to
today's segment mix and the reference days' swing measured the same way (`effects`), so a change of the mix is
not reported again in every feature that differs by route or model. Otherwise pooled: Pearson's chi-square
against the pooled reference (`significance`), and the plain effect and swing (one segment). The method
(`cmh_chisquare` vs `chisquare`) and the message say which, and why a test was pooled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from tracewatch.drift import effects, stats
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.counts import FloatArray, IntArray, NumericCounts
from tracewatch.drift.results import (
    ALERT_DIRECTION,
    METHOD_NAMES,
    SHARE_CHANGE,
    WASSERSTEIN_EFFECT,
    CheckResult,
    Window,
)
from tracewatch.drift.segments import describe
from tracewatch.drift.significance import ShareTest, share_test
from tracewatch.drift.stratified import stratified_share_test

T = TypeVar("T")
U = TypeVar("U")
POOLED = "(all)"
"""The one label of a pooled comparison."""


@dataclass(frozen=True)
class Segmented(Generic[T]):
    """One feature's tables per segment (`labels`, in order): the reference's, today's and each reference
    day's. A single `POOLED` label is the pooled comparison."""

    labels: tuple[str, ...]
    reference: tuple[T, ...]
    current: tuple[T, ...]
    daily: tuple[tuple[T, ...], ...]

    @classmethod
    def pooled(cls, reference: T, current: T, daily: Sequence[T]) -> Segmented[T]:
        return cls((POOLED,), (reference,), (current,), tuple((day,) for day in daily))

    def map(self, convert: Callable[[T], U]) -> Segmented[U]:
        """The same tables converted one by one (to counts on given keys, to buckets)."""
        return Segmented(
            self.labels,
            tuple(map(convert, self.reference)),
            tuple(map(convert, self.current)),
            tuple(tuple(map(convert, day)) for day in self.daily),
        )


@dataclass(frozen=True)
class _Scope:
    """Which comparison a row made, for its method and message."""

    tested: ShareTest
    within: bool
    words: str


def categorical_test(
    name: str,
    kind: str,
    keys: list[str],
    pooled: Segmented[Mapping[str, int]],
    within: Segmented[Mapping[str, int]] | None,
    why_pooled: str,
    config: DriftConfig,
    window: Window,
) -> CheckResult:
    """The `test` row of a categorical feature (or a numeric one with few values) on `keys`."""

    def on_keys(table: Mapping[str, int]) -> IntArray:
        return np.array([table.get(k, 0) for k in keys], np.int64)

    pooled_counts = pooled.map(on_keys)
    counts = within.map(on_keys) if within is not None else pooled_counts
    scope = _scope(counts, pooled_counts, why_pooled, config)
    if not scope.within:
        counts = pooled_counts
    reference, current = np.vstack(counts.reference), np.vstack(counts.current)
    gap = effects.share_change(current, reference)
    top = int(np.argmax(np.abs(gap.difference)))
    today = current.sum(axis=0) / current.sum()
    shift = f"largest change: {keys[top]} {gap.reference[top]:.1%} -> {today[top]:.1%}" + (
        f" (reference re-weighted to today's {describe(counts.labels)} mix)" if scope.within else ""
    )
    swings = [effects.share_swing(np.vstack(day), reference) for day in counts.daily]
    effect = (SHARE_CHANGE, float(abs(gap.difference[top])))
    method = "cmh_chisquare" if scope.within else "chisquare"
    sizes = (int(reference.sum()), int(current.sum()))
    return _row(name, kind, method, scope, effect, swings, config, window, shift, sizes)


def numeric_test(
    name: str,
    pooled: Segmented[NumericCounts],
    within: Segmented[NumericCounts] | None,
    why_pooled: str,
    edges: FloatArray,
    config: DriftConfig,
    window: Window,
    shift: str,
) -> CheckResult:
    """The `test` row of a numeric feature: buckets cut at the pooled reference's deciles (`edges`) for the
    test, the normalised Wasserstein distance (in pooled reference stds) for the effect."""

    def buckets(table: NumericCounts) -> IntArray:
        return stats.bucket_counts(table, edges)

    scope = _scope((within or pooled).map(buckets), pooled.map(buckets), why_pooled, config)
    tables = within if scope.within and within is not None else pooled
    scale = stats.scale_of(pooled.reference[0])
    effect = (WASSERSTEIN_EFFECT, effects.wasserstein_change(tables.current, tables.reference, scale))
    swings = [effects.wasserstein_swing(day, tables.reference, scale) for day in tables.daily]
    method = "binned_cmh_chisquare" if scope.within else "binned_chisquare"
    if scope.within:
        shift += f"; the distance is to the reference re-weighted to today's {describe(tables.labels)} mix"
    sizes = (pooled.reference[0].size, pooled.current[0].size)
    return _row(name, "numeric", method, scope, effect, swings, config, window, shift, sizes)


def _scope(
    counts: Segmented[IntArray], pooled: Segmented[IntArray], why_pooled: str, config: DriftConfig
) -> _Scope:
    """The stratified test when `counts` are per segment and it has two segments to compare, else pooled."""
    if counts.labels != (POOLED,):
        tested = stratified_share_test(
            np.vstack(counts.reference),
            np.vstack(counts.current),
            [np.vstack(day) for day in counts.daily],
            dispersion_alpha=config.dispersion_alpha,
        )
        if tested is not None:
            words = f"within {describe(counts.labels)} segments ({tested.strata} of {len(counts.labels)} compared)"
            return _Scope(tested, True, words)
        why_pooled = "fewer than two segments with data on both sides"
    daily = [day[0] for day in pooled.daily]
    tested = share_test(
        pooled.reference[0], pooled.current[0], daily, dispersion_alpha=config.dispersion_alpha
    )
    return _Scope(tested, False, f"pooled ({why_pooled})")


def _row(
    name: str,
    kind: str,
    method: str,
    scope: _Scope,
    effect: tuple[str, float],
    swings: Sequence[float],
    config: DriftConfig,
    window: Window,
    shift: str,
    sizes: tuple[int, int],
) -> CheckResult:
    """The row: the family's test and the effect an alert needs (decided later, `decision`): the feature's
    floor, or `effect_swing_factor` times the largest change a reference day showed against the other
    reference days (`swings`), whichever is larger."""
    tested = scope.tested
    measure, size = effect
    floor = config.min_share_change if measure == SHARE_CHANGE else config.min_wasserstein
    needed = max(floor, config.effect_swing_factor * max(swings, default=0.0))
    allowance = (
        f", allowing {tested.dispersion:.2g}x the sampling noise for the days' swing"
        if tested.dispersion > 1
        else ""
    )
    why = (
        f"{config.effect_swing_factor:g}x the reference days' largest swing beyond sampling"
        if needed > floor
        else "floor"
    )
    message = (
        f"{name}: {METHOD_NAMES[method]} {tested.p_value:.3g} {scope.words}{allowance}; {measure} {size:.3g} "
        f"(an alert needs {needed:.3g}: {why}); {shift}."
    )
    return CheckResult(
        feature=name,
        kind=kind,
        role="test",
        method=method,
        statistic=tested.statistic,
        threshold=config.alpha,
        p_value=tested.p_value,
        drifted=tested.p_value < config.alpha,
        direction=ALERT_DIRECTION,
        reference_size=sizes[0],
        current_size=sizes[1],
        reference_start=window[0],
        reference_end=window[1],
        message=message,
        effect_measure=measure,
        effect_size=size,
        effect_threshold=needed,
        dispersion=tested.dispersion,
    )
