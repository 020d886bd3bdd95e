"""The drift tests: for every feature, the size-aware two-sample test, PSI as an extra, and the dataset share.

Method choice follows Evidently's defaults so decisions are comparable: with at most `small_sample_max`
reference values, KS (numeric) or chi-square (categorical) at p < alpha; above, normalised Wasserstein or
Jensen-Shannon distance at >= threshold. A numeric feature with few distinct values is tested as categorical.
One deliberate difference: our chi-square is the two-sample test of homogeneity (reference counts are a
sample too), where Evidently's treats the reference shares as known; with a 2-category feature both equal
Evidently's two-proportion z-test, and only the homogeneity test keeps false alarms at alpha.
The text vectors (`input_vector`) always get the linear-kernel MMD test (`vectors.mmd_test`), p < `mmd_alpha`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from tracewatch.drift import stats
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.counts import IntArray, NumericCounts
from tracewatch.drift.profile import DayProfile
from tracewatch.drift.vectors import VectorMoments, mmd_effect, mmd_test
from tracewatch.errors import ConfigError

DATASET_FEATURE = "(dataset)"
P_VALUE_DIRECTION = "p_value below threshold is drift"
DISTANCE_DIRECTION = "statistic at or above threshold is drift"
_NAMES = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "wasserstein": "normalised Wasserstein distance",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI",
    "mmd": "MMD p-value",
}


@dataclass(frozen=True)
class CheckResult:
    """One statistic of one feature (role `test`), its PSI (role `extra`), or the dataset share (`dataset`).

    `direction` says which way means drift; `p_value` is None where a method has none.
    """

    feature: str
    kind: str  # numeric | categorical | dataset
    role: str  # test | extra | dataset
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


@dataclass(frozen=True)
class DriftReport:
    """Every result of one comparison, the share of tested features that drifted, and what was not tested."""

    results: tuple[CheckResult, ...]
    drift_share: float
    dataset_drifted: bool
    skipped: tuple[str, ...]

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(r.feature for r in self.results if r.role == "test" and r.drifted)


def run_checks(reference: DayProfile, current: DayProfile, config: DriftConfig) -> DriftReport:
    """Compare `current` with `reference` feature by feature (features absent on either side are skipped)."""
    window = (reference.dates[0], reference.dates[-1])
    results: list[CheckResult] = []
    skipped: list[str] = []
    for name in sorted(set(reference.numeric) & set(current.numeric)):
        ref, cur = reference.numeric[name], current.numeric[name]
        if ref.size and cur.size:
            results.extend(_numeric(name, ref, cur, config, window))
        else:
            skipped.append(name)
    for name in sorted(set(reference.categorical) & set(current.categorical)):
        keys, a, b = stats.aligned_categories(reference.categorical[name], current.categorical[name])
        if a.sum() and b.sum():
            results.extend(_categorical(name, "categorical", keys, a, b, config, window))
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
    tests = [r for r in results if r.role == "test"]
    share = sum(r.drifted for r in tests) / len(tests) if tests else 0.0
    drifted = bool(tests) and share >= config.drift_share
    dataset = CheckResult(
        feature=DATASET_FEATURE,
        kind="dataset",
        role="dataset",
        method="drift_share",
        statistic=share,
        threshold=config.drift_share,
        p_value=None,
        drifted=drifted,
        direction=DISTANCE_DIRECTION,
        reference_size=reference.rows,
        current_size=current.rows,
        reference_start=window[0],
        reference_end=window[1],
        message=(
            f"{sum(r.drifted for r in tests)} of {len(tests)} features drifted ({share:.0%}); "
            f"the dataset {'drifted' if drifted else 'did not drift'} (threshold {config.drift_share:.0%})."
        ),
    )
    return DriftReport(tuple([*results, dataset]), share, drifted, tuple(sorted(set(skipped))))


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
    name: str, ref: NumericCounts, cur: NumericCounts, config: DriftConfig, window: tuple[dt.date, dt.date]
) -> list[CheckResult]:
    pinned = config.methods.get(name)
    few = len(np.union1d(ref.values, cur.values)) <= config.categorical_max_values
    if pinned in ("chisquare", "jensenshannon") or (pinned is None and few):
        keys, a, b = stats.aligned_categories(_as_categories(ref), _as_categories(cur))
        return _categorical(name, "numeric", keys, a, b, config, window)
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
    a, b = stats.quantile_buckets(ref, cur, config.psi_bins)
    sizes = (ref.size, cur.size)
    return [
        _result(name, "numeric", method, statistic, threshold, p_value, drifted, *sizes, window, shift),
        _psi(name, "numeric", a, b, config, window, shift),
    ]


def _vector(
    name: str, ref: VectorMoments, cur: VectorMoments, config: DriftConfig, window: tuple[dt.date, dt.date]
) -> CheckResult:
    """The linear-kernel MMD test on the text vectors (no PSI: there are no buckets)."""
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
    config: DriftConfig,
    window: tuple[dt.date, dt.date],
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
    return [
        _result(name, kind, method, statistic, threshold, p_value, drifted, *sizes, window, shift),
        _psi(name, kind, a, b, config, window, shift),
    ]


def _psi(
    name: str,
    kind: str,
    a: IntArray,
    b: IntArray,
    config: DriftConfig,
    window: tuple[dt.date, dt.date],
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
    window: tuple[dt.date, dt.date],
    shift: str,
    *,
    role: str = "test",
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
