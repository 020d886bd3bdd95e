"""Novelty sampling: traces unlike anything already in the dataset, by MinHash similarity."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import polars as pl
from pydantic import Strict

from tracewatch.datasets.config import Range
from tracewatch.datasets.lsh import similar_pairs
from tracewatch.datasets.minhash import EMPTY, signatures
from tracewatch.datasets.sampling._pool import POS, Pool, StrategyBase, picks


class Novelty(StrategyBase):
    """Uniform among traces whose text has no dataset item with estimated Jaccard >= `max_similarity`.

    MinHash only runs on a shortlist: the `pool_factor` x quota candidates with the smallest hash draw, checked
    against the dataset's stored signatures with LSH. Texts without words are never novel. With no stored
    signatures (an empty dataset) every text with words is novel.
    """

    label: ClassVar[str] = "novelty strategy"

    kind: Literal["novelty"] = "novelty"
    """novelty: questions unlike the dataset's"""
    text: str = "input_text"
    """the text column compared"""
    max_similarity: Annotated[float, Strict(), Range(gt=0, le=1)] = 0.5
    """a text is novel below this MinHash Jaccard with every dataset item"""
    pool_factor: Annotated[int, Strict(), Range(ge=1)] = 5
    """shortlist size as a multiple of its quota"""

    def columns(self) -> tuple[str, ...]:
        return (self.text,)

    def key_columns(self) -> tuple[str, ...]:
        return ()

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        shortlist = pool.smallest(pool.keyed(self), quota * self.pool_factor, strategy=self.name)
        matrix = signatures(pool.fetch(self.text, shortlist[POS]), pool.scheme)
        novel = matrix[:, 0] != EMPTY
        if pool.existing_signatures is not None and len(pool.existing_signatures) and novel.any():
            pairs = similar_pairs(matrix, pool.existing_signatures, self.max_similarity)
            novel[pairs["query"].unique().to_numpy()] = False
        return picks(shortlist.filter(pl.Series(novel)).head(quota), f"jaccard<{self.max_similarity:g}")
