"""The drift tests of one night: for every feature, the test that may page, its effect size, and the raw
statistics beside it.

Per feature (rows of the `drift` table, `role`):
- `test`: the significance test of the night's family (`significance.share_test`: a chi-square on the
  categories, or on reference-decile buckets for a numeric feature, that allows for the reference days' own
  day-to-day swing) with the practical effect size an alert also needs: the largest change of a category's
  share, or the normalised Wasserstein distance of a numeric feature. Whether it alerts is decided for the
  night as a whole (`decision.decide_night`): until then `alert` is False and `p_value_adjusted` None.
- `evidently`: the size-aware test as Evidently's data-drift preset does it (with at most `small_sample_max`
  reference values, KS for numeric or chi-square for categorical at p < alpha; above, normalised Wasserstein
  or Jensen-Shannon at >= threshold; a numeric feature with few distinct values as categorical). `drifted` is
  that test's own verdict, kept for comparison; it pages no one. One deliberate difference: our chi-square is
  the two-sample test of homogeneity (reference counts are a sample too), where Evidently's treats the
  reference shares as known; with a 2-category feature both equal Evidently's two-proportion z-test.
- `extra`: PSI on the same buckets, and the linear-kernel MMD test on the text vectors (`input_vector`).
- one `dataset` row: the share of tested features that alerted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tracewatch.drift import stats
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.counts import IntArray, NumericCounts
from tracewatch.drift.profile import DayProfile
from tracewatch.drift.significance import share_test
from tracewatch.drift.vectors import VectorMoments, mmd_effect, mmd_test
from tracewatch.errors import ConfigError

DATASET_FEATURE = "(dataset)"
P_VALUE_DIRECTION = "p_value below threshold is drift"
DISTANCE_DIRECTION = "statistic at or above threshold is drift"
ALERT_DIRECTION = "alert when p_value_adjusted is below threshold and effect_size reaches effect_threshold"
SHARE_CHANGE = "largest share change"
WASSERSTEIN_EFFECT = "normalised Wasserstein distance"
_NAMES = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "binned_chisquare": "chi-square p-value on reference deciles",
    "wasserstein": "normalised Wasserstein distance",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI",
    "mmd": "MMD p-value",
}
_Window = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class CheckResult:
    """One statistic of one feature (roles in the module docstring) or the dataset's share of alerts.

    `direction` says which way means drift; `p_value` is None where a method has none. The fields after
    `message` are set on `test` rows (and `alert` on the `dataset` row) by the night's decision.
    """

    feature: str
    kind: str  # numeric | categorical | vector | dataset
    role: str  # test | evidently | extra | dataset
    method: str
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    direction: str
    reference_size: int
    current_size: int
    reference_start: dt.date | None
    reference_end: dt.date | None
    message: str
    p_value_adjusted: float | None = None
    effect_measure: str | None = None
    effect_size: float | None = None
    effect_threshold: float | None = None
    dispersion: float | None = None
    """How much more the reference days differ among themselves than sampling explains (1: not significantly)."""
    alert: bool = False


@dataclass(frozen=True)
class DriftReport:
    """Every result of one comparison, the share of tested features that drifted, and what was not tested."""

    results: tuple[CheckResult, ...]
    drift_share: float
    dataset_drifted: bool
    skipped: tuple[str, ...]

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """The features that alerted (after the night's decision; empty before it)."""
        return tuple(r.feature for r in self.results if r.role == "test" and r.alert)

    @property
    def tests(self) -> tuple[CheckResult, ...]:
        """The night's family members: one significance test per feature."""
        return tuple(r for r in self.results if r.role == "test")


def run_checks(
    reference: DayProfile,
    current: DayProfile,
    config: DriftConfig,
    daily: Sequence[DayProfile] = (),
) -> DriftReport:
    """Compare `current` with `reference` feature by feature (features absent on either side are skipped).

    `daily` are the reference's own days (merged, they make `reference`): their day-to-day swing is what the
    significance tests allow for. Without them (a reference given only merged) no swing is allowed for. No
    `test` row alerts yet: `decision.decide_night` adjusts the night's p-values and decides.
    """
    window = (reference.dates[0], reference.dates[-1])
    results: list[CheckResult] = []
    skipped: list[str] = []
    for name in sorted(set(reference.numeric) & set(current.numeric)):
        ref, cur = reference.numeric[name], current.numeric[name]
        if ref.size and cur.size:
            days = [d.numeric[name] for d in daily if name in d.numeric]
            results.extend(_numeric(name, ref, cur, days, config, window))
        else:
            skipped.append(name)
    for name in sorted(set(reference.categorical) & set(current.categorical)):
        keys, a, b = stats.aligned_categories(reference.categorical[name], current.categorical[name])
        if a.sum() and b.sum():
            rows = [_on_keys(d.categorical[name], keys) for d in daily if name in d.categorical]
            results.extend(_categorical(name, "categorical", keys, a, b, rows, config, window))
        else:
            skipped.append(name)
    for name in sorted(set(reference.vectors) & set(current.vectors)):
        ref_vectors, cur_vectors = reference.vectors[name], current.vectors[name]
        if ref_vectors.n >= 2 and cur_vectors.n >= 2:
            results.append(_vector(name, ref_vectors, cur_vectors, config, window))
        else:
            skipped.append(name)
    skipped.extend(sorted(set(reference.vectors) ^ set(current.vectors)))
    skipped.extend(sorted(set(reference.numeric) ^ set(current.numeric)))
    skipped.extend(sorted(set(reference.categorical) ^ set(current.categorical)))
    results.append(dataset_result(results, config, (reference.rows, current.rows), window))
    report_share = results[-1].statistic
    return DriftReport(tuple(results), report_share, results[-1].drifted, tuple(sorted(set(skipped))))


def dataset_result(
    results: Sequence[CheckResult], config: DriftConfig, sizes: tuple[int, int], window: _Window
) -> CheckResult:
    """The dataset row: the share of tested features that alerted, against `drift_share`."""
    tests = [r for r in results if r.role == "test"]
    alerted = sum(r.alert for r in tests)
    share = alerted / len(tests) if tests else 0.0
    drifted = bool(tests) and share >= config.drift_share
    return CheckResult(
        feature=DATASET_FEATURE,
        kind="dataset",
        role="dataset",
        method="drift_share",
        statistic=share,
        threshold=config.drift_share,
        p_value=None,
        drifted=drifted,
        direction=DISTANCE_DIRECTION,
        reference_size=sizes[0],
        current_size=sizes[1],
        reference_start=window[0],
        reference_end=window[1],
        message=(
            f"{alerted} of {len(tests)} features alerted ({share:.0%}); "
            f"the dataset {'drifted' if drifted else 'did not drift'} (threshold {config.drift_share:.0%})."
        ),
        alert=drifted,
    )


def _on_keys(table: Mapping[str, int], keys: list[str]) -> IntArray:
    return np.array([table.get(k, 0) for k in keys], np.int64)


def _method(name: str, categorical: bool, reference_size: int, config: DriftConfig) -> str:
    pinned = config.methods.get(name)
    if pinned is not None:
        if categorical and pinned in ("ks", "wasserstein"):
            raise ConfigError(f"methods[{name!r}]={pinned!r} needs a numeric feature; {name} is categorical")
        return pinned
    small = reference_size <= config.small_sample_max
    if categorical:
        return "chisquare" if small else "jensenshannon"
    return "ks" if small else "wasserstein"


def _numeric(
    name: str,
    ref: NumericCounts,
    cur: NumericCounts,
    daily: Sequence[NumericCounts],
    config: DriftConfig,
    window: _Window,
) -> list[CheckResult]:
    pinned = config.methods.get(name)
    few = len(np.union1d(ref.values, cur.values)) <= config.categorical_max_values
    if pinned in ("chisquare", "jensenshannon") or (pinned is None and few):
        keys, a, b = stats.aligned_categories(_as_categories(ref), _as_categories(cur))
        rows = [_on_keys(_as_categories(d), keys) for d in daily if d.size]
        return _categorical(name, "numeric", keys, a, b, rows, config, window)
    method = _method(name, False, ref.size, config)
    p_value: float | None = None
    if method == "ks":
        statistic, p_value = stats.ks_test(ref, cur)
        threshold = config.ks_alpha
        drifted = p_value < threshold
    else:
        statistic, threshold = stats.wasserstein_normed(ref, cur), config.wasserstein_threshold
        drifted = statistic >= threshold
    ref_mean, cur_mean = ref.mean() or 0.0, cur.mean() or 0.0
    way = "higher" if cur_mean > ref_mean else "lower"
    shift = f"mean {cur_mean:.4g} vs {ref_mean:.4g} in the reference ({way})"
    edges = stats.quantile_edges(ref, config.psi_bins)
    a, b = stats.bucket_counts(ref, edges), stats.bucket_counts(cur, edges)
    rows = [stats.bucket_counts(d, edges) for d in daily if d.size]
    sizes = (ref.size, cur.size)
    effect = (WASSERSTEIN_EFFECT, stats.wasserstein_normed(ref, cur))
    swings = [_numeric_swing(d, ref) for d in daily if 0 < d.size < ref.size]
    return [
        _significance(
            name, "numeric", "binned_chisquare", a, b, rows, effect, swings, config, window, shift
        ),
        _result(
            name, "numeric", method, statistic, threshold, p_value, drifted, *sizes, window, shift,
            role="evidently",
        ),
        _psi(name, "numeric", a, b, config, window, shift),
    ]  # fmt: skip


def _vector(
    name: str, ref: VectorMoments, cur: VectorMoments, config: DriftConfig, window: _Window
) -> CheckResult:
    """The linear-kernel MMD test on the text vectors (no PSI: there are no buckets). It is an extra: the
    topic cells of the same vectors are the tested feature, where the days' swing can be allowed for."""
    mmd = mmd_test(ref, cur)
    drifted = mmd.p_value < config.mmd_alpha
    shift = f"{mmd_effect(mmd)} between the mean text vectors"
    return _result(
        name,
        "vector",
        "mmd",
        mmd.statistic,
        config.mmd_alpha,
        mmd.p_value,
        drifted,
        ref.n,
        cur.n,
        window,
        shift,
        role="extra",
    )


def _as_categories(table: NumericCounts) -> dict[str, int]:
    """Values as categories; `str` of a float is its shortest round-trip form, so distinct values stay distinct."""
    return dict(zip(map(str, table.values.tolist()), table.counts.tolist(), strict=True))


def _categorical(
    name: str,
    kind: str,
    keys: list[str],
    a: IntArray,
    b: IntArray,
    daily: Sequence[IntArray],
    config: DriftConfig,
    window: _Window,
) -> list[CheckResult]:
    method = _method(name, True, int(a.sum()), config)
    p_value: float | None = None
    if method == "chisquare":
        statistic, p_value, _ = stats.chi2_homogeneity(a, b)
        threshold = config.chisquare_alpha
        drifted = p_value < threshold
    else:
        statistic, threshold = stats.jensenshannon(a, b), config.jensenshannon_threshold
        drifted = statistic >= threshold
    p, q = a / a.sum(), b / b.sum()
    top = int(np.argmax(np.abs(q - p)))
    shift = f"largest change: {keys[top]} {p[top]:.1%} -> {q[top]:.1%}"
    sizes = (int(a.sum()), int(b.sum()))
    effect = (SHARE_CHANGE, float(abs(q[top] - p[top])))
    swings = [_share_swing(day, a) for day in daily]
    return [
        _significance(name, kind, "chisquare", a, b, daily, effect, swings, config, window, shift),
        _result(
            name,
            kind,
            method,
            statistic,
            threshold,
            p_value,
            drifted,
            *sizes,
            window,
            shift,
            role="evidently",
        ),
        _psi(name, kind, a, b, config, window, shift),
    ]


SAMPLING_SDS = 3.0
"""A reference day's swing counts only beyond this many sampling standard deviations of its share change
(the significance test already allows for sampling noise; the swing is what the days add to it)."""
SAMPLING_MEANS = 2.5
"""The same for a numeric feature, in multiples of the Wasserstein distance sampling alone gives on average."""


def _share_swing(day: IntArray, reference: IntArray) -> float:
    """How far one reference day's shares moved from the other reference days' beyond sampling noise: the
    largest share change, less `SAMPLING_SDS` of its sampling standard deviation (0 when within it)."""
    others = reference - day
    n, m = int(day.sum()), int(others.sum())
    if n == 0 or m == 0:
        return 0.0
    shares = others / m
    noise = np.sqrt(shares * (1 - shares) * (1 / n + 1 / m))
    return float(np.max(np.maximum(np.abs(day / n - shares) - SAMPLING_SDS * noise, 0.0)))


def _numeric_swing(day: NumericCounts, reference: NumericCounts) -> float:
    """The same for a numeric feature: the day's normalised Wasserstein distance to the other reference days,
    less `SAMPLING_MEANS` times what sampling alone gives. A day is 1/D of the pooled reference, so its distance
    to the others is its distance to the pool times pool / others (exact: the area between the CDFs)."""
    others = reference.size - day.size
    distance = stats.wasserstein_normed(reference, day) * reference.size / others
    noise = stats.sampling_wasserstein_normed(reference, day.size, others)
    return max(distance - SAMPLING_MEANS * noise, 0.0)


def _significance(
    name: str,
    kind: str,
    method: str,
    a: IntArray,
    b: IntArray,
    daily: Sequence[IntArray],
    effect: tuple[str, float],
    swings: Sequence[float],
    config: DriftConfig,
    window: _Window,
    shift: str,
) -> CheckResult:
    """The `test` row: the family's significance test and the effect an alert needs (decided later): the
    feature's floor, or `effect_swing_factor` times the largest change a reference day showed against the
    other reference days (`swings`), whichever is larger."""
    tested = share_test(a, b, daily, dispersion_alpha=config.dispersion_alpha)
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
        f"{name}: {_NAMES[method]} {tested.p_value:.3g}{allowance}; {measure} {size:.3g} "
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
        reference_size=int(a.sum()),
        current_size=int(b.sum()),
        reference_start=window[0],
        reference_end=window[1],
        message=message,
        effect_measure=measure,
        effect_size=size,
        effect_threshold=needed,
        dispersion=tested.dispersion,
    )


