"""Build a metric from its config mapping, e.g. {"metric": "regex", "pattern": "^yes"}; wrong names are ConfigErrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.scoring.metrics._base import Metric
from tracewatch.scoring.metrics.match import Contains, ExactMatch, Regex
from tracewatch.scoring.metrics.overlap import Bleu, LevenshteinRatio, RougeL, TokenF1
from tracewatch.scoring.metrics.refusal import Refusal
from tracewatch.scoring.metrics.structure import IsJson, JsonSchemaMatch, LengthBounds
from tracewatch.scoring.metrics.thresholds import CostThreshold, LatencyThreshold

METRICS: dict[str, type[Metric]] = {
    cls.name: cls
    for cls in (
        ExactMatch,
        Contains,
        Regex,
        IsJson,
        JsonSchemaMatch,
        LevenshteinRatio,
        TokenF1,
        Bleu,
        RougeL,
        LengthBounds,
        Refusal,
        LatencyThreshold,
        CostThreshold,
    )
}
"""Metric name (the `metric` key of a config) -> class."""


def metric_arguments(name: str) -> dict[str, bool]:
    """Argument name -> required, for the metric called `name`."""
    return METRICS[name].Args.accepted_keys()


def build_scorer(config: Mapping[str, Any]) -> Metric:
    """The metric a config mapping describes; `spec.config()` of the result builds an equal metric again."""
    if not isinstance(config, Mapping) or not isinstance(config.get("metric"), str):
        raise ConfigError(f"a scorer config needs a 'metric' name (one of {sorted(METRICS)}), got {config!r}")
    name = config["metric"]
    if name not in METRICS:
        raise ConfigError(f"unknown metric {name!r}; known metrics: {sorted(METRICS)}")
    # Keys as text, so a key YAML read as a number is refused by name like any other unknown argument.
    return METRICS[name](**{str(k): v for k, v in config.items() if k != "metric"})
