"""BI report tables: their schemas and the one Parquet writer that publishes them.

The sink of the pipeline: every stage publishes through it, and it imports no stage."""

from tracewatch.reports.tables import (
    COMPARISONS,
    DATASET_ITEMS,
    DATASET_VERSIONS,
    DRIFT,
    EXPERIMENT_ITEMS,
    FEEDBACK_STATS,
    INGEST_DAILY,
    JUDGE_AGREEMENT,
    OUTPUT_CHECKS,
    QUALITY,
    QUALITY_TREND,
    REPORT_TABLES,
    SCORE_ENTRY,
    TRACE_METRICS_DAILY,
    TRACE_METRICS_HOURLY,
    TRACE_QUALITY,
    ReportTable,
)
from tracewatch.reports.writer import (
    PART_NAME,
    REPORTS_PREFIX,
    PublishedPartition,
    manifest_key,
    partition_key,
    publish_partition,
    read_manifest,
)

__all__ = [
    "COMPARISONS",
    "DATASET_ITEMS",
    "DATASET_VERSIONS",
    "DRIFT",
    "EXPERIMENT_ITEMS",
    "FEEDBACK_STATS",
    "INGEST_DAILY",
    "JUDGE_AGREEMENT",
    "OUTPUT_CHECKS",
    "PART_NAME",
    "QUALITY",
    "QUALITY_TREND",
    "REPORTS_PREFIX",
    "REPORT_TABLES",
    "SCORE_ENTRY",
    "TRACE_METRICS_DAILY",
    "TRACE_METRICS_HOURLY",
    "TRACE_QUALITY",
    "PublishedPartition",
    "ReportTable",
    "manifest_key",
    "partition_key",
    "publish_partition",
    "read_manifest",
]
