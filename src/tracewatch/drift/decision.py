"""What pages a person: the night's tests decided together, with an effect size, after the warm-up.

A night runs about twenty drift tests and a few quality tests. Each held at 5% on its own, a quiet night would
raise at least one alert far more often than one night in twenty, and people mute an alert that is wrong once
a week. So the night's p-values (every feature's `test` row and every quality score's one-sided test) are
adjusted together (`significance.benjamini_hochberg`), and an alert needs all of:

- the adjusted p-value below `alpha`;
- an effect large enough to matter (`effect_size >= effect_threshold`): a tiny but "significant" wobble on a
  huge day does not page anyone;
- a reference that is warmed up (`min_reference_days` profiled days and `min_reference_rows` traces).

A quality score's CUSUM (a sustained small change for the worse) alerts too only with `cusum_alerts`: it has no
p-value to join the family, and with a reference of a few days it fires too often on steady scores.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tracewatch.drift.checks import CheckResult, DriftReport, dataset_result
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.quality import QualityPoint
from tracewatch.drift.significance import benjamini_hochberg


def warm_up_reason(days: int, rows: int, config: DriftConfig) -> str | None:
    """Why the reference is still too thin to alert on (None once it is warm)."""
    if days >= config.min_reference_days and rows >= config.min_reference_rows:
        return None
    return (
        f"warming up: the reference holds {days} day(s) and {rows} traces; alerts start at "
        f"{config.min_reference_days} day(s) and {config.min_reference_rows} traces"
    )


def decide_night(
    report: DriftReport | None,
    quality: Sequence[QualityPoint],
    config: DriftConfig,
    *,
    warming_up: bool,
) -> tuple[DriftReport | None, tuple[QualityPoint, ...]]:
    """Adjust the night's p-values together and set every row's `p_value_adjusted` and `alert`."""
    results = list(report.results) if report is not None else []
    tested = [i for i, r in enumerate(results) if r.role == "test" and r.p_value is not None]
    judged = [i for i, p in enumerate(quality) if p.p_value is not None]
    family = [results[i].p_value for i in tested] + [quality[i].p_value for i in judged]
    adjusted = benjamini_hochberg([float(p) for p in family if p is not None])
    for i, p_adj in zip(tested, adjusted[: len(tested)], strict=True):
        results[i] = _decided_result(results[i], p_adj, config, warming_up)
    points = list(quality)
    for i, p_adj in zip(judged, adjusted[len(tested) :], strict=True):
        points[i] = _decided_point(points[i], p_adj, config, warming_up)
    for i, point in enumerate(points):
        if point.p_value is None and point.detector == "cusum" and config.cusum_alerts and not warming_up:
            points[i] = dataclasses.replace(point, alert=True)
    if report is None:
        return None, tuple(points)
    body = [r for r in results if r.role != "dataset"]
    dataset = next(r for r in results if r.role == "dataset")
    sizes = (dataset.reference_size, dataset.current_size)
    window = (dataset.reference_start, dataset.reference_end)
    share = dataset_result(body, config, sizes, window)  # type: ignore[arg-type]  # no alert while warming up
    decided = DriftReport((*body, share), share.statistic, share.drifted, report.skipped)
    return decided, tuple(points)


def _decided_result(result: CheckResult, p_adj: float, config: DriftConfig, warming_up: bool) -> CheckResult:
    large = result.effect_size is not None and result.effect_size >= (result.effect_threshold or 0.0)
    alert = p_adj < config.alpha and large and not warming_up
    verdict = "ALERT" if alert else _why_not(p_adj < config.alpha, large, warming_up)
    message = f"{verdict}: {result.message} Adjusted p {p_adj:.3g} (alert below {config.alpha:g})."
    return dataclasses.replace(result, p_value_adjusted=p_adj, alert=alert, message=message)


def _decided_point(point: QualityPoint, p_adj: float, config: DriftConfig, warming_up: bool) -> QualityPoint:
    large = point.effect_size is not None and point.effect_size >= config.quality_min_change
    by_cusum = config.cusum_alerts and (point.detector or "").endswith("cusum")
    alert = not warming_up and ((p_adj < config.alpha and large) or by_cusum)
    return dataclasses.replace(point, p_value_adjusted=p_adj, alert=alert)


def _why_not(significant: bool, large: bool, warming_up: bool) -> str:
    if warming_up:
        return "no alert (warming up)"
    if significant and not large:
        return "no alert (significant but too small to matter)"
    if large and not significant:
        return "no alert (not beyond the night's noise)"
    return "stable" if not significant else "no alert"


def alerted(results: Sequence[CheckResult], quality: Sequence[QualityPoint]) -> bool:
    """Whether anything paged on the night."""
    return any(r.alert for r in results) or any(p.alert for p in quality)
