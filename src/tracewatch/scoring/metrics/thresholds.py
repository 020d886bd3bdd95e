"""Operational thresholds: latency and cost pass (1.0) when at or under the limit; a null measure is unscored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import polars as pl

from tracewatch.scoring.metrics._base import NUMBER, ExprMetric, check_arg
from tracewatch.scoring.types import MissingPolicy


class _AtMost(ExprMetric):
    """1.0 when `field` <= the configured maximum."""

    field: ClassVar[str]
    arg: ClassVar[str]
    unit: ClassVar[str]

    def __init__(self, maximum: float, *, missing: MissingPolicy = "error"):
        super().__init__(missing=missing)
        ok = isinstance(maximum, int | float) and not isinstance(maximum, bool) and maximum >= 0
        check_arg(ok, self.name, f"{self.arg} must be a non-negative number, got {maximum!r}")
        self.maximum = float(maximum)

    @property
    def fields(self) -> Mapping[str, pl.DataType]:
        return {self.field: NUMBER}

    def _own_args(self) -> dict[str, Any]:
        return {self.arg: self.maximum}

    def value_expr(self) -> pl.Expr:
        return pl.col(self.field) <= self.maximum

    def explanation_expr(self) -> pl.Expr:
        relation = pl.when(pl.col("_value") > 0).then(pl.lit("<=")).otherwise(pl.lit(">"))
        limit = pl.lit(f"{self.maximum} {self.unit}")
        return pl.format("{} {} {} {}", pl.col(self.field), pl.lit(self.unit), relation, limit)


class LatencyThreshold(_AtMost):
    """1 when the latency is at most `max_ms`, else 0."""

    name = "latency"
    field = "latency_ms"
    arg = "max_ms"
    unit = "ms"

    def __init__(self, max_ms: float, *, missing: MissingPolicy = "error"):
        super().__init__(max_ms, missing=missing)


class CostThreshold(_AtMost):
    """1 when the cost is at most `max_usd`, else 0."""

    name = "cost"
    field = "cost_usd"
    arg = "max_usd"
    unit = "USD"

    def __init__(self, max_usd: float, *, missing: MissingPolicy = "error"):
        super().__init__(max_usd, missing=missing)
