"""Heuristic metrics: each a `Scorer` and a `FrameScorer`, checked in tests against its reference implementation.

Build them from config with `build_scorer({"metric": "token_f1"})`; docs/scoring-metrics.md lists every metric.
"""

from tracewatch.scoring.metrics._base import ArrayMetric, ExprMetric, Metric, RowMetric
from tracewatch.scoring.metrics.match import Contains, ExactMatch, Regex
from tracewatch.scoring.metrics.overlap import Bleu, LevenshteinRatio, RougeL, TokenF1
from tracewatch.scoring.metrics.refusal import REFUSAL_PHRASES, Refusal
from tracewatch.scoring.metrics.registry import METRICS, build_scorer, metric_arguments
from tracewatch.scoring.metrics.structure import IsJson, JsonSchemaMatch, LengthBounds
from tracewatch.scoring.metrics.thresholds import CostThreshold, LatencyThreshold

__all__ = [
    "METRICS",
    "REFUSAL_PHRASES",
    "ArrayMetric",
    "Bleu",
    "Contains",
    "CostThreshold",
    "ExactMatch",
    "ExprMetric",
    "IsJson",
    "JsonSchemaMatch",
    "LatencyThreshold",
    "LengthBounds",
    "LevenshteinRatio",
    "Metric",
    "Refusal",
    "Regex",
    "RougeL",
    "RowMetric",
    "TokenF1",
    "build_scorer",
    "metric_arguments",
]
