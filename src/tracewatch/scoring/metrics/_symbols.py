"""Text columns as integer symbol sequences, so the counting metrics run in numpy instead of a loop per row.

A `Sequences` holds every row's symbols back to back (`codes`) with each row's length. Tokens get exact ids
(a fresh polars categorical mapping shared by the columns compared, so equal tokens get equal ids and nothing
collides); characters are their Unicode code points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

WORD_TOKEN = r"[^\s\x1c-\x1f]+"
"""A run of anything Python's `str.split()` does not split on (Rust regex's \\s plus \\x1c-\\x1f)."""


@dataclass(frozen=True)
class Sequences:
    """One symbol sequence per row: `codes` of every row back to back, `lengths` per row (both int64)."""

    codes: np.ndarray
    lengths: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        """Where each row's symbols begin in `codes`."""
        return np.asarray(np.cumsum(self.lengths) - self.lengths)

    def rows(self) -> np.ndarray:
        """The row of every symbol in `codes`."""
        return np.repeat(np.arange(self.lengths.size, dtype=np.int64), self.lengths)

    def positions(self) -> np.ndarray:
        """The position of every symbol within its row."""
        return np.asarray(np.arange(self.codes.size, dtype=np.int64) - np.repeat(self.starts, self.lengths))


def token_sequences(*columns: pl.Series, token: str = WORD_TOKEN) -> tuple[Sequences, ...]:
    """Each column's tokens, the matches of the regex `token` (by default exactly what Python's `str.split()`
    gives), as ids shared by all columns."""
    tokens = [column.str.extract_all(token) for column in columns]
    flat = pl.concat([t.explode(empty_as_null=False, keep_nulls=False) for t in tokens])
    ids = flat.cast(pl.Categorical(pl.Categories.random())).to_physical().to_numpy().astype(np.int64)
    lengths = [t.list.len().to_numpy().astype(np.int64) for t in tokens]
    bounds = np.cumsum([0, *(int(n.sum()) for n in lengths)])
    return tuple(Sequences(ids[bounds[i] : bounds[i + 1]], n) for i, n in enumerate(lengths))


def char_sequences(column: pl.Series) -> Sequences:
    """The column's characters as Unicode code points (what Python's `len` and indexing count)."""
    text = "".join(column.to_list())
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    return Sequences(codes, column.str.len_chars().to_numpy().astype(np.int64))
