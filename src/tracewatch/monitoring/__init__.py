"""Production monitoring: trace counts, errors, tokens, cost, latency percentiles and feedback, by day and hour."""

from tracewatch.monitoring.metrics import (
    METRIC_INPUT_COLUMNS,
    METRIC_REDUCER,
    MetricParts,
    MetricReducer,
    trace_metrics,
)
from tracewatch.monitoring.parts import DayMetrics, day_metric_parts, day_metrics
from tracewatch.monitoring.report import build_monitoring_reports

__all__ = [
    "METRIC_INPUT_COLUMNS",
    "METRIC_REDUCER",
    "DayMetrics",
    "MetricParts",
    "MetricReducer",
    "build_monitoring_reports",
    "day_metric_parts",
    "day_metrics",
    "trace_metrics",
]
