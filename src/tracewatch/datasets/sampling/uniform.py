"""Uniform sampling: every candidate equally likely, by a rate or a count per night."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from tracewatch.datasets.sampling._pool import KEY, Pool, StrategyBase, picks
from tracewatch.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Uniform(StrategyBase):
    """Take candidates in the order of their hash draw.

    `rate` keeps a trace iff its draw is below the rate, so whether a trace is picked depends on nothing but
    (seed, name, trace id): the picks of two files together are the picks of each file. `count` caps the picks
    per night. Both can only lower what the strategy's budget share allows.
    """

    kind: ClassVar[str] = "uniform"
    rate: float | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ConfigError(f"strategy {self.name!r}: rate={self.rate} must be in [0, 1]")
        if self.count is not None and self.count < 0:
            raise ConfigError(f"strategy {self.name!r}: count={self.count} must be >= 0")

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        keyed = pool.keyed(self)
        if self.rate is not None:
            keyed = keyed.filter(pl.col(KEY) < self.rate)
        limit = quota if self.count is None else min(quota, self.count)
        return picks(pool.smallest(keyed, limit), "all")
