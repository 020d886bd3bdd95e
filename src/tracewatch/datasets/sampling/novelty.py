"""Novelty sampling: traces unlike anything already in the dataset, by MinHash similarity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import polars as pl

from tracewatch.datasets.lsh import similar_pairs
from tracewatch.datasets.minhash import EMPTY, signatures
from tracewatch.datasets.sampling._pool import POS, Pool, StrategyBase, picks
from tracewatch.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Novelty(StrategyBase):
    """Uniform among traces whose text has no dataset item with estimated Jaccard >= `max_similarity`.

    MinHash only runs on a shortlist: the `pool_factor` x quota candidates with the smallest hash draw, checked
    against the dataset's stored signatures with LSH. Texts without words are never novel. With no stored
    signatures (an empty dataset) every text with words is novel.
    """

    kind: ClassVar[str] = "novelty"
    text: str = "input_text"
    max_similarity: float = 0.5
    pool_factor: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.max_similarity <= 1.0:
            raise ConfigError(
                f"strategy {self.name!r}: max_similarity={self.max_similarity} must be in (0, 1]"
            )
        if self.pool_factor < 1:
            raise ConfigError(f"strategy {self.name!r}: pool_factor={self.pool_factor} must be >= 1")

    def columns(self) -> tuple[str, ...]:
        return (self.text,)

    def key_columns(self) -> tuple[str, ...]:
        return ()

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        shortlist = pool.smallest(pool.keyed(self), quota * self.pool_factor)
        matrix = signatures(pool.fetch(self.text, shortlist[POS]), pool.scheme)
        novel = matrix[:, 0] != EMPTY
        if pool.existing_signatures is not None and len(pool.existing_signatures) and novel.any():
            pairs = similar_pairs(matrix, pool.existing_signatures, self.max_similarity)
            novel[pairs["query"].unique().to_numpy()] = False
        return picks(shortlist.filter(pl.Series(novel)).head(quota), f"jaccard<{self.max_similarity:g}")