def _psi(
    name: str,
    kind: str,
    a: IntArray,
    b: IntArray,
    config: DriftConfig,
    window: _Window,
    shift: str,
) -> CheckResult:
    value = stats.psi(a, b)
    drifted = value >= config.psi_threshold
    sizes = (int(a.sum()), int(b.sum()))
    return _result(
        name, kind, "psi", value, config.psi_threshold, None, drifted, *sizes, window, shift, role="extra"
    )


def _result(
    name: str,
    kind: str,
    method: str,
    statistic: float,
    threshold: float,
    p_value: float | None,
    drifted: bool,
    reference_size: int,
    current_size: int,
    window: _Window,
    shift: str,
    *,
    role: str,
) -> CheckResult:
    label = _NAMES[method]
    if p_value is not None:
        verdict = f"{label} {p_value:.3g} {'<' if drifted else '>='} {threshold:g}"
    else:
        verdict = f"{label} {statistic:.3g} {'>=' if drifted else '<'} {threshold:g}"
    message = f"{name} {'drifted' if drifted else 'stable'}: {verdict}; {shift}."
    return CheckResult(
        feature=name,
        kind=kind,
        role=role,
        method=method,
        statistic=float(statistic),
        threshold=float(threshold),
        p_value=None if p_value is None else float(p_value),
        drifted=bool(drifted),
        direction=P_VALUE_DIRECTION if p_value is not None else DISTANCE_DIRECTION,
        reference_size=reference_size,
        current_size=current_size,
        reference_start=window[0],
        reference_end=window[1],
        message=message,
    )
