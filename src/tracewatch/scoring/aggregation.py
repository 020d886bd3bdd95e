"""Scores grouped into report rows: the mean with its bootstrap interval per group, and each config against the
baseline per scorer, with Holm-adjusted p-values and a verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.scoring.stats import (
    PairedComparison,
    PairedTest,
    bootstrap_mean_ci,
    compare_paired,
    holm,
    verdict,
)
from tracewatch.scoring.types import SCORE_STATUSES


def _require_columns(frame: pl.DataFrame, columns: Sequence[str]) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ConfigError(f"columns {missing} are missing; the frame has {frame.columns}")


def _check_statuses(frame: pl.DataFrame, value: str, status: str) -> None:
    """Refuse unknown statuses and scored rows without a finite value: both mean the scores were built wrongly
    (a scorer's value is a finite number by contract), and a NaN or inf must never become a mean."""
    outside = ~pl.col(status).is_in(SCORE_STATUSES) | pl.col(status).is_null()
    unknown = frame.filter(outside)[status].unique().to_list()
    if unknown:
        raise DataContractError(f"unknown score statuses {unknown}; allowed: {list(SCORE_STATUSES)}")
    scored = frame.filter(pl.col(status) == "scored")[value].cast(pl.Float64)
    if not scored.is_finite().fill_null(False).all():
        raise DataContractError(
            f"a row with status 'scored' has no value, or a non-finite one, in column {value!r}"
        )


def aggregate(
    frame: pl.DataFrame,
    by: Sequence[str],
    *,
    value: str = "value",
    status: str = "status",
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> pl.DataFrame:
    """Per group: mean of the scored values with a bootstrap CI, and how many rows were scored/unscored/error.

    Only scored rows enter the mean; the counts keep the others visible, so a config that errs on the hard
    items shows its failures instead of a flattering mean. Every group uses the same seed, so a group's
    interval does not depend on which other groups are present. Sorted by the group columns; an empty `by`
    gives one overall row.
    """
    _require_columns(frame, [*by, value, status])
    _check_statuses(frame, value, status)
    counts = (
        frame.group_by(list(by))
        .agg(
            pl.col(value).filter(pl.col(status) == "scored").cast(pl.Float64).alias("_values"),
            (pl.col(status) == "scored").sum().cast(pl.Int64).alias("n_scored"),
            (pl.col(status) == "unscored").sum().cast(pl.Int64).alias("n_unscored"),
            (pl.col(status) == "error").sum().cast(pl.Int64).alias("n_error"),
        )
        .sort(list(by), nulls_last=True)
    )
    intervals = [
        bootstrap_mean_ci(values, confidence=confidence, resamples=resamples, seed=seed)
        for values in counts["_values"].to_list()
    ]
    stats = pl.DataFrame(
        {
            "mean": [interval.mean for interval in intervals],
            "ci_low": [interval.low for interval in intervals],
            "ci_high": [interval.high for interval in intervals],
        },
        schema={"mean": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64},
    )
    return pl.concat([counts.drop("_values"), stats], how="horizontal").select(
        *by, "mean", "n_scored", "n_unscored", "n_error", "ci_low", "ci_high"
    )


def compare_with_baseline(
    frame: pl.DataFrame,
    *,
    baseline: str,
    higher_is_better: Mapping[str, bool],
    config: str = "config",
    item: str = "item_id",
    metric: str = "metric",
    value: str = "value",
    status: str = "status",
    test: PairedTest = "permutation",
    alpha: float = 0.05,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> pl.DataFrame:
    """Every non-baseline config against the baseline, per metric, Holm-corrected across configs.

    Long input: one row per (config, item, metric[, trial]) with a value and a status. Scored trials of an
    item are averaged first, so an item counts once. The Holm family is the set of configs compared on one
    metric: the question "is any config different from the baseline on this metric" is asked once.
    """
    _require_columns(frame, [config, item, metric, value, status])
    _check_statuses(frame, value, status)
    configs = set(frame[config].unique().to_list())
    if baseline not in configs:
        raise ConfigError(f"baseline config {baseline!r} has no scores; configs present: {sorted(configs)}")
    metrics = sorted(frame[metric].unique().to_list())
    unknown = [name for name in metrics if name not in higher_is_better]
    if unknown:
        raise ConfigError(f"higher_is_better has no direction for metrics {unknown}")
    per_item = (
        frame.filter(pl.col(status) == "scored")
        .group_by(config, item, metric)
        .agg(pl.col(value).cast(pl.Float64).mean())
    )
    rows: list[dict[str, object]] = []
    for metric_name in metrics:
        scores = per_item.filter(pl.col(metric) == metric_name)
        reference = scores.filter(pl.col(config) == baseline).select(item, pl.col(value).alias("_baseline"))
        candidates = sorted(name for name in configs if name != baseline)
        results: list[PairedComparison] = []
        scored = dict(scores.group_by(config).len().iter_rows())
        for candidate in candidates:
            paired = scores.filter(pl.col(config) == candidate).join(reference, on=item, how="inner")
            results.append(
                compare_paired(
                    paired[value].to_numpy(),
                    paired["_baseline"].to_numpy(),
                    test=test,
                    confidence=confidence,
                    resamples=resamples,
                    seed=seed,
                )
            )
        tested = {index: result.p_value for index, result in enumerate(results) if result.p_value is not None}
        adjusted_by_index = dict(zip(tested, holm(list(tested.values())).tolist(), strict=True))
        for index, (candidate, result) in enumerate(zip(candidates, results, strict=True)):
            p_adjusted = adjusted_by_index.get(index)
            rows.append(
                {
                    metric: metric_name,
                    config: candidate,
                    "baseline": baseline,
                    "n_pairs": result.n,
                    "mean_difference": result.mean_difference,
                    "ci_low": result.ci_low,
                    "ci_high": result.ci_high,
                    "p_value": result.p_value,
                    "p_adjusted": p_adjusted,
                    "test": result.method,
                    "verdict": verdict(
                        p_adjusted,
                        result.mean_difference,
                        alpha=alpha,
                        higher_is_better=higher_is_better[metric_name],
                    ),
                    "verdict_reason": _verdict_reason(
                        result, candidate, baseline, scored.get(candidate, 0), scored.get(baseline, 0)
                    ),
                }
            )
    schema: dict[str, pl.DataType] = {
        metric: frame.schema[metric],
        config: frame.schema[config],
        "baseline": pl.String(),
        "n_pairs": pl.Int64(),
        "mean_difference": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "p_value": pl.Float64(),
        "p_adjusted": pl.Float64(),
        "test": pl.String(),
        "verdict": pl.String(),
        "verdict_reason": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema)


def _verdict_reason(
    result: PairedComparison, candidate: str, baseline: str, n_candidate: int, n_baseline: int
) -> str | None:
    """Why a comparison has no verdict ("no data") or no p-value; None when the test ran."""
    if result.n == 0:
        return (
            f"no item was scored by both {candidate} ({n_candidate} scored) and {baseline} ({n_baseline} "
            "scored): nothing to compare"
        )
    return result.reason
