"""MinHash signatures of texts over word shingles: what near de-duplication and novelty compare.

A signature is `num_perm` minimum hashes of a text's word shingles under as many fixed permutations; the share of
slots where two signatures agree estimates the Jaccard similarity of the two texts' shingle sets. Everything is
built on `tracewatch.hashing`, so signatures stored with a dataset version compare with tonight's. Finding the
similar pairs among many signatures is `datasets.lsh`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.distinct import Distinct
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.hashing import GOLDEN64, PRIME64_2, U64, fmix64, key64, stable_hash64

EMPTY: Final = np.uint64(0xFFFFFFFFFFFFFFFF)
"""Every slot of the signature of a text without words; such texts are never anybody's near-duplicate."""

_CHUNK_ELEMENTS: Final = 1 << 15
"""Shingles per block of `_min_over_texts` (256 KiB of uint64 per working array: in the CPU cache)."""


@dataclass(frozen=True, kw_only=True)
class MinHashScheme:
    """How signatures are built. Signatures from different schemes cannot be compared, so store `name` with them.

    Texts are lower-cased and split into word tokens (`\\w+`); shingles are runs of `shingle_size` consecutive
    words (a text shorter than that is one shingle). Two word shingles keep a one-word edit of a 25-word text
    above Jaccard 0.8, while unrelated texts that share a few words stay far below.
    """

    num_perm: int = 128
    shingle_size: int = 2
    seed: int = 1

    def __post_init__(self) -> None:
        if not 8 <= self.num_perm <= 1024:
            raise ConfigError(f"minhash num_perm={self.num_perm} must be between 8 and 1024")
        if not 1 <= self.shingle_size <= 8:
            raise ConfigError(f"minhash shingle_size={self.shingle_size} must be between 1 and 8")

    @property
    def name(self) -> str:
        """A label for stored signatures, e.g. `minhash-v1-p128-k2-s1`."""
        return f"minhash-v1-p{self.num_perm}-k{self.shingle_size}-s{self.seed}"

    @property
    def dtype(self) -> pl.DataType:
        """The polars type of a stored signature column."""
        return pl.Array(pl.UInt64, self.num_perm)

    def _permutations(self) -> tuple[U64, U64]:
        rng = np.random.default_rng(np.random.SeedSequence(key64("minhash", self.seed)))
        xor = rng.integers(0, 2**64, size=self.num_perm, dtype=np.uint64, endpoint=False)
        odd = rng.integers(0, 2**64, size=self.num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
        return xor, odd


MINHASH = MinHashScheme()
"""The default scheme: 128 permutations over word bigrams."""


def signatures(texts: pl.Series, scheme: MinHashScheme = MINHASH) -> U64:
    """MinHash signatures, one row of `scheme.num_perm` uint64 per text; texts without words get all `EMPTY`."""
    shingles, per_text = _text_shingles(texts, scheme)
    has_words = np.flatnonzero(per_text > 0)
    if len(has_words) == len(per_text):
        return _min_over_texts(shingles, per_text, scheme)
    out = np.full((len(texts), scheme.num_perm), EMPTY, dtype=np.uint64)
    if len(has_words):
        out[has_words] = _min_over_texts(shingles, per_text[has_words], scheme)
    return out


def _text_shingles(texts: pl.Series, scheme: MinHashScheme) -> tuple[U64, NDArray[np.int64]]:
    """The shingle hashes of every text (flat) and how many each text has (0 for a text without words)."""
    words = texts.cast(pl.String).str.to_lowercase().str.extract_all(r"\w+")
    counts = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    distinct = Distinct.of(words.explode().drop_nulls())  # a language has far fewer words than a corpus
    word_hashes = distinct.rows(stable_hash64(distinct.values))
    return _shingles(word_hashes, counts, scheme.shingle_size)


def with_signatures(
    frame: pl.DataFrame, text: str | pl.Expr, *, scheme: MinHashScheme = MINHASH, name: str = "minhash"
) -> pl.DataFrame:
    """`frame` plus a signature column (`Array(UInt64, num_perm)`), to be stored next to the items it describes."""
    texts = frame.select(pl.col(text) if isinstance(text, str) else text).to_series()
    return frame.with_columns(signature_series(signatures(texts, scheme), scheme, name=name))


def signature_series(matrix: U64, scheme: MinHashScheme = MINHASH, *, name: str = "minhash") -> pl.Series:
    """A signature matrix as a polars column of the stored type."""
    return pl.Series(name, matrix, dtype=scheme.dtype)


def signature_matrix(column: pl.Series, scheme: MinHashScheme = MINHASH) -> U64:
    """A stored signature column (Array or List of UInt64) as an (n, num_perm) matrix, checked against `scheme`."""
    if column.null_count():
        raise DataContractError(f"signature column {column.name!r} has {column.null_count()} null rows")
    if isinstance(column.dtype, pl.List):
        widths = column.list.len().unique().to_list()
        if widths and widths != [scheme.num_perm]:
            raise DataContractError(
                f"signature column {column.name!r} has widths {sorted(widths)}; {scheme.name} needs "
                f"{scheme.num_perm}"
            )
        column = column.cast(scheme.dtype)
    if column.dtype != scheme.dtype:
        raise DataContractError(
            f"signature column {column.name!r} has type {column.dtype}; {scheme.name} needs {scheme.dtype}"
        )
    if column.is_empty():
        return np.zeros((0, scheme.num_perm), dtype=np.uint64)
    return np.ascontiguousarray(column.to_numpy(), dtype=np.uint64)


def estimate_jaccard(left: U64, right: U64) -> NDArray[np.float64]:
    """Row-wise Jaccard estimate: the share of slots where two signatures agree (0 when either is empty)."""
    agree = (left == right).mean(axis=1)
    empty = (left == EMPTY).all(axis=1) | (right == EMPTY).all(axis=1)
    return np.where(empty, 0.0, agree)


def _shingles(word_hashes: U64, counts: NDArray[np.int64], size: int) -> tuple[U64, NDArray[np.int64]]:
    """Hash of every run of `size` consecutive words inside each text (the whole text when it is shorter)."""
    per_text = np.where(counts > 0, np.maximum(counts - size + 1, 1), 0)
    first_word = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), per_text)
    position = np.arange(int(per_text.sum())) - np.repeat(np.cumsum(per_text) - per_text, per_text)
    start = first_word[owner] + position
    end = first_word[owner] + counts[owner]
    hashes = np.full(len(start), GOLDEN64, dtype=np.uint64)
    for offset in range(size):
        inside = start + offset < end
        word = word_hashes[np.minimum(start + offset, max(len(word_hashes) - 1, 0))]
        with np.errstate(over="ignore"):
            step = fmix64(hashes * PRIME64_2 + word, in_place=True)
        hashes = np.where(inside, step, hashes)
    return hashes, per_text


