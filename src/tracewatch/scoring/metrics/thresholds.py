"""Operational thresholds: latency and cost pass (1.0) when at or under the limit; a null measure is unscored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar

import polars as pl
from pydantic import NonNegativeFloat

from tracewatch.scoring._config import Expect
from tracewatch.scoring.metrics._base import NUMBER, ExprMetric, MetricArgs

Maximum = Annotated[NonNegativeFloat, Expect("a non-negative number")]


class _AtMost(ExprMetric):
    """1.0 when `field` <= the maximum its `Args` take (their one field of their own)."""

    field: ClassVar[str]
    unit: ClassVar[str]

    @property
    def maximum(self) -> float:
        value: float = getattr(self.config, self.Args.own_keys()[0])
        return value

    @property
    def fields(self) -> Mapping[str, pl.DataType]:
        return {self.field: NUMBER}

    def value_expr(self) -> pl.Expr:
        return pl.col(self.field) <= self.maximum

    def explanation_expr(self) -> pl.Expr:
        relation = pl.when(pl.col("_value") > 0).then(pl.lit("<=")).otherwise(pl.lit(">"))
        limit = pl.lit(f"{self.maximum} {self.unit}")
        return pl.format("{} {} {} {}", pl.col(self.field), pl.lit(self.unit), relation, limit)


class LatencyArgs(MetricArgs):
    """The arguments of `latency`."""

    max_ms: Maximum
    """The slowest passing latency, in milliseconds."""


class LatencyThreshold(_AtMost):
    """1 when the latency is at most `max_ms`, else 0."""

    name = "latency"
    Args = LatencyArgs
    field = "latency_ms"
    unit = "ms"


class CostArgs(MetricArgs):
    """The arguments of `cost`."""

    max_usd: Maximum
    """The highest passing cost, in USD."""


class CostThreshold(_AtMost):
    """1 when the cost is at most `max_usd`, else 0."""

    name = "cost"
    Args = CostArgs
    field = "cost_usd"
    unit = "USD"
