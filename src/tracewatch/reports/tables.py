"""Report table definitions: name, schema version and column types. Documented in docs/reports.md."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

FEEDBACK_STATS = pl.List(pl.Struct({"name": pl.String, "mean": pl.Float64, "count": pl.Int64}))


@dataclass(frozen=True)
class ReportTable:
    """A BI table published as `reports/<name>/date=YYYY-MM-DD/[<subpartition>=<value>/]part-0.parquet`.

    `schema` excludes the `date` partition column, which readers take from the path (Hive style).
    Bump `version` whenever a column changes meaning or type; the manifest records it per partition.
    """

    name: str
    version: int
    schema: dict[str, pl.DataType]
    description: str
    subpartition: str | None = None
    """A second Hive level under the date (e.g. `experiment_id`): each value is published on its own, so two
    experiments scored on one date do not replace each other. Like `date`, it is not a column in the file."""


_METRICS: dict[str, pl.DataType] = {
    "project": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "trace_count": pl.Int64(),
    "error_count": pl.Int64(),
    "error_rate": pl.Float64(),
    "input_tokens_sum": pl.Int64(),
    "input_tokens_mean": pl.Float64(),
    "output_tokens_sum": pl.Int64(),
    "output_tokens_mean": pl.Float64(),
    "cost_usd_sum": pl.Float64(),
    "latency_ms_mean": pl.Float64(),
    "latency_ms_p50": pl.Float64(),
    "latency_ms_p90": pl.Float64(),
    "latency_ms_p99": pl.Float64(),
    "feedback": FEEDBACK_STATS,
    "quarantined_count": pl.Int64(),
    "run_id": pl.String(),
}

TRACE_METRICS_DAILY = ReportTable(
    name="trace_metrics_daily",
    version=1,
    schema=_METRICS,
    description="Production traffic per day, project, route and model.",
)

TRACE_METRICS_HOURLY = ReportTable(
    name="trace_metrics_hourly",
    version=1,
    schema={"hour": pl.Datetime("us", "UTC"), **_METRICS},
    description="Production traffic per UTC hour, project, route and model.",
)

INGEST_DAILY = ReportTable(
    name="ingest_daily",
    version=1,
    schema={
        "files": pl.Int64(),
        "files_rejected": pl.Int64(),
        "rows_read": pl.Int64(),
        "rows_accepted": pl.Int64(),
        "rows_quarantined": pl.Int64(),
        "files_unreadable": pl.Int64(),
        "run_id": pl.String(),
    },
    description="Row accounting per day: every row read is accepted or quarantined; unreadable files counted.",
)

IMPORT_DAILY = ReportTable(
    name="import_daily",
    version=1,
    schema={
        "source": pl.String(),
        "kind": pl.String(),
        "objects": pl.Int64(),
        "objects_rejected": pl.Int64(),
        "records": pl.Int64(),
        "records_rejected": pl.Int64(),
        "records_duplicate": pl.Int64(),
        "records_late": pl.Int64(),
        "traces": pl.Int64(),
        "traces_incomplete": pl.Int64(),
        "traces_quarantined": pl.Int64(),
        "traces_skipped": pl.Int64(),
        "run_id": pl.String(),
    },
    description="Import accounting per upload day and source: objects and records read, traces made, "
    "incomplete or quarantined; every record is in a trace or quarantined.",
)

DATASET_VERSIONS = ReportTable(
    name="dataset_versions",
    version=1,
    schema={
        "dataset": pl.String(),
        "version": pl.Int64(),
        "parent_version": pl.Int64(),
        "kind": pl.String(),
        "created": pl.Boolean(),
        "item_count": pl.Int64(),
        "added_count": pl.Int64(),
        "window_start": pl.Date(),
        "window_end": pl.Date(),
        "spec_fingerprint": pl.String(),
        "seed": pl.Int64(),
        "candidates": pl.Int64(),
        "no_usable_input": pl.Int64(),
        "duplicates_exact": pl.Int64(),
        "duplicates_near": pl.Int64(),
        "redactions": pl.Int64(),
        "created_at": pl.Datetime("us", "UTC"),
        "run_id": pl.String(),
    },
    description="One row per dataset version a night made (or found, on a rerun), with its candidate accounting.",
)

DATASET_ITEMS = ReportTable(
    name="dataset_items",
    version=1,
    schema={
        "dataset": pl.String(),
        "version": pl.Int64(),
        "item_id": pl.String(),
        "source_trace_id": pl.String(),
        "source_date": pl.Date(),
        "strategy": pl.String(),
        "stratum": pl.String(),
        "project": pl.String(),
        "route": pl.String(),
        "model": pl.String(),
        "expected_source": pl.String(),
        "redactions": pl.Int64(),
        "run_id": pl.String(),
    },
    description="The items a night sampled into a dataset, with the strategy and stratum that picked each.",
)

SCORE_ENTRY = pl.Struct(
    {
        "scorer": pl.String,
        "scorer_args": pl.String,
        "value": pl.Float64,
        "status": pl.String,
        "explanation": pl.String,
    }
)
"""One scorer's verdict on one row: `scorer_args` is the scorer's JSON spec (name and arguments)."""

_AGGREGATE: dict[str, pl.DataType] = {
    "scorer": pl.String(),
    "scorer_args": pl.String(),
    "segment_kind": pl.String(),
    "segment": pl.String(),
    "mean": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "n_scored": pl.Int64(),
    "n_unscored": pl.Int64(),
    "n_error": pl.Int64(),
}

_EXPERIMENT: dict[str, pl.DataType] = {
    "dataset": pl.String(),
    "dataset_version": pl.Int64(),
}

EXPERIMENT_ANSWER: dict[str, pl.DataType] = {
    "input": pl.String(),
    "expected": pl.String(),
    "output": pl.String(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "cost_usd": pl.Float64(),
    "latency_ms": pl.Float64(),
    "cached": pl.Boolean(),
    "status": pl.String(),
    "error": pl.String(),
}
"""The columns of one answer of an experiment, declared once: the experiment's own item rows
(`tracewatch.experiments.EXPERIMENT_ITEM_SCHEMA`) and the experiment_items report both have them."""

EXPERIMENT_ITEMS = ReportTable(
    name="experiment_items",
    version=1,
    schema={
        **_EXPERIMENT,
        "config_name": pl.String(),
        "config_fingerprint": pl.String(),
        "item_id": pl.String(),
        "trial": pl.Int64(),
        "source_trace_id": pl.String(),
        "route": pl.String(),
        **EXPERIMENT_ANSWER,
        "scores": pl.List(SCORE_ENTRY),
        "run_id": pl.String(),
    },
    description="Every experiment item (item x config x trial) scored that night, with its scores.",
    subpartition="experiment_id",
)

QUALITY = ReportTable(
    name="quality",
    version=1,
    schema={
        **_EXPERIMENT,
        "config_name": pl.String(),
        "config_fingerprint": pl.String(),
        "baseline": pl.Boolean(),
        **_AGGREGATE,
        "run_id": pl.String(),
    },
    description="Per experiment, config, scorer and segment: the mean score with a bootstrap 95% CI and counts.",
    subpartition="experiment_id",
)

COMPARISONS = ReportTable(
    name="comparisons",
    version=2,
    schema={
        **_EXPERIMENT,
        "scorer": pl.String(),
        "config_name": pl.String(),
        "baseline_config": pl.String(),
        "n_pairs": pl.Int64(),
        "mean_difference": pl.Float64(),
        "ci_low": pl.Float64(),
        "ci_high": pl.Float64(),
        "test": pl.String(),
        "p_value": pl.Float64(),
        "p_adjusted": pl.Float64(),
        "verdict": pl.String(),
        "verdict_reason": pl.String(),
        "run_id": pl.String(),
    },
    description="Each config against the baseline on the items both scored; Holm-corrected p-values, a verdict "
    "(`no data` when no item was scored by both, with the reason).",
    subpartition="experiment_id",
)

DAILY_SCORE_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "name": pl.String(),
    "source": pl.String(),
    "mean": pl.Float64(),
    "count": pl.Int64(),
    "std": pl.Float64(),
    "higher_is_better": pl.Boolean(),
}
"""Daily score summaries (production-trace scores, feedback), as the quality trends read them: one row per
(date, name); `std` is the population std of the day's values, and
`higher_is_better` the direction the score's scorer states."""

