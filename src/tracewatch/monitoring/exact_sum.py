"""Exact, order-independent sums of float64 values, in small parts that merge by adding integers.

Float addition rounds at every step, so a sum computed per file and added up differs in the last bits from one
computed over the whole day, and from one in another file order. Here every finite value is split exactly into
its integer mantissa m (< 2**53) and biased exponent e (value = m * 2**(e - 1075); subnormals use e = 1). A part
keeps, per group and exponent, the sums of the mantissas' high 27 and low 26 bits as int64 "limbs": adding limbs
is exact and associative (no overflow below 2**36 values per group and exponent), so a group's limbs are the
same whichever way its values were split. The total is rebuilt once as a Python integer and rounded once (int
true division is correctly rounded), so a group's sum is the correctly rounded sum of its values, the same
number as `math.fsum` gives, and its mean the correctly rounded quotient of that exact sum by the count. Both
may differ in the last place from a naive left-to-right (or polars') float sum, which rounds at every step.

A part is a few rows per group (one per exponent its values span, about 10 to 20), not its values.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from tracewatch.monitoring.float_keys import float_bits

LIMB = pl.Struct({"exponent": pl.Int16(), "high": pl.Int64(), "low": pl.Int64()})
"""One exponent's limbs: sums of the high and low bits of the mantissas of the values with that exponent."""
LIMBS = pl.List(LIMB)
_LOW_BITS = 26
_SCALE = 1074
"""Every finite float is an integer multiple of 2**-1074."""


def _limbs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exponent, high and low limb of each finite float64 in `values`."""
    bits = values.view(np.int64)
    biased = (bits >> 52) & 0x7FF
    fraction = bits & ((1 << 52) - 1)
    mantissa = np.where(biased > 0, fraction | (1 << 52), fraction)
    sign = np.where(bits < 0, -1, 1)
    return np.maximum(biased, 1), (mantissa >> _LOW_BITS) * sign, (mantissa & ((1 << _LOW_BITS) - 1)) * sign


def list_column(ids: np.ndarray, groups: int, fields: dict[str, np.ndarray], dtype: pl.DataType) -> pl.Series:
    """A list column of `groups` rows from entries sorted by their row id `ids` (row i gets the entries whose
    id is i, in order): built from offsets, without a group-by."""
    offsets = np.searchsorted(ids, np.arange(groups + 1), side="left").astype(np.int32)
    # through polars to Arrow: pyarrow's own pa.array(ndarray) imports pandas (about 1 s, once a process)
    entries = pl.DataFrame(fields).to_struct("entry").to_arrow()
    lists = pl.from_arrow(pa.ListArray.from_arrays(pl.Series(offsets).to_arrow(), entries))
    assert isinstance(lists, pl.Series)
    return lists.cast(dtype)


_DENSE_BINS = 1 << 22
"""Above this many (group, exponent) bins a part's limbs are added up by a polars group-by instead."""


