"""Float64 values as unsigned 64-bit keys that sort like the floats, and back.

A finite float's bit pattern, with the sign bit flipped for positives and every bit flipped for negatives, is
an integer whose order is the floats' order (-0.0 just before +0.0). Radix selection (`radix_select`) works on
the keys' top bits; since the map is a bijection, a full 64-bit key is the exact value, not an approximation.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_SIGN = np.uint64(1 << 63)


def order_keys(values: pl.Series) -> pl.Series:
    """The order keys (UInt64) of finite `values` (Float64 without nulls)."""
    bits = values.cast(pl.Float64).to_numpy().view(np.uint64)
    return pl.Series(values.name, np.where(bits & _SIGN, ~bits, bits | _SIGN), dtype=pl.UInt64)


def floats_from_keys(keys: pl.Series) -> pl.Series:
    """The floats (Float64) whose order keys are `keys` (UInt64 without nulls): the inverse of `order_keys`."""
    k = keys.cast(pl.UInt64).to_numpy()
    bits = np.where(k & _SIGN, k & ~_SIGN, ~k)
    return pl.Series(keys.name, bits.view(np.float64), dtype=pl.Float64)


def float_bits(values: pl.Series) -> np.ndarray:
    """The IEEE-754 bit patterns (as int64) of `values` (Float64 without nulls)."""
    return values.cast(pl.Float64).to_numpy().view(np.int64)
