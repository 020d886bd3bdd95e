"""Production monitoring: trace counts, errors, tokens, cost, latency percentiles and feedback, by day and hour."""

from tracewatch.monitoring.metrics import METRIC_INPUT_COLUMNS, METRIC_REDUCER, MetricParts, trace_metrics
from tracewatch.monitoring.parts import day_metric_parts
from tracewatch.monitoring.report import build_monitoring_reports

__all__ = [
    "METRIC_INPUT_COLUMNS",
    "METRIC_REDUCER",
    "MetricParts",
    "build_monitoring_reports",
    "day_metric_parts",
    "trace_metrics",
]