TRACE_QUALITY = ReportTable(
    name="trace_quality",
    version=2,
    schema={
        **_AGGREGATE,
        "higher_is_better": pl.Boolean(),
        "std": pl.Float64(),
        "traces": pl.Int64(),
        "sampled": pl.Int64(),
        "run_id": pl.String(),
    },
    description="Scores of a deterministic sample of the day's production traces, overall and per segment.",
)

JUDGE_AGREEMENT = ReportTable(
    name="judge_agreement",
    version=1,
    schema={
        "judge": pl.String(),
        "judge_args": pl.String(),
        "feedback": pl.String(),
        "method": pl.String(),
        "statistic": pl.Float64(),
        "n": pl.Int64(),
        "message": pl.String(),
        "run_id": pl.String(),
    },
    description="How far each LLM judge agrees with human feedback on the same production traces.",
)

OUTPUT_CHECKS = ReportTable(
    name="output_checks",
    version=1,
    schema={
        **_EXPERIMENT,
        "config_name": pl.String(),
        "suite": pl.String(),
        "expectation": pl.String(),
        "checked": pl.Int64(),
        "failed": pl.Int64(),
        "pass_rate": pl.Float64(),
        "run_id": pl.String(),
    },
    description="Great Expectations output suite per experiment config: rows checked, failed and the pass rate.",
    subpartition="experiment_id",
)

