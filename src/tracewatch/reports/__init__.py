"""BI report tables: their schemas and the one Parquet writer that publishes them."""

from tracewatch.reports.tables import REPORT_TABLES, ReportTable
from tracewatch.reports.writer import PublishedPartition, publish_partition, read_manifest

__all__ = ["REPORT_TABLES", "PublishedPartition", "ReportTable", "publish_partition", "read_manifest"]