def limb_lists_by_id(ids: np.ndarray, values: pl.Series, groups: int) -> pl.Series:
    """Per group id 0..`groups`-1, the `LIMBS` of its finite `values` (`ids`: each value's group id).

    The limbs are added up with `np.bincount` over (group, exponent) bins: its float64 sums are exact here, as
    a limb is below 2**27 and a part below 2**26 values, so every partial sum is an integer below 2**53."""
    finite = values.is_finite().fill_null(False).to_numpy()
    exponent, high, low = _limbs(values.filter(finite).cast(pl.Float64).to_numpy())
    ids = ids[finite].astype(np.int64)
    present = np.flatnonzero(np.bincount(exponent, minlength=2048))
    bins = groups * len(present)
    if bins == 0 or bins > _DENSE_BINS or len(ids) >= 1 << 26:
        return _limb_lists_grouped(ids, exponent, high, low, groups)
    dense = np.zeros(2048, dtype=np.int64)
    dense[present] = np.arange(len(present))
    key = ids * len(present) + dense[exponent]
    counts = np.bincount(key, minlength=bins)
    used = np.flatnonzero(counts)
    fields: dict[str, np.ndarray] = {
        "exponent": present[used % len(present)].astype(np.int16),
        "high": np.bincount(key, weights=high, minlength=bins)[used].astype(np.int64),
        "low": np.bincount(key, weights=low, minlength=bins)[used].astype(np.int64),
    }
    return list_column(used // len(present), groups, fields, LIMBS)


def _limb_lists_grouped(
    ids: np.ndarray, exponent: np.ndarray, high: np.ndarray, low: np.ndarray, groups: int
) -> pl.Series:
    """`limb_lists_by_id` by a polars group-by, for parts with very many groups or values."""
    key = (ids << 11) | exponent
    summed = (
        pl.DataFrame({"key": key, "high": high, "low": low})
        .group_by("key")
        .agg(pl.col("high").sum(), pl.col("low").sum())
        .sort("key")
    )
    keys = summed.get_column("key").to_numpy()
    fields = {
        "exponent": (keys & 0x7FF).astype(np.int16),
        "high": summed.get_column("high").to_numpy(),
        "low": summed.get_column("low").to_numpy(),
    }
    return list_column(keys >> 11, groups, fields, LIMBS)


def limb_rows(frame: pl.DataFrame, keys: Sequence[str], column: str) -> pl.DataFrame:
    """Per `keys` and exponent, the limbs of `column`'s finite values (nulls, NaN and infinities left out)."""
    finite = frame.filter(pl.col(column).is_finite())
    exponent, high, low = _limbs(float_bits(finite.get_column(column)).view(np.float64))
    return (
        finite.select(*keys)
        .with_columns(
            pl.Series("exponent", exponent, dtype=pl.Int16),
            pl.Series("high", high, dtype=pl.Int64),
            pl.Series("low", low, dtype=pl.Int64),
        )
        .group_by(*keys, "exponent")
        .agg(pl.col("high").sum(), pl.col("low").sum())
    )


def limb_lists(frame: pl.DataFrame, keys: Sequence[str], column: str, name: str) -> pl.DataFrame:
    """`limb_rows` as one row per `keys` with the list of its limbs (`LIMBS`) in column `name`."""
    rows = limb_rows(frame, keys, column)
    return rows.group_by(*keys).agg(
        pl.struct("exponent", "high", "low").sort_by("exponent").cast(LIMB).alias(name)
    )


def merged_limbs(frame: pl.DataFrame, key: str, column: str) -> pl.DataFrame:
    """The `LIMBS` lists of `column`, added up per `key` (any number of rows per key) and per exponent."""
    return (
        frame.select(key, column)
        .explode(column, keep_nulls=False, empty_as_null=False)
        .unnest(column)
        .group_by(key, "exponent")
        .agg(pl.col("high").sum(), pl.col("low").sum())
        .group_by(key)
        .agg(pl.struct("exponent", "high", "low").sort_by("exponent").cast(LIMB).alias(column))
    )


def exact_total(limbs: Sequence[dict[str, int]]) -> int:
    """The exact sum of a group's values, in units of 2**-1074, from its limbs."""
    return sum(((limb["high"] << _LOW_BITS) + limb["low"]) << (limb["exponent"] - 1) for limb in limbs)


def rounded(total: int, count: int = 1) -> float:
    """`total` (units of 2**-1074) divided by `count`, correctly rounded to a float (+/-inf past the range)."""
    try:
        return total / (count << _SCALE)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def sums_and_means(
    frame: pl.DataFrame, key: str, column: str, count: str
) -> dict[Hashable, tuple[float, float | None]]:
    """Per `key`: the correctly rounded sum of the values whose limbs are in `column`, and their mean over
    `count` values (None without any)."""
    out: dict[Hashable, tuple[float, float | None]] = {}
    for k, limbs, n in frame.select(key, column, count).iter_rows():
        total = exact_total(limbs or [])
        out[k] = (rounded(total), rounded(total, n) if n else None)
    return out
