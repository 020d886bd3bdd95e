"""Mergeable count tables: the distribution of one feature over one day, summed to get any window.

A numeric feature is a sparse value -> count table. It is *exact* (every distinct value kept) while it has at
most `MAX_EXACT_VALUES` distinct values, which keeps tokens, lengths and feedback values exact; beyond that
every value is moved to a fixed bin representative: integers up to `EXACT_INTEGER_LIMIT` stay themselves,
other values go to logarithmic bins of relative accuracy `RELATIVE_ACCURACY` (DDSketch's mapping). The bins
are the same on every day, so merging is adding counts: associative, commutative and order-free, and a
table of a concatenation equals the merge of the tables. A categorical feature is a category -> count map.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_EXACT_VALUES = 4096
"""Distinct values a numeric table keeps exactly before it is binned."""
EXACT_INTEGER_LIMIT = 1 << 20
"""Integer values up to this magnitude keep their own bin even in a binned table (tokens, lengths)."""
RELATIVE_ACCURACY = 0.0025
"""A binned non-integer value is moved by at most this fraction of itself."""
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


@dataclass(frozen=True, eq=False)
class NumericCounts:
    """Sorted distinct (finite) values or bin representatives with their counts, plus how many values were
    null or not finite."""

    values: FloatArray
    counts: IntArray
    exact: bool
    nulls: int = 0

    @property
    def size(self) -> int:
        return int(self.counts.sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericCounts):
            return NotImplemented
        return (
            self.exact == other.exact
            and self.nulls == other.nulls
            and np.array_equal(self.values, other.values)
            and np.array_equal(self.counts, other.counts)
        )

    def __hash__(self) -> int:
        return hash((self.exact, self.nulls, self.values.tobytes(), self.counts.tobytes()))

    def mean(self) -> float | None:
        n = self.size
        return float(np.dot(self.values, self.counts) / n) if n else None

    def std(self) -> float:
        """Population standard deviation (ddof=0, as numpy's default and Evidently's normaliser)."""
        n = self.size
        if not n:
            return 0.0
        mean = np.dot(self.values, self.counts) / n
        return float(math.sqrt(np.dot(self.counts, (self.values - mean) ** 2) / n))


def empty_numeric() -> NumericCounts:
    """The table of no values (exact, so it merges with any other)."""
    return NumericCounts(np.empty(0, np.float64), np.empty(0, np.int64), exact=True)


def bin_values(values: FloatArray) -> FloatArray:
    """Map values to their bin representative; idempotent, so binning a binned table changes nothing."""
    out = values.astype(np.float64, copy=True)
    keep = (out == np.round(out)) & (np.abs(out) <= EXACT_INTEGER_LIMIT)
    move = ~keep & (out != 0) & np.isfinite(out)
    magnitude = np.abs(out[move])
    index = np.ceil(np.log(magnitude) / _LOG_GAMMA)
    # The representative sits half a bin inside (relative error <= RELATIVE_ACCURACY) so it maps back to itself.
    out[move] = np.sign(out[move]) * 2 * np.exp(index * _LOG_GAMMA) / (_GAMMA + 1)
    return out


def numeric_counts(series: pl.Series) -> NumericCounts:
    """The table of one column of one day. Nulls, NaN and +/-inf are counted apart, as `nulls` (unknown): a
    single infinity in the values would make the mean, the std and every distance built on them non-finite."""
    as_float = series.cast(pl.Float64)
    valid = as_float.filter(as_float.is_finite()) + 0.0  # + 0.0 turns -0.0 into 0.0: one value
    nulls = series.len() - valid.len()
    exact = valid.n_unique() <= MAX_EXACT_VALUES
    if not exact:
        # Bin the raw values first: counting a million distinct floats only to bin them after is the slow way.
        valid = pl.Series(valid.name, bin_values(valid.to_numpy()))
    counted = valid.value_counts(sort=False, name="n").sort(valid.name)
    values: FloatArray = counted.get_column(valid.name).to_numpy().astype(np.float64)
    counts: IntArray = counted.get_column("n").to_numpy().astype(np.int64)
    return NumericCounts(values, counts, exact=exact, nulls=nulls)


def merge_numeric(tables: Iterable[NumericCounts]) -> NumericCounts:
    """Sum of tables; binned if any input was binned or the sum has too many distinct values."""
    items = list(tables)
    if not items:
        return empty_numeric()
    exact = all(t.exact for t in items)
    values = np.concatenate([t.values for t in items])
    counts = np.concatenate([t.counts for t in items])
    return _finish(values, counts, exact=exact, nulls=sum(t.nulls for t in items))


def _finish(values: FloatArray, counts: IntArray, *, exact: bool, nulls: int) -> NumericCounts:
    """Collapse duplicate values (summing counts), binning first when the table is or becomes binned."""
    if not exact:
        values = bin_values(values)
    distinct, inverse = np.unique(values, return_inverse=True)
    if exact and len(distinct) > MAX_EXACT_VALUES:
        return _finish(values, counts, exact=False, nulls=nulls)
    summed = np.bincount(inverse, weights=counts, minlength=len(distinct))
    return NumericCounts(distinct, np.rint(summed).astype(np.int64), exact=exact, nulls=nulls)


def categorical_counts(series: pl.Series, *, null_label: str = "(null)") -> dict[str, int]:
    """Category -> count of one column (nulls become `null_label`, so a rise in missing values shows)."""
    counted = series.cast(pl.String).fill_null(null_label).value_counts(sort=False, name="n")
    pairs = zip(counted.get_column(series.name).to_list(), counted.get_column("n").to_list(), strict=True)
    return dict(sorted(pairs))


def merge_categorical(tables: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The category counts of the union (counts add)."""
    out: dict[str, int] = {}
    for table in tables:
        for key, count in table.items():
            out[key] = out.get(key, 0) + int(count)
    return dict(sorted(out.items()))
