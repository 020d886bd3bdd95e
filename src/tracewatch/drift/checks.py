"""The drift tests of one night: for every feature, the test that may page, its effect size, and the raw
statistics beside it.

Per feature (rows of the `drift` table, `role`):
- `test`: the significance test of the night's family (`family`): a chi-square on the categories, or on
  reference-decile buckets for a numeric feature, that allows for the reference days' own day-to-day swing,
  with the practical effect size an alert also needs: the largest change of a category's share, or the
  normalised Wasserstein distance of a numeric feature. With `DriftConfig.mix_adjusted` (the default) a
  feature other than the segment columns (`route`, `model`) is compared *within* route x model segments
  (`stratified` CMH test, method `cmh_chisquare` / `binned_cmh_chisquare`; effect and swing against the
  reference re-weighted to the day's segment mix, `effects`), so a swing of the traffic mix is reported once,
  on `route` and `model`; without segment tables on every day it is pooled (`significance.share_test`,
  `chisquare` / `binned_chisquare`) and the message says why. Whether it alerts is decided for the night as a
  whole (`decision.decide_night`): until then `alert` is False and `p_value_adjusted` None.
- `evidently`: the size-aware test as Evidently's data-drift preset does it (with at most `small_sample_max`
  reference values, KS for numeric or chi-square for categorical at p < alpha; above, normalised Wasserstein
  or Jensen-Shannon at >= threshold; a numeric feature with few distinct values as categorical). `drifted` is
  that test's own verdict, kept for comparison; it pages no one. One deliberate difference: our chi-square is
  the two-sample test of homogeneity (reference counts are a sample too), where Evidently's treats the
  reference shares as known; with a 2-category feature both equal Evidently's two-proportion z-test.
- `extra`: PSI on the same (pooled) buckets, and the linear-kernel MMD test on the text vectors (`input_vector`).
- one `dataset` row: the share of tested features that alerted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tracewatch.drift import stats
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.counts import IntArray, NumericCounts, empty_numeric
from tracewatch.drift.family import Segmented, categorical_test, numeric_test
from tracewatch.drift.profile import DayProfile
from tracewatch.drift.results import (
    DISTANCE_DIRECTION,
    METHOD_NAMES,
    P_VALUE_DIRECTION,
    CheckResult,
    Window,
    is_sustained,
)
from tracewatch.drift.segments import SEGMENT_COLUMNS, SegmentTables, covers, shared_labels
from tracewatch.drift.vectors import VectorMoments, mmd_effect, mmd_test
from tracewatch.errors import ConfigError

__all__ = ["DATASET_FEATURE", "CheckResult", "DriftReport", "dataset_result", "run_checks"]

DATASET_FEATURE = "(dataset)"
T = TypeVar("T")


@dataclass(frozen=True)
class DriftReport:
    """Every result of one comparison, the share of tested features that drifted, and what was not tested."""

    results: tuple[CheckResult, ...]
    drift_share: float
    dataset_drifted: bool
    skipped: tuple[str, ...]

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """The features that alerted, on the night's own test or the sustained one (after the night's decision;
        empty before it)."""
        return tuple(dict.fromkeys(r.feature for r in self.results if r.role == "test" and r.alert))

    @property
    def tests(self) -> tuple[CheckResult, ...]:
        """The night's own significance test of each feature (one per feature; the sustained tests, which also
        join the night's family, are `sustained`)."""
        return tuple(r for r in self.results if r.role == "test" and not is_sustained(r))

    @property
    def sustained(self) -> tuple[CheckResult, ...]:
        """The sustained (multi-night) tests of the night's features."""
        return tuple(r for r in self.results if is_sustained(r))


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
    sides = (reference, current, *daily)
    for name in sorted(set(reference.numeric) & set(current.numeric)):
        if reference.numeric[name].size and current.numeric[name].size:
            numeric = _by_segment(name, sides, config, _numeric_table, numeric=True)
            results.extend(_numeric(name, *numeric, config, window))
        else:
            skipped.append(name)
    for name in sorted(set(reference.categorical) & set(current.categorical)):
        keys, a, b = stats.aligned_categories(reference.categorical[name], current.categorical[name])
        if a.sum() and b.sum():
            tables = _by_segment(name, sides, config, _categorical_table, numeric=False)
            results.extend(_categorical(name, "categorical", keys, a, b, *tables, config, window))
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
    results: Sequence[CheckResult], config: DriftConfig, sizes: tuple[int, int], window: Window
) -> CheckResult:
    """The dataset row: the share of tested features that alerted (on any of their tests: the night's own or
    the sustained one), against `drift_share`."""
    tests = list(dict.fromkeys(r.feature for r in results if r.role == "test"))
    alerted = len({r.feature for r in results if r.role == "test" and r.alert})
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