def _min_over_texts(shingles: U64, per_text: NDArray[np.int64], scheme: MinHashScheme) -> U64:
    """Per text (each with at least one shingle) and permutation, the minimum permuted shingle hash.

    One permutation at a time over a block of texts whose shingles fit in the CPU cache: twice as fast as
    blocks of a few million shingles, and 4x faster than one (shingles x permutations) matrix.
    """
    xor, odd = scheme._permutations()
    ends = np.cumsum(per_text)
    starts = ends - per_text
    out = np.empty((len(per_text), scheme.num_perm), dtype=np.uint64)
    slots = np.empty((scheme.num_perm, 0), dtype=np.uint64)
    first = 0
    while first < len(per_text):
        last = max(int(np.searchsorted(ends, starts[first] + _CHUNK_ELEMENTS, side="right")), first + 1)
        block = shingles[starts[first] : ends[last - 1]]
        block_starts = starts[first:last] - starts[first]
        permuted = np.empty_like(block)
        shifted = np.empty_like(block)
        if slots.shape[1] != last - first:
            slots = np.empty((scheme.num_perm, last - first), dtype=np.uint64)
        for slot in range(scheme.num_perm):
            _permute(block, xor[slot], odd[slot], permuted, shifted)
            slots[slot] = np.minimum.reduceat(permuted, block_starts)
        out[first:last] = slots.T
        first = last
    return out


def _permute(values: U64, xor: np.uint64, odd: np.uint64, out: U64, scratch: U64) -> None:
    """One permutation of 64-bit values (a bijection: xor, multiply by an odd number, xor-shift) into `out`."""
    np.bitwise_xor(values, xor, out=out)
    np.multiply(out, odd, out=out)
    np.right_shift(out, np.uint64(29), out=scratch)
    np.bitwise_xor(out, scratch, out=out)
