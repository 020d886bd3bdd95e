"""Computing a column's function once per distinct value: traces repeat system prompts, passages and questions.

`map_distinct` is the one-call form; `Distinct` keeps the factorisation, for callers that map several things
back to the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

_DEDUPLICATE_FROM = 20_000
_SAMPLE = 10_000


def map_distinct(series: pl.Series, function: Callable[[pl.Series], pl.DataFrame]) -> pl.DataFrame:
    """`function(series)`, computed once per distinct value when a large column repeats a lot.

    `function` must map each value on its own and return one row per value it is given. System prompts,
    retrieved passages and popular questions repeat heavily, which makes this many times cheaper; on a
    column of distinct values the only cost is a look at a random sample of 10,000 values.
    """
    distinct = Distinct.of(series)
    return distinct.expand(function(distinct.values))


@dataclass(frozen=True)
class Distinct:
    """A column as its distinct `values` and, per row, the position of its value among them (`codes`; None
    when the column barely repeats and `values` is the column itself, which is cheaper than factorising)."""

    values: pl.Series
    codes: npt.NDArray[np.int64] | None

    @classmethod
    def of(cls, series: pl.Series) -> Distinct:
        """Factorise `series` (nulls are one value) when it is large and repeats a lot (see `map_distinct`).

        "A lot" is judged on a random sample: more than half of its strings' bytes (of its values, for other
        types) are repeats. Bytes, because a column that mixes a repeated long system prompt with distinct
        short questions costs mostly the prompt.
        """
        positions = sample_positions(series.len())
        if positions is None or not repeats_a_lot(series.gather(positions)):
            return cls(series, None)
        return cls.factorise(series)

    @classmethod
    def factorise(cls, series: pl.Series) -> Distinct:
        """Factorise `series` (nulls are one value) whatever its repeats: `codes` is never None."""
        if series.dtype == pl.String:
            return cls._factorise_strings(series)
        groups = series.to_frame("value").with_row_index("rows").group_by("value").agg("rows")
        rows = groups.get_column("rows")
        codes = np.empty(series.len(), dtype=np.int64)
        codes[rows.explode().to_numpy()] = np.repeat(np.arange(groups.height), rows.list.len().to_numpy())
        return cls(groups.get_column("value").alias(series.name), codes)

    @classmethod
    def _factorise_strings(cls, series: pl.Series) -> Distinct:
        """Strings through polars' categorical mapping: one hash per row and 32-bit physical codes, a tenth of
        the memory of grouping row numbers. The mapping is the column's own (`Categories.random`) and goes with
        it; the global one would keep every text of every night for the life of the process."""
        categorical = series.cast(pl.Categorical(pl.Categories.random()))
        physical = categorical.to_physical()
        present = categorical.unique().drop_nulls()
        present_codes = present.to_physical().to_numpy()
        by_code = np.argsort(present_codes)
        known = present_codes[by_code]
        values = present.cast(pl.String).gather(by_code).alias(series.name)
        nulls = physical.is_null().to_numpy()
        codes = physical.fill_null(0).to_numpy().astype(np.int64)
        if len(known) and int(known[-1]) != len(known) - 1:  # codes with gaps: number them 0..n-1
            codes = np.searchsorted(known, codes)
        if nulls.any():
            codes[nulls] = len(known)
            values = values.append(pl.Series(series.name, [None], dtype=pl.String))
        return cls(values, codes)

    def expand(self, per_value: pl.DataFrame) -> pl.DataFrame:
        """One row per original row from one row per distinct value."""
        return per_value if self.codes is None else per_value[self.codes]

    def rows(self, per_value: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """`expand` for a numpy array."""
        return per_value if self.codes is None else per_value[self.codes]


def sample_positions(length: int) -> npt.NDArray[np.int64] | None:
    """The rows `Distinct.of` looks at in a column of `length` rows, ascending (None: too short to bother).
    A function of the length alone, so a column split into parts can be sampled part by part."""
    if length < _DEDUPLICATE_FROM:
        return None
    return np.sort(np.random.default_rng(0).integers(0, length, _SAMPLE))


def repeats_a_lot(sample: pl.Series) -> bool:
    """`Distinct.of`'s verdict on the values at `sample_positions`: more than half of the bytes are repeats."""
    if sample.dtype == pl.String:
        unique_share = _bytes(sample.unique()) / max(_bytes(sample), 1)
    else:
        unique_share = sample.n_unique() / sample.len()
    return unique_share <= 0.5


def _bytes(values: pl.Series) -> int:
    return int(values.str.len_bytes().sum())