def _by_segment(
    name: str,
    sides: Sequence[DayProfile],
    config: DriftConfig,
    table: Callable[[DayProfile | SegmentTables, str], T],
    *,
    numeric: bool,
) -> tuple[Segmented[T], Segmented[T] | None, str]:
    """`name`'s tables on every side (reference, current, reference days): pooled, and per segment when the
    test can look within segments (else None, and why not)."""
    reference, current, *daily = sides
    pooled = Segmented.pooled(table(reference, name), table(current, name), [table(d, name) for d in daily])
    if not config.mix_adjusted:
        return pooled, None, "mix_adjusted is off"
    if name in SEGMENT_COLUMNS:
        return pooled, None, "a segment column is itself the mix"
    labels = shared_labels(sides)
    if labels is None or not all(covers(p, name, numeric=numeric) for p in sides):
        return pooled, None, "not every day has segment tables"
    nothing = SegmentTables(0, {}, {})
    reference_tables, current_tables, *daily_tables = (
        tuple(table(side.segments.get(label, nothing), name) for label in labels) for side in sides
    )
    return pooled, Segmented(labels, reference_tables, current_tables, tuple(daily_tables)), ""


def _numeric_table(tables: DayProfile | SegmentTables, name: str) -> NumericCounts:
    return tables.numeric.get(name, empty_numeric())


def _categorical_table(tables: DayProfile | SegmentTables, name: str) -> Mapping[str, int]:
    return tables.categorical.get(name, {})


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
    pooled: Segmented[NumericCounts],
    within: Segmented[NumericCounts] | None,
    why_pooled: str,
    config: DriftConfig,
    window: Window,
) -> list[CheckResult]:
    ref, cur = pooled.reference[0], pooled.current[0]
    pinned = config.methods.get(name)
    few = len(np.union1d(ref.values, cur.values)) <= config.categorical_max_values
    if pinned in ("chisquare", "jensenshannon") or (pinned is None and few):
        keys, a, b = stats.aligned_categories(_as_categories(ref), _as_categories(cur))
        as_categories = within.map(_as_categories) if within is not None else None
        tables = pooled.map(_as_categories)
        return _categorical(name, "numeric", keys, a, b, tables, as_categories, why_pooled, config, window)
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
    sizes = (ref.size, cur.size)
    return [
        numeric_test(name, pooled, within, why_pooled, edges, config, window, shift),
        _result(
            name, "numeric", method, statistic, threshold, p_value, drifted, *sizes, window, shift,
            role="evidently",
        ),
        _psi(name, "numeric", a, b, config, window, shift),
    ]  # fmt: skip


def _vector(
    name: str, ref: VectorMoments, cur: VectorMoments, config: DriftConfig, window: Window
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


def _as_categories(table: NumericCounts) -> Mapping[str, int]:
    """Values as categories; `str` of a float is its shortest round-trip form, so distinct values stay distinct."""
    return dict(zip(map(str, table.values.tolist()), table.counts.tolist(), strict=True))


def _categorical(
    name: str,
    kind: str,
    keys: list[str],
    a: IntArray,
    b: IntArray,
    pooled: Segmented[Mapping[str, int]],
    within: Segmented[Mapping[str, int]] | None,
    why_pooled: str,
    config: DriftConfig,
    window: Window,
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
        categorical_test(name, kind, keys, pooled, within, why_pooled, config, window),
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


def _psi(
    name: str,
    kind: str,
    a: IntArray,
    b: IntArray,
    config: DriftConfig,
    window: Window,
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
    window: Window,
    shift: str,
    *,
    role: str,
) -> CheckResult:
    label = METHOD_NAMES[method]
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
