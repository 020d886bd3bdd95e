"""Production monitoring: trace counts, errors, tokens, cost, latency percentiles and feedback, by day and hour."""

from tracewatch.monitoring.metrics import (
    METRIC_INPUT_COLUMNS,
    METRIC_REDUCER,
    LatencyPercentiles,
    MetricParts,
    trace_metrics,
)
from tracewatch.monitoring.parts import day_latency_percentiles, day_metric_parts
from tracewatch.monitoring.report import build_monitoring_reports

__all__ = [
    "METRIC_INPUT_COLUMNS",
    "METRIC_REDUCER",
    "LatencyPercentiles",
    "MetricParts",
    "build_monitoring_reports",
    "day_latency_percentiles",
    "day_metric_parts",
    "trace_metrics",
]