FEEDBACK_ORPHANS = ReportTable(
    name="feedback_orphans",
    version=1,
    schema={
        "trace_id": pl.String(),
        "name": pl.String(),
        "value": pl.Float64(),
        "source": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "feedback_date": pl.Date(),
        "source_key": pl.String(),
        "first_seen_at": pl.Datetime("us", "UTC"),
        "waited_hours": pl.Float64(),
        "reason": pl.String(),
        "run_id": pl.String(),
    },
    description="Late feedback events whose trace id matched no ingested trace within the wait, per night.",
)

QUARANTINE_DAILY = ReportTable(
    name="quarantine_daily",
    version=1,
    schema={
        "reason": pl.String(),
        "scope": pl.String(),
        "rows": pl.Int64(),
        "files": pl.Int64(),
        "run_id": pl.String(),
    },
    description="Quarantined rows and files per day, scope and reason (a row with two reasons counts under each).",
)

REPORT_TABLES: dict[str, ReportTable] = {
    t.name: t
    for t in (
        TRACE_METRICS_DAILY,
        TRACE_METRICS_HOURLY,
        INGEST_DAILY,
        QUARANTINE_DAILY,
        IMPORT_DAILY,
        DATASET_VERSIONS,
        DATASET_ITEMS,
        EXPERIMENT_ITEMS,
        QUALITY,
        COMPARISONS,
        TRACE_QUALITY,
        JUDGE_AGREEMENT,
        OUTPUT_CHECKS,
        FEEDBACK_ORPHANS,
    )
}

# ---- drift and quality trends (tracewatch.drift) -----------------------------------------------------------

DRIFT = ReportTable(
    name="drift",
    version=2,
    schema={
        "feature": pl.String(),
        "kind": pl.String(),
        "role": pl.String(),
        "method": pl.String(),
        "statistic": pl.Float64(),
        "threshold": pl.Float64(),
        "p_value": pl.Float64(),
        "drifted": pl.Boolean(),
        "direction": pl.String(),
        "reference_start": pl.Date(),
        "reference_end": pl.Date(),
        "reference_days": pl.Int64(),
        "reference_size": pl.Int64(),
        "current_size": pl.Int64(),
        "message": pl.String(),
        "p_value_adjusted": pl.Float64(),
        "effect_measure": pl.String(),
        "effect_size": pl.Float64(),
        "effect_threshold": pl.Float64(),
        "dispersion": pl.Float64(),
        "alert": pl.Boolean(),
        "run_id": pl.String(),
    },
    description=(
        "Per feature: the day against its reference window (the night's test with its adjusted p-value, effect "
        "size and alert; Evidently-style tests and PSI beside it), plus the dataset's share of alerts."
    ),
)

QUALITY_TREND = ReportTable(
    name="quality_trend",
    version=3,
    schema={
        "name": pl.String(),
        "source": pl.String(),
        "mean": pl.Float64(),
        "count": pl.Int64(),
        "reference_mean": pl.Float64(),
        "reference_sd": pl.Float64(),
        "reference_days": pl.Int64(),
        "z_score": pl.Float64(),
        "threshold": pl.Float64(),
        "changed": pl.Boolean(),
        "direction": pl.String(),
        "message": pl.String(),
        "cusum": pl.Float64(),
        "cusum_threshold": pl.Float64(),
        "cusum_reference_mean": pl.Float64(),
        "cusum_reference_sd": pl.Float64(),
        "detector": pl.String(),
        "higher_is_better": pl.Boolean(),
        "p_value": pl.Float64(),
        "p_value_adjusted": pl.Float64(),
        "effect_size": pl.Float64(),
        "effect_threshold": pl.Float64(),
        "alert": pl.Boolean(),
        "run_id": pl.String(),
    },
    description=(
        "Per score (feedback, production-trace scores): the day's mean against its reference days in the "
        "score's bad direction, with a one-sided test in the night's family, a CUSUM, and whether it alerted."
    ),
)

DRIFT_DISTRIBUTIONS = ReportTable(
    name="drift_distributions",
    version=1,
    schema={
        **{c: pl.String() for c in ("feature", "kind", "bucket")},
        "bucket_order": pl.Int64(),
        **{c: pl.Float64() for c in ("reference_share", "current_share")},
        **{c: pl.Int64() for c in ("reference_count", "current_count")},
        "run_id": pl.String(),
    },
    description="Per tested feature: reference and current shares on the buckets its test compared (numeric: "
    "reference deciles; categorical: the top 10 categories and `(other)`), from the night's profiles.",
)

REPORT_TABLES.update({t.name: t for t in (DRIFT, QUALITY_TREND, DRIFT_DISTRIBUTIONS)})
