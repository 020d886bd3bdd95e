"""Uniform sampling: every candidate equally likely, by a rate or a count per night."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

import polars as pl
from pydantic import Strict

from tracewatch.datasets.config import Range
from tracewatch.datasets.sampling._pool import KEY, Pool, StrategyBase, picks


class Uniform(StrategyBase):
    """Take candidates in the order of their hash draw.

    `rate` keeps a trace iff its draw is below the rate, so whether a trace is picked depends on nothing but
    (seed, name, trace id): the picks of two files together are the picks of each file. `count` caps the picks
    per night. Both can only lower what the strategy's budget share allows.
    """

    label: ClassVar[str] = "uniform strategy"

    kind: Literal["uniform"] = "uniform"
    """uniform: every trace equally likely"""
    rate: Annotated[float, Strict(), Range(ge=0, le=1)] | None = None
    """keep a trace iff its hash draw is below this rate"""
    count: Annotated[int, Strict(), Range(ge=0)] | None = None
    """at most this many picks"""

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        keyed = pool.keyed(self)
        if self.rate is not None:
            keyed = keyed.filter(pl.col(KEY) < self.rate)
        limit = quota if self.count is None else min(quota, self.count)
        bound = math.inf if self.rate is None else self.rate
        return picks(pool.smallest(keyed, limit, strategy=self.name, bound=bound), "all")
